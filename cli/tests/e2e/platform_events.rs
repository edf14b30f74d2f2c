//! Platform events end to end: each feature, driven as Meta, Stripe, the frontend and
//! the schedules drive it, publishes its events into the org's log and onto the
//! `webhooks` (and `realtime`) queue, with the data the catalogue promises (ids and
//! states, never a phone number, a name or message text), one event per fact, and none
//! for a change that did not happen. The message and conversation events run on both
//! backends. The queues are read directly: their consumers are not part of these tests.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::{OrgId, Role};
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::platform_events::{self, EventMessage, EventType, PlatformEvent};
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID, TEST_APP_SECRET, TEST_VERIFY_TOKEN};
use switchboard_testkit::llm::{Behaviour, FakeLlm, RecordedChat};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request as WireRequest, Respond, ResponseTemplate};

use crate::outbound::{accepted, graph_error, graph_send_path, send_one, setup_with, step};
use crate::support::{Backend, Harness, Options, graph_knowing_the_number};

/// The customer of `outbound::setup_with` (its first message says "Is size M in stock?").
const CUSTOMER: &str = "16505551234";

/// Every event in the org's log, oldest first.
async fn log(h: &Harness) -> Vec<PlatformEvent> {
    let org = OrgId::parse("acme").unwrap();
    let epoch = Utc.timestamp_opt(0, 0).unwrap();
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = platform_events::since(h.app.services(), &org, epoch, after, 100)
            .await
            .unwrap();
        out.extend(page);
        match next {
            Some(p) => after = Some(p),
            None => return out,
        }
    }
}

/// The events of one type in the log, one per id (a retried publish is the same event).
fn of(events: &[PlatformEvent], kind: EventType) -> Vec<PlatformEvent> {
    let mut seen = BTreeSet::new();
    events
        .iter()
        .filter(|e| e.kind == kind && seen.insert(e.id.clone()))
        .cloned()
        .collect()
}

/// Everything on a queue (received and deleted, so each FIFO group moves on).
async fn take_queued(h: &Harness, queue: QueueName) -> Vec<EventMessage> {
    let q = &h.app.services().queue;
    let mut out = Vec::new();
    for _ in 0..100 {
        let batch = q
            .receive(
                queue,
                10,
                Duration::from_secs(30),
                Duration::from_millis(200),
            )
            .await
            .unwrap();
        if batch.is_empty() {
            return out;
        }
        for m in batch {
            out.push(serde_json::from_str::<EventMessage>(&m.body).unwrap());
            q.delete(queue, &m.receipt).await.unwrap();
        }
    }
    panic!("{queue} did not empty");
}

/// Every event of the log was queued for webhooks and for realtime, in the org's group,
/// and nothing else was; no event (log or queue) carries any of `secrets`.
async fn assert_queued_and_clean(h: &Harness, secrets: &[&str]) {
    let events = log(h).await;
    assert!(!events.is_empty());
    let logged: BTreeSet<String> = events.iter().map(|e| e.id.clone()).collect();
    for queue in [QueueName::Webhooks, QueueName::Realtime] {
        let queued = take_queued(h, queue).await;
        assert!(queued.iter().all(|m| m.org_id.as_str() == "acme"));
        let ids: BTreeSet<String> = queued.iter().map(|m| m.event.id.clone()).collect();
        assert_eq!(ids, logged, "{queue} holds what the log holds");
        // The queue carries the event as logged.
        for m in &queued {
            let e = events.iter().find(|e| e.id == m.event.id).unwrap();
            assert_eq!((m.event.kind, &m.event.data), (e.kind, &e.data));
        }
        let text = serde_json::to_string(&queued).unwrap();
        for s in secrets {
            assert!(!text.contains(s), "{s} in a queued event: {text}");
        }
    }
    let text = serde_json::to_string(&events).unwrap();
    for s in secrets {
        assert!(!text.contains(s), "{s} in the event log: {text}");
    }
    for e in &events {
        assert!(e.id.starts_with("evt_") && e.id.len() == 36, "{}", e.id);
    }
}

/// Meta's status webhook for one of our messages, applied by the inbound consumer.
async fn status(h: &Harness, wamid: &str, state: &str, ts: i64, errors: Value) {
    let body = fixtures::delivery(vec![fixtures::status_change(
        PHONE_NUMBER_ID,
        wamid,
        state,
        CUSTOMER,
        ts,
        errors,
    )]);
    assert_eq!(h.webhook(&body).await.status(), StatusCode::OK);
    h.drain(QueueName::Inbound).await;
}

/// The customer writes; the inbound consumer applies it.
async fn customer_writes(h: &Harness, wamid: &str, text: &str, at: DateTime<Utc>) {
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "Sheena",
        wamid,
        at.timestamp(),
        text,
    )]);
    assert_eq!(h.webhook(&body).await.status(), StatusCode::OK);
    h.drain(QueueName::Inbound).await;
}

async fn messages_and_conversations_publish_their_events(backend: Backend) {
    // A connected number and the customer's first message ("Is size M in stock?").
    let s = setup_with(
        chrono::Duration::minutes(1),
        Options {
            backend,
            ..Options::default()
        },
    )
    .await;
    let h = &s.h;
    let (_, conv) = h
        .get(&format!("/v1/conversations/{}", s.conv), &s.agent)
        .await;
    let contact_id = conv["contact"]["id"].as_str().unwrap().to_owned();
    let (_, msgs) = h
        .get(&format!("/v1/conversations/{}/messages", s.conv), &s.agent)
        .await;
    let first = msgs["items"][0].clone();

    // message.received: ids and kind, no text, no number.
    let events = log(h).await;
    let received = of(&events, EventType::MessageReceived);
    assert_eq!(received.len(), 1, "{events:?}");
    assert_eq!(
        received[0].data,
        json!({
            "message_id": first["id"], "conversation_id": s.conv, "contact_id": contact_id,
            "channel": "whatsapp", "kind": "text", "received_at": first["timestamp"],
        })
    );
    // A new conversation is no update of one.
    assert!(of(&events, EventType::ConversationUpdated).is_empty());

    // An agent's reply is sent; Meta reports it delivered, then read, then (late) sent
    // and read again: two status events, none for the late or repeated reports.
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.out1"))
        .mount(&s.graph)
        .await;
    let out1 = send_one(&s, "Yes, we have size M").await;
    step(h, QueueName::Outbound).await.unwrap();
    status(h, "wamid.out1", "delivered", 1_763_800_100, json!([])).await;
    status(h, "wamid.out1", "read", 1_763_800_200, json!([])).await;
    status(h, "wamid.out1", "sent", 1_763_800_050, json!([])).await;
    let statuses = of(&log(h).await, EventType::MessageStatusUpdated);
    assert_eq!(
        statuses.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        vec![
            json!({"message_id": out1, "conversation_id": s.conv, "status": "delivered"}),
            json!({"message_id": out1, "conversation_id": s.conv, "status": "read"}),
        ]
    );
    assert!(of(&log(h).await, EventType::MessageFailed).is_empty());

    // A permanent send error: message.failed with Meta's code, not its words.
    s.graph.reset().await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(graph_error(131026, 400))
        .mount(&s.graph)
        .await;
    let out2 = send_one(&s, "Second reply").await;
    step(h, QueueName::Outbound).await.unwrap();
    // Meta failing a sent message: message.failed with its code.
    s.graph.reset().await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.out3"))
        .mount(&s.graph)
        .await;
    let out3 = send_one(&s, "Third reply").await;
    step(h, QueueName::Outbound).await.unwrap();
    status(
        h,
        "wamid.out3",
        "failed",
        1_763_800_300,
        json!([{"code": 131047, "title": "Re-engagement message", "message": "More than 24 hours have passed", "error_data": {"details": "Message failed to send"}}]),
    )
    .await;
    let failed = of(&log(h).await, EventType::MessageFailed);
    assert_eq!(
        failed.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        vec![
            json!({"message_id": out2, "conversation_id": s.conv, "error_code": "131026"}),
            json!({"message_id": out3, "conversation_id": s.conv, "error_code": "131047"}),
        ]
    );
    // A failed message tells no status_updated.
    assert_eq!(of(&log(h).await, EventType::MessageStatusUpdated).len(), 2);

    // The agent works the conversation: one event naming what changed; the same PATCH
    // again changes nothing and tells nothing.
    let path_ = format!("/v1/conversations/{}", s.conv);
    let patch = json!({"status": "resolved", "assignee": "agent-7", "labels": ["vip"]});
    let (st, body) = h.patch(&path_, &s.agent, &patch).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, _) = h.patch(&path_, &s.agent, &patch).await;
    assert_eq!(st, StatusCode::OK);
    let updates = of(&log(h).await, EventType::ConversationUpdated);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(
        updates[0].data,
        json!({"conversation_id": s.conv, "status": "resolved", "assignee": "agent-7",
               "labels": ["vip"], "priority": "normal", "snoozed_until": null,
               "version": body["version"], "changed": ["status", "assignee", "labels"]})
    );

    // The customer writes again: the message, and the reopening.
    let now = h.app.services().clock.now();
    customer_writes(h, "wamid.inbound2", "Still there?", now).await;
    let events = log(h).await;
    assert_eq!(of(&events, EventType::MessageReceived).len(), 2);
    let updates = of(&events, EventType::ConversationUpdated);
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(
        (
            &updates[1].data["status"],
            &updates[1].data["assignee"],
            &updates[1].data["changed"]
        ),
        (&json!("open"), &json!("agent-7"), &json!(["status"]))
    );
    assert_ne!(updates[0].id, updates[1].id);

    assert_queued_and_clean(
        h,
        &[
            CUSTOMER,
            "Sheena",
            "size M",
            "Second reply",
            "Third reply",
            "Still there",
            "EAAG-test-token",
            "error 131026",
            "Re-engagement",
            "24 hours",
            "wamid.",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_conversations_publish_their_events_sqlite() {
    messages_and_conversations_publish_their_events(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_conversations_publish_their_events_dynamodb() {
    messages_and_conversations_publish_their_events(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_publish_their_updates_consent_and_erasure() {
    let h = Harness::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let agent = h.token("acme", Role::Agent);
    let admin = h.token("acme", Role::Admin);
    customer_writes(&h, "wamid.c1", "Hello there", Utc::now()).await;
    let (_, list) = h.get("/v1/contacts", &agent).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let path_ = format!("/v1/contacts/{id}");

    // A PATCH: the fields it changed, by name only; the same PATCH again tells nothing.
    let patch = json!({"name": "Sheena Nelson", "email": "sheena@example.org", "tags": ["vip"]});
    let (st, body) = h.patch(&path_, &agent, &patch).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, _) = h.patch(&path_, &agent, &patch).await;
    assert_eq!(st, StatusCode::OK);
    let updates = of(&log(&h).await, EventType::ContactUpdated);
    assert_eq!(
        updates.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        vec![json!({"contact_id": id, "changed": ["name", "email", "tags"]})]
    );

    // STOP: the consent changed; START: back again (both a moment ago, so that the
    // agent's change below is the newest).
    let t = Utc::now().timestamp();
    customer_writes(
        &h,
        "wamid.c2",
        "STOP",
        Utc.timestamp_opt(t - 20, 0).unwrap(),
    )
    .await;
    customer_writes(
        &h,
        "wamid.c3",
        "START",
        Utc.timestamp_opt(t - 10, 0).unwrap(),
    )
    .await;
    let updates = of(&log(&h).await, EventType::ContactUpdated);
    assert_eq!(
        updates.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        vec![
            json!({"contact_id": id, "changed": ["name", "email", "tags"]}),
            json!({"contact_id": id, "changed": ["opted_out"]}),
            json!({"contact_id": id, "changed": ["opted_out"]}),
        ]
    );
    assert_ne!(updates[1].id, updates[2].id);
    // An agent opting them out through the API.
    let (st, _) = h.patch(&path_, &agent, &json!({"opted_out": true})).await;
    assert_eq!(st, StatusCode::OK);
    let updates = of(&log(&h).await, EventType::ContactUpdated);
    assert_eq!(updates.len(), 4);
    assert_eq!(updates[3].data["changed"], json!(["opted_out"]));

    // The erasure completes: contact.erased, once.
    assert!(of(&log(&h).await, EventType::ContactErased).is_empty());
    let (st, body) = h.delete(&path_, &admin).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (st, _) = h.delete(&path_, &admin).await;
    assert!(st.is_success(), "{st}");
    let erased = of(&log(&h).await, EventType::ContactErased);
    assert_eq!(
        erased.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        vec![json!({"contact_id": id})]
    );

    assert_queued_and_clean(
        &h,
        &[
            CUSTOMER,
            "Sheena",
            "sheena@example.org",
            "Hello there",
            "wamid.",
        ],
    )
    .await;
    h.stop().await;
}

/// Answers each Graph send with a fresh wamid.
#[derive(Clone, Default)]
struct Wamids(Arc<Mutex<usize>>);

impl Respond for Wamids {
    fn respond(&self, _: &WireRequest) -> ResponseTemplate {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        ResponseTemplate::new(200).set_body_json(
            json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.ev{n}")}]}),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_campaign_publishes_its_counts() {
    let graph = graph_knowing_the_number().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
        .respond_with(Wamids::default())
        .mount(&graph)
        .await;
    let h = Harness::with(Options {
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        ..Options::default()
    })
    .await;
    let integration = h.connect("acme", PHONE_NUMBER_ID).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = h.token("acme", Role::Admin);
    let r = h
        .http
        .post(h.url("/v1/contacts/imports"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(
            "phone,name,tags\n+15550100001,Ana,vip\n+15550100002,Ben,vip\n+15550100003,Cid,other\n",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    h.drain(QueueName::Import).await;
    let (st, created) = h
        .post(
            "/v1/campaigns",
            &admin,
            &json!({"name": "Spring sale", "integration_id": integration,
                    "template": {"name": "spring_sale", "language": "en_US"},
                    "audience": {"tags_any": ["vip"]}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (st, _) = h
        .post(&format!("/v1/campaigns/{id}/start"), &admin, &json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    for _ in 0..20 {
        h.drain(QueueName::Campaign).await;
        h.drain(QueueName::Outbound).await;
        let (_, c) = h.get(&format!("/v1/campaigns/{id}"), &admin).await;
        if c["status"] == "completed" {
            break;
        }
        // Chunk delays hide the next chunk for a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, c) = h.get(&format!("/v1/campaigns/{id}"), &admin).await;
    assert_eq!(c["status"], "completed", "{c}");
    let completed = of(&log(&h).await, EventType::CampaignCompleted);
    assert_eq!(completed.len(), 1, "{completed:?}");
    let data = &completed[0].data;
    assert_eq!(data["campaign_id"], json!(id));
    assert_eq!(
        (&data["counts"]["audience_size"], &data["counts"]["queued"]),
        (&json!(2), &json!(2)),
        "{data}"
    );
    assert_queued_and_clean(&h, &["15550100001", "15550100002", "Ana", "Ben"]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_reminder_is_published_once() {
    let start = crate::reminders::at("2026-03-27T12:00:00Z");
    let s = crate::reminders::setup(Backend::Local, start, None, vec![]).await;
    let (st, body) = s
        .h
        .put_json(
            "/v1/settings/reminders",
            &s.admin,
            &json!({"template": "appointment_reminder", "language": "en_US", "offsets": ["1h"], "email": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let ids = crate::reminders::contacts(&s, &[("+15550100001", "Ana", "")]).await;
    let a = crate::reminders::book(
        &s,
        &ids[0],
        json!({"starts_at": "2026-03-27T15:00:00Z", "timezone": "UTC", "title": "Cut", "channel": "whatsapp"}),
    )
    .await;
    let appointment = a["id"].as_str().unwrap().to_owned();
    // Nothing is due yet.
    crate::reminders::tick(&s).await;
    assert!(of(&log(&s.h).await, EventType::AppointmentReminderSent).is_empty());
    // An hour before: the reminder goes, and a second run sends (and tells) nothing.
    s.clock.set(crate::reminders::at("2026-03-27T14:01:00Z"));
    assert_eq!(crate::reminders::tick(&s).await.sent, 1);
    crate::reminders::tick(&s).await;
    let sent = of(&log(&s.h).await, EventType::AppointmentReminderSent);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let data = &sent[0].data;
    assert_eq!(
        (&data["appointment_id"], &data["channel"], &data["reminder"]),
        (&json!(appointment), &json!("whatsapp"), &json!(0)),
        "{data}"
    );
    assert_eq!(data["contact_id"], json!(ids[0]));
    assert_eq!(data["due_at"], "2026-03-27T14:00:00.000Z");
    // The message it sent, as the API lists it.
    let message = data["message_id"].as_str().unwrap();
    assert!(message.starts_with("m"), "{message}");
    assert_queued_and_clean(&s.h, &["15550100001", "Ana", "Cut"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_drafts_and_handoffs_are_published() {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap(),
    ));
    let graph = graph_knowing_the_number().await;
    let llm = FakeLlm::start().await;
    llm.on_any_model(Behaviour::handler(|_: &RecordedChat| {
        "We are open from 9 to 5.".to_owned()
    }));
    let mut opts = Options {
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        clock: Some(clock.clone()),
        llm_url: Some(llm.url()),
        ..Options::default()
    };
    opts.secrets
        .push((SecretName::OpenrouterApiKey, "sk-or-test-key".into()));
    let h = Harness::with(opts).await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let admin = h.token("acme", Role::Admin);
    let (st, body) = h
        .put_json(
            "/v1/ai/settings",
            &admin,
            &json!({"enabled": true, "mode": "draft", "analysis": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");

    customer_writes(&h, "wamid.ai1", "When are you open?", clock.now()).await;
    h.drain(QueueName::Ai).await;
    let (_, msgs) = h
        .get(
            &format!("/v1/conversations/{}/messages", conversation()),
            &admin,
        )
        .await;
    let asked = msgs["items"][0]["id"].clone();
    let (_, list) = h
        .get(
            &format!("/v1/conversations/{}/suggestions", conversation()),
            &admin,
        )
        .await;
    let draft = &list["items"][0];
    assert_eq!(draft["status"], "draft", "{list}");
    let created = of(&log(&h).await, EventType::AiSuggestionCreated);
    assert_eq!(
        created.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        vec![
            json!({"suggestion_id": draft["id"], "conversation_id": conversation(), "message_id": asked})
        ]
    );

    // The customer asks for a person: the handoff is a conversation update.
    clock.advance(chrono::Duration::minutes(5));
    customer_writes(&h, "wamid.ai2", "I want a human please", clock.now()).await;
    h.drain(QueueName::Ai).await;
    let updates = of(&log(&h).await, EventType::ConversationUpdated);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(
        (
            &updates[0].data["status"],
            &updates[0].data["labels"],
            &updates[0].data["changed"]
        ),
        (
            &json!("pending"),
            &json!(["handoff"]),
            &json!(["status", "labels"])
        )
    );
    assert_eq!(of(&log(&h).await, EventType::AiSuggestionCreated).len(), 1);
    assert_queued_and_clean(
        &h,
        &[
            CUSTOMER,
            "Sheena",
            "open from 9",
            "When are you open",
            "human",
        ],
    )
    .await;
    h.stop().await;
}

fn conversation() -> String {
    switchboard_core::ids::ConversationId::for_thread(
        &OrgId::parse("acme").unwrap(),
        &switchboard_core::ids::PhoneNumberId::parse(PHONE_NUMBER_ID).unwrap(),
        &switchboard_core::ids::WaId::parse(CUSTOMER).unwrap(),
    )
    .to_string()
}

const WHSEC: &str = "whsec_switchboard_test_secret";
const STRIPE_KEY: &str = "sk_test_switchboard";
const STRIPE_CUSTOMER: &str = "cus_RsT7uVwXyZ0a1b";
const SUB: &str = "sub_1QzX8K2eZvKYlo2C7gk3vQ1b";

/// The subscription as Stripe holds it now (what a re-fetch returns).
#[derive(Clone)]
struct Current(Arc<Mutex<Value>>);

impl Respond for Current {
    fn respond(&self, _: &WireRequest) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(self.0.lock().unwrap().clone())
    }
}

fn subscription(status: &str, price: &str, period_end: i64) -> Value {
    json!({
        "id": SUB, "object": "subscription", "customer": STRIPE_CUSTOMER, "status": status,
        "created": 1_763_856_000, "cancel_at_period_end": false, "trial_end": null,
        "metadata": {"org_id": "acme"},
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": price},
            "current_period_start": period_end - 30 * 86_400, "current_period_end": period_end}]}
    })
}

async fn stripe_event(h: &Harness, id: &str, kind: &str, created: i64, object: Value) {
    let body = serde_json::to_vec(
        &json!({"id": id, "object": "event", "api_version": "2025-09-30.clover",
        "created": created, "livemode": false, "type": kind, "data": {"object": object}}),
    )
    .unwrap();
    let sig = switchboard_webhooks::stripe::sign(
        WHSEC.as_bytes(),
        &body,
        h.app.services().clock.now().timestamp(),
    );
    let r = h
        .http
        .post(h.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for outcome in h.drain(QueueName::Billing).await {
        assert!(outcome.failures.is_empty(), "{outcome:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_changes_are_published_and_repeats_are_not() {
    let stripe = MockServer::start().await;
    let end = Utc::now().timestamp() + 29 * 86_400;
    let current = Current(Arc::new(Mutex::new(subscription(
        "active",
        "price_pro",
        end,
    ))));
    Mock::given(method("GET"))
        .and(path(format!("/v1/subscriptions/{SUB}")))
        .respond_with(current.clone())
        .mount(&stripe)
        .await;
    let billing = switchboard_core::billing::BillingConfig {
        enforce: true,
        ..Default::default()
    }
    .with_prices(switchboard_core::billing::Plan::Starter, &["price_starter"])
    .with_prices(
        switchboard_core::billing::Plan::Professional,
        &["price_pro"],
    );
    let h = Harness::with(Options {
        secrets: vec![
            (SecretName::WhatsAppAppSecret, TEST_APP_SECRET.to_owned()),
            (
                SecretName::WhatsAppVerifyToken,
                TEST_VERIFY_TOKEN.to_owned(),
            ),
            (SecretName::StripeWebhookSecret, WHSEC.to_owned()),
            (SecretName::StripeApiKey, STRIPE_KEY.to_owned()),
        ],
        stripe_url: Some(stripe.uri()),
        billing: Some(billing),
        workers: false,
        ..Options::default()
    })
    .await;

    // Checkout completes: the org is on the professional plan, active.
    let session = json!({"id": "cs_1", "object": "checkout.session", "mode": "subscription",
        "client_reference_id": "acme", "customer": STRIPE_CUSTOMER, "subscription": SUB,
        "metadata": {"org_id": "acme"}});
    stripe_event(
        &h,
        "evt_checkout",
        "checkout.session.completed",
        1_763_856_000,
        session,
    )
    .await;
    let end_text = switchboard_core::clock::fmt_time(DateTime::from_timestamp(end, 0).unwrap());
    let updates = of(&log(&h).await, EventType::BillingSubscriptionUpdated);
    assert_eq!(
        updates.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        vec![
            json!({"plan": "professional", "status": "active", "current_period_end": end_text, "cancel_at_period_end": false})
        ]
    );

    // A subscription event that changes nothing (Stripe's state is the same) tells nothing.
    stripe_event(
        &h,
        "evt_same",
        "customer.subscription.updated",
        1_763_860_000,
        subscription("active", "price_pro", end),
    )
    .await;
    assert_eq!(
        of(&log(&h).await, EventType::BillingSubscriptionUpdated).len(),
        1
    );

    // A failed payment: past due.
    *current.0.lock().unwrap() = subscription("past_due", "price_pro", end);
    stripe_event(
        &h,
        "evt_failed",
        "invoice.payment_failed",
        1_763_900_000,
        json!({"id": "in_2", "object": "invoice", "customer": STRIPE_CUSTOMER, "subscription": SUB}),
    )
    .await;
    let updates = of(&log(&h).await, EventType::BillingSubscriptionUpdated);
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(
        (&updates[1].data["plan"], &updates[1].data["status"]),
        (&json!("professional"), &json!("past_due"))
    );
    assert_queued_and_clean(
        &h,
        &[
            STRIPE_CUSTOMER,
            SUB,
            "evt_checkout",
            "evt_failed",
            "in_2",
            "cs_1",
            "price_pro",
        ],
    )
    .await;
    h.stop().await;
}
