//! Webhooks to tenants, end to end on both backends: endpoints made, listed, changed and
//! deleted through the API (validation, roles, other orgs); events delivered to a fake
//! receiver (wiremock) with Standard Webhooks signatures that the reference library
//! (the Python `standardwebhooks` package of the test tools) accepts; one delivery per
//! endpoint and event in the order of publishing; the retry schedule and the five-day
//! disabling walked with the injectable clock; rotation's grace; manual retry; replay;
//! redirects not followed.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::{OrgId, Role};
use switchboard_core::queue::QueueName;
use switchboard_core::services::Services;
use switchboard_core::usecases::platform_events::{self, EventType, PlatformEvent};
use switchboard_core::usecases::webhooks_out::{self, delivery};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{Backend, Harness, Options};

/// Checks deliveries with the Standard Webhooks reference library: for each
/// `(secret, request)`, whether `Webhook(secret).verify(body, headers)` accepts it.
fn reference_verifies(cases: &[(String, &Request)]) -> Vec<bool> {
    let python = std::env::var("SWITCHBOARD_TEST_PYTHON").unwrap_or_else(|_| {
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv-test/bin/python3");
        if std::path::Path::new(venv).exists() {
            venv.to_owned()
        } else {
            "python3".to_owned()
        }
    });
    let input: Vec<Value> = cases
        .iter()
        .map(|(secret, r)| {
            let headers: serde_json::Map<String, Value> =
                ["webhook-id", "webhook-timestamp", "webhook-signature"]
                    .iter()
                    .map(|h| {
                        (
                            h.to_string(),
                            Value::String(
                                r.headers
                                    .get(*h)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("")
                                    .to_owned(),
                            ),
                        )
                    })
                    .collect();
            json!({"secret": secret, "headers": headers, "body": String::from_utf8_lossy(&r.body)})
        })
        .collect();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
out = []
for c in json.load(sys.stdin):
    try:
        Webhook(c["secret"]).verify(c["body"], c["headers"])
        out.append(True)
    except Exception:
        out.append(False)
print(json.dumps(out))
"#;
    use std::io::Write;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{python}: {e}; run `bash scripts/test.sh` once to install the test tools")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Standard Webhooks reference library is not installed for {python} (bash scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

async fn answer(server: &MockServer, status: u16) {
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(status))
        .mount(server)
        .await;
}

/// A harness on `backend` whose clock the test moves, starting at `start`; consumers
/// run only when the test drains them.
async fn at(backend: Backend, start: chrono::DateTime<Utc>) -> (Harness, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(start));
    let h = Harness::with(Options {
        backend,
        clock: Some(clock.clone()),
        workers: false,
        ..Options::default()
    })
    .await;
    (h, clock)
}

/// An endpoint of org `acme` at `server`'s `/hooks`, for `events`: the record and its
/// secret.
async fn endpoint(
    svc: &Services,
    server: &MockServer,
    events: Value,
) -> (webhooks_out::Endpoint, String) {
    webhooks_out::create(
        svc,
        &OrgId::parse("acme").unwrap(),
        true,
        &json!({"url": format!("{}/hooks", server.uri()), "events": events}),
    )
    .await
    .unwrap()
}

async fn publish(svc: &Services, org: &OrgId, kind: EventType, n: &str) -> PlatformEvent {
    platform_events::publish(
        svc,
        org,
        kind,
        &[n],
        json!({"message_id": format!("m_{n}"), "conversation_id": "c_1"}),
    )
    .await
    .unwrap()
}

fn header<'a>(r: &'a Request, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn hooks(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == "/hooks")
        .collect()
}

/// Runs the `webhooks` and `webhook-retries` consumers until neither has anything due.
async fn drain(h: &Harness) {
    h.drain(QueueName::Webhooks).await;
    h.drain(QueueName::WebhookRetries).await;
}

async fn endpoints_are_managed_through_the_api(backend: Backend) {
    let h = Harness::with(Options {
        backend,
        workers: false,
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    for (body, field) in [
        (json!({"events": ["message.received"]}), "url"),
        (
            json!({"url": "http://hooks.example.com/x", "events": ["message.received"]}),
            "url",
        ),
        (
            json!({"url": "https://10.1.2.3/x", "events": ["message.received"]}),
            "url",
        ),
        (
            json!({"url": "https://169.254.169.254/latest/meta-data", "events": ["*"]}),
            "url",
        ),
        (json!({"url": "https://hooks.example.com/x"}), "events"),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["message.sent"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["*"], "extra": 1}),
            "extra",
        ),
    ] {
        let (st, e) = h.post("/v1/webhook-endpoints", &admin, &body).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {e}"
        );
    }
    let (st, _) = h
        .post(
            "/v1/webhook-endpoints",
            &h.token("acme", Role::Agent),
            &json!({"url": "https://hooks.example.com/x", "events": ["*"]}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    let (st, ep) = h
        .post(
            "/v1/webhook-endpoints",
            &admin,
            &json!({"url": "https://hooks.example.com/sb", "events": ["message.received", "contact.erased"], "description": "CRM"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{ep}");
    let id = ep["id"].as_str().unwrap().to_owned();
    let secret = ep["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 44,
        "{secret}"
    );
    assert_eq!(ep["events"], json!(["message.received", "contact.erased"]));

    // Listed and read without the secret; another org sees nothing of it.
    let (_, list) = h.get("/v1/webhook-endpoints", &admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("whsec_"), "{list}");
    let (st, got) = h.get(&format!("/v1/webhook-endpoints/{id}"), &admin).await;
    assert_eq!(
        (st, got["url"].as_str()),
        (StatusCode::OK, Some("https://hooks.example.com/sb"))
    );
    let other = h.token("globex", Role::Admin);
    for (st, _) in [
        h.get(&format!("/v1/webhook-endpoints/{id}"), &other).await,
        h.patch(
            &format!("/v1/webhook-endpoints/{id}"),
            &other,
            &json!({"disabled": true}),
        )
        .await,
        h.post(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            &other,
            &json!({}),
        )
        .await,
        h.get(&format!("/v1/webhook-endpoints/{id}/deliveries"), &other)
            .await,
        h.delete(&format!("/v1/webhook-endpoints/{id}"), &other)
            .await,
    ] {
        assert_eq!(st, StatusCode::NOT_FOUND);
    }
    let (_, list) = h.get("/v1/webhook-endpoints", &other).await;
    assert_eq!(list["items"], json!([]));

    // Changed: events, disabled; a bad value changes nothing.
    let (st, e) = h
        .patch(
            &format!("/v1/webhook-endpoints/{id}"),
            &admin,
            &json!({"events": ["nope"], "disabled": true}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("events[0]"))
    );
    let (_, got) = h.get(&format!("/v1/webhook-endpoints/{id}"), &admin).await;
    assert_eq!(got["disabled"], false);
    let (st, got) = h
        .patch(
            &format!("/v1/webhook-endpoints/{id}"),
            &admin,
            &json!({"events": ["*"], "disabled": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(
        got["events"].as_array().unwrap().len(),
        EventType::ALL.len()
    );
    assert_eq!(
        (got["disabled"].as_bool(), got["disabled_reason"].as_str()),
        (Some(true), Some("manual"))
    );

    // Rotated: a new secret, shown once.
    let (st, rotated) = h
        .post(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_ne!(rotated["secret"], ep["secret"]);

    // Malformed ids are 404s, not 500s.
    for bad in ["we_nope", "x"] {
        let (st, _) = h.get(&format!("/v1/webhook-endpoints/{bad}"), &admin).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }
    let (st, _) = h
        .post("/v1/webhook-deliveries/dlv_nope/retry", &admin, &json!({}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (st, _) = h
        .delete(&format!("/v1/webhook-endpoints/{id}"), &admin)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = h.get(&format!("/v1/webhook-endpoints/{id}"), &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_managed_through_the_api_local() {
    endpoints_are_managed_through_the_api(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_managed_through_the_api_aws() {
    endpoints_are_managed_through_the_api(Backend::Aws).await;
}

async fn events_are_delivered_signed_in_order_once(backend: Backend) {
    let h = Harness::with(Options {
        backend,
        workers: false,
        ..Options::default()
    })
    .await;
    let svc = h.app.services();
    let admin = h.token("acme", Role::Admin);
    let org = OrgId::parse("acme").unwrap();
    let a = receiver(200).await;
    let b = receiver(204).await;
    let mut secrets = Vec::new();
    for (server, events) in [
        (&a, json!(["message.received", "conversation.updated"])),
        (&b, json!(["conversation.updated"])),
    ] {
        let (st, ep) = h
            .post(
                "/v1/webhook-endpoints",
                &admin,
                &json!({"url": format!("{}/hooks", server.uri()), "events": events}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{ep}");
        secrets.push((
            ep["id"].as_str().unwrap().to_owned(),
            ep["secret"].as_str().unwrap().to_owned(),
        ));
    }
    // Another org's endpoint must hear nothing of acme's events.
    let c = receiver(200).await;
    let (st, _) = h
        .post(
            "/v1/webhook-endpoints",
            &h.token("globex", Role::Admin),
            &json!({"url": format!("{}/hooks", c.uri()), "events": ["*"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);

    let mut published = Vec::new();
    for i in 0..5 {
        let kind = if i % 2 == 0 {
            EventType::MessageReceived
        } else {
            EventType::ConversationUpdated
        };
        published.push(publish(svc, &org, kind, &format!("n{i}")).await);
        // Lists order by the event's millisecond; keep the five apart.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    // An event published twice (a retried publisher) is one event.
    publish(svc, &org, EventType::MessageReceived, "n0").await;
    drain(&h).await;

    let got_a = hooks(&a).await;
    let got_b = hooks(&b).await;
    assert_eq!(
        got_a
            .iter()
            .map(|r| header(r, "webhook-id"))
            .collect::<Vec<_>>(),
        published.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        "endpoint a gets every event it wants, once, in publishing order"
    );
    assert_eq!(
        got_b
            .iter()
            .map(|r| header(r, "webhook-id"))
            .collect::<Vec<_>>(),
        published
            .iter()
            .filter(|e| e.kind == EventType::ConversationUpdated)
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>()
    );
    assert!(hooks(&c).await.is_empty());

    // The body is the event envelope; the signature is the reference library's.
    let first: Value = serde_json::from_slice(&got_a[0].body).unwrap();
    assert_eq!(first["id"], published[0].id.as_str());
    assert_eq!(first["type"], "message.received");
    assert_eq!(first["data"]["message_id"], "m_n0");
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(header(&got_a[0], "content-type"), "application/json");
    let mut cases: Vec<(String, &Request)> =
        got_a.iter().map(|r| (secrets[0].1.clone(), r)).collect();
    cases.extend(got_b.iter().map(|r| (secrets[1].1.clone(), r)));
    // And a wrong secret or a changed body must fail there too.
    cases.push((secrets[1].1.clone(), &got_a[0]));
    let mut tampered = got_a[1].clone();
    tampered.body = got_a[1].body.iter().rev().copied().collect();
    cases.push((secrets[0].1.clone(), &tampered));
    let verdicts = reference_verifies(&cases);
    let n = verdicts.len();
    assert!(verdicts[..n - 2].iter().all(|v| *v), "{verdicts:?}");
    assert_eq!(&verdicts[n - 2..], &[false, false]);

    // A fan-out that runs again (its message came back after a crash) repeats nothing.
    delivery::fan_out(svc, &org, &published[0], true)
        .await
        .unwrap();
    drain(&h).await;
    assert_eq!(hooks(&a).await.len(), got_a.len());

    // The deliveries list, newest first, with the attempt.
    let (st, list) = h
        .get(
            &format!("/v1/webhook-endpoints/{}/deliveries?limit=2", secrets[0].0),
            &admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["event_id"], published[4].id.as_str());
    assert_eq!(items[0]["status"], "delivered");
    assert_eq!(items[0]["attempts"][0]["status_code"], 200);
    assert!(list["next_cursor"].is_string());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_signed_in_order_once_local() {
    events_are_delivered_signed_in_order_once(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_signed_in_order_once_aws() {
    events_are_delivered_signed_in_order_once(Backend::Aws).await;
}

/// Runs a delivery's retry the way `worker-webhooks` does when its message comes back.
async fn run_retry(svc: &Services, org: &OrgId, id: &str) -> delivery::Outcome {
    let body = serde_json::to_string(&delivery::Job::Retry {
        org_id: org.clone(),
        delivery_id: id.to_owned(),
        manual: false,
    })
    .unwrap();
    delivery::process(svc, &body, false).await.unwrap()
}

async fn retries_follow_the_schedule_then_the_endpoint_is_disabled(backend: Backend) {
    let start = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
    let (h, clock) = at(backend, start).await;
    let svc = h.app.services();
    let org = OrgId::parse("acme").unwrap();
    let server = receiver(500).await;
    let (ep, _) = endpoint(svc, &server, json!(["*"])).await;
    let event = publish(svc, &org, EventType::MessageReceived, "r1").await;
    drain(&h).await;
    let id = delivery::delivery_id(&ep.id, &event);
    let d = delivery::load_delivery(svc, &org, &id)
        .await
        .unwrap()
        .record;
    assert_eq!(d.state, delivery::DeliveryState::Pending);
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].status_code, Some(500));
    assert_eq!(d.next_attempt_at, Some(start + Duration::seconds(5)));

    // Not due yet: the retry waits, and says for how long.
    assert_eq!(
        run_retry(svc, &org, &id).await,
        delivery::Outcome::Later(std::time::Duration::from_secs(5))
    );
    // Each retry when due: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    let mut at = start;
    for (n, secs) in delivery::SCHEDULE.iter().enumerate() {
        at += Duration::seconds(*secs);
        clock.set(at);
        let outcome = run_retry(svc, &org, &id).await;
        let d = delivery::load_delivery(svc, &org, &id)
            .await
            .unwrap()
            .record;
        assert_eq!(d.attempts.len(), n + 2, "attempt {}", n + 2);
        assert_eq!(d.attempts.last().unwrap().at, at);
        match delivery::SCHEDULE.get(n + 1) {
            Some(next) => {
                assert_eq!(d.next_attempt_at, Some(at + Duration::seconds(*next)));
                assert_eq!(
                    outcome,
                    delivery::Outcome::Later(std::time::Duration::from_secs(*next as u64))
                );
            }
            None => {
                assert_eq!(d.state, delivery::DeliveryState::Failed);
                assert_eq!(d.failure.as_deref(), Some("retries_exhausted"));
                assert_eq!(outcome, delivery::Outcome::Done);
            }
        }
    }
    assert_eq!(hooks(&server).await.len(), 8);
    let ep_now = webhooks_out::get(svc, &org, &ep.id).await.unwrap().record;
    assert_eq!(ep_now.failing_since, Some(start));
    assert!(!ep_now.disabled);

    // Still failing 5 days after the first failure: the next failed attempt disables it.
    clock.set(start + Duration::days(5) - Duration::minutes(1));
    let e2 = publish(svc, &org, EventType::MessageReceived, "r2").await;
    drain(&h).await;
    // A failing endpoint is not attempted inline; its delivery is scheduled.
    assert_eq!(hooks(&server).await.len(), 8);
    let id2 = delivery::delivery_id(&ep.id, &e2);
    clock.set(start + Duration::days(5) + Duration::seconds(5));
    run_retry(svc, &org, &id2).await;
    let ep_now = webhooks_out::get(svc, &org, &ep.id).await.unwrap().record;
    assert!(ep_now.disabled);
    assert_eq!(ep_now.disabled_reason.as_deref(), Some("failing"));
    // Disabled: no more attempts, pending deliveries end.
    publish(svc, &org, EventType::MessageReceived, "r3").await;
    drain(&h).await;
    clock.set(start + Duration::days(6));
    assert_eq!(run_retry(svc, &org, &id2).await, delivery::Outcome::Done);
    let d2 = delivery::load_delivery(svc, &org, &id2)
        .await
        .unwrap()
        .record;
    assert_eq!(
        (d2.state, d2.failure.as_deref()),
        (delivery::DeliveryState::Failed, Some("endpoint_disabled"))
    );
    assert_eq!(hooks(&server).await.len(), 9);

    // Enabled again with the receiver healthy: the count starts over, manual retry works.
    answer(&server, 200).await;
    let ep_now = webhooks_out::update(svc, &org, &ep.id, true, &json!({"disabled": false}))
        .await
        .unwrap();
    assert_eq!((ep_now.disabled, ep_now.failing_since), (false, None));
    delivery::request_retry(svc, &org, &id).await.unwrap();
    drain(&h).await;
    let d = delivery::load_delivery(svc, &org, &id)
        .await
        .unwrap()
        .record;
    assert_eq!(d.state, delivery::DeliveryState::Delivered);
    assert_eq!(
        d.attempts.last().unwrap().trigger,
        delivery::Trigger::Manual
    );
    let got = hooks(&server).await;
    assert_eq!(
        header(got.last().unwrap(), "webhook-id"),
        event.id,
        "the same webhook-id on every attempt"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_schedule_then_the_endpoint_is_disabled_local() {
    retries_follow_the_schedule_then_the_endpoint_is_disabled(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_schedule_then_the_endpoint_is_disabled_aws() {
    retries_follow_the_schedule_then_the_endpoint_is_disabled(Backend::Aws).await;
}

/// The embedded queue keeps a retry hidden until its time on the app's clock, then the
/// consumer makes the attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_waits_on_the_queue_until_due() {
    let start = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
    let (h, clock) = at(Backend::Local, start).await;
    let svc = h.app.services();
    let org = OrgId::parse("acme").unwrap();
    let server = receiver(503).await;
    endpoint(svc, &server, json!(["message.received"])).await;
    publish(svc, &org, EventType::MessageReceived, "q1").await;
    drain(&h).await;
    assert_eq!(hooks(&server).await.len(), 1);
    clock.advance(Duration::seconds(4));
    drain(&h).await;
    assert_eq!(hooks(&server).await.len(), 1, "not due before 5 s");
    clock.advance(Duration::seconds(2));
    drain(&h).await;
    assert_eq!(hooks(&server).await.len(), 2);
    answer(&server, 200).await;
    clock.advance(Duration::seconds(301));
    drain(&h).await;
    assert_eq!(
        hooks(&server).await.len(),
        1,
        "the third attempt, after 5 minutes"
    );
    h.stop().await;
}

async fn rotation_and_replay(backend: Backend) {
    // Near real time: the reference library checks the timestamp against its own clock.
    let start = Utc::now();
    let (h, clock) = at(backend, start).await;
    let svc = h.app.services();
    let org = OrgId::parse("acme").unwrap();
    let server = receiver(200).await;
    let (ep, old) = endpoint(svc, &server, json!(["message.received", "contact.updated"])).await;
    let (_, new) = webhooks_out::rotate_secret(svc, &org, &ep.id)
        .await
        .unwrap();
    let e1 = publish(svc, &org, EventType::MessageReceived, "s1").await;
    drain(&h).await;
    let got = hooks(&server).await;
    assert_eq!(header(&got[0], "webhook-signature").split(' ').count(), 2);
    assert_eq!(
        reference_verifies(&[(old.clone(), &got[0]), (new.clone(), &got[0])]),
        vec![true, true],
        "both secrets sign during the grace"
    );

    // Past the grace only the new one signs (checked with our verifier: the reference
    // library would refuse the moved clock's timestamp).
    clock.set(start + Duration::hours(24) + Duration::minutes(1));
    publish(svc, &org, EventType::MessageReceived, "s2").await;
    publish(svc, &org, EventType::ConversationUpdated, "s3").await;
    publish(svc, &org, EventType::ContactUpdated, "s4").await;
    drain(&h).await;
    let got = hooks(&server).await;
    assert_eq!(got.len(), 3);
    let last = &got[1];
    let check = |secret: &str| {
        switchboard_webhooks::standard::verify_signature(
            secret,
            switchboard_webhooks::standard::Headers {
                id: Some(header(last, "webhook-id")),
                timestamp: Some(header(last, "webhook-timestamp")),
                signature: Some(header(last, "webhook-signature")),
            },
            &last.body,
            clock.now().timestamp(),
            300,
        )
    };
    assert!(check(&new).is_ok());
    assert!(check(&old).is_err());

    // Replay since the start: every event the endpoint wants, again, oldest first, with
    // the ids they had.
    server.reset().await;
    answer(&server, 200).await;
    let body = json!({"since": start.to_rfc3339()});
    delivery::request_replay(svc, &org, &ep.id, &body)
        .await
        .unwrap();
    drain(&h).await;
    let replayed = hooks(&server).await;
    let ids: Vec<&str> = replayed.iter().map(|r| header(r, "webhook-id")).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[0], e1.id);
    let (_, deliveries) = h
        .get(
            &format!("/v1/webhook-endpoints/{}/deliveries", ep.id),
            &h.token("acme", Role::Admin),
        )
        .await;
    let first = deliveries["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(first["event_id"], e1.id.as_str());
    assert_eq!(first["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(first["attempts"][1]["trigger"], "replay");
    for bad in [
        json!({}),
        json!({"since": "yesterday"}),
        json!({"since": (start - Duration::days(40)).to_rfc3339()}),
    ] {
        match delivery::request_replay(svc, &org, &ep.id, &bad).await {
            Err(switchboard_core::Error::Validation { field, .. }) => assert_eq!(field, "since"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_replay_local() {
    rotation_and_replay(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_replay_aws() {
    rotation_and_replay(Backend::Aws).await;
}

/// A redirect is the endpoint's answer, never followed: the attempt failed with its
/// status, and the place it pointed to heard nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_failures_not_followed() {
    let h = Harness::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let svc = h.app.services();
    let org = OrgId::parse("acme").unwrap();
    let server = MockServer::start().await;
    Mock::given(path("/hooks"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/inside", server.uri())),
        )
        .mount(&server)
        .await;
    let (ep, _) = endpoint(svc, &server, json!(["*"])).await;
    let e = publish(svc, &org, EventType::MessageReceived, "x1").await;
    drain(&h).await;
    let d = delivery::load_delivery(svc, &org, &delivery::delivery_id(&ep.id, &e))
        .await
        .unwrap()
        .record;
    assert_eq!(d.attempts[0].status_code, Some(307));
    assert_eq!(d.state, delivery::DeliveryState::Pending);
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, vec!["/hooks"]);
    h.stop().await;
}
