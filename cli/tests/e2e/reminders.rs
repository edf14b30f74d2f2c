//! Appointments and their reminders end to end, on both backends, with the clock moved
//! by hand: overlapping runs send each reminder once (WhatsApp template through the fake
//! Graph, email through the fake Resend), a cancel and a reschedule never remind with
//! old data, a missed run catches up but an appointment that started is `missed`,
//! opted-out contacts and contacts without an address are skipped with a reason, a
//! reminder claimed by a run whose queue write failed still goes out once (re-queue
//! sweep), and a `1d` reminder across the Dutch daylight-saving night keeps its
//! wall-clock time.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::FixedClock;
use switchboard_core::ids::Role;
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::reminders::{self, Tick};
use switchboard_runtime::config::{EmailConfig, EmailProvider};
use switchboard_testkit::fixtures::PHONE_NUMBER_ID;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::support::{Backend, Harness, Options, graph_knowing_the_number};

/// Answers every call with a fresh id and keeps the bodies.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Value>>>);

impl wiremock::Respond for Recorder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let mut seen = self.0.lock().unwrap();
        if let Value::Array(batch) = body {
            // Resend's batch call: one id per email, in order.
            let mut data = Vec::new();
            for email in batch {
                seen.push(email);
                data.push(json!({"id": format!("re_{}", seen.len())}));
            }
            return ResponseTemplate::new(200).set_body_json(json!({"data": data}));
        }
        seen.push(body);
        let n = seen.len();
        ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "messages": [{"id": format!("wamid.reminder{n}")}],
            "id": format!("re_{n}"),
        }))
    }
}

impl Recorder {
    pub fn bodies(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

/// The Resend key the harness configures.
pub const RESEND_KEY: &str = "re_test_key";
/// The Resend webhook secret the harness configures.
pub const RESEND_WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LWZvci1yZXNlbmQtdGVzdHM=";

pub struct Setup {
    pub h: Harness,
    pub clock: Arc<FixedClock>,
    _graph: wiremock::MockServer,
    pub resend: wiremock::MockServer,
    pub sends: Recorder,
    pub emails: Recorder,
    pub admin: String,
    pub agent: String,
}

/// A harness on `backend` at `start`, with a fake Graph and a fake Resend that check
/// what Switchboard sends; `wrap_queue` injects queue faults.
pub async fn setup(
    backend: Backend,
    start: DateTime<Utc>,
    wrap_queue: Option<crate::support::QueueWrapper>,
    secrets: Vec<(SecretName, String)>,
) -> Setup {
    let clock = Arc::new(FixedClock::new(start));
    let graph = graph_knowing_the_number().await;
    let sends = Recorder::default();
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .respond_with(sends.clone())
        .mount(&graph)
        .await;
    let resend = wiremock::MockServer::start().await;
    let emails = Recorder::default();
    for p in ["/emails", "/emails/batch"] {
        Mock::given(method("POST"))
            .and(path(p))
            .and(header(
                "authorization",
                format!("Bearer {RESEND_KEY}").as_str(),
            ))
            .respond_with(emails.clone())
            .mount(&resend)
            .await;
    }
    let mut opts = Options {
        backend,
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        clock: Some(clock.clone()),
        wrap_queue,
        email: Some(EmailConfig {
            provider: EmailProvider::Resend,
            fallback: None,
            from_address: "reminders@example.com".into(),
            from_name: Some("Switchboard".into()),
            resend_api_url: resend.uri(),
            sendgrid_api_url: "http://127.0.0.1:9".into(),
            app_url: Some("https://app.example.com".into()),
        }),
        ..Options::default()
    };
    opts.secrets
        .push((SecretName::ResendApiKey, RESEND_KEY.into()));
    opts.secrets.push((
        SecretName::ResendWebhookSecret,
        RESEND_WEBHOOK_SECRET.into(),
    ));
    opts.secrets.extend(secrets);
    let h = Harness::with(opts).await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let admin = h.token("acme", Role::Admin);
    let agent = h.token("acme", Role::Agent);
    Setup {
        h,
        clock,
        _graph: graph,
        resend,
        sends,
        emails,
        admin,
        agent,
    }
}

/// Imports `phone,name,email` rows and answers the contacts' ids in order.
pub async fn contacts(s: &Setup, rows: &[(&str, &str, &str)]) -> Vec<String> {
    let mut csv = String::from("phone,name,email\n");
    for (phone, name, email) in rows {
        csv.push_str(&format!("{phone},{name},{email}\n"));
    }
    let r =
        s.h.http
            .post(s.h.url("/v1/contacts/imports"))
            .bearer_auth(&s.admin)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    s.h.drain(QueueName::Import).await;
    let mut ids = Vec::new();
    for (phone, _, _) in rows {
        let digits = phone.trim_start_matches('+');
        let (status, list) = s.h.get(&format!("/v1/contacts?q={digits}"), &s.admin).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        ids.push(list["items"][0]["id"].as_str().unwrap().to_owned());
    }
    ids
}

pub async fn tick(s: &Setup) -> Tick {
    reminders::tick(s.h.app.services(), &s.h.app.config().billing)
        .await
        .unwrap()
}

/// Sends what the schedule queued: WhatsApp messages and emails.
pub async fn deliver(s: &Setup) {
    s.h.drain(QueueName::Outbound).await;
    s.h.drain(QueueName::Email).await;
}

pub async fn book(s: &Setup, contact: &str, body: Value) -> Value {
    let (status, a) =
        s.h.post(
            &format!("/v1/contacts/{contact}/appointments"),
            &s.agent,
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    a
}

pub async fn appointment(s: &Setup, id: &str) -> Value {
    let (status, a) = s.h.get(&format!("/v1/appointments/{id}"), &s.agent).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    a
}

fn reminder_states(a: &Value) -> Vec<(String, String, Option<String>)> {
    a["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["offset"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
                r["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn reminders_go_exactly_once(backend: Backend) {
    // Friday 27 March 2026, noon UTC; the clocks in Amsterdam go forward on Sunday.
    let s = setup(backend, at("2026-03-27T12:00:00Z"), None, vec![]).await;
    let (status, settings) =
        s.h.put_json(
            "/v1/settings/reminders",
            &s.admin,
            &json!({"template": "appointment_reminder", "language": "nl", "offsets": ["1d", "1h"], "email": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    let (status, _) =
        s.h.put_json(
            "/v1/settings/email",
            &s.admin,
            &json!({"locale": "nl", "from_name": "Kapsalon Anna"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids = contacts(
        &s,
        &[
            ("+15550100001", "Ana", "ana@example.org"),
            ("+15550100002", "Ben", ""),
            ("+15550100003", "Cid", "cid@example.org"),
        ],
    )
    .await;
    let (ana, ben, cid) = (&ids[0], &ids[1], &ids[2]);
    let (status, _) =
        s.h.patch(
            &format!("/v1/contacts/{cid}"),
            &s.admin,
            &json!({"opted_out": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Validation names the field.
    for (body, field) in [
        (
            json!({"starts_at": "tomorrow", "timezone": "Europe/Amsterdam", "title": "Cut", "channel": "both"}),
            "starts_at",
        ),
        (
            json!({"starts_at": "2026-03-29T10:00:00+02:00", "timezone": "Mars/Base", "title": "Cut", "channel": "both"}),
            "timezone",
        ),
        (
            json!({"starts_at": "2026-03-29T10:00:00+02:00", "timezone": "Europe/Amsterdam", "title": "Cut", "channel": "fax"}),
            "channel",
        ),
        (
            json!({"starts_at": "2026-03-29T10:00:00+02:00", "timezone": "Europe/Amsterdam", "title": "Cut", "channel": "both", "reminders": ["1w"]}),
            "reminders",
        ),
        (
            json!({"starts_at": "2026-03-20T10:00:00+01:00", "timezone": "Europe/Amsterdam", "title": "Cut", "channel": "both"}),
            "starts_at",
        ),
        (
            json!({"starts_at": "2026-03-29T10:00:00+02:00", "timezone": "Europe/Amsterdam", "channel": "both"}),
            "title",
        ),
    ] {
        let (status, err) =
            s.h.post(&format!("/v1/contacts/{ana}/appointments"), &s.agent, &body)
                .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }

    // Ana: Sunday 29 March 10:00 CEST (08:00 UTC) — the night the clocks go forward. Her
    // `1d` reminder is Saturday 10:00 CET = 09:00 UTC: 23 real hours earlier.
    let a = book(
        &s,
        ana,
        json!({"starts_at": "2026-03-29T10:00:00+02:00", "timezone": "Europe/Amsterdam",
               "title": "Knippen", "location": "Dorpsstraat 1", "channel": "both"}),
    )
    .await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(
        a["reminders"][0]["due_at"], "2026-03-28T09:00:00.000Z",
        "{a}"
    );
    assert_eq!(
        a["reminders"][1]["due_at"], "2026-03-29T07:00:00.000Z",
        "{a}"
    );
    assert_eq!(a["local_starts_at"], "2026-03-29T10:00:00+02:00");
    // Ben has no email; Cid opted out of WhatsApp.
    let b = book(&s, ben, json!({"starts_at": "2026-03-28T15:00:00Z", "timezone": "Europe/Amsterdam", "title": "Kleuren", "channel": "both", "reminders": ["2h"]})).await;
    let c = book(&s, cid, json!({"starts_at": "2026-03-28T15:00:00Z", "timezone": "Europe/Amsterdam", "title": "Föhnen", "channel": "whatsapp", "reminders": ["2h"]})).await;
    // Dan (Ana again) is cancelled; Eve (Ana again) rescheduled.
    let d = book(&s, ana, json!({"starts_at": "2026-03-28T15:00:00Z", "timezone": "UTC", "title": "Cancelled", "channel": "both", "reminders": ["2h"]})).await;
    let e = book(&s, ana, json!({"starts_at": "2026-03-28T15:00:00Z", "timezone": "UTC", "title": "Moved", "channel": "email", "reminders": ["2h"]})).await;

    // Nothing is due yet.
    assert_eq!(tick(&s).await, Tick::default());

    let (status, _) =
        s.h.delete(
            &format!("/v1/appointments/{}", d["id"].as_str().unwrap()),
            &s.agent,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, moved) =
        s.h.patch(
            &format!("/v1/appointments/{}", e["id"].as_str().unwrap()),
            &s.agent,
            &json!({"starts_at": "2026-03-28T18:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["reminders"].as_array().unwrap().len(), 1, "{moved}");
    assert_eq!(moved["reminders"][0]["due_at"], "2026-03-28T16:00:00.000Z");

    // Saturday 13:00 UTC: Ben's and Cid's 2h reminders are due, and Ana's `1d` one (due
    // 09:00) catches up: no run happened since Friday. Two overlapping runs.
    s.clock.set(at("2026-03-28T13:00:00Z"));
    let (x, y) = tokio::join!(tick(&s), tick(&s));
    let both = [&x, &y];
    let sum = |f: fn(&Tick) -> usize| both.iter().map(|t| f(t)).sum::<usize>();
    assert_eq!(
        sum(|t| t.sent),
        3,
        "Ana's WhatsApp and email, Ben's WhatsApp: {x:?} {y:?}"
    );
    assert_eq!(
        sum(|t| t.skipped),
        2,
        "Ben's email, Cid's WhatsApp: {x:?} {y:?}"
    );
    deliver(&s).await;
    let b = appointment(&s, b["id"].as_str().unwrap()).await;
    assert_eq!(b["reminders"][0]["whatsapp"]["status"], "sent", "{b}");
    assert_eq!(b["reminders"][0]["email"]["status"], "skipped");
    assert_eq!(b["reminders"][0]["email"]["reason"], "no_email");
    assert_eq!(b["reminders"][0]["status"], "sent");
    let c = appointment(&s, c["id"].as_str().unwrap()).await;
    assert_eq!(
        reminder_states(&c),
        [("2h".into(), "skipped".into(), Some("opted_out".into()))]
    );
    let d = appointment(&s, d["id"].as_str().unwrap()).await;
    assert_eq!(d["status"], "cancelled");
    assert_eq!(
        reminder_states(&d),
        [("2h".into(), "skipped".into(), Some("cancelled".into()))]
    );
    let (status, err) =
        s.h.patch(
            &format!("/v1/appointments/{}", d["id"].as_str().unwrap()),
            &s.agent,
            &json!({"title": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let a = appointment(&s, &a_id).await;
    assert_eq!(a["reminders"][0]["status"], "sent", "{a}");
    assert_eq!(a["reminders"][1]["status"], "scheduled", "{a}");

    // A run at the same time again finds nothing; the moved appointment reminds at its
    // new time only.
    assert_eq!(tick(&s).await, Tick::default(), "already done");
    s.clock.set(at("2026-03-28T16:00:00Z"));
    let t = tick(&s).await;
    assert_eq!(t.sent, 1, "Eve's moved reminder at its new time: {t:?}");
    deliver(&s).await;

    // The Graph got each WhatsApp reminder once, in Dutch, with the local time.
    let sends = s.sends.bodies();
    assert_eq!(sends.len(), 2, "{sends:?}");
    let params = |to: &str| {
        let body = sends
            .iter()
            .find(|b| b["to"] == to)
            .unwrap_or_else(|| panic!("{to}: {sends:?}"));
        assert_eq!(body["template"]["name"], "appointment_reminder");
        assert_eq!(body["template"]["language"]["code"], "nl");
        body["template"]["components"][0]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["text"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        params("15550100002"),
        ["Ben", "zaterdag 28 maart 2026", "16:00"],
        "15:00 UTC is 16:00 CET"
    );
    assert_eq!(
        params("15550100001"),
        ["Ana", "zondag 29 maart 2026", "10:00"],
        "08:00 UTC is 10:00 CEST"
    );
    // Resend got Ana's and the moved appointment's emails once each.
    let emails = s.emails.bodies();
    assert_eq!(emails.len(), 2, "{emails:?}");
    for e in &emails {
        assert_eq!(e["to"], json!(["ana@example.org"]));
        assert!(
            e["subject"].as_str().unwrap().starts_with("Herinnering: "),
            "{e}"
        );
        assert!(e["text"].as_str().unwrap().contains("afspraak"), "{e}");
        assert!(e["from"].as_str().unwrap().contains("Kapsalon Anna"), "{e}");
    }
    assert!(
        emails
            .iter()
            .any(|e| e["text"].as_str().unwrap().contains("Dorpsstraat 1")),
        "{emails:?}"
    );

    // Sunday: the clock jumps past the start without a run in between: the 1h reminder
    // is missed, not sent late.
    s.clock.set(at("2026-03-29T08:30:00Z"));
    let t = tick(&s).await;
    assert_eq!(t.missed, 2, "both channels of the 1h reminder: {t:?}");
    let a = appointment(&s, &a_id).await;
    assert_eq!(a["reminders"][1]["status"], "missed", "{a}");
    assert_eq!(a["reminders"][1]["reason"], "appointment_started");
    // Nothing is ever due again.
    s.clock.set(at("2026-04-05T00:00:00Z"));
    assert_eq!(tick(&s).await, Tick::default());

    // Lists by start time, one contact's, another org's view.
    let (status, list) =
        s.h.get("/v1/appointments?from=2026-03-27T00:00:00Z", &s.agent)
            .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let starts: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(starts.len(), 5, "{list}");
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let (_, mine) =
        s.h.get(
            &format!("/v1/appointments?from=2026-03-27T00:00:00Z&contact_id={ana}"),
            &s.agent,
        )
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3, "{mine}");
    let (_, none) = s.h.get("/v1/appointments", &s.agent).await;
    assert_eq!(
        none["items"].as_array().unwrap().len(),
        0,
        "from defaults to now: {none}"
    );
    let (status, err) = s.h.get("/v1/appointments?from=yesterday", &s.agent).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from"))
    );
    let other = s.h.token("globex", Role::Admin);
    let (status, _) = s.h.get(&format!("/v1/appointments/{a_id}"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        s.h.delete(&format!("/v1/appointments/{a_id}"), &other)
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A data-subject export shows Ana's appointments; erasing her takes them and the
    // reminder emails (address and details) with her.
    let (status, export) =
        s.h.get(&format!("/v1/contacts/{ana}/export"), &s.admin)
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        export["appointments"].as_array().map(Vec::len),
        Some(3),
        "{export}"
    );
    let (status, _) = s.h.delete(&format!("/v1/contacts/{ana}"), &s.admin).await;
    assert!(
        status == StatusCode::NO_CONTENT || status == StatusCode::ACCEPTED,
        "{status}"
    );
    let (status, _) = s.h.get(&format!("/v1/appointments/{a_id}"), &s.agent).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, emails) = s.h.get("/v1/emails", &s.admin).await;
    assert_eq!(emails["items"].as_array().unwrap().len(), 0, "{emails}");
    s.h.stop().await;
}

#[tokio::test]
async fn reminders_go_exactly_once_sqlite() {
    reminders_go_exactly_once(Backend::Local).await;
}

#[tokio::test]
async fn reminders_go_exactly_once_dynamodb() {
    reminders_go_exactly_once(Backend::Aws).await;
}
