//! WhatsApp through Kapso: connecting a number with a Kapso API key (validated against a
//! wiremock Kapso), Kapso's signed webhooks into conversations, its verification GET,
//! sends that go to Kapso with the org's key (and never to Meta), and the `manager` role.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::{AccountId, OrgId, Role};
use switchboard_core::model::Account;
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};
use switchboard_webhooks::kapso;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::contacts::token_for;
use crate::outbound::{accepted, drain, graph_error, message};
use crate::support::{Backend, Harness, Options};

const KAPSO_SECRET: &str = "switchboard-kapso-test-secret";
const KAPSO_KEY: &str = "kapso-test-api-key-0123456789";
const CUSTOMER: &str = "16505551234";

fn kapso_path(rest: &str) -> String {
    format!("/meta/whatsapp/v24.0/{PHONE_NUMBER_ID}{rest}")
}

struct Setup {
    h: Harness,
    kapso: MockServer,
    graph: MockServer,
}

/// A harness with fakes for both Kapso and Meta (Meta's must see nothing), and the Kapso
/// webhook secret configured; `verify_token` optionally.
async fn setup(backend: Backend, verify_token: Option<&str>) -> Setup {
    let kapso = MockServer::start().await;
    let graph = MockServer::start().await;
    let mut secrets = Options::default().secrets;
    secrets.push((SecretName::KapsoWebhookSecret, KAPSO_SECRET.into()));
    if let Some(t) = verify_token {
        secrets.push((SecretName::KapsoVerifyToken, t.into()));
    }
    let h = Harness::with(Options {
        backend,
        secrets,
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        kapso_url: Some(format!("{}/meta/whatsapp/v24.0", kapso.uri())),
        workers: false,
        ..Options::default()
    })
    .await;
    Setup { h, kapso, graph }
}

async fn connect(s: &Setup, token: &str, body: &Value) -> (StatusCode, Value) {
    s.h.post("/v1/integrations/kapso/connect", token, body)
        .await
}

/// Kapso answers the number's read with the key we send, and only with it.
async fn kapso_knows_the_number(kapso: &MockServer) {
    Mock::given(method("GET"))
        .and(path(kapso_path("")))
        .and(header("authorization", format!("Bearer {KAPSO_KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": PHONE_NUMBER_ID, "display_phone_number": "+1 555-078-3881", "verified_name": "Acme Linen"}),
        ))
        .mount(kapso)
        .await;
}

async fn post_kapso(h: &Harness, body: &[u8], signature: Option<String>) -> reqwest::Response {
    let mut req = h
        .http
        .post(h.url("/webhooks/kapso"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("x-kapso-signature", sig);
    }
    req.send().await.unwrap()
}

async fn connect_validates_the_key_against_kapso(backend: Backend) {
    let s = setup(backend, None).await;
    let admin = s.h.token("acme", Role::Admin);
    let agent = s.h.token("acme", Role::Agent);
    let good = json!({"phone_number_id": PHONE_NUMBER_ID, "api_key": KAPSO_KEY});

    // Roles and validation first: nothing reaches Kapso.
    let (st, _) = connect(&s, &agent, &good).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for (body, field) in [
        (json!({"phone_number_id": PHONE_NUMBER_ID}), "api_key"),
        (
            json!({"phone_number_id": PHONE_NUMBER_ID, "api_key": "has spaces in it"}),
            "api_key",
        ),
        (json!({"api_key": KAPSO_KEY}), "phone_number_id"),
        (
            json!({"phone_number_id": "not-a-number", "api_key": KAPSO_KEY}),
            "phone_number_id",
        ),
    ] {
        let (st, resp) = connect(&s, &admin, &body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{resp}");
        assert!(
            !resp.to_string().contains(KAPSO_KEY),
            "the key is never echoed"
        );
    }
    assert!(s.kapso.received_requests().await.unwrap().is_empty());

    // Kapso refuses the key: 422 naming api_key; Kapso down: 502; nothing stored.
    let refused = Mock::given(method("GET"))
        .and(path(kapso_path("")))
        .respond_with(graph_error(190, 401))
        .up_to_n_times(1)
        .mount_as_scoped(&s.kapso)
        .await;
    let (st, resp) = connect(&s, &admin, &good).await;
    assert_eq!(
        (st, resp["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("api_key")),
        "{resp}"
    );
    assert_eq!(resp["error"]["code"], "invalid_api_key");
    drop(refused);
    let down = Mock::given(method("GET"))
        .and(path(kapso_path("")))
        .respond_with(ResponseTemplate::new(502))
        .mount_as_scoped(&s.kapso)
        .await;
    let (st, resp) = connect(&s, &admin, &good).await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{resp}");
    assert_eq!(resp["error"]["code"], "kapso_unavailable");
    drop(down);
    let (_, list) = s.h.get("/v1/integrations", &admin).await;
    assert_eq!(list["items"], json!([]), "nothing half-connected: {list}");

    // Accepted: the key went to Kapso in the Authorization header; the integration says
    // who carries it, and never shows the key.
    kapso_knows_the_number(&s.kapso).await;
    let (st, account) = connect(&s, &admin, &good).await;
    assert_eq!(st, StatusCode::CREATED, "{account}");
    assert_eq!(
        (
            account["channel"].as_str(),
            account["provider"].as_str(),
            account["verified_name"].as_str(),
            account["display_phone_number"].as_str(),
        ),
        (
            Some("whatsapp"),
            Some("kapso"),
            Some("Acme Linen"),
            Some("+1 555-078-3881")
        )
    );
    assert_eq!(account["waba_id"], Value::Null);
    let (_, list) = s.h.get("/v1/integrations", &admin).await;
    assert!(!list.to_string().contains(KAPSO_KEY));
    assert_eq!(list["items"][0]["provider"], "kapso");
    // The key is stored encrypted: the account item does not hold it in the clear.
    let (pk, sk) = Account::key_of(
        &OrgId::parse("acme").unwrap(),
        &AccountId::parse(account["id"].as_str().unwrap()).unwrap(),
    );
    let stored =
        s.h.app
            .services()
            .store
            .get(&pk, &sk)
            .await
            .unwrap()
            .unwrap();
    let stored = format!("{stored:?}");
    assert!(stored.contains("token_envelope"), "{stored}");
    assert!(
        !stored.contains(KAPSO_KEY),
        "the API key is encrypted at rest"
    );

    // One number, one org: through Meta or Kapso, a second connect is 409.
    let (st, _) = connect(&s, &admin, &good).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let other = s.h.token("other", Role::Admin);
    let (st, _) = connect(&s, &other, &good).await;
    assert_eq!(st, StatusCode::CONFLICT);
    // Meta saw nothing of any of it.
    assert!(s.graph.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_validates_the_key_against_kapso_sqlite() {
    connect_validates_the_key_against_kapso(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_validates_the_key_against_kapso_dynamodb() {
    connect_validates_the_key_against_kapso(Backend::Aws).await;
}

async fn webhooks_and_sends_go_through_kapso(backend: Backend) {
    let s = setup(backend, None).await;
    kapso_knows_the_number(&s.kapso).await;
    let admin = s.h.token("acme", Role::Admin);
    let (st, _) = connect(
        &s,
        &admin,
        &json!({"phone_number_id": PHONE_NUMBER_ID, "api_key": KAPSO_KEY}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);

    // A customer writes; Kapso forwards Meta's payload, signed its way.
    let ts = chrono::Utc::now().timestamp();
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "Sheena",
        "wamid.kapso1",
        ts,
        "Is the linen shirt back?",
    )]);
    // Unsigned, mis-signed, Meta-signed: 401 and nothing stored.
    for sig in [
        None,
        Some(kapso::sign(b"another-secret", &body)),
        Some(fixtures::sign(&body)),
        Some("sha256=zz".to_owned()),
    ] {
        let r = post_kapso(&s.h, &body, sig.clone()).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{sig:?}");
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["code"], "invalid_signature");
    }
    assert!(
        crate::outbound::receive(&s.h, QueueName::Inbound)
            .await
            .is_empty(),
        "a refused delivery queues nothing"
    );
    // Signed but not JSON: 415; signed JSON that is not an envelope: 400.
    let r =
        s.h.http
            .post(s.h.url("/webhooks/kapso"))
            .header("content-type", "text/plain")
            .header(
                "x-kapso-signature",
                kapso::sign(KAPSO_SECRET.as_bytes(), &body),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let not_envelope = br#"{"hello": "world"}"#;
    let r = post_kapso(
        &s.h,
        not_envelope,
        Some(kapso::sign(KAPSO_SECRET.as_bytes(), not_envelope)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Signed (with the `sha256=` prefix Kapso may add): stored, queued, 200; a redelivery
    // is a duplicate.
    let sig = format!("sha256={}", kapso::sign(KAPSO_SECRET.as_bytes(), &body));
    let r = post_kapso(&s.h, &body, Some(sig.clone())).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"received": 1, "duplicates": 0})
    );
    let r = post_kapso(&s.h, &body, Some(sig)).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"received": 1, "duplicates": 1})
    );
    drain(&s.h, QueueName::Inbound).await;
    let agent = s.h.token("acme", Role::Agent);
    let (_, list) = s.h.get("/v1/conversations", &agent).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let conv = list["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["items"][0]["unread_count"], 1);

    // The agent answers: the send goes to Kapso with the org's key and Graph's body.
    Mock::given(method("POST"))
        .and(path(kapso_path("/messages")))
        .and(header(
            "authorization",
            format!("Bearer {KAPSO_KEY}").as_str(),
        ))
        .and(body_partial_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "text", "text": {"body": "Yes, since Monday."}
        })))
        .respond_with(accepted("wamid.kapso-out1"))
        .expect(1)
        .mount(&s.kapso)
        .await;
    let (st, sent) =
        s.h.post(
            &format!("/v1/conversations/{conv}/messages"),
            &agent,
            &json!({"type": "text", "text": {"body": "Yes, since Monday."}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{sent}");
    drain(&s.h, QueueName::Outbound).await;
    let m = message(&s.h, &agent, &conv, sent["id"].as_str().unwrap()).await;
    assert_eq!(
        (m["status"].as_str(), m["wamid"].as_str()),
        (Some("sent"), Some("wamid.kapso-out1")),
        "{m}"
    );
    // Statuses come back through Kapso's webhook like Meta's.
    let status = fixtures::delivery(vec![fixtures::status_change(
        PHONE_NUMBER_ID,
        "wamid.kapso-out1",
        "delivered",
        CUSTOMER,
        chrono::Utc::now().timestamp(),
        json!([]),
    )]);
    let r = post_kapso(
        &s.h,
        &status,
        Some(kapso::sign(KAPSO_SECRET.as_bytes(), &status)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    drain(&s.h, QueueName::Inbound).await;
    let m = message(&s.h, &agent, &conv, sent["id"].as_str().unwrap()).await;
    assert_eq!(m["status"], "delivered", "{m}");

    // Kapso's error classes are Graph's: a closed window fails the send for good.
    Mock::given(method("POST"))
        .and(path(kapso_path("/messages")))
        .and(body_partial_json(
            json!({"text": {"body": "Anything else?"}}),
        ))
        .respond_with(graph_error(131047, 400))
        .expect(1)
        .mount(&s.kapso)
        .await;
    let (_, second) =
        s.h.post(
            &format!("/v1/conversations/{conv}/messages"),
            &agent,
            &json!({"type": "text", "text": {"body": "Anything else?"}}),
        )
        .await;
    drain(&s.h, QueueName::Outbound).await;
    let m = message(&s.h, &agent, &conv, second["id"].as_str().unwrap()).await;
    assert_eq!(m["status"], "failed", "{m}");
    assert!(
        s.graph.received_requests().await.unwrap().is_empty(),
        "nothing of a Kapso number reaches Meta"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_sends_go_through_kapso_sqlite() {
    webhooks_and_sends_go_through_kapso(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_sends_go_through_kapso_dynamodb() {
    webhooks_and_sends_go_through_kapso(Backend::Aws).await;
}

async fn get(h: &Harness, query: &str) -> (StatusCode, String) {
    let r = h
        .http
        .get(h.url(&format!("/webhooks/kapso?{query}")))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_echoes_the_challenge_and_checks_a_configured_token() {
    // Without a verify token: either challenge form is echoed.
    let s = setup(Backend::Local, None).await;
    assert_eq!(
        get(&s.h, "hub.mode=subscribe&hub.challenge=1158201444").await,
        (StatusCode::OK, "1158201444".to_owned())
    );
    assert_eq!(
        get(&s.h, "challenge=abc123").await,
        (StatusCode::OK, "abc123".to_owned())
    );
    assert_eq!(
        get(&s.h, "hub.mode=subscribe").await.0,
        StatusCode::FORBIDDEN
    );

    // With one: only a matching hub.verify_token.
    let s = setup(Backend::Local, Some("kapso-verify")).await;
    assert_eq!(
        get(
            &s.h,
            "hub.mode=subscribe&hub.verify_token=kapso-verify&hub.challenge=42"
        )
        .await,
        (StatusCode::OK, "42".to_owned())
    );
    assert_eq!(
        get(&s.h, "hub.verify_token=kapso-verify&challenge=43").await,
        (StatusCode::OK, "43".to_owned())
    );
    for refused in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42",
        "hub.mode=subscribe&hub.challenge=42",
        "challenge=42",
    ] {
        assert_eq!(
            get(&s.h, refused).await.0,
            StatusCode::FORBIDDEN,
            "{refused}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_secret_the_kapso_webhook_refuses_everything() {
    let h = Harness::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let body = fixtures::delivery(vec![]);
    let r = post_kapso(&h, &body, Some(kapso::sign(b"anything", &body))).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "not_configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_is_an_admin() {
    let s = setup(Backend::Local, None).await;
    kapso_knows_the_number(&s.kapso).await;
    let manager = token_for(
        &s.h,
        "acme",
        Role::Admin,
        "user_mia",
        json!({"org_role": "manager"}),
    );
    let (st, body) = connect(
        &s,
        &manager,
        &json!({"phone_number_id": PHONE_NUMBER_ID, "api_key": KAPSO_KEY}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    // ...and no more than an admin: billing is the owner's.
    let (st, _) =
        s.h.post(
            "/v1/billing/portal",
            &manager,
            &json!({"return_url": "https://app.example.com/settings"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}
