//! What an operator and a frontend developer see of the dev server: the metrics page,
//! and CORS for a frontend served from another port.

use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::queue::QueueName;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};

use crate::support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_page_counts_what_happened() {
    let h = Harness::with(crate::support::Options {
        workers: false,
        ..Default::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.m1",
        chrono::Utc::now().timestamp(),
        "hi",
    )]);
    assert_eq!(h.webhook(&body).await.status(), 200);
    assert_eq!(h.webhook(&body).await.status(), 200);
    let forged = h
        .http
        .post(h.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", "sha256=00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    h.drain(QueueName::Inbound).await;
    let (_, list) = h
        .get("/v1/conversations", &h.token("acme", Role::Agent))
        .await;
    let conv = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (st, _) = h
        .post(
            &format!("/v1/conversations/{conv}/messages"),
            &h.token("acme", Role::Agent),
            &json!({"type": "text", "text": {"body": "hello"}}),
        )
        .await;
    assert_eq!(st, 202);
    h.drain(QueueName::Outbound).await;

    let resp = h.http.get(h.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    for line in [
        "switchboard_webhook_deliveries_total{provider=\"whatsapp\"} 2",
        "switchboard_webhook_duplicates_total{provider=\"whatsapp\"} 1",
        "switchboard_signature_failures_total{provider=\"whatsapp\"} 1",
        "switchboard_sends_total{outcome=\"sent\"} 1",
        "switchboard_queue_age_milliseconds_count{queue=\"inbound\"} 1",
        "switchboard_queue_age_milliseconds_count{queue=\"outbound\"} 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_allowed_origins_only() {
    let h = Harness::start().await;
    let preflight = |origin: &'static str| {
        h.http
            .request(reqwest::Method::OPTIONS, h.url("/v1/conversations"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(
        ok.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("idempotency-key")
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let token = h.token("acme", Role::Viewer);
    let get = h
        .http
        .get(h.url("/v1/conversations"))
        .bearer_auth(&token)
        .header("origin", "http://127.0.0.1:3001")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3001"
    );
    assert!(
        get.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("idempotent-replayed")
    );
    let other = h
        .http
        .get(h.url("/v1/conversations"))
        .bearer_auth(&token)
        .header("origin", "http://localhost.evil.example:3000")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn origin_patterns() {
    use switchboard_cli::serve::origin_allowed;
    let allowed = vec![
        "http://localhost:*".to_owned(),
        "https://app.example.com".to_owned(),
    ];
    assert!(origin_allowed(&allowed, "http://localhost:5173"));
    assert!(origin_allowed(&allowed, "http://localhost"));
    assert!(origin_allowed(&allowed, "https://app.example.com"));
    assert!(!origin_allowed(&allowed, "http://localhost:51x3"));
    assert!(!origin_allowed(
        &allowed,
        "http://localhost.evil.example:80"
    ));
    assert!(!origin_allowed(
        &allowed,
        "https://app.example.com.evil.example"
    ));
    assert!(!origin_allowed(&allowed, "https://localhost:5173"));
}
