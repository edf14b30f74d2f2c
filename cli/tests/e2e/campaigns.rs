//! Broadcast campaigns end to end, on both backends: the audience collected from tags,
//! opted-out contacts and unfillable variables skipped with their reasons, every other
//! contact messaged exactly once through the fake Graph (which checks each request),
//! repeated chunks and redelivered sends changing nothing, progress and recipients, the
//! state machine's refusals, the messaging limit tier pausing a campaign until the
//! window frees capacity (moved clock), a paused template stopping it, and the feature
//! switch. The pacing lanes are checked on the store the sender uses.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::FixedClock;
use switchboard_core::ids::Role;
use switchboard_core::queue::QueueName;
use switchboard_testkit::fixtures::PHONE_NUMBER_ID;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::support::{Backend, Harness, Options, drain_app, graph_knowing_the_number};

/// Answers each send with a fresh wamid and remembers every request body.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Value>>>);

impl wiremock::Respond for Recorder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let mut seen = self.0.lock().unwrap();
        seen.push(body);
        let wamid = format!("wamid.campaign{}", seen.len());
        ResponseTemplate::new(200)
            .set_body_json(json!({"messaging_product": "whatsapp", "messages": [{"id": wamid}]}))
    }
}

struct Setup {
    h: Harness,
    _graph: wiremock::MockServer,
    sends: Recorder,
    admin: String,
    integration: String,
}

async fn setup(backend: Backend, clock: Option<Arc<FixedClock>>) -> Setup {
    let graph = graph_knowing_the_number().await;
    let sends = Recorder::default();
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .respond_with(sends.clone())
        .mount(&graph)
        .await;
    let h = Harness::with(Options {
        backend,
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        clock,
        ..Options::default()
    })
    .await;
    let integration = h.connect("acme", PHONE_NUMBER_ID).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = h.token("acme", Role::Admin);
    Setup {
        h,
        _graph: graph,
        sends,
        admin,
        integration,
    }
}

/// Imports contacts from CSV rows (`phone,name,tags`) and applies the import.
async fn import(s: &Setup, rows: &[(String, &str, &str)]) {
    let mut csv = String::from("phone,name,tags\n");
    for (phone, name, tags) in rows {
        csv.push_str(&format!("{phone},{name},{tags}\n"));
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
}

fn phone(i: usize) -> String {
    format!("+1555010{i:04}")
}

async fn contact_id(s: &Setup, digits: &str) -> String {
    let (status, list) = s.h.get(&format!("/v1/contacts?q={digits}"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"][0]["id"].as_str().unwrap().to_owned()
}

fn campaign_body(s: &Setup, tags_any: &[&str]) -> Value {
    json!({
        "name": "Spring sale",
        "integration_id": s.integration,
        "template": {"name": "spring_sale", "language": "en_US", "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "{{contact.name}}"}]}
        ]},
        "audience": {"tags_any": tags_any},
    })
}

/// Runs the campaign and sender queues until both are empty (moving the clock, when
/// there is one, past chunk delays).
async fn run(s: &Setup, clock: Option<&FixedClock>) {
    for _ in 0..40 {
        let a = s.h.drain(QueueName::Campaign).await;
        let b = s.h.drain(QueueName::Outbound).await;
        if a.is_empty() && b.is_empty() {
            // Chunk delays and lane waits hide messages: on the embedded queue by the
            // app's clock, on SQS by real time (whole seconds).
            if let Some(c) = clock {
                c.advance(chrono::Duration::seconds(2));
            }
            tokio::time::sleep(Duration::from_millis(if clock.is_some() {
                1_600
            } else {
                100
            }))
            .await;
            let a = s.h.drain(QueueName::Campaign).await;
            let b = s.h.drain(QueueName::Outbound).await;
            if a.is_empty() && b.is_empty() {
                return;
            }
        }
    }
    panic!("campaign queues did not drain");
}

/// Whether progress counters can be compared exactly: moto does not serialise concurrent
/// `ADD`s on one item (real DynamoDB does), so under load it can lose one; on moto the
/// tests check what the counters summarise (recipients, Graph's requests) instead.
fn exact_counters(backend: Backend) -> bool {
    backend == Backend::Local
}

/// Runs the queues until the campaign's progress shows `sent` messages (messages hidden
/// by real-time delays on SQS can outlast one [`run`] on a loaded machine: the whole suite
/// on two cores has needed more than twenty).
async fn run_until_sent(s: &Setup, clock: Option<&FixedClock>, id: &str, sent: u64) {
    for _ in 0..60 {
        run(s, clock).await;
        if s.sends.0.lock().unwrap().len() as u64 >= sent
            && get_campaign(s, id).await["status"] != "running"
        {
            return;
        }
    }
    panic!("the campaign never showed {sent} sent");
}

async fn get_campaign(s: &Setup, id: &str) -> Value {
    let (status, c) = s.h.get(&format!("/v1/campaigns/{id}"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    c
}

async fn broadcast_reaches_each_contact_once(backend: Backend) {
    let s = setup(backend, None).await;
    import(
        &s,
        &[
            (phone(1), "Ana", "vip"),
            (phone(2), "Ben", "vip;linen"),
            (phone(3), "", "linen"),
            (phone(4), "Dora", "vip"),
            (phone(5), "Eve", "other"),
        ],
    )
    .await;
    // Dora opted out.
    let dora = contact_id(&s, "15550100004").await;
    let (status, body) =
        s.h.patch(
            &format!("/v1/contacts/{dora}"),
            &s.admin,
            &json!({"opted_out": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, created) =
        s.h.post(
            "/v1/campaigns",
            &s.admin,
            &campaign_body(&s, &["vip", "linen"]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["lane"], "marketing");
    let id = created["id"].as_str().unwrap().to_owned();
    // An agent may read campaigns but not start them.
    let agent = s.h.token("acme", Role::Agent);
    let (status, _) =
        s.h.post(&format!("/v1/campaigns/{id}/start"), &agent, &json!({}))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another org does not see it.
    let other = s.h.token("globex", Role::Admin);
    let (status, _) = s.h.get(&format!("/v1/campaigns/{id}"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, started) =
        s.h.post(&format!("/v1/campaigns/{id}/start"), &s.admin, &json!({}))
            .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["status"], "running");
    // A second start changes nothing.
    let (status, again) =
        s.h.post(&format!("/v1/campaigns/{id}/start"), &s.admin, &json!({}))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["status"], "running");
    run(&s, None).await;

    let c = get_campaign(&s, &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    let p = &c["progress"];
    // Ana, Ben, the nameless contact and Dora carry vip or linen; Eve does not.
    if exact_counters(backend) {
        assert_eq!(p["audience_size"], 4, "{p}");
        assert_eq!(p["queued"], 2, "{p}");
        assert_eq!(p["sent"], 2, "{p}");
        assert_eq!(p["skipped"], 2, "{p}");
        assert_eq!(p["failed"], 0, "{p}");
    }

    // Graph got one template per reachable contact, filled with their name.
    let sent = s.sends.0.lock().unwrap().clone();
    let mut by_to: BTreeMap<String, Value> = BTreeMap::new();
    for body in &sent {
        assert_eq!(body["type"], "template");
        assert_eq!(body["template"]["name"], "spring_sale");
        assert_eq!(body["template"]["language"]["code"], "en_US");
        assert!(
            by_to
                .insert(body["to"].as_str().unwrap().to_owned(), body.clone())
                .is_none(),
            "a contact was messaged twice: {body}"
        );
    }
    assert_eq!(by_to.len(), 2, "{sent:?}");
    assert_eq!(
        by_to["15550100001"]["template"]["components"][0]["parameters"][0]["text"],
        "Ana"
    );
    assert_eq!(
        by_to["15550100002"]["template"]["components"][0]["parameters"][0]["text"],
        "Ben"
    );

    // The skipped recipients say why.
    let (status, skipped) =
        s.h.get(
            &format!("/v1/campaigns/{id}/recipients?status=skipped"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{skipped}");
    let mut reasons: Vec<String> = skipped["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["missing_variable:contact.name", "opted_out"]);
    let (_, all) =
        s.h.get(&format!("/v1/campaigns/{id}/recipients?limit=2"), &s.admin)
            .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert!(all["next_cursor"].is_string());
    let (status, _) =
        s.h.get(
            &format!("/v1/campaigns/{id}/recipients?status=bogus"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Every earlier chunk delivered again, and the start again: nobody is messaged twice.
    for chunk in 0..6 {
        let body = json!({"org_id": "acme", "campaign_id": id, "generation": 1, "chunk": chunk});
        s.h.app
            .services()
            .queue
            .send(
                QueueName::Campaign,
                vec![switchboard_core::queue::OutgoingMessage {
                    body: body.to_string(),
                    group_id: None,
                    dedupe_id: None,
                    delay: None,
                }],
            )
            .await
            .unwrap();
    }
    run(&s, None).await;
    assert_eq!(s.sends.0.lock().unwrap().len(), 2);
    let (status, _) =
        s.h.post(&format!("/v1/campaigns/{id}/start"), &s.admin, &json!({}))
            .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) =
        s.h.post(&format!("/v1/campaigns/{id}/cancel"), &s.admin, &json!({}))
            .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A status webhook moves the recipient on.
    let wamid = "wamid.campaign1";
    let status_body = switchboard_testkit::fixtures::delivery(vec![
        switchboard_testkit::fixtures::status_change(
            PHONE_NUMBER_ID,
            wamid,
            "read",
            "15550100001",
            1_763_800_100,
            json!([]),
        ),
    ]);
    assert_eq!(s.h.webhook(&status_body).await.status(), StatusCode::OK);
    s.h.drain(QueueName::Inbound).await;
    let p = get_campaign(&s, &id).await["progress"].clone();
    if exact_counters(backend) {
        assert_eq!(p["delivered"], 1, "{p}");
        assert_eq!(p["read"], 1, "{p}");
    }
    let (_, read) =
        s.h.get(
            &format!("/v1/campaigns/{id}/recipients?status=read"),
            &s.admin,
        )
        .await;
    assert_eq!(read["items"].as_array().unwrap().len(), 1, "{read}");

    let (status, list) = s.h.get("/v1/campaigns", &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], id.as_str());
    s.h.stop().await;
}

#[tokio::test]
async fn broadcast_reaches_each_contact_once_sqlite() {
    broadcast_reaches_each_contact_once(Backend::Local).await;
}

#[tokio::test]
async fn broadcast_reaches_each_contact_once_dynamodb() {
    broadcast_reaches_each_contact_once(Backend::Aws).await;
}

async fn tier_limit_pauses_until_the_window_frees(backend: Backend) {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let s = setup(backend, Some(clock.clone())).await;
    let rows: Vec<(String, &str, &str)> = (1..=55).map(|i| (phone(i), "Ana", "vip")).collect();
    import(&s, &rows).await;
    let (status, body) =
        s.h.patch(
            &format!("/v1/integrations/{}", s.integration),
            &s.admin,
            &json!({"messaging_limit_tier": "TIER_50"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, created) =
        s.h.post("/v1/campaigns", &s.admin, &campaign_body(&s, &["vip"]))
            .await;
    let id = created["id"].as_str().unwrap().to_owned();
    s.h.post(&format!("/v1/campaigns/{id}/start"), &s.admin, &json!({}))
        .await;
    run_until_sent(&s, Some(&clock), &id, 50).await;
    let c = get_campaign(&s, &id).await;
    assert_eq!(c["status"], "paused", "{c}");
    assert_eq!(c["paused_reason"], "tier_limit");
    if exact_counters(backend) {
        assert_eq!(c["progress"]["sent"], 50, "{c}");
    }
    assert_eq!(s.sends.0.lock().unwrap().len(), 50);

    // Within the window the schedule leaves it paused.
    clock.advance(chrono::Duration::hours(12));
    let tick = switchboard_core::usecases::campaigns::fanout::tick(s.h.app.services())
        .await
        .unwrap();
    assert_eq!(tick.resumed, 0);
    // A day later the number has room again: the schedule resumes it where it stopped.
    clock.advance(chrono::Duration::hours(13));
    let tick = switchboard_core::usecases::campaigns::fanout::tick(s.h.app.services())
        .await
        .unwrap();
    assert_eq!(tick.resumed, 1);
    run_until_sent(&s, Some(&clock), &id, 55).await;
    let c = get_campaign(&s, &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    if exact_counters(backend) {
        assert_eq!(c["progress"]["sent"], 55, "{c}");
    }
    let sent = s.sends.0.lock().unwrap().clone();
    let mut to: Vec<&str> = sent.iter().map(|b| b["to"].as_str().unwrap()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 55, "every contact once");
    s.h.stop().await;
}

#[tokio::test]
async fn tier_limit_pauses_until_the_window_frees_sqlite() {
    tier_limit_pauses_until_the_window_frees(Backend::Local).await;
}

#[tokio::test]
async fn tier_limit_pauses_until_the_window_frees_dynamodb() {
    tier_limit_pauses_until_the_window_frees(Backend::Aws).await;
}

#[tokio::test]
async fn pause_resume_schedule_quiet_hours_and_validation() {
    let clock = Arc::new(FixedClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .to_utc(),
    ));
    let s = setup(Backend::Local, Some(clock.clone())).await;
    let rows: Vec<(String, &str, &str)> = (1..=3).map(|i| (phone(i), "Ana", "vip")).collect();
    import(&s, &rows).await;

    // Validation names the field.
    for (patch, field) in [
        (json!({"name": ""}), "name"),
        (
            json!({"integration_id": "acc_00000000000000000000000000000000"}),
            "integration_id",
        ),
        (json!({"audience": {}}), "audience"),
        (
            json!({"audience": {"contact_ids": ["nope"]}}),
            "audience.contact_ids[0]",
        ),
        (
            json!({"template": {"name": "spring_sale", "language": "en_US", "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{contact.secret}}"}]}]}}),
            "template.components[0].parameters[0].text",
        ),
        (json!({"send_at": "tomorrow"}), "send_at"),
        (
            json!({"quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Nowhere/City"}}),
            "quiet_hours.timezone",
        ),
    ] {
        let mut body = campaign_body(&s, &["vip"]);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = s.h.post("/v1/campaigns", &s.admin, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }

    // Scheduled for an hour ahead, with quiet hours 10:30-12:00 in Amsterdam (UTC+1).
    let mut body = campaign_body(&s, &["vip"]);
    body["send_at"] = json!("2026-12-07T11:00:00+00:00");
    body["quiet_hours"] = json!({"start": "11:30", "end": "13:00", "timezone": "Europe/Amsterdam"});
    let (_, created) = s.h.post("/v1/campaigns", &s.admin, &body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, started) =
        s.h.post(&format!("/v1/campaigns/{id}/start"), &s.admin, &json!({}))
            .await;
    assert_eq!(started["status"], "scheduled");
    run(&s, Some(&clock)).await;
    assert!(
        s.sends.0.lock().unwrap().is_empty(),
        "nothing before send_at"
    );
    // 11:00 UTC: due, but 12:00 in Amsterdam is inside the quiet hours.
    clock.advance(chrono::Duration::hours(1));
    let tick = switchboard_core::usecases::campaigns::fanout::tick(s.h.app.services())
        .await
        .unwrap();
    assert_eq!(tick.started, 1);
    run(&s, Some(&clock)).await;
    let c = get_campaign(&s, &id).await;
    assert_eq!(c["status"], "running");
    assert_eq!(c["progress"]["audience_size"], 3);
    assert!(
        s.sends.0.lock().unwrap().is_empty(),
        "nothing in quiet hours"
    );
    // Paused by a person, the end of the quiet hours sends nothing.
    let (_, paused) =
        s.h.post(&format!("/v1/campaigns/{id}/pause"), &s.admin, &json!({}))
            .await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["paused_reason"], Value::Null);
    clock.advance(chrono::Duration::hours(1));
    run(&s, Some(&clock)).await;
    assert!(s.sends.0.lock().unwrap().is_empty(), "nothing while paused");
    // Resumed after the quiet hours (12:00 UTC is 13:00 there): everyone once.
    let (_, resumed) =
        s.h.post(&format!("/v1/campaigns/{id}/resume"), &s.admin, &json!({}))
            .await;
    assert_eq!(resumed["status"], "running");
    run(&s, Some(&clock)).await;
    assert_eq!(get_campaign(&s, &id).await["status"], "completed");
    assert_eq!(s.sends.0.lock().unwrap().len(), 3);
    s.h.stop().await;
}

#[tokio::test]
async fn a_paused_template_stops_its_campaigns() {
    let s = setup(Backend::Local, None).await;
    let rows: Vec<(String, &str, &str)> = (1..=2).map(|i| (phone(i), "Ana", "vip")).collect();
    import(&s, &rows).await;
    let (_, created) =
        s.h.post("/v1/campaigns", &s.admin, &campaign_body(&s, &["vip"]))
            .await;
    let id = created["id"].as_str().unwrap().to_owned();
    s.h.post(&format!("/v1/campaigns/{id}/start"), &s.admin, &json!({}))
        .await;
    let (changed, _) = switchboard_core::usecases::templates::apply_webhook(
        s.h.app.services(),
        "message_template_status_update",
        switchboard_testkit::fixtures::WABA_ID,
        &json!({"event": "PAUSED", "message_template_name": "spring_sale", "message_template_language": "en_US", "reason": "Low quality"}),
    )
    .await
    .unwrap();
    assert_eq!(changed, 1);
    let c = get_campaign(&s, &id).await;
    assert_eq!(c["status"], "paused", "{c}");
    assert_eq!(c["paused_reason"], "template_paused");
    run(&s, None).await;
    assert!(s.sends.0.lock().unwrap().is_empty());
    // While Meta keeps it paused, a new campaign with it is refused.
    let (status, err) =
        s.h.post("/v1/campaigns", &s.admin, &campaign_body(&s, &["vip"]))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "template_not_approved");
    s.h.stop().await;
}

#[tokio::test]
async fn a_disabled_feature_answers_404() {
    let mut opts = Options {
        workers: false,
        ..Options::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let app = crate::support::build_app(&mut opts, dir.path()).await;
    let mut services = app.services().clone();
    services.features.broadcast_campaigns = false;
    let tick = switchboard_core::usecases::campaigns::fanout::tick(&services)
        .await
        .unwrap();
    assert_eq!(tick, Default::default());
    assert!(switchboard_core::usecases::campaigns::require_enabled(&services).is_err());
    assert!(switchboard_core::usecases::campaigns::require_enabled(app.services()).is_ok());
}

/// The lanes on the store the sender uses: a broadcast books the number only a moment
/// ahead, so a priority send finds a slot within the marketing horizon, however many
/// marketing sends wait.
#[tokio::test]
async fn a_broadcast_never_books_the_number_far_ahead_of_an_agent() {
    use switchboard_core::model::Lane;
    use switchboard_core::usecases::outbound::deliver::lane_horizon;
    use switchboard_core::usecases::pacing::{Rate, Reservation, reserve, reserve_within};
    let h = Harness::with(Options {
        serve: false,
        workers: false,
        ..Options::default()
    })
    .await;
    let store = &*h.app.services().store;
    let rate = Rate::per_second(80, 1.0);
    let now = chrono::Utc::now().timestamp_micros();
    let (mut booked, mut busy) = (0, 0);
    for _ in 0..1_000 {
        match reserve_within(
            store,
            "PACE#RATE#lanes",
            rate,
            now,
            lane_horizon(Lane::Marketing),
        )
        .await
        .unwrap()
        {
            Reservation::Slot(_) => booked += 1,
            Reservation::Busy { free_at_us } => {
                busy += 1;
                assert!(free_at_us > now);
            }
        }
    }
    // 1.2 s at 12.5 ms a slot: the first 97 (slot 0 included) fit, the rest wait.
    assert_eq!(booked, 97);
    assert_eq!(busy, 903);
    let agent = reserve(store, "PACE#RATE#lanes", rate, now).await.unwrap();
    assert!(
        agent - now <= 1_200_000 + rate.interval_us,
        "{}",
        agent - now
    );
    // Notifications look further ahead than marketing, so they find room first.
    assert!(matches!(
        reserve_within(
            store,
            "PACE#RATE#lanes",
            rate,
            now,
            lane_horizon(Lane::Transactional)
        )
        .await
        .unwrap(),
        Reservation::Slot(_)
    ));
}

// ------------------------------------------------------------------- drip sequences

async fn drip_sequence_steps_reach_each_contact_once(backend: Backend) {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let s = setup(backend, Some(clock.clone())).await;
    import(
        &s,
        &[
            (phone(1), "Ana", "trial"),
            (phone(2), "Ben", "trial"),
            (phone(3), "Cid", "trial"),
        ],
    )
    .await;
    let (ana, ben, cid) = (
        contact_id(&s, "15550100001").await,
        contact_id(&s, "15550100002").await,
        contact_id(&s, "15550100003").await,
    );
    let mut body = json!({
        "name": "Onboarding",
        "integration_id": s.integration,
        "steps": [
            {"delay": "0s", "template": {"name": "welcome", "language": "en_US", "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "{{contact.name}}"}]}]}},
            {"delay": "1d", "text": "How is your first day going?"},
            {"delay": "2h", "template": {"name": "tips", "language": "en_US"}}
        ],
        "stop_on_reply": true
    });
    body["steps"][1]["delay"] = json!("1w");
    let (status, err) = s.h.post("/v1/sequences", &s.admin, &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["field"], "steps[1].delay");
    body["steps"][1]["delay"] = json!("1d");
    let (status, created) = s.h.post("/v1/sequences", &s.admin, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let enrol = format!("/v1/sequences/{id}/enrolments");
    let (status, out) =
        s.h.post(&enrol, &s.admin, &json!({"contact_ids": [ana, ben, cid]}))
            .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["enrolled"], 3);
    let (_, out) =
        s.h.post(
            &enrol,
            &s.admin,
            &json!({"audience": {"tags_any": ["trial"]}}),
        )
        .await;
    assert_eq!(out["enrolled"], 0, "each contact once: {out}");
    assert_eq!(out["already_enrolled"], 3);
    let (status, _) = s.h.delete(&format!("{enrol}/{cid}"), &s.admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let svc = s.h.app.services();
    let billing = &s.h.app.config().billing;
    // Two overlapping runs send the first step once to each active contact.
    let (a, b) = tokio::join!(
        switchboard_core::usecases::sequences::tick(svc, billing),
        switchboard_core::usecases::sequences::tick(svc, billing)
    );
    assert_eq!(a.unwrap().sent + b.unwrap().sent, 2);
    run(&s, Some(&clock)).await;
    assert_eq!(s.sends.0.lock().unwrap().len(), 2);

    // Ben answers; a day later Ana's free-form step finds her window closed.
    clock.advance(chrono::Duration::minutes(5));
    let reply =
        switchboard_testkit::fixtures::delivery(vec![switchboard_testkit::fixtures::text_change(
            PHONE_NUMBER_ID,
            "15550100002",
            "Ben",
            "wamid.ben-reply",
            switchboard_core::clock::Clock::now(&*clock).timestamp(),
            "Thanks!",
        )]);
    assert_eq!(s.h.webhook(&reply).await.status(), StatusCode::OK);
    s.h.drain(QueueName::Inbound).await;
    clock.advance(chrono::Duration::hours(25));
    let t = switchboard_core::usecases::sequences::tick(svc, billing)
        .await
        .unwrap();
    assert_eq!((t.sent, t.skipped, t.stopped), (0, 1, 1), "{t:?}");
    // Two hours on, Ana's last step goes; nothing more is due after it.
    clock.advance(chrono::Duration::hours(2));
    let t = switchboard_core::usecases::sequences::tick(svc, billing)
        .await
        .unwrap();
    assert_eq!(t.sent, 1, "{t:?}");
    run(&s, Some(&clock)).await;
    clock.advance(chrono::Duration::days(5));
    let t = switchboard_core::usecases::sequences::tick(svc, billing)
        .await
        .unwrap();
    assert_eq!(t, Default::default());

    let sent = s.sends.0.lock().unwrap().clone();
    let names: Vec<(&str, &str)> = sent
        .iter()
        .map(|b| {
            (
                b["to"].as_str().unwrap(),
                b["template"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&("15550100001", "welcome")));
    assert!(names.contains(&("15550100002", "welcome")));
    assert!(names.contains(&("15550100001", "tips")));

    let (_, got) = s.h.get(&format!("/v1/sequences/{id}"), &s.admin).await;
    if exact_counters(backend) {
        assert_eq!(got["steps"][0]["queued"], 2, "{got}");
        assert_eq!(got["steps"][1]["skipped"], 1, "{got}");
        assert_eq!(got["steps"][2]["queued"], 1, "{got}");
    }
    assert_eq!(
        got["enrolments"],
        json!({"enrolled": 3, "active": 0, "completed": 1, "stopped": 2})
    );
    let (_, list) = s.h.get(&enrol, &s.admin).await;
    let mut reasons: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["stop_reason"].as_str().map(str::to_owned))
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["removed", "replied"]);
    s.h.stop().await;
}

#[tokio::test]
async fn drip_sequence_steps_reach_each_contact_once_sqlite() {
    drip_sequence_steps_reach_each_contact_once(Backend::Local).await;
}

#[tokio::test]
async fn drip_sequence_steps_reach_each_contact_once_dynamodb() {
    drip_sequence_steps_reach_each_contact_once(Backend::Aws).await;
}

/// A process dies mid-campaign: the chunk it was fanning out and the sends it was making
/// are never acknowledged. Another process on the same data takes over when the queue
/// hands them out again: every contact gets the campaign exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_survives_a_crash_mid_fan_out() {
    let s = setup(Backend::Local, None).await;
    let rows: Vec<(String, &str, &str)> = (1..=300).map(|i| (phone(i), "Ana", "vip")).collect();
    import(&s, &rows).await;
    let (_, created) =
        s.h.post("/v1/campaigns", &s.admin, &campaign_body(&s, &["vip"]))
            .await;
    let id = created["id"].as_str().unwrap().to_owned();
    s.h.post(&format!("/v1/campaigns/{id}/start"), &s.admin, &json!({}))
        .await;
    // The first process collects the audience and works on the first sending chunk and
    // its sends, then dies before acknowledging any of it (hidden for 2 s, then handed out
    // again like an expired visibility timeout).
    let consumers = switchboard_cli::routes::consumers();
    let handler = |q: QueueName| {
        consumers
            .iter()
            .find(|c| c.queue == q)
            .unwrap()
            .handler
            .clone()
    };
    let services = s.h.app.services();
    let org = switchboard_core::ids::OrgId::parse("acme").unwrap();
    let cid = switchboard_core::ids::CampaignId::parse(&id).unwrap();
    loop {
        let batch = services
            .queue
            .receive(
                QueueName::Campaign,
                1,
                Duration::from_secs(2),
                Duration::from_millis(1_500),
            )
            .await
            .unwrap();
        assert_eq!(
            batch.len(),
            1,
            "the campaign always has its next chunk queued"
        );
        let collecting = matches!(
            switchboard_core::usecases::campaigns::get(services, &org, &cid)
                .await
                .unwrap()
                .phase,
            switchboard_core::usecases::campaigns::Phase::Collect(_)
        );
        let outcome = (handler(QueueName::Campaign))(s.h.app.clone(), batch.clone()).await;
        if !collecting {
            // The first sending chunk did its work; its process dies unacknowledged.
            break;
        }
        switchboard_runtime::queue::settle(
            &*services.queue,
            QueueName::Campaign,
            &batch,
            &outcome,
            true,
        )
        .await;
    }
    let sends = services
        .queue
        .receive(
            QueueName::Outbound,
            10,
            Duration::from_secs(2),
            Duration::from_millis(50),
        )
        .await
        .unwrap();
    assert!(!sends.is_empty());
    let _ = (handler(QueueName::Outbound))(s.h.app.clone(), sends).await;
    let before = s.sends.0.lock().unwrap().len();
    assert!(before > 0 && before < 300, "{before}");

    // A new process on the same data dir.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let mut opts = Options {
        graph_url: s.h.app.config().whatsapp_graph_url.clone(),
        workers: false,
        serve: false,
        ..Options::default()
    };
    let restarted = crate::support::build_app(&mut opts, s.h.data_dir()).await;
    for _ in 0..20 {
        let a = drain_app(&restarted, QueueName::Campaign).await;
        let b = drain_app(&restarted, QueueName::Outbound).await;
        if a.is_empty() && b.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if drain_app(&restarted, QueueName::Campaign).await.is_empty()
                && drain_app(&restarted, QueueName::Outbound).await.is_empty()
            {
                break;
            }
        }
    }
    let sent = s.sends.0.lock().unwrap().clone();
    let mut to: Vec<&str> = sent.iter().map(|b| b["to"].as_str().unwrap()).collect();
    assert_eq!(to.len(), 300, "every contact once, no more");
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 300);
    let c = campaigns_view(&restarted, &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(c["progress"]["sent"], 300, "{c}");
}

async fn campaigns_view(app: &switchboard_runtime::App, id: &str) -> Value {
    let org = switchboard_core::ids::OrgId::parse("acme").unwrap();
    let id = switchboard_core::ids::CampaignId::parse(id).unwrap();
    let c = switchboard_core::usecases::campaigns::get(app.services(), &org, &id)
        .await
        .unwrap();
    switchboard_core::usecases::campaigns::view(app.services(), &c)
        .await
        .unwrap()
}
