//! Meta's embedded signup, the token's lifecycle and the number's health, against a
//! wiremock Graph that checks every request: the code exchange (app id and secret),
//! `debug_token` (the app token), the app's subscription to the business account, the
//! number's registration (its PIN), the health read; each step failing in turn leaves
//! nothing connected. Then the daily sync moved by the injectable clock, and the account
//! webhooks that update the same fields.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::{PhoneNumberId, Role};
use switchboard_core::model::PhoneRoute;
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_testkit::fixtures::{PHONE_NUMBER_ID, WABA_ID};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::outbound::{drain, graph_error};
use crate::support::{Backend, Harness, Options};

const APP_ID: &str = "1234567890";
const APP_SECRET: &str = "switchboard-meta-app-secret";
const CODE: &str = "AQD-signup-code";
const BUSINESS_TOKEN: &str = "EAAG-business-token-from-signup";
const SIGNUP: &str = "/v1/integrations/whatsapp/embedded-signup";

struct Setup {
    h: Harness,
    graph: MockServer,
    clock: Arc<FixedClock>,
}

async fn setup(backend: Backend, app_id: Option<&str>) -> Setup {
    let graph = MockServer::start().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let mut secrets = Options::default().secrets;
    secrets.push((SecretName::MetaAppSecret, APP_SECRET.into()));
    let h = Harness::with(Options {
        backend,
        secrets,
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        meta_app_id: app_id.map(str::to_owned),
        clock: Some(clock.clone()),
        workers: false,
        ..Options::default()
    })
    .await;
    Setup { h, graph, clock }
}

fn body() -> Value {
    json!({"code": CODE, "waba_id": WABA_ID, "phone_number_id": PHONE_NUMBER_ID, "pin": "123456"})
}

fn health(tier: &str) -> Value {
    json!({
        "id": PHONE_NUMBER_ID, "display_phone_number": "+1 555-078-3881", "verified_name": "Acme Linen",
        "quality_rating": "GREEN", "messaging_limit_tier": tier, "name_status": "APPROVED", "status": "CONNECTED"
    })
}

/// Mounts every Graph step of a successful signup, each checking its request.
async fn graph_accepts(graph: &MockServer, expires_at: i64) {
    Mock::given(method("GET"))
        .and(path("/v23.0/oauth/access_token"))
        .and(query_param("client_id", APP_ID))
        .and(query_param("client_secret", APP_SECRET))
        .and(query_param("code", CODE))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": BUSINESS_TOKEN, "token_type": "bearer"})),
        )
        .mount(graph)
        .await;
    debug_token(graph, true, expires_at).await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{WABA_ID}/subscribed_apps")))
        .and(header(
            "authorization",
            format!("Bearer {BUSINESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/register")))
        .and(header(
            "authorization",
            format!("Bearer {BUSINESS_TOKEN}").as_str(),
        ))
        .and(body_json(
            json!({"messaging_product": "whatsapp", "pin": "123456"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(graph)
        .await;
    number_health(graph, "TIER_1K").await;
}

async fn debug_token(graph: &MockServer, valid: bool, expires_at: i64) {
    Mock::given(method("GET"))
        .and(path("/v23.0/debug_token"))
        .and(query_param("input_token", BUSINESS_TOKEN))
        .and(header(
            "authorization",
            format!("Bearer {APP_ID}|{APP_SECRET}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "app_id": APP_ID, "type": "SYSTEM_USER", "is_valid": valid, "expires_at": expires_at,
            "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"]
        }})))
        .mount(graph)
        .await;
}

async fn number_health(graph: &MockServer, tier: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}")))
        .and(query_param(
            "fields",
            switchboard_providers::meta_app::HEALTH_FIELDS,
        ))
        .and(header(
            "authorization",
            format!("Bearer {BUSINESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(health(tier)))
        .mount(graph)
        .await;
}

async fn nothing_connected(h: &Harness) {
    let admin = h.token("acme", Role::Admin);
    let (_, list) = h.get("/v1/integrations", &admin).await;
    assert_eq!(list["items"], json!([]), "{list}");
    let (pk, sk) = PhoneRoute::key_of(&PhoneNumberId::parse(PHONE_NUMBER_ID).unwrap());
    assert!(
        h.app
            .services()
            .store
            .get(&pk, &sk)
            .await
            .unwrap()
            .is_none(),
        "no routing entry is left behind"
    );
}

async fn each_step_failing_leaves_nothing_connected(backend: Backend) {
    let s = setup(backend, Some(APP_ID)).await;
    let admin = s.h.token("acme", Role::Admin);
    let expires = (s.clock.now() + chrono::Duration::days(60)).timestamp();

    // (the step's mock, its failure, the answer's status and field)
    let steps: Vec<(&str, Mock, StatusCode, Option<&str>)> = vec![
        (
            "exchange_code",
            Mock::given(method("GET"))
                .and(path("/v23.0/oauth/access_token"))
                .respond_with(graph_error(100, 400)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("code"),
        ),
        (
            "subscribe_app",
            Mock::given(method("POST"))
                .and(path(format!("/v23.0/{WABA_ID}/subscribed_apps")))
                .respond_with(ResponseTemplate::new(503)),
            StatusCode::BAD_GATEWAY,
            None,
        ),
        (
            "register_number",
            Mock::given(method("POST"))
                .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/register")))
                .respond_with(graph_error(133005, 400)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("pin"),
        ),
        (
            "read_number",
            Mock::given(method("GET"))
                .and(path(format!("/v23.0/{PHONE_NUMBER_ID}")))
                .respond_with(ResponseTemplate::new(500)),
            StatusCode::BAD_GATEWAY,
            None,
        ),
    ];
    for (step, failing, status, field) in steps {
        s.graph.reset().await;
        // The failing step first: wiremock answers with the first matching mock.
        failing.up_to_n_times(1).mount(&s.graph).await;
        graph_accepts(&s.graph, expires).await;
        let (st, resp) = s.h.post(SIGNUP, &admin, &body()).await;
        assert_eq!(st, status, "{step}: {resp}");
        assert_eq!(resp["error"]["field"].as_str(), field, "{step}: {resp}");
        assert!(
            resp["error"]["message"].as_str().unwrap().contains(step),
            "{step} is named: {resp}"
        );
        assert!(!resp.to_string().contains(BUSINESS_TOKEN));
        assert!(!resp.to_string().contains(APP_SECRET));
        nothing_connected(&s.h).await;
    }

    // Then the flow runs again and connects.
    s.graph.reset().await;
    graph_accepts(&s.graph, expires).await;
    let (st, account) = s.h.post(SIGNUP, &admin, &body()).await;
    assert_eq!(st, StatusCode::CREATED, "{account}");
    assert_eq!(
        (
            account["provider"].as_str(),
            account["status"].as_str(),
            account["verified_name"].as_str(),
            account["health"]["messaging_limit_tier"].as_str(),
            account["health"]["daily_unique_limit"].as_u64(),
            account["health"]["quality_rating"].as_str(),
        ),
        (
            Some("meta"),
            Some("active"),
            Some("Acme Linen"),
            Some("TIER_1K"),
            Some(1000),
            Some("GREEN")
        ),
        "{account}"
    );
    assert_eq!(
        account["token_expires_at"].as_str().map(|t| &t[..10]),
        Some(
            chrono::DateTime::from_timestamp(expires, 0)
                .unwrap()
                .to_rfc3339()[..10]
                .to_owned()
                .as_str()
        )
    );
    assert_eq!(account["token_scopes"].as_array().unwrap().len(), 2);
    assert!(!account.to_string().contains(BUSINESS_TOKEN));
    // The stored token is the exchanged one, encrypted: sends would use it.
    let org = switchboard_core::ids::OrgId::parse("acme").unwrap();
    let id = switchboard_core::ids::AccountId::parse(account["id"].as_str().unwrap()).unwrap();
    let stored = switchboard_core::usecases::integrations::get(s.h.app.services(), &org, &id)
        .await
        .unwrap()
        .record;
    assert!(!stored.token_envelope.contains(BUSINESS_TOKEN));
    let token = switchboard_core::usecases::integrations::access_token(s.h.app.services(), &stored)
        .await
        .unwrap();
    assert_eq!(token.expose(), BUSINESS_TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_failing_leaves_nothing_connected_sqlite() {
    each_step_failing_leaves_nothing_connected(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_failing_leaves_nothing_connected_dynamodb() {
    each_step_failing_leaves_nothing_connected(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_refuses_before_spending_the_code() {
    let s = setup(Backend::Local, Some(APP_ID)).await;
    let admin = s.h.token("acme", Role::Admin);
    let agent = s.h.token("acme", Role::Agent);
    let (st, _) = s.h.post(SIGNUP, &agent, &body()).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for (b, field) in [
        (
            json!({"waba_id": WABA_ID, "phone_number_id": PHONE_NUMBER_ID}),
            "code",
        ),
        (
            json!({"code": CODE, "phone_number_id": PHONE_NUMBER_ID}),
            "waba_id",
        ),
        (json!({"code": CODE, "waba_id": WABA_ID}), "phone_number_id"),
        (
            json!({"code": CODE, "waba_id": WABA_ID, "phone_number_id": PHONE_NUMBER_ID, "pin": "12345"}),
            "pin",
        ),
        (
            json!({"code": CODE, "waba_id": WABA_ID, "phone_number_id": PHONE_NUMBER_ID, "pin": 123456}),
            "pin",
        ),
    ] {
        let (st, resp) = s.h.post(SIGNUP, &admin, &b).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{resp}");
    }
    // A number connected already (here, by hand): 409 and the code is not spent.
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(health("TIER_1K")))
        .mount(&s.graph)
        .await;
    s.h.connect("acme", PHONE_NUMBER_ID).await;
    Mock::given(method("GET"))
        .and(path("/v23.0/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "x"})))
        .expect(0)
        .mount(&s.graph)
        .await;
    let (st, resp) = s.h.post(SIGNUP, &admin, &body()).await;
    assert_eq!(st, StatusCode::CONFLICT, "{resp}");

    // Without the app's id the route is not configured: 503, nothing spent.
    let s = setup(Backend::Local, None).await;
    let admin = s.h.token("acme", Role::Admin);
    let (st, resp) = s.h.post(SIGNUP, &admin, &body()).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{resp}");
    assert_eq!(resp["error"]["code"], "not_configured");
    assert!(s.graph.received_requests().await.unwrap().is_empty());
}

async fn connected(s: &Setup, expires_in: chrono::Duration) -> String {
    let admin = s.h.token("acme", Role::Admin);
    graph_accepts(&s.graph, (s.clock.now() + expires_in).timestamp()).await;
    let (st, account) = s.h.post(SIGNUP, &admin, &body()).await;
    assert_eq!(st, StatusCode::CREATED, "{account}");
    account["id"].as_str().unwrap().to_owned()
}

async fn integration(h: &Harness) -> Value {
    let (_, list) = h
        .get("/v1/integrations", &h.token("acme", Role::Viewer))
        .await;
    list["items"][0].clone()
}

async fn tokens_turn_reauth_required_before_they_expire(backend: Backend) {
    let s = setup(backend, Some(APP_ID)).await;
    let expires_at = s.clock.now() + chrono::Duration::days(30);
    let id = connected(&s, chrono::Duration::days(30)).await;
    let admin = s.h.token("acme", Role::Admin);
    let sync = format!("/v1/integrations/{id}/sync");

    // 30 days left: the daily run keeps it active and reads the new tier.
    s.graph.reset().await;
    debug_token(&s.graph, true, expires_at.timestamp()).await;
    number_health(&s.graph, "TIER_10K").await;
    let run = cron_account_sync::handle(&s.h.app, s.clock.now())
        .await
        .unwrap();
    assert_eq!(run["updated"], 1, "{run}");
    let a = integration(&s.h).await;
    assert_eq!(
        (
            a["status"].as_str(),
            a["health"]["messaging_limit_tier"].as_str()
        ),
        (Some("active"), Some("TIER_10K"))
    );

    // 24 days later 6 days are left: reauth_required before any send fails.
    s.clock.advance(chrono::Duration::days(24));
    let (st, a) = s.h.post(&sync, &admin, &json!({})).await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(a["status"], "reauth_required", "{a}");
    assert!(
        a["status_reason"].as_str().unwrap().contains("expires"),
        "{a}"
    );

    // A revoked token (debug_token says invalid) is reauth_required at once.
    let s = setup(backend, Some(APP_ID)).await;
    let id = connected(&s, chrono::Duration::days(60)).await;
    s.graph.reset().await;
    debug_token(&s.graph, false, 0).await;
    number_health(&s.graph, "TIER_1K").await;
    let (st, a) =
        s.h.post(
            &format!("/v1/integrations/{id}/sync"),
            &s.h.token("acme", Role::Admin),
            &json!({}),
        )
        .await;
    assert_eq!(
        (st, a["status"].as_str()),
        (StatusCode::OK, Some("reauth_required"))
    );

    // Graph refusing the token (190) on the health read: the same.
    let s = setup(backend, Some(APP_ID)).await;
    connected(&s, chrono::Duration::days(60)).await;
    s.graph.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}")))
        .respond_with(graph_error(190, 401))
        .mount(&s.graph)
        .await;
    let run = cron_account_sync::handle(&s.h.app, s.clock.now())
        .await
        .unwrap();
    assert_eq!(run["reauth_required"], 1, "{run}");
    assert_eq!(integration(&s.h).await["status"], "reauth_required");

    // Another org's integration: 404 on the on-demand sync.
    let (st, _) =
        s.h.post(
            &format!("/v1/integrations/{id}/sync"),
            &s.h.token("other", Role::Admin),
            &json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_turn_reauth_required_before_they_expire_sqlite() {
    tokens_turn_reauth_required_before_they_expire(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_turn_reauth_required_before_they_expire_dynamodb() {
    tokens_turn_reauth_required_before_they_expire(Backend::Aws).await;
}

fn account_change(field: &str, value: Value) -> Vec<u8> {
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": WABA_ID, "time": 1_763_800_000, "changes": [{"field": field, "value": value}]}
    ]});
    serde_json::to_vec(&body).unwrap()
}

async fn account_webhooks_update_the_number_at_once(backend: Backend) {
    let s = setup(backend, Some(APP_ID)).await;
    connected(&s, chrono::Duration::days(60)).await;
    let deliver = |field: &str, value: Value| {
        let body = account_change(field, value);
        let h = &s.h;
        async move {
            assert_eq!(h.webhook(&body).await.status(), StatusCode::OK);
            drain(h, QueueName::Inbound).await;
            integration(h).await
        }
    };
    let a = deliver(
        "phone_number_quality_update",
        json!({"display_phone_number": "15550783881", "event": "FLAGGED", "current_limit": "TIER_250"}),
    )
    .await;
    assert_eq!(
        (
            a["health"]["number_status"].as_str(),
            a["health"]["messaging_limit_tier"].as_str(),
            a["health"]["daily_unique_limit"].as_u64(),
            a["health"]["impaired"].as_bool(),
        ),
        (Some("FLAGGED"), Some("TIER_250"), Some(250), Some(true)),
        "{a}"
    );
    let a = deliver(
        "phone_number_quality_update",
        json!({"display_phone_number": "15550783881", "event": "UNFLAGGED", "current_limit": "TIER_1K"}),
    )
    .await;
    assert_eq!(
        (
            a["health"]["number_status"].as_str(),
            a["health"]["impaired"].as_bool()
        ),
        (Some("CONNECTED"), Some(false))
    );
    let a = deliver(
        "phone_number_name_update",
        json!({"display_phone_number": "15550783881", "decision": "APPROVED", "requested_verified_name": "Acme Linen & Co"}),
    )
    .await;
    assert_eq!(
        (
            a["health"]["name_status"].as_str(),
            a["verified_name"].as_str()
        ),
        (Some("APPROVED"), Some("Acme Linen & Co"))
    );
    let a = deliver(
        "account_update",
        json!({"phone_number": "15550783881", "event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}}),
    )
    .await;
    assert_eq!(a["health"]["account_event"], "ACCOUNT_VIOLATION", "{a}");
    assert!(
        a["health"]["restriction"]
            .as_str()
            .unwrap()
            .contains("SCAM")
    );
    assert_eq!(a["health"]["impaired"], true);
    let a = deliver("account_review_update", json!({"decision": "APPROVED"})).await;
    assert_eq!(a["health"]["account_event"], "REVIEW_APPROVED", "{a}");

    // A number of the business account that is not connected here: kept, not applied.
    let body = account_change(
        "phone_number_quality_update",
        json!({"display_phone_number": "15550009999", "event": "FLAGGED", "current_limit": "TIER_250"}),
    );
    assert_eq!(s.h.webhook(&body).await.status(), StatusCode::OK);
    drain(&s.h, QueueName::Inbound).await;
    assert_eq!(
        integration(&s.h).await["health"]["messaging_limit_tier"],
        "TIER_1K"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_webhooks_update_the_number_at_once_sqlite() {
    account_webhooks_update_the_number_at_once(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_webhooks_update_the_number_at_once_dynamodb() {
    account_webhooks_update_the_number_at_once(Backend::Aws).await;
}
