//! The send path driven the way production drives it: hours passing (an injectable
//! clock, moved by the tests), a provider down for hours, a queue call failing or a
//! process dying between two steps — on the embedded backend and on AWS (moto).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::{ConversationId, OrgId};
use switchboard_core::queue::{
    DeadLetter, MAX_LATE_REPACES, OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage,
};
use switchboard_core::usecases::outbound::{self, Delivery, DeliveryConfig};
use switchboard_core::usecases::pacing::{self, Rate};
use switchboard_testkit::fixtures::PHONE_NUMBER_ID;
use wiremock::Mock;
use wiremock::matchers::{method, path};

use crate::outbound::{
    Setup, accepted, drain, graph_error, graph_send_path, message, receive, send_one, setup_with,
    step,
};
use crate::support::{Backend, Options, StoreHooks};

/// What the faulty queue does with sends to its target queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Refuses: nothing is queued.
    Refuse,
    /// Queues the message, then reports a failure (a timeout after SQS took it).
    AcceptThenFail,
    /// Never answers (the process dies while waiting).
    Hang,
}

/// A queue whose sends to `target` fail as `fault` says.
#[derive(Debug)]
pub(crate) struct FaultyQueue {
    pub(crate) inner: Arc<dyn Queue>,
    pub(crate) fault: Arc<Mutex<Fault>>,
    pub(crate) target: QueueName,
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn send(&self, q: QueueName, m: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        let fault = *self.fault.lock().unwrap();
        if q != self.target {
            return self.inner.send(q, m).await;
        }
        match fault {
            Fault::None => self.inner.send(q, m).await,
            Fault::Refuse => Err(QueueError::Unavailable("injected: refused".into())),
            Fault::AcceptThenFail => {
                self.inner.send(q, m).await?;
                Err(QueueError::Unavailable("injected: timed out".into()))
            }
            Fault::Hang => std::future::pending().await,
        }
    }
    async fn receive(
        &self,
        q: QueueName,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.inner.receive(q, max, visibility, wait).await
    }
    async fn delete(&self, q: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.inner.delete(q, receipt).await
    }
    async fn retry_later(&self, q: QueueName, r: &str, d: Duration) -> Result<(), QueueError> {
        self.inner.retry_later(q, r, d).await
    }
    async fn dead_letter(&self, q: QueueName, m: &ReceivedMessage) -> Result<(), QueueError> {
        self.inner.dead_letter(q, m).await
    }
    async fn dead_letters(
        &self,
        q: QueueName,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        self.inner.dead_letters(q, limit).await
    }
    async fn redrive(&self, q: QueueName, limit: usize) -> Result<usize, QueueError> {
        self.inner.redrive(q, limit).await
    }
}

struct World {
    s: Setup,
    clock: Arc<FixedClock>,
    fault: Arc<Mutex<Fault>>,
}

/// A connected number with a faked Graph, a customer who wrote a minute ago, a clock
/// the test moves, and a queue whose outbound sends can be made to fail.
async fn world(backend: Backend, delivery: Option<DeliveryConfig>) -> World {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let fault = Arc::new(Mutex::new(Fault::None));
    let f = fault.clone();
    let s = setup_with(
        chrono::Duration::minutes(1),
        Options {
            backend,
            clock: Some(clock.clone()),
            delivery,
            wrap_queue: Some(Box::new(move |inner| {
                Arc::new(FaultyQueue {
                    inner,
                    fault: f,
                    target: QueueName::Outbound,
                }) as Arc<dyn Queue>
            })),
            ..Options::default()
        },
    )
    .await;
    World { s, clock, fault }
}

fn template() -> Value {
    json!({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}}})
}

async fn post_keyed(s: &Setup, key: &str, body: &Value) -> (StatusCode, bool, Value) {
    let r =
        s.h.http
            .post(s.h.url(&format!("/v1/conversations/{}/messages", s.conv)))
            .bearer_auth(&s.agent)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap();
    let replayed = r.headers().get("idempotent-replayed").is_some();
    (r.status(), replayed, r.json().await.unwrap_or(Value::Null))
}

async fn an_idle_number_sends_again_after_its_pacing_state_expired(backend: Backend) {
    let w = world(backend, None).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.paced"))
        .expect(2)
        .mount(&w.s.graph)
        .await;
    let first = send_one(&w.s, "before").await;
    drain(&w.s.h, QueueName::Outbound).await;
    assert_eq!(
        message(&w.s.h, &w.s.agent, &w.s.conv, &first).await["status"],
        "sent"
    );
    // Idle for two hours: the number's and the recipient's pacing state expired (they
    // are kept an hour past their last use), but DynamoDB has not deleted them yet.
    w.clock.advance(chrono::Duration::hours(2));
    let second = send_one(&w.s, "after").await;
    drain(&w.s.h, QueueName::Outbound).await;
    let m = message(&w.s.h, &w.s.agent, &w.s.conv, &second).await;
    assert_eq!(
        (m["status"].as_str(), m["attempts"].as_i64()),
        (Some("sent"), Some(1)),
        "{m}"
    );
    w.s.graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_number_sends_again_after_its_pacing_state_expired_sqlite() {
    an_idle_number_sends_again_after_its_pacing_state_expired(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_number_sends_again_after_its_pacing_state_expired_dynamodb() {
    an_idle_number_sends_again_after_its_pacing_state_expired(Backend::Aws).await;
}

async fn an_idempotency_key_reused_after_its_window_is_a_new_request(backend: Backend) {
    let w = world(backend, None).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.daily"))
        .expect(3)
        .mount(&w.s.graph)
        .await;
    let (st, replayed, first) = post_keyed(&w.s, "daily-digest", &template()).await;
    assert_eq!((st, replayed), (StatusCode::ACCEPTED, false), "{first}");
    let (st, replayed, again) = post_keyed(&w.s, "daily-digest", &template()).await;
    assert_eq!((st, replayed), (StatusCode::ACCEPTED, true));
    assert_eq!(
        again["id"], first["id"],
        "inside the window: the same message"
    );
    drain(&w.s.h, QueueName::Outbound).await;

    for day in 1..=2 {
        w.clock.advance(chrono::Duration::hours(25));
        let (st, replayed, next) = post_keyed(&w.s, "daily-digest", &template()).await;
        assert_eq!(
            (st, replayed),
            (StatusCode::ACCEPTED, false),
            "day {day}: after the window the key is new: {next}"
        );
        assert_ne!(next["id"], first["id"]);
        drain(&w.s.h, QueueName::Outbound).await;
        let m = message(&w.s.h, &w.s.agent, &w.s.conv, next["id"].as_str().unwrap()).await;
        assert_eq!(m["status"], "sent", "day {day}: {m}");
    }
    w.s.graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_reused_after_its_window_is_a_new_request_sqlite() {
    an_idempotency_key_reused_after_its_window_is_a_new_request(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_reused_after_its_window_is_a_new_request_dynamodb() {
    an_idempotency_key_reused_after_its_window_is_a_new_request(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_enqueue_is_handed_over_by_the_retry_and_nothing_is_sent_twice() {
    let w = world(Backend::Local, None).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.handed"))
        .expect(3)
        .mount(&w.s.graph)
        .await;
    let body = json!({"type": "text", "text": {"body": "Your table is ready"}});

    // The queue refuses: 503, the message waits (queued) for the retry.
    *w.fault.lock().unwrap() = Fault::Refuse;
    let (st, _, err) = post_keyed(&w.s, "table-7", &body).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("queue_unavailable")),
        "{err}"
    );
    assert!(receive(&w.s.h, QueueName::Outbound).await.is_empty());
    *w.fault.lock().unwrap() = Fault::None;
    let (st, replayed, m) = post_keyed(&w.s, "table-7", &body).await;
    assert_eq!((st, replayed), (StatusCode::ACCEPTED, true), "{m}");
    drain(&w.s.h, QueueName::Outbound).await;
    assert_eq!(
        message(&w.s.h, &w.s.agent, &w.s.conv, m["id"].as_str().unwrap()).await["status"],
        "sent"
    );

    // The queue took it but the answer was lost: the retry must not send it twice.
    *w.fault.lock().unwrap() = Fault::AcceptThenFail;
    let (st, _, _) = post_keyed(&w.s, "table-8", &body).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    *w.fault.lock().unwrap() = Fault::None;
    let (st, replayed, m) = post_keyed(&w.s, "table-8", &body).await;
    assert_eq!((st, replayed), (StatusCode::ACCEPTED, true), "{m}");
    drain(&w.s.h, QueueName::Outbound).await;
    assert_eq!(
        message(&w.s.h, &w.s.agent, &w.s.conv, m["id"].as_str().unwrap()).await["status"],
        "sent"
    );

    // Without a key a retry is a new message, so the one that could not be queued is
    // cancelled rather than left to be sent beside it.
    *w.fault.lock().unwrap() = Fault::Refuse;
    let (st, err) =
        w.s.h
            .post(
                &format!("/v1/conversations/{}/messages", w.s.conv),
                &w.s.agent,
                &body,
            )
            .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("queue_unavailable"))
    );
    *w.fault.lock().unwrap() = Fault::None;
    let resent = send_one(&w.s, "Your table is ready").await;
    drain(&w.s.h, QueueName::Outbound).await;
    let (_, list) =
        w.s.h
            .get(
                &format!("/v1/conversations/{}/messages?limit=100", w.s.conv),
                &w.s.agent,
            )
            .await;
    let outbound: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .collect();
    let cancelled: Vec<&&Value> = outbound
        .iter()
        .filter(|m| m["status"] == "failed")
        .collect();
    assert_eq!(cancelled.len(), 1, "{list}");
    assert_eq!(cancelled[0]["error"]["title"], "queue_unavailable");
    assert_eq!(
        message(&w.s.h, &w.s.agent, &w.s.conv, &resent).await["status"],
        "sent"
    );
    // Graph saw exactly three sends: one per message that was meant to go.
    w.s.graph.verify().await;
}

async fn a_send_stranded_between_store_and_queue_is_swept(backend: Backend) {
    let w = world(backend, None).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.swept"))
        .expect(1)
        .mount(&w.s.graph)
        .await;
    let svc = w.s.h.app.services().clone();
    let org = OrgId::parse("acme").unwrap();
    let conv = ConversationId::parse(&w.s.conv).unwrap();
    let body = json!({"type": "text", "text": {"body": "stranded"}});
    // The process dies while the enqueue is in flight: the message is stored, the
    // queue never has it, the client got no answer.
    *w.fault.lock().unwrap() = Fault::Hang;
    let request = outbound::SendRequest {
        org: &org,
        conversation: &conv,
        body: &body,
        idempotency_key: None,
        sender: Some("agent-1"),
        billing: &Default::default(),
        correlation_id: None,
        origin: None,
    };
    assert!(
        tokio::time::timeout(Duration::from_millis(300), outbound::send(&svc, request))
            .await
            .is_err(),
        "the send was cut off mid-enqueue"
    );
    *w.fault.lock().unwrap() = Fault::None;
    assert!(receive(&w.s.h, QueueName::Outbound).await.is_empty());

    let pending = switchboard_cli::commands::messages_pending(&w.s.h.app, Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        !pending[0].contains("stranded"),
        "no content in operator output"
    );
    let id = serde_json::from_str::<Value>(&pending[0]).unwrap()["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Too fresh for the schedule's grace period: the request might still be running.
    let swept = cron_outbound_sweep::handle(&w.s.h.app, w.clock.now())
        .await
        .unwrap();
    assert_eq!(swept["requeued"], 0);
    w.clock.advance(chrono::Duration::minutes(3));
    let swept = cron_outbound_sweep::handle(&w.s.h.app, w.clock.now())
        .await
        .unwrap();
    assert_eq!(swept["requeued"], 1);
    drain(&w.s.h, QueueName::Outbound).await;
    assert_eq!(
        message(&w.s.h, &w.s.agent, &w.s.conv, &id).await["status"],
        "sent"
    );
    // Nothing is pending any more, and a second sweep hands nothing over.
    assert!(
        switchboard_cli::commands::messages_pending(&w.s.h.app, Duration::ZERO, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let swept = cron_outbound_sweep::handle(&w.s.h.app, w.clock.now())
        .await
        .unwrap();
    assert_eq!(swept["requeued"], 0);
    w.s.graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_stranded_between_store_and_queue_is_swept_sqlite() {
    a_send_stranded_between_store_and_queue_is_swept(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_stranded_between_store_and_queue_is_swept_dynamodb() {
    a_send_stranded_between_store_and_queue_is_swept(Backend::Aws).await;
}

/// Runs the sender until the message is settled, moving the clock by each retry delay
/// (as the queue would hold it back); returns the outcomes' delays.
async fn retry_until_settled(
    w: &World,
    id: &str,
    stop_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<Duration> {
    let mut delays = Vec::new();
    for _ in 0..100 {
        let outcome = step(&w.s.h, QueueName::Outbound)
            .await
            .expect("a queued message");
        let Some(failure) = outcome.failures.first() else {
            return delays;
        };
        let delay = failure.retry_after.expect("an explicit delay");
        let m = message(&w.s.h, &w.s.agent, &w.s.conv, id).await;
        assert_eq!(m["status"], "retrying", "{m}");
        assert_eq!(m["attempts"].as_u64(), Some(delays.len() as u64 + 1), "{m}");
        let due = w.clock.now() + chrono::Duration::from_std(delay).unwrap();
        assert_eq!(
            m["next_attempt_at"].as_str(),
            Some(switchboard_core::clock::fmt_time(due).as_str()),
            "{m}"
        );
        delays.push(delay);
        w.clock.advance(chrono::Duration::from_std(delay).unwrap());
        if stop_at.is_some_and(|t| w.clock.now() >= t) {
            return delays;
        }
    }
    panic!("not settled after 100 attempts");
}

async fn transient_failures_outlast_an_incident_then_dead_letter_after_a_day(backend: Backend) {
    let w = world(backend, None).await;
    // A three-hour Graph incident.
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(graph_error(131000, 500))
        .mount(&w.s.graph)
        .await;
    let started = w.clock.now();
    let id = send_one(&w.s, "during the incident").await;
    let delays = retry_until_settled(&w, &id, Some(started + chrono::Duration::hours(3))).await;
    assert!(delays.len() >= 10, "{delays:?}");
    assert!(
        delays.iter().any(|d| *d >= Duration::from_secs(1800)),
        "backs off to long delays: {delays:?}"
    );
    assert!(
        delays.iter().all(|d| *d <= Duration::from_secs(4320)),
        "{delays:?}"
    );
    w.s.graph.reset().await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.recovered"))
        .expect(1)
        .mount(&w.s.graph)
        .await;
    let outcome = step(&w.s.h, QueueName::Outbound).await.unwrap();
    assert!(outcome.failures.is_empty() && outcome.dead_letters.is_empty());
    let m = message(&w.s.h, &w.s.agent, &w.s.conv, &id).await;
    assert_eq!(m["status"], "sent", "{m}");
    assert!(m["next_attempt_at"].is_null(), "{m}");
    w.s.graph.verify().await;

    // A failure that lasts longer than the retry horizon (a day) ends in the DLQ.
    w.s.graph.reset().await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(graph_error(131000, 503))
        .mount(&w.s.graph)
        .await;
    let started = w.clock.now();
    let id = send_one(&w.s, "never goes through").await;
    let delays = retry_until_settled(&w, &id, None).await;
    let waited = w.clock.now() - started;
    assert!(
        waited >= chrono::Duration::hours(20) && waited <= chrono::Duration::hours(24),
        "gave up after {waited}"
    );
    assert!(delays.len() >= 25, "{}", delays.len());
    let m = message(&w.s.h, &w.s.agent, &w.s.conv, &id).await;
    assert_eq!(
        (m["status"].as_str(), m["error"]["retryable"].as_bool()),
        (Some("failed"), Some(true)),
        "{m}"
    );
    let dead = switchboard_cli::commands::dlq_list(&w.s.h.app, QueueName::Outbound, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    // A redrive starts a fresh run of retries and sends it once.
    w.s.graph.reset().await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.redriven"))
        .expect(1)
        .mount(&w.s.graph)
        .await;
    assert_eq!(
        switchboard_cli::commands::dlq_redrive(&w.s.h.app, QueueName::Outbound, 10)
            .await
            .unwrap(),
        1
    );
    drain(&w.s.h, QueueName::Outbound).await;
    let m = message(&w.s.h, &w.s.agent, &w.s.conv, &id).await;
    assert_eq!(
        (m["status"].as_str(), m["wamid"].as_str()),
        (Some("sent"), Some("wamid.redriven"))
    );
    w.s.graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_outlast_an_incident_then_dead_letter_after_a_day_sqlite() {
    transient_failures_outlast_an_incident_then_dead_letter_after_a_day(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_outlast_an_incident_then_dead_letter_after_a_day_dynamodb() {
    transient_failures_outlast_an_incident_then_dead_letter_after_a_day(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_deferrals_cannot_exhaust_the_receive_budget() {
    // One message per second per number, so a handful of reservations pushes the next
    // slot seconds ahead.
    let delivery = DeliveryConfig {
        default_messages_per_second: 1,
        margin: 1.0,
        pair: Rate::every(1, 100),
        ..DeliveryConfig::default()
    };
    let w = world(Backend::Local, Some(delivery)).await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.late"))
        .expect(1)
        .mount(&w.s.graph)
        .await;
    let store = w.s.h.app.services().store.clone();
    let rate_key = format!("PACE#RATE#{PHONE_NUMBER_ID}");
    let busy = |clock: &FixedClock| {
        let store = store.clone();
        let key = rate_key.clone();
        let now = clock.now().timestamp_micros();
        async move {
            // A campaign holds the number's next ten seconds.
            for _ in 0..10 {
                pacing::reserve(&*store, &key, Rate::per_second(1, 1.0), now)
                    .await
                    .unwrap();
            }
        }
    };
    busy(&w.clock).await;
    let id = send_one(&w.s, "behind a campaign").await;
    let mut receives = 0;
    loop {
        receives += 1;
        let outcome = step(&w.s.h, QueueName::Outbound).await.unwrap();
        let Some(f) = outcome.failures.first() else {
            break;
        };
        assert!(outcome.dead_letters.is_empty());
        // The queue hands the message back three seconds late every time, and the
        // campaign has moved the number's next free slot on meanwhile.
        w.clock
            .advance(chrono::Duration::from_std(f.retry_after.unwrap()).unwrap());
        w.clock.advance(chrono::Duration::seconds(3));
        busy(&w.clock).await;
        assert!(receives < 40, "deferred forever");
    }
    let m = message(&w.s.h, &w.s.agent, &w.s.conv, &id).await;
    assert_eq!(m["status"], "sent", "{m}");
    assert_eq!(
        receives,
        2 + MAX_LATE_REPACES,
        "one deferral, then bounded re-pacing"
    );
    assert!(receives <= QueueName::Outbound.receive_budget(&w.s.h.app.config().retry));
    w.s.graph.verify().await;

    // Should the queue still come back past its redrive limit, the sender gives up
    // itself, so the message is never dead-lettered while it reads `queued`.
    busy(&w.clock).await;
    let id = send_one(&w.s, "unlucky").await;
    let r = serde_json::json!({"org_id": "acme", "message_id": id}).to_string();
    let svc = w.s.h.app.services();
    let spent = QueueName::Outbound.spec().max_receive_count;
    let delivery = outbound::deliver(
        svc,
        &w.s.h.app.config().delivery,
        w.s.h.app.tokens(),
        &r,
        spent,
    )
    .await
    .unwrap();
    assert_eq!(delivery, Delivery::DeadLetter);
    let m = message(&w.s.h, &w.s.agent, &w.s.conv, &id).await;
    assert_eq!(
        (m["status"].as_str(), m["error"]["retryable"].as_bool()),
        (Some("failed"), Some(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_that_correctness_depends_on_are_strongly_consistent() {
    let queries = Arc::new(Mutex::new(Vec::new()));
    let log = queries.clone();
    let s = setup_with(
        chrono::Duration::minutes(1),
        Options {
            wrap_store: Some(
                StoreHooks {
                    query: Some(Box::new(move |q| {
                        log.lock().unwrap().push((q.pk.clone(), q.consistent));
                        Ok(())
                    })),
                    ..StoreHooks::default()
                }
                .wrap(),
            ),
            ..Options::default()
        },
    )
    .await;
    Mock::given(method("POST"))
        .and(path(graph_send_path()))
        .respond_with(accepted("wamid.consistent"))
        .mount(&s.graph)
        .await;
    send_one(&s, "hello").await;
    drain(&s.h, QueueName::Outbound).await;
    s.h.get("/v1/integrations", &s.agent).await;
    let queries = queries.lock().unwrap().clone();
    // Early statuses of a wamid: the sender and the inbound consumer each look for the
    // other's write made a moment earlier.
    let early: Vec<_> = queries
        .iter()
        .filter(|(pk, _)| pk.starts_with("WAMID#"))
        .collect();
    assert!(!early.is_empty(), "{queries:?}");
    assert!(early.iter().all(|(_, consistent)| *consistent), "{early:?}");
    // The org's accounts (the connected-number limit counts them).
    let accounts: Vec<_> = queries.iter().filter(|(pk, _)| pk == "ORG#acme").collect();
    assert!(!accounts.is_empty(), "{queries:?}");
    assert!(
        accounts.iter().all(|(_, consistent)| *consistent),
        "{accounts:?}"
    );
}
