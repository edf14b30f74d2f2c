//! Error tracking end to end: a fake Sentry ingest (wiremock) receives what the runtime
//! reports, and the tests read the envelopes it got. Each test binds a client of its own
//! to a hub of its own, so they run in parallel without sharing Sentry's global client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::StatusCode;
use sentry::{Hub, Scope, SentryFutureExt};
use serde_json::Value;
use switchboard_core::queue::{
    DeadLetter, OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage,
};
use switchboard_core::retry::RetryPolicy;
use switchboard_runtime::config::{Backend, Config};
use switchboard_runtime::error_reporting::{self, ErrorReportingConfig};
use switchboard_runtime::http::{ApiError, RequestId, respond};
use switchboard_runtime::queue::{BatchOutcome, ItemOutcome, on_error};
use switchboard_runtime::{App, lambda};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What the tests plant in requests, bodies and errors; none of it may reach the ingest.
const PHONE: &str = "+1 555 010 9999";
const PHONE_DIGITS: &str = "15550109999";
const TEXT: &str = "my appointment on friday please";
const STRIPE_KEY: &str = "sk_live_51HxYzAbCdEfGhIjKlMn";
const META_TOKEN: &str = "EAABsbCS1iHgBAKZCZCZA1x2y3z4w5v6";
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlc2lnbmF0dXJl";

/// A fake ingest for project 1, and a hub whose client sends there.
async fn ingest() -> (MockServer, Arc<Hub>) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/1/envelope/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let dsn = format!("http://public@{}/1", server.address());
    let config = ErrorReportingConfig::read(
        &|k: &str| match k {
            "SENTRY_DSN" => Some(dsn.clone()),
            "SWITCHBOARD_STAGE" => Some("test".into()),
            _ => None,
        },
        Backend::Local,
    )
    .unwrap();
    let options = error_reporting::client_options(&config).expect("a DSN is set");
    let client = Arc::new(sentry::Client::from(options));
    (
        server,
        Arc::new(Hub::new(Some(client), Arc::new(Scope::default()))),
    )
}

/// Waits until the hub's client has sent everything, then returns the envelopes' items
/// as (type, payload, raw payload text).
async fn received(server: &MockServer, hub: &Arc<Hub>) -> Vec<(String, Value, String)> {
    if let Some(client) = hub.client() {
        let sent = tokio::task::spawn_blocking(move || client.flush(Some(Duration::from_secs(5))))
            .await
            .unwrap();
        assert!(sent, "the client could not flush");
    }
    let mut items = Vec::new();
    for request in server.received_requests().await.unwrap_or_default() {
        let body = String::from_utf8(request.body.clone()).expect("envelopes are text");
        let mut lines = body.lines().skip(1); // the envelope header
        while let (Some(header), Some(payload)) = (lines.next(), lines.next()) {
            let header: Value = serde_json::from_str(header).unwrap();
            let ty = header["type"].as_str().unwrap_or_default().to_owned();
            items.push((
                ty,
                serde_json::from_str(payload).unwrap(),
                payload.to_owned(),
            ));
        }
    }
    items
}

fn of_type<'a>(items: &'a [(String, Value, String)], ty: &str) -> Vec<&'a (String, Value, String)> {
    items.iter().filter(|(t, _, _)| t == ty).collect()
}

fn assert_scrubbed(raw: &str) {
    for planted in [
        PHONE,
        PHONE_DIGITS,
        TEXT,
        "appointment",
        STRIPE_KEY,
        META_TOKEN,
        JWT,
    ] {
        assert!(
            !raw.contains(planted),
            "`{planted}` reached the ingest: {raw}"
        );
    }
}

async fn app(dir: &std::path::Path) -> App {
    App::build_with(
        Config::local(dir),
        Some(|dir, dotenv, clock| Ok(switchboard_local::open(dir, dotenv, clock)?)),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_answer_is_one_scrubbed_error_event_naming_function_status_and_request() {
    let (server, hub) = ingest().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let body = serde_json::json!({"to": PHONE, "text": {"body": TEXT}, "token": META_TOKEN});
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/v1/conversations/cv_1/messages")
        .header("authorization", format!("Bearer {JWT}"))
        .header("cookie", format!("session={STRIPE_KEY}"))
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    req.extensions_mut()
        .insert(RequestId("req-sentry-1".into()));
    let resp = respond(&app, "api-send-message", &req, async {
        // A cause that quotes everything it should not: the report must not.
        Err::<switchboard_runtime::Response, ApiError>(
            switchboard_core::Error::Internal(format!(
                "send to {PHONE} failed: provider echoed \"{TEXT}\" with {STRIPE_KEY} and {META_TOKEN} (Bearer {JWT})"
            ))
            .into(),
        )
    })
    .bind_hub(hub.clone())
    .await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let items = received(&server, &hub).await;
    let events = of_type(&items, "event");
    assert_eq!(events.len(), 1, "{items:?}");
    let (_, event, raw) = events[0];
    assert_eq!(event["tags"]["function"], "api-send-message");
    assert_eq!(event["tags"]["status"], "500");
    assert_eq!(event["tags"]["code"], "internal_error");
    assert_eq!(event["tags"]["request_id"], "req-sentry-1");
    assert_eq!(event["environment"], "test");
    assert!(event.get("request").is_none(), "no request data: {raw}");
    let cause = event["exception"]["values"][0]["value"].as_str().unwrap();
    assert!(
        cause.contains("send to ••••9999 failed"),
        "the cause, scrubbed: {cause}"
    );
    assert_scrubbed(raw);
    // The request is one trace, named after the function only.
    let traces = of_type(&items, "transaction");
    assert_eq!(traces.len(), 1, "{items:?}");
    assert_eq!(traces[0].1["transaction"], "api-send-message");
    assert_eq!(
        event["contexts"]["trace"]["trace_id"], traces[0].1["contexts"]["trace"]["trace_id"],
        "the error joins the request's trace"
    );
    for (_, _, raw) in &items {
        assert_scrubbed(raw);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_answer_is_not_an_error_event() {
    let (server, hub) = ingest().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let req = http::Request::builder()
        .uri("/v1/contacts/ct_1")
        .body(Bytes::new())
        .unwrap();
    let resp = respond(&app, "api-get-contact", &req, async {
        Err::<switchboard_runtime::Response, ApiError>(ApiError::not_found("contact"))
    })
    .bind_hub(hub.clone())
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let items = received(&server, &hub).await;
    assert!(of_type(&items, "event").is_empty(), "{items:?}");
    assert_eq!(of_type(&items, "transaction").len(), 1, "still traced");
}

/// A queue whose moves succeed, recording the dead-lettered ids.
#[derive(Debug, Default)]
struct Recorder {
    dead: Mutex<Vec<String>>,
}

#[async_trait]
impl Queue for Recorder {
    async fn send(&self, _: QueueName, _: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        Ok(())
    }
    async fn receive(
        &self,
        _: QueueName,
        _: usize,
        _: Duration,
        _: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        Ok(vec![])
    }
    async fn delete(&self, _: QueueName, _: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn retry_later(&self, _: QueueName, _: &str, _: Duration) -> Result<(), QueueError> {
        Ok(())
    }
    async fn dead_letter(&self, _: QueueName, m: &ReceivedMessage) -> Result<(), QueueError> {
        self.dead.lock().unwrap().push(m.id.clone());
        Ok(())
    }
    async fn dead_letters(&self, _: QueueName, _: usize) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(vec![])
    }
    async fn redrive(&self, _: QueueName, _: usize) -> Result<usize, QueueError> {
        Ok(0)
    }
}

fn message(id: &str, receive_count: u32) -> ReceivedMessage {
    ReceivedMessage {
        id: id.into(),
        receipt: format!("r-{id}"),
        body: serde_json::json!({"from": PHONE, "text": TEXT, "token": STRIPE_KEY}).to_string(),
        group_id: Some(PHONE_DIGITS.into()),
        receive_count,
        sent_at_ms: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_poison_message_is_one_event_without_its_body() {
    let (server, hub) = ingest().await;
    let queue = Recorder::default();
    let poison = message("msg-poison", 3);
    let fine = message("msg-fine", 1);
    let retried = message("msg-retry", 1);
    let batch = vec![poison.clone(), fine, retried.clone()];
    error_reporting::isolated(async {
        let trace = error_reporting::start_trace("worker-inbound", "queue.process");
        // What a consumer does: a non-retryable failure on its third receive is poison.
        let policy = RetryPolicy::DEFAULT;
        assert_eq!(on_error(&policy, &poison, false), ItemOutcome::DeadLetter);
        let retry = match on_error(&policy, &retried, false) {
            ItemOutcome::Retry(after) => after,
            other => panic!("{other:?}"),
        };
        let outcome = BatchOutcome {
            failures: vec![switchboard_runtime::queue::Failure {
                id: retried.id.clone(),
                retry_after: retry,
            }],
            dead_letters: vec![poison.id.clone()],
        };
        let resp = lambda::finish_batch(&queue, QueueName::Inbound, &batch, &outcome).await;
        assert_eq!(resp.batch_item_failures.len(), 1);
        trace.finish_batch(2);
    })
    .bind_hub(hub.clone())
    .await;
    assert_eq!(*queue.dead.lock().unwrap(), ["msg-poison"]);

    let items = received(&server, &hub).await;
    let events = of_type(&items, "event");
    assert_eq!(
        events.len(),
        1,
        "one event, for the dead letter only: {items:?}"
    );
    let (_, event, raw) = events[0];
    assert_eq!(event["tags"]["queue"], "inbound");
    assert_eq!(event["tags"]["function"], "worker-inbound");
    assert_eq!(event["tags"]["message_id"], "msg-poison");
    assert_eq!(event["tags"]["receive_count"], "3");
    assert_eq!(event["tags"]["reason"], "poison");
    assert_scrubbed(raw);
    assert_eq!(of_type(&items, "transaction").len(), 1, "{items:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dsn_nothing_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let config = ErrorReportingConfig::read(&|_: &str| None, Backend::Aws).unwrap();
    assert!(error_reporting::client_options(&config).is_none());
    assert!(
        !error_reporting::init(&config),
        "no DSN: error tracking stays off"
    );
    assert!(!error_reporting::enabled());

    // A 5xx and a dead letter on the process's own (unconfigured) hub.
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let req = http::Request::builder()
        .uri("/v1/x")
        .body(Bytes::new())
        .unwrap();
    let resp = respond(&app, "api-x", &req, async {
        Err::<switchboard_runtime::Response, ApiError>(
            switchboard_core::Error::Internal(format!("to {PHONE}")).into(),
        )
    })
    .await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let queue = Recorder::default();
    let poison = message("msg-1", 3);
    let outcome = BatchOutcome {
        failures: vec![],
        dead_letters: vec![poison.id.clone()],
    };
    lambda::finish_batch(&queue, QueueName::Outbound, &[poison], &outcome).await;
    error_reporting::flush(Duration::from_millis(200)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "nothing reached an ingest"
    );
    assert!(Hub::main().client().is_none());
}
