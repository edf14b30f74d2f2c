//! Billing against a wiremock Stripe that checks every request: the signed webhook,
//! the subscription state machine (duplicates, reordering, re-fetching), checkout and
//! portal, plan limits on the paths that accept work, and exactly-once usage reports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::billing::{BillingConfig, Plan, PlanLimits};
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::Role;
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID, TEST_APP_SECRET, TEST_VERIFY_TOKEN};
use switchboard_webhooks::stripe;
use wiremock::matchers::{body_string_contains, header, header_exists, method, path};
use wiremock::{Mock, MockServer, Request as WireRequest, Respond, ResponseTemplate};

use crate::support::{Harness, Options};

const WHSEC: &str = "whsec_switchboard_test_secret";
const API_KEY: &str = "sk_test_switchboard";
const CUSTOMER: &str = "cus_RsT7uVwXyZ0a1b";
const SUB: &str = "sub_1QzX8K2eZvKYlo2C7gk3vQ1b";

/// The subscription as Stripe holds it now (what a re-fetch returns).
#[derive(Clone)]
struct Current(Arc<Mutex<Value>>);

impl Respond for Current {
    fn respond(&self, _: &WireRequest) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(self.0.lock().unwrap().clone())
    }
}

fn subscription(status: &str, price: &str, created: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "id": SUB, "object": "subscription", "customer": CUSTOMER, "status": status, "created": created,
        "cancel_at_period_end": false, "trial_end": null, "metadata": {"org_id": "acme"},
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": price}, "current_period_start": now - 86_400, "current_period_end": now + 29 * 86_400}]}
    })
}

fn billing_config(limits: Option<PlanLimits>) -> BillingConfig {
    let mut cfg = BillingConfig {
        enforce: true,
        ..BillingConfig::default()
    }
    .with_prices(Plan::Starter, &["price_starter"])
    .with_prices(Plan::Professional, &["price_pro"]);
    if let Some(l) = limits {
        cfg.limits.insert(Plan::Starter, l);
    }
    cfg
}

struct Setup {
    h: Harness,
    stripe: MockServer,
    current: Current,
}

async fn setup(with_api_key: bool, limits: Option<PlanLimits>) -> Setup {
    setup_with(with_api_key, limits, Options::default()).await
}

/// The same with harness options (a clock the test moves, a Graph fake).
async fn setup_with(with_api_key: bool, limits: Option<PlanLimits>, mut opts: Options) -> Setup {
    let stripe = MockServer::start().await;
    let current = Current(Arc::new(Mutex::new(subscription(
        "active",
        "price_pro",
        1_763_856_000,
    ))));
    Mock::given(method("GET"))
        .and(path(format!("/v1/subscriptions/{SUB}")))
        .and(header(
            "authorization",
            format!("Bearer {API_KEY}").as_str(),
        ))
        .and(header(
            "stripe-version",
            switchboard_providers::stripe::STRIPE_VERSION,
        ))
        .respond_with(current.clone())
        .mount(&stripe)
        .await;
    let mut secrets = vec![
        (SecretName::WhatsAppAppSecret, TEST_APP_SECRET.to_owned()),
        (
            SecretName::WhatsAppVerifyToken,
            TEST_VERIFY_TOKEN.to_owned(),
        ),
        (SecretName::StripeWebhookSecret, WHSEC.to_owned()),
    ];
    if with_api_key {
        secrets.push((SecretName::StripeApiKey, API_KEY.to_owned()));
    }
    let h = Harness::with(Options {
        secrets,
        stripe_url: Some(stripe.uri()),
        billing: Some(
            opts.billing
                .take()
                .unwrap_or_else(|| billing_config(limits)),
        ),
        workers: false,
        ..opts
    })
    .await;
    Setup { h, stripe, current }
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "object": "event", "api_version": "2025-09-30.clover", "created": created, "livemode": false, "type": kind, "data": {"object": object}})).unwrap()
}

async fn post(
    h: &Harness,
    body: &[u8],
    signature: Option<String>,
    content_type: &str,
) -> (StatusCode, Value) {
    let mut req = h
        .http
        .post(h.url("/webhooks/stripe"))
        .header("content-type", content_type)
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("stripe-signature", sig);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn deliver(h: &Harness, body: &[u8]) -> (StatusCode, Value) {
    // Signed at the app's own "now", which tests may have moved.
    let sig = stripe::sign(
        WHSEC.as_bytes(),
        body,
        h.app.services().clock.now().timestamp(),
    );
    post(h, body, Some(sig), "application/json").await
}

async fn drain_billing(h: &Harness) {
    for outcome in h.drain(QueueName::Billing).await {
        assert!(
            outcome.failures.is_empty(),
            "billing events failed: {outcome:?}"
        );
    }
}

async fn billing(h: &Harness) -> Value {
    let (status, b) = h.get("/v1/billing", &h.token("acme", Role::Viewer)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

fn sub_event(id: &str, kind: &str, created: i64, status: &str) -> Vec<u8> {
    event(
        id,
        kind,
        created,
        subscription(status, "price_pro", 1_763_856_000),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_rules() {
    let s = setup(true, None).await;
    let body = sub_event(
        "evt_sig1",
        "customer.subscription.updated",
        1_763_856_100,
        "active",
    );
    let now = chrono::Utc::now().timestamp();
    let (st, e) = post(&s.h, &body, None, "application/json").await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_signature"))
    );
    let (st, _) = post(
        &s.h,
        &body,
        Some(stripe::sign(b"whsec_other", &body, now)),
        "application/json",
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = post(
        &s.h,
        &body,
        Some(stripe::sign(WHSEC.as_bytes(), &body, now - 301)),
        "application/json",
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "outside the 300 s tolerance");
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    let (st, _) = post(
        &s.h,
        &tampered,
        Some(stripe::sign(WHSEC.as_bytes(), &body, now)),
        "application/json",
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Secret rotation: the old secret's signature beside the new one passes.
    let old = stripe::sign(b"whsec_old_secret", &body, now);
    let new = stripe::sign(WHSEC.as_bytes(), &body, now);
    let both = format!("{},v1={}", old, new.split(",v1=").nth(1).unwrap());
    let (st, ok) = post(&s.h, &body, Some(both), "application/json").await;
    assert_eq!(st, StatusCode::OK, "{ok}");
    // Signed but not JSON, wrong type, the other mode.
    let junk = b"not json".to_vec();
    let (st, _) = post(
        &s.h,
        &junk,
        Some(stripe::sign(WHSEC.as_bytes(), &junk, now)),
        "application/json",
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = post(
        &s.h,
        &body,
        Some(stripe::sign(WHSEC.as_bytes(), &body, now)),
        "text/plain",
    )
    .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let live = serde_json::to_vec(&{
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        v["livemode"] = json!(true);
        v["id"] = json!("evt_live");
        v
    })
    .unwrap();
    let (st, e) = deliver(&s.h, &live).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("livemode_mismatch"))
    );
    // API Gateway's base64 bodies are decoded before verifying.
    let sig = stripe::sign(WHSEC.as_bytes(), &body, now);
    let lambda_event = json!({
        "version": "2.0", "routeKey": "POST /webhooks/stripe", "rawPath": "/webhooks/stripe", "rawQueryString": "",
        "headers": {"content-type": "application/json", "stripe-signature": sig},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/stripe", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "Stripe/1.0"}, "requestId": "r1", "routeKey": "POST /webhooks/stripe", "stage": "$default", "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d", "time": "t", "timeEpoch": 0},
        "body": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &body), "isBase64Encoded": true
    });
    let req = lambda_http::request::from_str(&lambda_event.to_string()).unwrap();
    let resp =
        webhook_stripe::handle(&s.h.app, switchboard_runtime::lambda::from_lambda(req)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(
        v["duplicate"], true,
        "the same event id as the rotation test: acknowledged, not stored twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_stripe_webhook_is_503() {
    let h = Harness::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let body = sub_event("evt_x", "customer.subscription.updated", 1, "active");
    let (st, e) = deliver(&h, &body).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_configured"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_machine_with_refetch_and_duplicates() {
    let s = setup(true, None).await;
    // Checkout completes: the org is linked to the customer; the subscription is fetched.
    let session = json!({"id": "cs_1", "object": "checkout.session", "mode": "subscription", "client_reference_id": "acme", "customer": CUSTOMER, "subscription": SUB, "metadata": {"org_id": "acme"}});
    let body = event(
        "evt_checkout",
        "checkout.session.completed",
        1_763_856_000,
        session,
    );
    assert_eq!(deliver(&s.h, &body).await.0, StatusCode::OK);
    let (_, dup) = deliver(&s.h, &body).await;
    assert_eq!(dup["duplicate"], true);
    drain_billing(&s.h).await;
    let b = billing(&s.h).await;
    assert_eq!(
        (
            b["plan"].as_str(),
            b["status"].as_str(),
            b["sending"]["allowed"].as_bool()
        ),
        (Some("professional"), Some("active"), Some(true))
    );
    assert!(b["current_period"]["end"].is_string());

    // A payment fails: Stripe now says past_due; sending continues within the grace period.
    *s.current.0.lock().unwrap() = subscription("past_due", "price_pro", 1_763_856_000);
    deliver(
        &s.h,
        &event(
            "evt_fail",
            "invoice.payment_failed",
            1_763_900_000,
            json!({"id": "in_2", "object": "invoice", "customer": CUSTOMER, "subscription": SUB}),
        ),
    )
    .await;
    drain_billing(&s.h).await;
    let b = billing(&s.h).await;
    assert_eq!(
        (b["status"].as_str(), b["sending"]["allowed"].as_bool()),
        (Some("past_due"), Some(true))
    );
    assert!(b["past_due_since"].is_string());

    // Paid: active again. Then a late payment_failed of the earlier invoice arrives: the
    // re-fetch shows Stripe's current state (active), so nothing regresses.
    *s.current.0.lock().unwrap() = subscription("active", "price_pro", 1_763_856_000);
    deliver(
        &s.h,
        &event(
            "evt_paid",
            "invoice.paid",
            1_763_950_000,
            json!({"id": "in_3", "object": "invoice", "customer": CUSTOMER, "subscription": SUB}),
        ),
    )
    .await;
    deliver(
        &s.h,
        &event(
            "evt_fail_late",
            "invoice.payment_failed",
            1_763_940_000,
            json!({"id": "in_2", "object": "invoice", "customer": CUSTOMER, "subscription": SUB}),
        ),
    )
    .await;
    drain_billing(&s.h).await;
    let b = billing(&s.h).await;
    assert_eq!(
        (b["status"].as_str(), b["past_due_since"].as_str()),
        (Some("active"), None)
    );

    // Trial notice and upcoming invoice are recorded; an unknown type is ignored.
    deliver(
        &s.h,
        &sub_event(
            "evt_trial",
            "customer.subscription.trial_will_end",
            1_763_960_000,
            "active",
        ),
    )
    .await;
    deliver(&s.h, &event("evt_up", "invoice.upcoming", 1_763_960_001, json!({"object": "invoice", "customer": CUSTOMER, "subscription": SUB, "amount_due": 4900, "currency": "usd"}))).await;
    deliver(
        &s.h,
        &event(
            "evt_other",
            "charge.refunded",
            1_763_960_002,
            json!({"object": "charge", "customer": CUSTOMER}),
        ),
    )
    .await;
    drain_billing(&s.h).await;

    // Deleted: canceled; the send path refuses with 402.
    *s.current.0.lock().unwrap() = subscription("canceled", "price_pro", 1_763_856_000);
    deliver(
        &s.h,
        &sub_event(
            "evt_del",
            "customer.subscription.deleted",
            1_764_000_000,
            "canceled",
        ),
    )
    .await;
    drain_billing(&s.h).await;
    let b = billing(&s.h).await;
    assert_eq!(
        (
            b["status"].as_str(),
            b["sending"]["allowed"].as_bool(),
            b["sending"]["code"].as_str()
        ),
        (Some("canceled"), Some(false), Some("subscription_inactive"))
    );
    let (st, e) = s.h.post("/v1/integrations/whatsapp/connect", &s.h.token("acme", Role::Admin), &json!({"phone_number_id": PHONE_NUMBER_ID, "waba_id": fixtures::WABA_ID, "access_token": "EAAG"})).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("subscription_inactive"))
    );
    // Paused and resumed re-fetch too.
    *s.current.0.lock().unwrap() = subscription("paused", "price_pro", 1_763_856_000);
    deliver(
        &s.h,
        &sub_event(
            "evt_pause",
            "customer.subscription.paused",
            1_764_000_100,
            "paused",
        ),
    )
    .await;
    drain_billing(&s.h).await;
    assert_eq!(billing(&s.h).await["status"], "paused");
    *s.current.0.lock().unwrap() = subscription("active", "price_pro", 1_763_856_000);
    deliver(
        &s.h,
        &sub_event(
            "evt_resume",
            "customer.subscription.resumed",
            1_764_000_200,
            "active",
        ),
    )
    .await;
    drain_billing(&s.h).await;
    assert_eq!(billing(&s.h).await["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_events_without_refetch_never_apply_older_state() {
    // No API key: the consumer relies on event snapshots and their `created` times.
    let s = setup(false, None).await;
    // updated (newer) before created (older).
    deliver(
        &s.h,
        &sub_event("evt_u", "customer.subscription.updated", 2_000, "active"),
    )
    .await;
    deliver(
        &s.h,
        &sub_event(
            "evt_c",
            "customer.subscription.created",
            1_000,
            "incomplete",
        ),
    )
    .await;
    drain_billing(&s.h).await;
    assert_eq!(
        billing(&s.h).await["status"],
        "active",
        "the older `created` did not win"
    );
    // deleted (newer) before updated (older).
    deliver(
        &s.h,
        &sub_event("evt_d", "customer.subscription.deleted", 4_000, "canceled"),
    )
    .await;
    deliver(
        &s.h,
        &sub_event("evt_u2", "customer.subscription.updated", 3_000, "active"),
    )
    .await;
    drain_billing(&s.h).await;
    assert_eq!(
        billing(&s.h).await["status"],
        "canceled",
        "the older `updated` did not revive it"
    );
    // The same event again changes nothing.
    let (_, dup) = deliver(
        &s.h,
        &sub_event("evt_u2", "customer.subscription.updated", 3_000, "active"),
    )
    .await;
    assert_eq!(dup["duplicate"], true);
    drain_billing(&s.h).await;
    assert_eq!(billing(&s.h).await["status"], "canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_and_portal() {
    let s = setup(true, None).await;
    let owner = s.h.token("acme", Role::Owner);
    let (st, e) =
        s.h.post(
            "/v1/billing/portal",
            &owner,
            &json!({"return_url": "https://app.example/billing"}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_customer"))
    );
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .and(header(
            "authorization",
            format!("Bearer {API_KEY}").as_str(),
        ))
        .and(header(
            "stripe-version",
            switchboard_providers::stripe::STRIPE_VERSION,
        ))
        .and(header("idempotency-key", "switchboard-customer-acme"))
        .and(body_string_contains("metadata%5Borg_id%5D=acme"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": CUSTOMER, "object": "customer"})),
        )
        .expect(1)
        .mount(&s.stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .and(header_exists("idempotency-key"))
        .and(body_string_contains("mode=subscription"))
        .and(body_string_contains(format!("customer={CUSTOMER}")))
        .and(body_string_contains(
            "line_items%5B0%5D%5Bprice%5D=price_pro",
        ))
        .and(body_string_contains("client_reference_id=acme"))
        .and(body_string_contains(
            "subscription_data%5Bmetadata%5D%5Borg_id%5D=acme",
        ))
        .and(body_string_contains(
            "success_url=https%3A%2F%2Fapp.example%2Fok",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"id": "cs_1", "url": "https://checkout.stripe.com/c/pay/cs_1"}),
            ),
        )
        .expect(2)
        .mount(&s.stripe)
        .await;
    let body = json!({"plan": "professional", "success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"});
    let (st, r) = s.h.post("/v1/billing/checkout", &owner, &body).await;
    assert_eq!(
        (st, r["url"].as_str()),
        (
            StatusCode::CREATED,
            Some("https://checkout.stripe.com/c/pay/cs_1")
        )
    );
    let (st, _) = s.h.post("/v1/billing/checkout", &owner, &body).await;
    assert_eq!(
        st,
        StatusCode::CREATED,
        "the customer is reused (created once)"
    );
    let (st, _) =
        s.h.post(
            "/v1/billing/checkout",
            &s.h.token("acme", Role::Admin),
            &body,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for (bad, field) in [
        (
            json!({"plan": "gold", "success_url": "https://a", "cancel_url": "https://b"}),
            "plan",
        ),
        (
            json!({"plan": "enterprise", "success_url": "https://a", "cancel_url": "https://b"}),
            "plan",
        ),
        (
            json!({"plan": "starter", "success_url": "http://evil.example", "cancel_url": "https://b"}),
            "success_url",
        ),
        (
            json!({"plan": "starter", "success_url": "https://a"}),
            "cancel_url",
        ),
    ] {
        let (st, e) = s.h.post("/v1/billing/checkout", &owner, &bad).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{bad}"
        );
    }
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .and(header_exists("idempotency-key"))
        .and(body_string_contains(format!("customer={CUSTOMER}")))
        .and(body_string_contains(
            "return_url=https%3A%2F%2Fapp.example%2Fbilling",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "bps_1", "url": "https://billing.stripe.com/p/session/bps_1"}),
        ))
        .expect(1)
        .mount(&s.stripe)
        .await;
    let (st, r) =
        s.h.post(
            "/v1/billing/portal",
            &owner,
            &json!({"return_url": "https://app.example/billing"}),
        )
        .await;
    assert_eq!(
        (st, r["url"].as_str()),
        (
            StatusCode::CREATED,
            Some("https://billing.stripe.com/p/session/bps_1")
        )
    );
    s.stripe.verify().await;
}

async fn subscribe(s: &Setup, price: &str) {
    *s.current.0.lock().unwrap() = subscription("active", price, 1_763_856_000);
    let session = json!({"id": "cs_1", "object": "checkout.session", "client_reference_id": "acme", "customer": CUSTOMER, "subscription": SUB});
    deliver(
        &s.h,
        &event(
            "evt_co",
            "checkout.session.completed",
            1_763_856_000,
            session,
        ),
    )
    .await;
    drain_billing(&s.h).await;
}

/// A connected number and an open conversation (messages to it are free-form).
async fn conversation(s: &Setup) -> String {
    s.h.connect("acme", PHONE_NUMBER_ID).await;
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.b1",
        s.h.app.services().clock.now().timestamp(),
        "hi",
    )]);
    s.h.webhook(&body).await;
    s.h.drain(QueueName::Inbound).await;
    let (_, list) =
        s.h.get("/v1/conversations", &s.h.token("acme", Role::Viewer))
            .await;
    list["items"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_limits_on_the_send_and_connect_paths() {
    let s = setup(
        true,
        Some(PlanLimits {
            messages_per_month: Some(2),
            connected_numbers: Some(1),
            seats: Some(1),
            ai_replies_per_month: None,
        }),
    )
    .await;
    // No subscription: nothing is accepted.
    let (st, e) = s.h.post("/v1/integrations/whatsapp/connect", &s.h.token("acme", Role::Admin), &json!({"phone_number_id": PHONE_NUMBER_ID, "waba_id": fixtures::WABA_ID, "access_token": "EAAG"})).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("subscription_inactive"))
    );
    subscribe(&s, "price_starter").await;
    let conv = conversation(&s).await;
    let (st, e) = s.h.post("/v1/integrations/whatsapp/connect", &s.h.token("acme", Role::Admin), &json!({"phone_number_id": "106540352242999", "waba_id": fixtures::WABA_ID, "access_token": "EAAG"})).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("plan_limit_reached")),
        "one number on Starter"
    );

    let path = format!("/v1/conversations/{conv}/messages");
    let body = json!({"type": "text", "text": {"body": "hello"}});
    let agent = s.h.token("acme", Role::Agent);
    for _ in 0..2 {
        let (st, m) = s.h.post(&path, &agent, &body).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{m}");
    }
    let (st, e) = s.h.post(&path, &agent, &body).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("plan_limit_reached"))
    );
    assert!(e["error"]["message"].as_str().unwrap().contains("starter"));
    // A second agent is a second seat: over the plan's one seat.
    let other_agent = {
        let claims = switchboard_runtime::auth::dev_claims(
            s.h.app.auth().config(),
            &switchboard_core::ids::OrgId::parse("acme").unwrap(),
            Role::Agent,
            "agent-2",
            chrono::Utc::now().timestamp(),
            Duration::from_secs(600),
        );
        s.h.app.auth().dev_key().unwrap().sign(&claims).unwrap()
    };
    let (st, e) = s.h.post(&path, &other_agent, &body).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("plan_limit_reached"))
    );
    assert!(e["error"]["message"].as_str().unwrap().contains("agents"));
    let b = billing(&s.h).await;
    assert_eq!(b["usage"]["messages"]["accepted"], 2);
    assert_eq!(b["usage"]["messages"]["limit"], 2);
    assert_eq!(b["usage"]["connected_numbers"]["used"], 1);
    assert_eq!(b["usage"]["seats"], json!({"used": 1, "limit": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_reported_exactly_once() {
    let s = setup(true, None).await;
    subscribe(&s, "price_pro").await;
    let conv = conversation(&s).await;
    let agent = s.h.token("acme", Role::Agent);
    for i in 0..3 {
        let (st, _) =
            s.h.post(
                &format!("/v1/conversations/{conv}/messages"),
                &agent,
                &json!({"type": "text", "text": {"body": format!("m{i}")}}),
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED);
    }
    // Sent through the sandbox (no Graph URL): usage counts sent messages.
    s.h.drain(QueueName::Outbound).await;
    assert_eq!(billing(&s.h).await["usage"]["messages"]["used"], 3);

    // The meter fails once (as after a crash mid-report), then accepts.
    let meter_calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let calls = meter_calls.clone();
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .and(header(
            "authorization",
            format!("Bearer {API_KEY}").as_str(),
        ))
        .respond_with(move |req: &WireRequest| {
            let body = String::from_utf8_lossy(&req.body).into_owned();
            let mut c = calls.lock().unwrap();
            c.push(body);
            if c.len() == 1 {
                ResponseTemplate::new(500)
                    .insert_header("stripe-should-retry", "false")
                    .set_body_json(json!({"error": {"type": "api_error", "message": "try later"}}))
            } else {
                ResponseTemplate::new(200).set_body_json(
                    json!({"object": "billing.meter_event", "event_name": "whatsapp_messages"}),
                )
            }
        })
        .mount(&s.stripe)
        .await;
    let first = cron_usage_report::handle(&s.h.app, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(first["failures"], 1);
    let second = cron_usage_report::handle(&s.h.app, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (second["events"].as_i64(), second["messages"].as_i64()),
        (Some(1), Some(3))
    );
    let third = cron_usage_report::handle(&s.h.app, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(third["events"], 0, "nothing new to report");
    {
        let calls = meter_calls.lock().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0], calls[1],
            "the retry re-sends the same identifier and value"
        );
        assert!(calls[0].contains(&format!("payload%5Bstripe_customer_id%5D={CUSTOMER}")));
        assert!(calls[0].contains("payload%5Bvalue%5D=3"));
        assert!(calls[0].contains("event_name=whatsapp_messages"));
        assert!(calls[0].contains("identifier=sb-acme-"));
    }
    // More usage: only the new part, under a new identifier.
    let (st, _) =
        s.h.post(
            &format!("/v1/conversations/{conv}/messages"),
            &agent,
            &json!({"type": "text", "text": {"body": "m3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    s.h.drain(QueueName::Outbound).await;
    let fourth = cron_usage_report::handle(&s.h.app, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(fourth["messages"], 1);
    let calls = meter_calls.lock().unwrap();
    assert!(calls[2].contains("payload%5Bvalue%5D=1"));
    assert_ne!(
        calls[2].split("identifier=").nth(1),
        calls[1].split("identifier=").nth(1)
    );
}

/// Stripe's idempotency rules for meter events: a key seen before with other parameters
/// is refused with `idempotency_error`; with the same parameters it answers what the
/// first request got. `lose_first` loses the answer of the first request Stripe
/// executed (a timeout after Stripe recorded it), so the caller must retry.
#[derive(Clone, Default)]
struct StrictMeter {
    seen: Arc<Mutex<Vec<(String, String)>>>,
    accepted: Arc<Mutex<Vec<String>>>,
    lose_first: Arc<Mutex<bool>>,
}

impl StrictMeter {
    fn param(body: &str, name: &str) -> Option<String> {
        url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// (identifier, value, timestamp) of every event Stripe counted, in order.
    fn events(&self) -> Vec<(String, i64, i64)> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    Self::param(b, "identifier").unwrap(),
                    Self::param(b, "payload[value]").unwrap().parse().unwrap(),
                    Self::param(b, "timestamp").unwrap().parse().unwrap(),
                )
            })
            .collect()
    }
}

impl Respond for StrictMeter {
    fn respond(&self, req: &WireRequest) -> ResponseTemplate {
        let key = req
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = String::from_utf8_lossy(&req.body).into_owned();
        let mut seen = self.seen.lock().unwrap();
        if let Some((_, first)) = seen.iter().find(|(k, _)| k == &key) {
            if first != &body {
                return ResponseTemplate::new(400).set_body_json(json!({"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}}));
            }
        } else {
            seen.push((key, body.clone()));
            self.accepted.lock().unwrap().push(body);
            let mut lose = self.lose_first.lock().unwrap();
            if *lose {
                *lose = false;
                return ResponseTemplate::new(500)
                    .insert_header("stripe-should-retry", "false")
                    .set_body_json(
                        json!({"error": {"type": "api_error", "message": "the answer was lost"}}),
                    );
            }
        }
        ResponseTemplate::new(200).set_body_json(
            json!({"object": "billing.meter_event", "event_name": "whatsapp_messages"}),
        )
    }
}

/// A setup on a clock the test moves, with `meter` standing in for Stripe's meter
/// events endpoint.
async fn metered(meter: &StrictMeter) -> (Setup, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let s = setup_with(
        true,
        None,
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .respond_with(meter.clone())
        .mount(&s.stripe)
        .await;
    (s, clock)
}

/// A subscription whose current period is `[start, end)`.
fn subscription_between(price: &str, start: i64, end: i64) -> Value {
    json!({
        "id": SUB, "object": "subscription", "customer": CUSTOMER, "status": "active", "created": 1_763_856_000,
        "cancel_at_period_end": false, "trial_end": null, "metadata": {"org_id": "acme"},
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": price}, "current_period_start": start, "current_period_end": end}]}
    })
}

async fn send_text(s: &Setup, conv: &str, text: &str) -> (StatusCode, Value) {
    s.h.post(
        &format!("/v1/conversations/{conv}/messages"),
        &s.h.token("acme", Role::Agent),
        &json!({"type": "text", "text": {"body": text}}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_at_the_renewal_boundary_is_billed_to_its_own_period() {
    let meter = StrictMeter::default();
    let (s, clock) = metered(&meter).await;
    let t0 = clock.now().timestamp();
    let (p0, p1, p2) = (t0 - 29 * 86_400, t0 + 3600, t0 + 3600 + 30 * 86_400);
    *s.current.0.lock().unwrap() = subscription_between("price_pro", p0, p1);
    subscribe_current(&s).await;
    let conv = conversation(&s).await;
    for i in 0..2 {
        assert_eq!(
            send_text(&s, &conv, &format!("p0-{i}")).await.0,
            StatusCode::ACCEPTED
        );
    }
    s.h.drain(QueueName::Outbound).await;

    // Two hours on: the period ended an hour ago, Stripe's renewal event has not arrived.
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        send_text(&s, &conv, "in the gap").await.0,
        StatusCode::ACCEPTED
    );
    s.h.drain(QueueName::Outbound).await;
    let b = billing(&s.h).await;
    assert_eq!(
        b["usage_period_start"].as_str(),
        Some(
            switchboard_core::clock::fmt_time(chrono::DateTime::from_timestamp(p1, 0).unwrap())
                .as_str()
        ),
        "usage after the period's end belongs to the next period: {b}"
    );
    assert_eq!(b["usage"]["messages"]["used"], 1, "{b}");
    let report = cron_usage_report::handle(&s.h.app, clock.now())
        .await
        .unwrap();
    assert_eq!(
        (report["messages"].as_i64(), report["failures"].as_i64()),
        (Some(3), Some(0)),
        "{report}"
    );
    let events = meter.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let (_, value, ts) = &events[0];
    assert_eq!(
        (*value, *ts),
        (2, p1 - 1),
        "the first period's usage is timed inside it"
    );
    let (_, value, ts) = &events[1];
    assert_eq!((*value, *ts), (1, clock.now().timestamp()));

    // The renewal arrives; the gap's usage stays where it was counted, and more usage
    // of the new period is reported once.
    *s.current.0.lock().unwrap() = subscription_between("price_pro", p1, p2);
    deliver(
        &s.h,
        &event(
            "evt_renewed",
            "customer.subscription.updated",
            clock.now().timestamp(),
            subscription_between("price_pro", p1, p2),
        ),
    )
    .await;
    drain_billing(&s.h).await;
    clock.advance(chrono::Duration::hours(1));
    assert_eq!(
        send_text(&s, &conv, "after the renewal").await.0,
        StatusCode::ACCEPTED
    );
    s.h.drain(QueueName::Outbound).await;
    assert_eq!(billing(&s.h).await["usage"]["messages"]["used"], 2);
    let report = cron_usage_report::handle(&s.h.app, clock.now())
        .await
        .unwrap();
    assert_eq!(report["messages"], 1, "{report}");
    let total: i64 = meter.events().iter().map(|(_, v, _)| v).sum();
    assert_eq!(total, 4, "every sent message billed once");
}

/// Links the customer and applies Stripe's current subscription (`s.current`).
async fn subscribe_current(s: &Setup) {
    let session = json!({"id": "cs_1", "object": "checkout.session", "client_reference_id": "acme", "customer": CUSTOMER, "subscription": SUB});
    let created = s.h.app.services().clock.now().timestamp();
    deliver(
        &s.h,
        &event("evt_co", "checkout.session.completed", created, session),
    )
    .await;
    drain_billing(&s.h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_usage_report_resends_exactly_the_same_request() {
    let meter = StrictMeter::default();
    *meter.lose_first.lock().unwrap() = true;
    let (s, clock) = metered(&meter).await;
    let t0 = clock.now().timestamp();
    *s.current.0.lock().unwrap() = subscription_between("price_pro", t0 - 86_400, t0 + 20 * 86_400);
    subscribe_current(&s).await;
    let conv = conversation(&s).await;
    for i in 0..3 {
        assert_eq!(
            send_text(&s, &conv, &format!("m{i}")).await.0,
            StatusCode::ACCEPTED
        );
    }
    s.h.drain(QueueName::Outbound).await;
    // Stripe records the event but the answer is lost; the next run is an hour later.
    let first = cron_usage_report::handle(&s.h.app, clock.now())
        .await
        .unwrap();
    assert_eq!(first["failures"], 1);
    clock.advance(chrono::Duration::hours(1));
    let second = cron_usage_report::handle(&s.h.app, clock.now())
        .await
        .unwrap();
    assert_eq!(
        (second["failures"].as_i64(), second["messages"].as_i64()),
        (Some(0), Some(3)),
        "the retry is the same request, which Stripe answers: {second}"
    );
    let third = cron_usage_report::handle(&s.h.app, clock.now())
        .await
        .unwrap();
    assert_eq!(third["events"], 0);
    let events = meter.events();
    assert_eq!(events.len(), 1, "Stripe counted the usage once: {events:?}");
    assert_eq!((events[0].1, events[0].2), (3, t0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_are_given_back_only_when_taken_and_never_below_zero() {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"display_phone_number": "+1 555-078-3881"})),
        )
        .mount(&graph)
        .await;
    // Every send fails for good (an undeliverable recipient).
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"message": "undeliverable", "code": 131026}})),
        )
        .mount(&graph)
        .await;
    let limits = PlanLimits {
        messages_per_month: Some(2),
        connected_numbers: Some(1),
        seats: Some(5),
        ai_replies_per_month: None,
    };
    let s = setup_with(
        true,
        None,
        Options {
            graph_url: Some(format!("{}/v23.0", graph.uri())),
            billing: Some(
                billing_config(Some(limits)).with_prices(Plan::Enterprise, &["price_ent"]),
            ),
            // Every send goes to one customer: no pair-rate pacing in the way.
            delivery: Some(switchboard_core::usecases::outbound::DeliveryConfig {
                pair: switchboard_core::usecases::pacing::Rate::every(1, 100),
                ..Default::default()
            }),
            ..Options::default()
        },
    )
    .await;
    // Enterprise: no message limit, so nothing is reserved — and nothing given back.
    subscribe(&s, "price_ent").await;
    let conv = conversation(&s).await;
    for i in 0..3 {
        assert_eq!(
            send_text(&s, &conv, &format!("e{i}")).await.0,
            StatusCode::ACCEPTED
        );
    }
    s.h.drain(QueueName::Outbound).await;
    let b = billing(&s.h).await;
    assert_eq!(b["usage"]["messages"]["accepted"], 0, "{b}");

    // Down to Starter (2 per period): both fit, the third does not.
    *s.current.0.lock().unwrap() = subscription("active", "price_starter", 1_763_856_000);
    deliver(
        &s.h,
        &sub_event(
            "evt_down",
            "customer.subscription.updated",
            s.h.app.services().clock.now().timestamp() + 5,
            "active",
        ),
    )
    .await;
    drain_billing(&s.h).await;
    assert_eq!(billing(&s.h).await["plan"], "starter");
    for i in 0..2 {
        let (st, m) = send_text(&s, &conv, &format!("s{i}")).await;
        assert_eq!(
            st,
            StatusCode::ACCEPTED,
            "a failed unlimited send must not read as used: {m}"
        );
    }
    let (st, e) = send_text(&s, &conv, "third").await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("plan_limit_reached"))
    );
    // Both fail for good: their reservations come back, exactly once each.
    s.h.drain(QueueName::Outbound).await;
    assert_eq!(billing(&s.h).await["usage"]["messages"]["accepted"], 0);
    let (st, _) = send_text(&s, &conv, "room again").await;
    assert_eq!(st, StatusCode::ACCEPTED);
    // A redelivered failure gives nothing back twice.
    s.h.drain(QueueName::Outbound).await;
    assert_eq!(billing(&s.h).await["usage"]["messages"]["accepted"], 0);
}

/// A customer message in the test conversation (`conversation` opened it).
async fn customer_says(s: &Setup, wamid: &str, text: &str) {
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        wamid,
        s.h.app.services().clock.now().timestamp(),
        text,
    )]);
    assert_eq!(s.h.webhook(&body).await.status(), StatusCode::OK);
    s.h.drain(QueueName::Inbound).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_replies_count_against_their_own_limit_and_meter() {
    use switchboard_testkit::llm::{Behaviour, FakeLlm};
    let llm = FakeLlm::start().await;
    llm.on_any_model(Behaviour::reply("Hello from the bakery"));
    let s = setup_with(
        true,
        Some(PlanLimits {
            messages_per_month: Some(100),
            connected_numbers: Some(1),
            seats: Some(5),
            ai_replies_per_month: Some(1),
        }),
        Options {
            llm_url: Some(llm.url()),
            ..Options::default()
        },
    )
    .await;
    subscribe(&s, "price_starter").await;
    let admin = s.h.token("acme", Role::Admin);
    let ai = |mode: &str| json!({"enabled": true, "mode": mode, "analysis": false, "model": {"provider": "custom", "name": "small"}, "fallback_model": null});
    let (st, v) = s.h.put_json("/v1/ai/settings", &admin, &ai("auto")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The customer's first message: one auto-reply, sent and counted.
    let conv = conversation(&s).await;
    s.h.drain(QueueName::Ai).await;
    s.h.drain(QueueName::Outbound).await;
    let usage = billing(&s.h).await["usage"].clone();
    assert_eq!(usage["ai_replies"]["used"], 1, "{usage}");
    assert_eq!(usage["ai_replies"]["limit"], 1);
    assert_eq!(usage["messages"]["used"], 1, "an AI reply is a message too");

    // The limit is reached: the next auto-reply is not sent, and says why.
    customer_says(&s, "wamid.b2", "and tomorrow?").await;
    s.h.drain(QueueName::Ai).await;
    let agent = s.h.token("acme", Role::Agent);
    let (_, list) =
        s.h.get(&format!("/v1/conversations/{conv}/suggestions"), &agent)
            .await;
    assert_eq!(list["items"][0]["status"], "failed", "{list}");
    assert_eq!(list["items"][0]["reason"], "plan_limit_reached");

    // A draft accepted at the limit: 402, and the draft stays a draft.
    s.h.put_json("/v1/ai/settings", &admin, &ai("draft")).await;
    customer_says(&s, "wamid.b3", "hello?").await;
    s.h.drain(QueueName::Ai).await;
    let (_, list) =
        s.h.get(&format!("/v1/conversations/{conv}/suggestions"), &agent)
            .await;
    let draft = |list: &Value, sid: Option<&str>| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| {
                sid.is_none_or(|id| x["id"] == id) && (sid.is_some() || x["status"] == "draft")
            })
            .cloned()
            .unwrap_or_else(|| panic!("{list}"))
    };
    let sid = draft(&list, None)["id"].as_str().unwrap().to_owned();
    let (st, e) =
        s.h.post(
            &format!("/v1/conversations/{conv}/suggestions/{sid}/accept"),
            &agent,
            &json!({}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("plan_limit_reached"))
    );
    let (_, list) =
        s.h.get(&format!("/v1/conversations/{conv}/suggestions"), &agent)
            .await;
    assert_eq!(draft(&list, Some(&sid))["status"], "draft");
    assert_eq!(
        billing(&s.h).await["usage"]["ai_replies"]["accepted"],
        1,
        "the refusal took nothing"
    );

    // The usage report: the messages meter and the AI replies' own meter.
    let meter_calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let calls = meter_calls.clone();
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .respond_with(move |req: &WireRequest| {
            calls
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&req.body).into_owned());
            ResponseTemplate::new(200).set_body_json(json!({"object": "billing.meter_event"}))
        })
        .mount(&s.stripe)
        .await;
    let report = cron_usage_report::handle(&s.h.app, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(report["events"], 2, "{report}");
    let calls = meter_calls.lock().unwrap().clone();
    let ai_call = calls
        .iter()
        .find(|c| c.contains("event_name=ai_replies"))
        .unwrap_or_else(|| panic!("no AI meter event in {calls:?}"));
    assert!(ai_call.contains("payload%5Bvalue%5D=1"), "{ai_call}");
    assert!(ai_call.contains("identifier=sb-ai-acme-"), "{ai_call}");
    assert!(
        calls
            .iter()
            .any(|c| c.contains("event_name=whatsapp_messages"))
    );
}
