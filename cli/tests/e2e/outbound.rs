//! Outbound messaging against a wiremock Graph that checks every request: the send API,
//! the sender worker and its error classes, statuses, the window rule, idempotency,
//! mark-read, media, pacing, dead letters and the sandbox.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::pacing::{self, Rate};
use switchboard_runtime::queue::{BatchOutcome, settle};
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Harness, Options};

const CUSTOMER: &str = "16505551234";
const TOKEN: &str = "EAAG-test-token";

pub(crate) fn graph_send_path() -> String {
    format!("/v23.0/{PHONE_NUMBER_ID}/messages")
}

pub(crate) fn graph_error(code: i64, status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {"message": format!("error {code}"), "type": "OAuthException", "code": code, "error_data": {"messaging_product": "whatsapp", "details": "details"}, "fbtrace_id": "A1"}}))
}

pub(crate) fn accepted(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp", "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}], "messages": [{"id": wamid}]}))
}

pub(crate) struct Setup {
    pub h: Harness,
    pub graph: MockServer,
    pub conv: String,
    pub agent: String,
}

/// A number connected through a faked Graph, and one inbound message `age` ago.
async fn setup(age: chrono::Duration) -> Setup {
    setup_with(age, Options::default()).await
}

/// The same with harness options (backend, clock, fault injection).
pub(crate) async fn setup_with(age: chrono::Duration, mut opts: Options) -> Setup {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"display_phone_number": "+1 555-078-3881", "verified_name": "Acme"}),
        ))
        .mount(&graph)
        .await;
    // A generous pair rate: these tests retry instantly, which real pacing would space out.
    let delivery =
        opts.delivery
            .take()
            .unwrap_or(switchboard_core::usecases::outbound::DeliveryConfig {
                pair: Rate::every(1, 100),
                ..Default::default()
            });
    let h = Harness::with(Options {
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        delivery: Some(delivery),
        ..opts
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let ts = (h.app.services().clock.now() - age).timestamp();
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "Sheena",
        "wamid.inbound1",
        ts,
        "Is size M in stock?",
    )]);
    assert_eq!(h.webhook(&body).await.status(), StatusCode::OK);
    drain(&h, QueueName::Inbound).await;
    let viewer = h.token("acme", Role::Viewer);
    let (_, list) = h.get("/v1/conversations", &viewer).await;
    let conv = list["items"][0]["id"].as_str().unwrap().to_owned();
    let agent = h.token("acme", Role::Agent);
    Setup {
        h,
        graph,
        conv,
        agent,
    }
}

pub(crate) async fn receive(h: &Harness, queue: QueueName) -> Vec<ReceivedMessage> {
    h.app
        .services()
        .queue
        .receive(
            queue,
            10,
            Duration::from_secs(60),
            Duration::from_millis(100),
        )
        .await
        .unwrap()
}

/// Runs one batch of a queue's consumer and settles it; returns the outcome.
pub(crate) async fn step(h: &Harness, queue: QueueName) -> Option<BatchOutcome> {
    let batch = receive(h, queue).await;
    if batch.is_empty() {
        return None;
    }
    let outcome = match queue {
        QueueName::Inbound => worker_inbound::handle(&h.app, batch.clone()).await,
        QueueName::Outbound => worker_outbound::handle(&h.app, batch.clone()).await,
        QueueName::Billing
        | QueueName::Import
        | QueueName::Campaign
        | QueueName::Email
        | QueueName::Ai
        | QueueName::Webhooks
        | QueueName::WebhookRetries
        | QueueName::Realtime => {
            unreachable!()
        }
    };
    settle(&*h.app.services().queue, queue, &batch, &outcome, true).await;
    // Retries were re-hidden for their backoff; tests make them due at once (the
    // receipts are still valid while the messages are in flight).
    for f in &outcome.failures {
        if let Some(m) = batch.iter().find(|m| m.id == f.id) {
            let _ = h
                .app
                .services()
                .queue
                .retry_later(queue, &m.receipt, Duration::ZERO)
                .await;
        }
    }
    Some(outcome)
}

pub(crate) async fn drain(h: &Harness, queue: QueueName) {
    for _ in 0..50 {
        if step(h, queue).await.is_none() {
            return;
        }
    }
    panic!("{queue} did not drain");
}

pub(crate) async fn message(h: &Harness, token: &str, conv: &str, id: &str) -> Value {
    let (_, list) = h
        .get(
            &format!("/v1/conversations/{conv}/messages?limit=100"),
            token,
        )
        .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_text_reaches_graph_with_the_exact_request_and_becomes_sent() {
    let s = setup(chrono::Duration::minutes(5)).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_partial_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "text", "text": {"body": "Yes! Size M is in stock.", "preview_url": false},
            "context": {"message_id": "wamid.inbound1"}
        })))
        .respond_with(accepted("wamid.out1"))
        .expect(1)
        .mount(&s.graph)
        .await;
    // The inbound message's Switchboard id, to reply to it.
    let (_, msgs) =
        s.h.get(&format!("/v1/conversations/{}/messages", s.conv), &s.agent)
            .await;
    let inbound_id = msgs["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, sent) = s
        .h
        .post(&format!("/v1/conversations/{}/messages", s.conv), &s.agent, &json!({"type": "text", "text": {"body": "Yes! Size M is in stock.", "preview_url": false}, "reply_to": inbound_id}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["status"], "queued");
    assert_eq!(sent["direction"], "outbound");
    assert_eq!(sent["reply_to"], "wamid.inbound1");
    let id = sent["id"].as_str().unwrap().to_owned();

    drain(&s.h, QueueName::Outbound).await;
    let m = message(&s.h, &s.agent, &s.conv, &id).await;
    assert_eq!(m["status"], "sent", "{m}");
    assert_eq!(m["wamid"], "wamid.out1");
    assert!(m["status_times"]["sent_at"].is_string());
    let requests = s.graph.received_requests().await.unwrap();
    let send = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let body: Value = serde_json::from_slice(&send.body).unwrap();
    assert_eq!(
        body["biz_opaque_callback_data"],
        id.as_str(),
        "our id travels for status correlation"
    );
    let (_, conv) =
        s.h.get(&format!("/v1/conversations/{}", s.conv), &s.agent)
            .await;
    assert_eq!(conv["last_message"]["direction"], "outbound");
    assert_eq!(conv["last_message"]["preview"], "Yes! Size M is in stock.");

    // Statuses move forward only: delivered, read, then a late delivered changes nothing.
    for (status, ts) in [("delivered", 100), ("read", 200), ("delivered", 300)] {
        let body = fixtures::delivery(vec![fixtures::status_change(
            PHONE_NUMBER_ID,
            "wamid.out1",
            status,
            CUSTOMER,
            1_763_800_000 + ts,
            json!([]),
        )]);
        s.h.webhook(&body).await;
        drain(&s.h, QueueName::Inbound).await;
    }
    let m = message(&s.h, &s.agent, &s.conv, &id).await;
    assert_eq!(m["status"], "read");
    assert!(
        m["status_times"]["delivered_at"].is_string() && m["status_times"]["read_at"].is_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_rule_templates_only_after_24_hours() {
    let s = setup(chrono::Duration::hours(25)).await;
    let (status, err) =
        s.h.post(
            &format!("/v1/conversations/{}/messages", s.conv),
            &s.agent,
            &json!({"type": "text", "text": {"body": "hello?"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["code"], "outside_customer_service_window");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed at"),
        "{err}"
    );
    let template = json!({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}, "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-42"}]}]}});
    let (status, sent) =
        s.h.post(
            &format!("/v1/conversations/{}/messages", s.conv),
            &s.agent,
            &template,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .and(body_partial_json(json!({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}}})))
        .respond_with(accepted("wamid.tpl"))
        .expect(1)
        .mount(&s.graph)
        .await;
    drain(&s.h, QueueName::Outbound).await;
    assert_eq!(
        message(&s.h, &s.agent, &s.conv, sent["id"].as_str().unwrap()).await["status"],
        "sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_returns_the_same_message_and_sends_once() {
    let s = setup(chrono::Duration::minutes(1)).await;
    // Two sends reach Graph: the keyed one (once, despite the retry) and the keyless one.
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.once"))
        .expect(2)
        .mount(&s.graph)
        .await;
    let url = s.h.url(&format!("/v1/conversations/{}/messages", s.conv));
    let post = |body: Value, key: &'static str| {
        let req =
            s.h.http
                .post(url.clone())
                .bearer_auth(&s.agent)
                .header("idempotency-key", key)
                .json(&body);
        async move {
            let r = req.send().await.unwrap();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            (r.status(), replayed, r.json::<Value>().await.unwrap())
        }
    };
    let body = json!({"type": "text", "text": {"body": "Your order shipped"}});
    let (s1, r1, first) = post(body.clone(), "order-42-shipped").await;
    let (s2, r2, second) = post(body.clone(), "order-42-shipped").await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert!(!r1 && r2);
    assert_eq!(first["id"], second["id"]);
    let (s3, _, err) = post(
        json!({"type": "text", "text": {"body": "Something else"}}),
        "order-42-shipped",
    )
    .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["code"], "idempotency_key_reused");
    assert_eq!(err["error"]["field"], "Idempotency-Key");
    // Without a key the request is still accepted.
    let (status, _) =
        s.h.post(
            &format!("/v1/conversations/{}/messages", s.conv),
            &s.agent,
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    drain(&s.h, QueueName::Outbound).await;
    let (_, msgs) =
        s.h.get(&format!("/v1/conversations/{}/messages", s.conv), &s.agent)
            .await;
    let outbound: Vec<&Value> = msgs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .collect();
    assert_eq!(
        outbound.len(),
        2,
        "one message per idempotency key, plus the keyless one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_tenancy_and_validation() {
    let s = setup(chrono::Duration::minutes(1)).await;
    let path = format!("/v1/conversations/{}/messages", s.conv);
    let body = json!({"type": "text", "text": {"body": "hi"}});
    let (status, _) =
        s.h.post(&path, &s.h.token("acme", Role::Viewer), &body)
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        s.h.post(&path, &s.h.token("other", Role::Owner), &body)
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        s.h.post(
            &format!("/v1/conversations/{}/read", s.conv),
            &s.h.token("acme", Role::Viewer),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, err) =
        s.h.post(
            &path,
            &s.agent,
            &json!({"type": "text", "text": {"body": "x".repeat(4097)}}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("text.body"))
    );
    let buttons: Vec<Value> = (0..4).map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": format!("B{i}")}})).collect();
    let (status, err) = s.h.post(&path, &s.agent, &json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "Pick"}, "action": {"buttons": buttons}}})).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("interactive.action.buttons")
        )
    );
    let (status, err) = s.h.post(&path, &s.agent, &json!({"type": "text", "text": {"body": "hi"}, "reply_to": "msg_00000000000000000000000000000000"})).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reply_to"))
    );
    assert!(
        receive(&s.h, QueueName::Outbound).await.is_empty(),
        "nothing invalid was queued"
    );
}

pub(crate) async fn send_one(s: &Setup, text: &str) -> String {
    let (status, sent) =
        s.h.post(
            &format!("/v1/conversations/{}/messages", s.conv),
            &s.agent,
            &json!({"type": "text", "text": {"body": text}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    sent["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_fail_without_retry() {
    let s = setup(chrono::Duration::minutes(1)).await;
    for (code, text) in [
        (131047, "window"),
        (131026, "undeliverable"),
        (131030, "not allowed"),
    ] {
        s.graph.reset().await;
        Mock::given(method("POST"))
            .and(path(graph_send_path()))
            .respond_with(graph_error(code, 400))
            .expect(1)
            .mount(&s.graph)
            .await;
        let id = send_one(&s, text).await;
        let outcome = step(&s.h, QueueName::Outbound).await.unwrap();
        assert!(
            outcome.failures.is_empty() && outcome.dead_letters.is_empty(),
            "{code}: not retried"
        );
        let m = message(&s.h, &s.agent, &s.conv, &id).await;
        assert_eq!(m["status"], "failed", "{code}");
        assert_eq!(m["error"]["code"], code);
        assert!(m["error"]["title"].is_string());
        assert!(receive(&s.h, QueueName::Outbound).await.is_empty());
        s.graph.verify().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_fails_the_message_and_flags_the_account() {
    let s = setup(chrono::Duration::minutes(1)).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(graph_error(190, 401))
        .expect(1)
        .mount(&s.graph)
        .await;
    let id = send_one(&s, "hello").await;
    step(&s.h, QueueName::Outbound).await.unwrap();
    let m = message(&s.h, &s.agent, &s.conv, &id).await;
    assert_eq!(
        (m["status"].as_str(), m["error"]["code"].as_i64()),
        (Some("failed"), Some(190))
    );
    let (_, list) = s.h.get("/v1/integrations", &s.agent).await;
    assert_eq!(list["items"][0]["status"], "reauth_required");
    assert!(
        list["items"][0]["status_reason"]
            .as_str()
            .unwrap()
            .contains("190")
    );
    // Later sends fail fast without calling Graph.
    let id2 = send_one(&s, "again").await;
    step(&s.h, QueueName::Outbound).await.unwrap();
    assert_eq!(
        message(&s.h, &s.agent, &s.conv, &id2).await["error"]["title"],
        "reauth_required"
    );
    s.graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_and_pair_rate_errors_retry_through_the_queue() {
    let s = setup(chrono::Duration::minutes(1)).await;
    for code in [130429, 131056] {
        s.graph.reset().await;
        Mock::given(method("POST"))
            .and(path(graph_send_path()))
            .respond_with(graph_error(code, 400))
            .up_to_n_times(1)
            .expect(1)
            .mount(&s.graph)
            .await;
        Mock::given(method("POST"))
            .and(path(graph_send_path()))
            .respond_with(accepted(&format!("wamid.after{code}")))
            .expect(1)
            .mount(&s.graph)
            .await;
        let id = send_one(&s, &format!("after {code}")).await;
        let outcome = step(&s.h, QueueName::Outbound).await.unwrap();
        assert_eq!(
            outcome.failures.len(),
            1,
            "{code}: retried through the queue"
        );
        let delay = outcome.failures[0].retry_after.unwrap();
        assert!(
            delay >= Duration::from_secs(1),
            "{code}: backs off ({delay:?})"
        );
        let m = message(&s.h, &s.agent, &s.conv, &id).await;
        assert_eq!(
            (m["status"].as_str(), m["attempts"].as_i64()),
            (Some("retrying"), Some(1)),
            "{code}: {m}"
        );
        assert!(m["next_attempt_at"].is_string(), "{m}");
        assert_eq!(m["error"]["retryable"], true, "{m}");
        drain(&s.h, QueueName::Outbound).await;
        let m = message(&s.h, &s.agent, &s.conv, &id).await;
        assert_eq!(
            (m["status"].as_str(), m["attempts"].as_i64()),
            (Some("sent"), Some(2)),
            "{code}: {m}"
        );
        s.graph.verify().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_before_the_wamid_is_applied_when_the_wamid_is_stored() {
    let s = setup(chrono::Duration::minutes(1)).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.fast"))
        .mount(&s.graph)
        .await;
    let id = send_one(&s, "quick").await;
    // Meta's status webhook wins the race against the send response.
    let body = fixtures::delivery(vec![fixtures::status_change(
        PHONE_NUMBER_ID,
        "wamid.fast",
        "delivered",
        CUSTOMER,
        1_763_800_500,
        json!([]),
    )]);
    s.h.webhook(&body).await;
    drain(&s.h, QueueName::Inbound).await;
    drain(&s.h, QueueName::Outbound).await;
    let m = message(&s.h, &s.agent, &s.conv, &id).await;
    assert_eq!(m["status"], "delivered", "{m}");
    // A failed status for another message keeps Meta's code and title.
    let id2 = send_one(&s, "second").await;
    s.graph.reset().await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.second"))
        .mount(&s.graph)
        .await;
    drain(&s.h, QueueName::Outbound).await;
    let failed = fixtures::delivery(vec![fixtures::status_change(
        PHONE_NUMBER_ID,
        "wamid.second",
        "failed",
        CUSTOMER,
        1_763_800_600,
        json!([{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable", "error_data": {"details": "Receiver is incapable of receiving this message"}}]),
    )]);
    s.h.webhook(&failed).await;
    drain(&s.h, QueueName::Inbound).await;
    let m = message(&s.h, &s.agent, &s.conv, &id2).await;
    assert_eq!(
        (
            m["status"].as_str(),
            m["error"]["code"].as_i64(),
            m["error"]["title"].as_str()
        ),
        (Some("failed"), Some(131026), Some("Message undeliverable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_read_calls_graph_and_resets_unread() {
    let s = setup(chrono::Duration::minutes(1)).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.inbound1"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let (_, before) =
        s.h.get(&format!("/v1/conversations/{}", s.conv), &s.agent)
            .await;
    assert_eq!(before["unread_count"], 1);
    let (status, conv) =
        s.h.post(
            &format!("/v1/conversations/{}/read", s.conv),
            &s.agent,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{conv}");
    assert_eq!(conv["unread_count"], 0);
    let (_, msgs) =
        s.h.get(&format!("/v1/conversations/{}/messages", s.conv), &s.agent)
            .await;
    assert_eq!(msgs["items"][0]["status"], "read");
    // Marking again does not call Graph again (the mock expects exactly one call).
    let (status, _) =
        s.h.post(
            &format!("/v1/conversations/{}/read", s.conv),
            &s.agent,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_streamed_through_graph_with_the_account_token() {
    let s = setup(chrono::Duration::minutes(1)).await;
    let image = fixtures::delivery(vec![fixtures::message_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "wamid.img",
        chrono::Utc::now().timestamp(),
        "image",
        json!({"id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "x", "caption": "this one"}),
    )]);
    s.h.webhook(&image).await;
    drain(&s.h, QueueName::Inbound).await;
    Mock::given(method("GET"))
        .and(path("/v23.0/1003383421387256"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"url": format!("{}/lookaside/1003383421387256", s.graph.uri()), "mime_type": "image/jpeg", "sha256": "x", "file_size": 5, "id": "1003383421387256"})))
        .expect(1)
        .mount(&s.graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/lookaside/1003383421387256"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"\xff\xd8JPG".to_vec()))
        .expect(1)
        .mount(&s.graph)
        .await;
    let (_, msgs) =
        s.h.get(&format!("/v1/conversations/{}/messages", s.conv), &s.agent)
            .await;
    let img = msgs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "image")
        .unwrap();
    let text_id = msgs["items"][0]["id"].as_str().unwrap();
    let viewer = s.h.token("acme", Role::Viewer);
    let r =
        s.h.http
            .get(s.h.url(&format!(
                "/v1/messages/{}/media",
                img["id"].as_str().unwrap()
            )))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"\xff\xd8JPG");
    let r =
        s.h.http
            .get(s.h.url(&format!("/v1/messages/{text_id}/media")))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a text message has no media"
    );
    let r =
        s.h.http
            .get(s.h.url(&format!(
                "/v1/messages/{}/media",
                img["id"].as_str().unwrap()
            )))
            .bearer_auth(s.h.token("other", Role::Owner))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_spaces_reservations_across_concurrent_workers() {
    let h = Harness::with(Options {
        serve: false,
        ..Options::default()
    })
    .await;
    let store = h.app.services().store.clone();
    let rate = Rate::per_second(80, 1.0);
    let start = chrono::Utc::now().timestamp_micros();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                pacing::reserve(&*store, "PACE#RATE#test", rate, start)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut slots: Vec<i64> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    slots.sort_unstable();
    for w in slots.windows(2) {
        assert!(
            w[1] - w[0] >= rate.interval_us,
            "slots {} and {} are closer than the interval",
            w[0],
            w[1]
        );
    }
    assert!(
        slots[39] - slots[0] < 41 * rate.interval_us,
        "no gaps either"
    );
    // A pair rate allows a burst, then spaces.
    let pair = Rate::every(6, 3);
    let mut p = Vec::new();
    for _ in 0..5 {
        p.push(
            pacing::reserve(&*store, "PACE#PAIR#x", pair, start)
                .await
                .unwrap(),
        );
    }
    assert_eq!(&p[..3], &[start, start, start]);
    assert_eq!(p[3] - start, 6_000_000);
    assert_eq!(p[4] - start, 12_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_sends_and_reports_statuses_without_meta() {
    let h = Harness::start().await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "S",
        "wamid.sb-in",
        chrono::Utc::now().timestamp(),
        "hi",
    )]);
    h.webhook(&body).await;
    let agent = h.token("acme", Role::Agent);
    let list = h.wait_for_items("/v1/conversations", &agent, 1).await;
    let conv = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, sent) = h
        .post(
            &format!("/v1/conversations/{conv}/messages"),
            &agent,
            &json!({"type": "text", "text": {"body": "hello from the sandbox"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = sent["id"].as_str().unwrap().to_owned();
    let m = h
        .eventually("the sandbox's delivered status", || async {
            let m = message(&h, &agent, &conv, &id).await;
            (m["status"] == "delivered").then_some(m)
        })
        .await;
    assert!(m["wamid"].as_str().unwrap().starts_with("wamid.sandbox."));
    h.stop().await;
}

/// A send whose process died after calling Graph: the redelivery waits for Meta's status
/// of that attempt (which names the message) instead of sending twice, and sends only
/// when no status came within the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_send_is_settled_by_its_status_not_sent_twice() {
    let clock = std::sync::Arc::new(switchboard_core::clock::FixedClock::new(chrono::Utc::now()));
    let s = setup_with(
        chrono::Duration::minutes(1),
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .await;
    let send = |text: &'static str| {
        let s = &s;
        async move {
            let (status, m) =
                s.h.post(
                    &format!("/v1/conversations/{}/messages", s.conv),
                    &s.agent,
                    &json!({"type": "text", "text": {"body": text}}),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{m}");
            m["id"].as_str().unwrap().to_owned()
        }
    };
    let (a, b) = (send("first").await, send("second").await);
    // Both attempts called Graph and their process died before the answer was stored.
    let org = switchboard_core::ids::OrgId::parse("acme").unwrap();
    for id in [&a, &b] {
        let (pk, sk) = switchboard_core::model::Message::key_of(
            &org,
            &switchboard_core::ids::MessageId::parse(id).unwrap(),
        );
        let now = switchboard_core::clock::Clock::now(&*clock);
        switchboard_core::record::update::<switchboard_core::model::Message>(
            &*s.h.app.services().store,
            &pk,
            &sk,
            |m| {
                m.sending_since = Some(now);
                true
            },
        )
        .await
        .unwrap();
    }
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .and(body_partial_json(
            json!({"text": {"body": "second"}, "biz_opaque_callback_data": b}),
        ))
        .respond_with(accepted("wamid.second"))
        .expect(1)
        .mount(&s.graph)
        .await;
    // Redelivered inside the window: nothing is sent.
    step(&s.h, QueueName::Outbound).await;
    assert_eq!(
        message(&s.h, &s.agent, &s.conv, &a).await["status"],
        "queued"
    );
    // Meta reports the first one sent, naming it.
    let mut change = fixtures::status_change(
        PHONE_NUMBER_ID,
        "wamid.first",
        "sent",
        CUSTOMER,
        chrono::Utc::now().timestamp(),
        json!([]),
    );
    change["value"]["statuses"][0]["biz_opaque_callback_data"] = json!(a);
    assert_eq!(
        s.h.webhook(&fixtures::delivery(vec![change]))
            .await
            .status(),
        StatusCode::OK
    );
    drain(&s.h, QueueName::Inbound).await;
    // Its redelivery records it from the status, at once and without sending.
    step(&s.h, QueueName::Outbound).await;
    let first = message(&s.h, &s.agent, &s.conv, &a).await;
    assert_eq!(first["status"], "sent", "{first}");
    assert_eq!(first["wamid"], "wamid.first");
    assert_eq!(
        message(&s.h, &s.agent, &s.conv, &b).await["status"],
        "queued"
    );
    // Past the window without a status, the second one is sent (once).
    clock.advance(chrono::Duration::seconds(31));
    drain(&s.h, QueueName::Outbound).await;
    let second = message(&s.h, &s.agent, &s.conv, &b).await;
    assert_eq!(second["status"], "sent", "{second}");
    assert_eq!(second["wamid"], "wamid.second");
    s.graph.verify().await;
}
