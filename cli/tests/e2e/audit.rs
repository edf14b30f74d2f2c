//! The audit log: every change made through the API is appended — who, what, when, how it
//! ended — and only admins read it; nothing changes it.

use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};

use crate::support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_audited_with_actor_action_and_outcome() {
    let h = Harness::start().await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let agent = h.token("acme", Role::Agent);
    let viewer = h.token("acme", Role::Viewer);
    let admin = h.token("acme", Role::Admin);
    // A refused change is audited too (the viewer may not disconnect a number).
    let (_, list) = h.get("/v1/integrations", &viewer).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (st, _) = h.delete(&format!("/v1/integrations/{id}"), &viewer).await;
    assert_eq!(st, 403);
    // Reads are not audited.
    h.get("/v1/conversations", &agent).await;
    // A checkout attempt that fails (no Stripe configured) is audited as failed/refused.
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.a1",
        chrono::Utc::now().timestamp(),
        "hi",
    )]);
    h.webhook(&body).await;
    h.eventually("the conversation", || async {
        let (_, l) = h.get("/v1/conversations", &agent).await;
        l["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let (_, l) = h.get("/v1/conversations", &agent).await;
    let conv = l["items"][0]["id"].as_str().unwrap().to_owned();
    let (st, _) = h
        .post(
            &format!("/v1/conversations/{conv}/messages"),
            &agent,
            &json!({"type": "text", "text": {"body": "hello"}}),
        )
        .await;
    assert_eq!(st, 202);

    let (st, log) = h.get("/v1/audit", &admin).await;
    assert_eq!(st, 200, "{log}");
    let items = log["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "send-message",
            "disconnect-integration",
            "connect-integration"
        ],
        "newest first, reads left out: {log}"
    );
    let send = &items[0];
    assert_eq!(send["actor"], "test-user");
    assert_eq!(send["role"], "agent");
    assert_eq!(send["outcome"], "succeeded");
    assert_eq!(send["status"], 202);
    assert_eq!(
        send["resource"],
        format!("POST /v1/conversations/{conv}/messages")
    );
    assert!(send["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    let refused = &items[1];
    assert_eq!(
        (
            refused["outcome"].as_str(),
            refused["status"].as_u64(),
            refused["role"].as_str()
        ),
        (Some("refused"), Some(403), Some("viewer"))
    );

    // Filters.
    let (_, only) = h.get("/v1/audit?action=send-message", &admin).await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    let (_, by) = h
        .get(
            "/v1/audit?actor=test-user&action=connect-integration",
            &admin,
        )
        .await;
    assert_eq!(by["items"].as_array().unwrap().len(), 1);
    let (st, _) = h.get("/v1/audit?action=a%23b", &admin).await;
    assert_eq!(st, 422);
    // Admins only; another org sees nothing of this one.
    let (st, _) = h.get("/v1/audit", &agent).await;
    assert_eq!(st, 403);
    let (_, other) = h.get("/v1/audit", &h.token("other", Role::Admin)).await;
    assert_eq!(other["items"].as_array().unwrap().len(), 0);
    // Nothing changes it: no route takes a write.
    for method in [
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::POST,
    ] {
        let r = h
            .http
            .request(method.clone(), h.url("/v1/audit"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 404 || r.status() == 405,
            "{method}: {}",
            r.status()
        );
    }
}
