//! No personal data in logs: drives the end-to-end flows — connect a number, inbound
//! messages, replies (sent, failed, retried), statuses, mark-read, media, Stripe billing,
//! usage reports, refused input — with every log line captured at debug level in the
//! production JSON format, then fails if any line holds a customer's full phone number,
//! a provider token or secret, a bearer token, or message text from the fixtures.
//!
//! Its own test binary: the capturing subscriber is process-global.

#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID, TEST_APP_SECRET, TEST_VERIFY_TOKEN};
use tracing_subscriber::layer::SubscriberExt;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::{Harness, Options};

const CUSTOMER: &str = "16505551234";
const OTHER_CUSTOMER: &str = "447700900123";
const ACCESS_TOKEN: &str = "EAAGm0PX4ZCpsBAKZAuUwBhG9Tn3fQZDZD";
const STRIPE_SECRET: &str = "whsec_logscan_9f8e7d6c5b4a";
const STRIPE_KEY: &str = "sk_test_logscan_51HxYzAbCdEf";
const PSEUDONYM_KEY: &str = "logscan-pseudonym-key-do-not-print";
const INBOUND_TEXT: &str = "My booking reference is QX7-PLUM-4471";
const OUTBOUND_TEXT: &str = "Your table for four is confirmed at 19:30";
const CAPTION: &str = "Photo of the scratched parcel";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn capture() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        // Debug for everything Switchboard runs; the test's own fakes (wiremock, which
        // logs the requests it receives) are not Switchboard's logs.
        let filter = tracing_subscriber::EnvFilter::new("debug,wiremock=off");
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(switchboard_runtime::telemetry::json_layer(logs.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        logs
    })
    .clone()
}

/// Fails with every log line that holds one of `forbidden` (what it is, the text).
fn assert_no_leaks(text: &str, forbidden: &[(&str, &str)]) {
    let leaks: Vec<String> = text
        .lines()
        .flat_map(|line| {
            forbidden
                .iter()
                .filter(|(_, needle)| line.contains(needle))
                .map(move |(what, _)| format!("{what}: {line}"))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{} lines with personal data or secrets:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

fn stripe_event(id: &str, kind: &str, created: i64, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "object": "event", "api_version": "2025-09-30.clover", "created": created, "livemode": false, "type": kind, "data": {"object": object}})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_phone_numbers_tokens_secrets_or_message_text() {
    let logs = capture();
    let graph = MockServer::start().await;
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"display_phone_number": "+1 555-078-3881", "verified_name": "Acme"}),
        ))
        .mount(&graph)
        .await;
    // First send: Graph is down (retried); then accepted; a second recipient's send is
    // refused for good with Meta's details, which quote the recipient.
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"error": {"message": "Service temporarily unavailable", "code": 131000}}),
        ))
        .up_to_n_times(1)
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp", "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}], "messages": [{"id": "wamid.logscan1"}]})))
        .up_to_n_times(1)
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "Message undeliverable", "code": 131026, "error_data": {"details": format!("Message failed to send because {OTHER_CUSTOMER} is not on WhatsApp")}}})))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages/mark_read")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v23.0/media-1$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"url": format!("{}/download/media-1", graph.uri()), "mime_type": "image/jpeg", "file_size": 4})))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/download/media-1"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"jpeg".to_vec()))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/subscriptions/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "sub_logscan", "object": "subscription", "customer": "cus_logscan", "status": "active", "created": 1_763_856_000, "metadata": {"org_id": "acme"}, "items": {"data": [{"price": {"id": "price_pro"}, "current_period_start": chrono::Utc::now().timestamp() - 86_400, "current_period_end": chrono::Utc::now().timestamp() + 86_400}]}})))
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"object": "billing.meter_event"})),
        )
        .mount(&stripe)
        .await;

    let h = Harness::with(Options {
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        stripe_url: Some(stripe.uri()),
        workers: false,
        secrets: vec![
            (SecretName::WhatsAppAppSecret, TEST_APP_SECRET.into()),
            (SecretName::WhatsAppVerifyToken, TEST_VERIFY_TOKEN.into()),
            (SecretName::StripeWebhookSecret, STRIPE_SECRET.into()),
            (SecretName::StripeApiKey, STRIPE_KEY.into()),
            (SecretName::PseudonymKey, PSEUDONYM_KEY.into()),
        ],
        billing: Some(
            switchboard_core::billing::BillingConfig::default().with_prices(
                switchboard_core::billing::Plan::Professional,
                &["price_pro"],
            ),
        ),
        delivery: Some(switchboard_core::usecases::outbound::DeliveryConfig {
            pair: switchboard_core::usecases::pacing::Rate::every(1, 100),
            ..Default::default()
        }),
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    let agent = h.token("acme", Role::Agent);

    // Connect (the access token goes to Graph and into the store, encrypted).
    let (st, _) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &admin,
            &json!({"phone_number_id": PHONE_NUMBER_ID, "waba_id": fixtures::WABA_ID, "access_token": ACCESS_TOKEN}),
        )
        .await;
    assert_eq!(st, 201);
    // Meta verifies the URL, then delivers messages from two customers (text, image).
    let verify = h
        .http
        .get(h.url(&format!("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={TEST_VERIFY_TOKEN}&hub.challenge=77")))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);
    let now = chrono::Utc::now().timestamp();
    let body = fixtures::delivery(vec![
        fixtures::text_change(
            PHONE_NUMBER_ID,
            CUSTOMER,
            "Sheena",
            "wamid.in1",
            now,
            INBOUND_TEXT,
        ),
        fixtures::message_change(
            PHONE_NUMBER_ID,
            OTHER_CUSTOMER,
            "wamid.in2",
            now,
            "image",
            json!({"id": "media-1", "mime_type": "image/jpeg", "sha256": "x", "caption": CAPTION}),
        ),
    ]);
    assert_eq!(h.webhook(&body).await.status(), 200);
    // A duplicate, a forged one and a malformed one.
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

    let (_, convs) = h.get("/v1/conversations", &agent).await;
    let items = convs["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let conv_of = |who: &str| {
        items
            .iter()
            .find(|c| c["contact"]["wa_id"] == who || c["wa_id"] == who)
            .and_then(|c| c["id"].as_str())
            .map(str::to_owned)
    };
    let first = conv_of(CUSTOMER).unwrap_or_else(|| items[0]["id"].as_str().unwrap().to_owned());
    let second =
        conv_of(OTHER_CUSTOMER).unwrap_or_else(|| items[1]["id"].as_str().unwrap().to_owned());
    h.get(&format!("/v1/conversations/{first}/messages"), &agent)
        .await;
    h.get("/v1/contacts", &agent).await;

    // Replies: one retried after a 500 then sent; one refused for good.
    let (st, sent) = h
        .post(
            &format!("/v1/conversations/{first}/messages"),
            &agent,
            &json!({"type": "text", "text": {"body": OUTBOUND_TEXT}}),
        )
        .await;
    assert_eq!(st, 202, "{sent}");
    let (st, _) = h
        .post(
            &format!("/v1/conversations/{second}/messages"),
            &agent,
            &json!({"type": "text", "text": {"body": OUTBOUND_TEXT}}),
        )
        .await;
    assert_eq!(st, 202);
    for _ in 0..3 {
        for outcome in h.drain(QueueName::Outbound).await {
            for f in &outcome.failures {
                let _ = f;
            }
        }
        // Retries wait on the queue; make them due now.
        let q = &h.app.services().queue;
        for m in q
            .receive(
                QueueName::Outbound,
                10,
                std::time::Duration::ZERO,
                std::time::Duration::from_millis(50),
            )
            .await
            .unwrap()
        {
            let _ = q
                .retry_later(QueueName::Outbound, &m.receipt, std::time::Duration::ZERO)
                .await;
        }
    }
    // Meta's statuses for the sent reply.
    let status = fixtures::delivery(vec![fixtures::status_change(
        PHONE_NUMBER_ID,
        "wamid.logscan1",
        "delivered",
        CUSTOMER,
        now + 5,
        json!([]),
    )]);
    assert_eq!(h.webhook(&status).await.status(), 200);
    h.drain(QueueName::Inbound).await;
    // Mark read, and the image through the media proxy.
    h.post(
        &format!("/v1/conversations/{first}/read"),
        &agent,
        &json!({}),
    )
    .await;
    let (_, msgs) = h
        .get(&format!("/v1/conversations/{second}/messages"), &agent)
        .await;
    if let Some(image) = msgs["items"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["type"] == "image"))
    {
        let media = h
            .http
            .get(h.url(&format!(
                "/v1/messages/{}/media",
                image["id"].as_str().unwrap()
            )))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(media.status(), 200);
    }
    // Refused input: a bad bearer token.
    let bad = h
        .http
        .get(h.url("/v1/conversations"))
        .bearer_auth("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    // Stripe: checkout completed, then the usage report.
    let event = stripe_event(
        "evt_logscan",
        "checkout.session.completed",
        now,
        json!({"id": "cs_1", "object": "checkout.session", "client_reference_id": "acme", "customer": "cus_logscan", "subscription": "sub_logscan"}),
    );
    let sig = switchboard_webhooks::stripe::sign(STRIPE_SECRET.as_bytes(), &event, now);
    let r = h
        .http
        .post(h.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", sig)
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    h.drain(QueueName::Billing).await;
    cron_usage_report::handle(&h.app, chrono::Utc::now())
        .await
        .unwrap();
    cron_outbound_sweep::handle(&h.app, chrono::Utc::now())
        .await
        .unwrap();
    // The CLI's operator views log too.
    switchboard_cli::commands::dlq_list(&h.app, QueueName::Outbound, 10)
        .await
        .unwrap();
    switchboard_cli::commands::messages_pending(&h.app, std::time::Duration::ZERO, 10)
        .await
        .unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() > 50,
        "the flows were logged: {} lines",
        lines.len()
    );
    assert!(
        lines.iter().any(|l| l.contains("\"correlation_id\"")),
        "lines carry correlation ids"
    );
    let forbidden: Vec<(&str, String)> = vec![
        ("a customer's phone number", CUSTOMER.to_owned()),
        ("a customer's phone number", CUSTOMER[1..].to_owned()),
        ("a customer's phone number", OTHER_CUSTOMER.to_owned()),
        ("a customer's phone number", OTHER_CUSTOMER[2..].to_owned()),
        ("the WhatsApp access token", ACCESS_TOKEN.to_owned()),
        ("the app secret", TEST_APP_SECRET.to_owned()),
        ("the verify token", TEST_VERIFY_TOKEN.to_owned()),
        ("the Stripe webhook secret", STRIPE_SECRET.to_owned()),
        ("the Stripe API key", STRIPE_KEY.to_owned()),
        ("the pseudonym key", PSEUDONYM_KEY.to_owned()),
        ("a bearer token", admin.clone()),
        ("a bearer token", agent.clone()),
        ("a bearer token", "eyJhbGciOiJFUzI1NiJ9".to_owned()),
        ("message text", INBOUND_TEXT.to_owned()),
        ("message text", OUTBOUND_TEXT.to_owned()),
        ("message text", CAPTION.to_owned()),
        ("a customer's name", "Sheena".to_owned()),
    ];
    let needles: Vec<(&str, &str)> = forbidden.iter().map(|(w, n)| (*w, n.as_str())).collect();
    assert_no_leaks(&text, &needles);
    // Every line is one JSON object.
    for line in &lines {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
}

const KAPSO_KEY: &str = "kapso-logscan-key-5b1e0c";
const KAPSO_SECRET: &str = "kapso-logscan-webhook-secret";
const PAGE_TOKEN: &str = "EAAGlogscanPageToken77";
const BUSINESS_TOKEN: &str = "EAAGlogscanBusinessToken88";
const META_APP_SECRET: &str = "logscan-meta-app-secret";
const SIGNUP_CODE: &str = "AQDlogscanSignupCode";
const PSID: &str = "6873012345678901";
const PAGE: &str = "104512345678901";
const KAPSO_NUMBER: &str = "106540352242999";
const SIGNUP_NUMBER: &str = "106540352242998";
const MESSENGER_TEXT: &str = "Please deliver to Veldstraat 12";
const KAPSO_TEXT: &str = "Is the linen shirt back in stock?";

/// Kapso, Messenger and embedded signup: their keys, tokens, codes, the people's ids and
/// words never reach a log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_logs_hold_no_keys_tokens_ids_or_text() {
    let logs = capture();
    let graph = MockServer::start().await;
    let kapso = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/kapso/{KAPSO_NUMBER}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"display_phone_number": "+1 555-078-3999"})),
        )
        .mount(&kapso)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/kapso/{KAPSO_NUMBER}/messages")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"messages": [{"id": "wamid.logscan-kapso"}]})),
        )
        .mount(&kapso)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PAGE}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": PAGE, "name": "Acme Linen"})),
        )
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PAGE}/messages")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": format!("No matching user found for {PSID}"), "code": 551}})))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v23.0/oauth/access_token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": BUSINESS_TOKEN})),
        )
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v23.0/debug_token"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/v23.0/{}/subscribed_apps",
            fixtures::WABA_ID
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{SIGNUP_NUMBER}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"display_phone_number": "+1 555-078-3998", "quality_rating": "GREEN"}),
        ))
        .mount(&graph)
        .await;
    let h = Harness::with(Options {
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        kapso_url: Some(format!("{}/kapso", kapso.uri())),
        meta_app_id: Some("1234567890".into()),
        workers: false,
        secrets: vec![
            (SecretName::WhatsAppAppSecret, TEST_APP_SECRET.into()),
            (SecretName::WhatsAppVerifyToken, TEST_VERIFY_TOKEN.into()),
            (SecretName::KapsoWebhookSecret, KAPSO_SECRET.into()),
            (SecretName::MetaAppSecret, META_APP_SECRET.into()),
            (SecretName::PseudonymKey, PSEUDONYM_KEY.into()),
        ],
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    let agent = h.token("acme", Role::Agent);
    let (st, _) = h
        .post(
            "/v1/integrations/kapso/connect",
            &admin,
            &json!({"phone_number_id": KAPSO_NUMBER, "api_key": KAPSO_KEY}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = h
        .post(
            "/v1/integrations/messenger/connect",
            &admin,
            &json!({"page_id": PAGE, "access_token": PAGE_TOKEN}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = h
        .post(
            "/v1/integrations/whatsapp/embedded-signup",
            &admin,
            &json!({"code": SIGNUP_CODE, "waba_id": fixtures::WABA_ID, "phone_number_id": SIGNUP_NUMBER}),
        )
        .await;
    assert_eq!(st, 201);

    // A customer writes through Kapso; the agent answers.
    let ts = chrono::Utc::now().timestamp();
    let body = fixtures::delivery(vec![fixtures::text_change(
        KAPSO_NUMBER,
        CUSTOMER,
        "Sheena",
        "wamid.logscan-k1",
        ts,
        KAPSO_TEXT,
    )]);
    let r = h
        .http
        .post(h.url("/webhooks/kapso"))
        .header("content-type", "application/json")
        .header(
            "x-kapso-signature",
            switchboard_webhooks::kapso::sign(KAPSO_SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A person writes on Messenger; the reply is refused by Meta, quoting the person.
    let page_body = serde_json::to_vec(&json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": chrono::Utc::now().timestamp_millis(),
         "message": {"mid": "m_logscan1", "text": MESSENGER_TEXT}}
    ]}]}))
    .unwrap();
    let r = h
        .http
        .post(h.url("/webhooks/meta-messaging"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", fixtures::sign(&page_body))
        .body(page_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    h.drain(QueueName::Inbound).await;
    let (_, list) = h.get("/v1/conversations", &agent).await;
    for conv in list["items"].as_array().unwrap() {
        let (st, _) = h
            .post(
                &format!(
                    "/v1/conversations/{}/messages",
                    conv["id"].as_str().unwrap()
                ),
                &agent,
                &json!({"type": "text", "text": {"body": OUTBOUND_TEXT}}),
            )
            .await;
        assert_eq!(st, 202);
    }
    h.drain(QueueName::Outbound).await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let forbidden: Vec<(&str, &str)> = vec![
        ("the Kapso API key", KAPSO_KEY),
        ("the Kapso webhook secret", KAPSO_SECRET),
        ("the page token", PAGE_TOKEN),
        ("the business token", BUSINESS_TOKEN),
        ("the Meta app secret", META_APP_SECRET),
        ("the signup code", SIGNUP_CODE),
        ("a person's page-scoped id", PSID),
        ("a customer's phone number", CUSTOMER),
        ("message text", MESSENGER_TEXT),
        ("message text", KAPSO_TEXT),
        ("message text", OUTBOUND_TEXT),
    ];
    assert_no_leaks(&text, &forbidden);
    assert!(
        text.contains("webhook-kapso") && text.contains("webhook-meta-messaging"),
        "the flows were logged"
    );
}

const RESEND_KEY: &str = "re_logscan_7Hq2PzXv";
const RESEND_HOOK_SECRET: &str = "whsec_bG9nc2Nhbi1yZXNlbmQtaG9vaw==";
const GOOD_ADDRESS: &str = "ingrid.logscan@example.org";
const BAD_ADDRESS: &str = "pieter.logscan@example.org";
const APPOINTMENT_TITLE: &str = "Root canal follow-up";
const APPOINTMENT_NOTES: &str = "Bring the X-ray from March";

/// Email: reminder emails sent and refused, a bounce quoting the address, a refused
/// webhook — no address, key, secret, subject or appointment detail reaches a log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_logs_hold_no_addresses_keys_or_bodies() {
    let logs = capture();
    let resend = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/emails/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"id": "re_logscan_1"}],
            "errors": [{"index": 1, "message": format!("Invalid `to` field: {BAD_ADDRESS}")}],
        })))
        .mount(&resend)
        .await;
    Mock::given(method("POST"))
        .and(path("/emails"))
        .respond_with(ResponseTemplate::new(422).set_body_json(
            json!({"name": "validation_error", "message": format!("Invalid `to` field: {BAD_ADDRESS}")}),
        ))
        .mount(&resend)
        .await;
    let start = chrono::Utc::now();
    let clock = Arc::new(switchboard_core::clock::FixedClock::new(start));
    let h = Harness::with(Options {
        workers: false,
        clock: Some(clock.clone()),
        secrets: vec![
            (SecretName::WhatsAppAppSecret, TEST_APP_SECRET.into()),
            (SecretName::PseudonymKey, PSEUDONYM_KEY.into()),
            (SecretName::ResendApiKey, RESEND_KEY.into()),
            (SecretName::ResendWebhookSecret, RESEND_HOOK_SECRET.into()),
        ],
        email: Some(switchboard_runtime::config::EmailConfig {
            provider: switchboard_runtime::config::EmailProvider::Resend,
            fallback: None,
            from_address: "reminders@example.com".into(),
            from_name: None,
            resend_api_url: resend.uri(),
            sendgrid_api_url: "http://127.0.0.1:9".into(),
            app_url: None,
        }),
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    let csv = format!(
        "phone,name,email\n+{CUSTOMER},Ingrid,{GOOD_ADDRESS}\n+{OTHER_CUSTOMER},Pieter,{BAD_ADDRESS}\n"
    );
    let r = h
        .http
        .post(h.url("/v1/contacts/imports"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    h.drain(QueueName::Import).await;
    let (_, contacts) = h.get("/v1/contacts", &admin).await;
    for c in contacts["items"].as_array().unwrap() {
        let (st, _) = h
            .post(
                &format!("/v1/contacts/{}/appointments", c["id"].as_str().unwrap()),
                &admin,
                &json!({"starts_at": (start + chrono::Duration::hours(3)).to_rfc3339(),
                        "timezone": "Europe/Amsterdam", "title": APPOINTMENT_TITLE,
                        "notes": APPOINTMENT_NOTES, "channel": "email", "reminders": ["2h"]}),
            )
            .await;
        assert_eq!(st, 201);
    }
    clock.advance(chrono::Duration::hours(1));
    let t = switchboard_core::usecases::reminders::tick(h.app.services(), &h.app.config().billing)
        .await
        .unwrap();
    assert_eq!(t.sent, 2, "{t:?}");
    h.drain(QueueName::Email).await;
    let (_, emails) = h.get("/v1/emails", &admin).await;
    let statuses: Vec<&str> = emails["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"sent") && statuses.contains(&"failed"),
        "{emails}"
    );
    // A bounce quoting the address, and a delivery with a wrong signature.
    let bounce = serde_json::to_vec(&json!({"type": "email.bounced", "created_at": "2026-03-27T12:00:00.000Z",
        "data": {"email_id": "re_logscan_1", "to": [GOOD_ADDRESS], "created_at": "2026-03-27T12:00:00.000Z",
                 "bounce": {"type": "Permanent", "message": format!("550 5.1.1 <{GOOD_ADDRESS}>: user unknown")}}}))
    .unwrap();
    let ts = switchboard_core::clock::Clock::now(&*clock).timestamp();
    for signature in [
        fixtures::sign_standard(RESEND_HOOK_SECRET, "msg_logscan_1", ts, &bounce),
        "v1,bm90LWEtc2lnbmF0dXJl".to_owned(),
    ] {
        h.http
            .post(h.url("/webhooks/email/resend"))
            .header("content-type", "application/json")
            .header("svix-id", "msg_logscan_1")
            .header("svix-timestamp", ts.to_string())
            .header("svix-signature", signature)
            .body(bounce.clone())
            .send()
            .await
            .unwrap();
    }
    h.drain(QueueName::Email).await;
    let (_, bounced) = h.get("/v1/emails?status=bounced", &admin).await;
    assert_eq!(bounced["items"].as_array().unwrap().len(), 1, "{bounced}");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let forbidden: Vec<(&str, &str)> = vec![
        ("an email address", GOOD_ADDRESS),
        ("an email address", BAD_ADDRESS),
        ("the Resend key", RESEND_KEY),
        ("the Resend webhook secret", RESEND_HOOK_SECRET),
        ("an appointment title", APPOINTMENT_TITLE),
        ("appointment notes", APPOINTMENT_NOTES),
        ("a customer's phone number", CUSTOMER),
    ];
    assert_no_leaks(&text, &forbidden);
    assert!(
        text.contains("i***@example.org"),
        "masked addresses are logged for support"
    );
}

const AI_QUESTION: &str = "Can I still change my order 88213 to oat milk?";
const AI_REPLY: &str = "Of course, we changed your order to oat milk.";
const AI_SYSTEM_PROMPT: &str = "You answer for the Plum Tree cafe in Utrecht.";
const OPENROUTER_KEY: &str = "sk-or-logscan-3b9f1e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_logs_hold_no_prompts_replies_numbers_or_keys() {
    use switchboard_testkit::llm::{Behaviour, FakeLlm};
    let logs = capture();
    let llm = FakeLlm::start().await;
    // The first model refuses, quoting the prompt in its error (as some providers do);
    // the fallback answers.
    llm.on_model(
        "anthropic/claude-3.5-sonnet",
        Behaviour::Raw(
            400,
            json!({"error": {"message": format!("cannot process: {AI_QUESTION} {AI_SYSTEM_PROMPT}")}}),
        ),
    );
    llm.on_any_model(Behaviour::reply(AI_REPLY));
    let h = Harness::with(Options {
        workers: false,
        llm_url: Some(llm.url()),
        secrets: vec![
            (SecretName::WhatsAppAppSecret, TEST_APP_SECRET.into()),
            (SecretName::PseudonymKey, PSEUDONYM_KEY.into()),
            (SecretName::OpenrouterApiKey, OPENROUTER_KEY.into()),
        ],
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let admin = h.token("acme", Role::Admin);
    let (st, v) = h
        .put_json(
            "/v1/ai/settings",
            &admin,
            &json!({"enabled": true, "mode": "auto", "system_prompt": AI_SYSTEM_PROMPT}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "Ingrid",
        "wamid.logscan.ai",
        chrono::Utc::now().timestamp(),
        AI_QUESTION,
    )]);
    assert_eq!(h.webhook(&body).await.status(), 200);
    h.drain(QueueName::Inbound).await;
    h.drain(QueueName::Ai).await;
    h.drain(QueueName::Outbound).await;
    // The reply went out through the fallback; a summary and a translation too.
    let (_, list) = h.get("/v1/conversations", &admin).await;
    let conv = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, suggestions) = h
        .get(&format!("/v1/conversations/{conv}/suggestions"), &admin)
        .await;
    assert_eq!(suggestions["items"][0]["status"], "sent", "{suggestions}");
    let (st, _) = h
        .post(
            &format!("/v1/conversations/{conv}/summary"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(
        llm.requests().len() >= 4,
        "analysis, the refused call, the fallback, the summary"
    );

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let forbidden: Vec<(&str, &str)> = vec![
        ("the customer's question", AI_QUESTION),
        ("the reply", AI_REPLY),
        ("the org's prompt", AI_SYSTEM_PROMPT),
        ("the OpenRouter key", OPENROUTER_KEY),
        ("a customer's phone number", CUSTOMER),
    ];
    assert_no_leaks(&text, &forbidden);
    assert!(
        text.contains("model call failed"),
        "the refusal is logged, by its code"
    );
}

const WEBHOOK_QUERY_TOKEN: &str = "tenant-token-logscan-77aa";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_delivery_logs_hold_no_secrets_urls_numbers_or_text() {
    use switchboard_core::ids::OrgId;
    use switchboard_core::usecases::webhooks_out::{self, delivery};
    let logs = capture();
    let receiver = MockServer::start().await;
    // The first attempt fails, so the retry path logs too.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let h = Harness::with(Options {
        workers: false,
        secrets: vec![
            (SecretName::WhatsAppAppSecret, TEST_APP_SECRET.into()),
            (SecretName::PseudonymKey, PSEUDONYM_KEY.into()),
        ],
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let admin = h.token("acme", Role::Admin);
    let url = format!(
        "{}/hooks/private-path-logscan?token={WEBHOOK_QUERY_TOKEN}",
        receiver.uri()
    );
    let (st, ep) = h
        .post(
            "/v1/webhook-endpoints",
            &admin,
            &json!({"url": url, "events": ["*"]}),
        )
        .await;
    assert_eq!(st, 201, "{ep}");
    let secret = ep["secret"].as_str().unwrap().to_owned();
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "Ingrid",
        "wamid.logscan.webhooks",
        chrono::Utc::now().timestamp(),
        INBOUND_TEXT,
    )]);
    assert_eq!(h.webhook(&body).await.status(), 200);
    h.drain(QueueName::Inbound).await;
    h.drain(QueueName::Webhooks).await;
    // The failed delivery, retried now (manual), and the secret rotated.
    let org = OrgId::parse("acme").unwrap();
    let svc = h.app.services();
    let ep_id = ep["id"].as_str().unwrap();
    let (list, _) = delivery::list(
        svc,
        &org,
        ep_id,
        switchboard_core::page::PageRequest::parse(None, None, "ORG#acme#").unwrap(),
    )
    .await
    .unwrap();
    assert!(!list.is_empty());
    delivery::request_retry(svc, &org, &list[0].id())
        .await
        .unwrap();
    h.drain(QueueName::WebhookRetries).await;
    let (_, rotated) = webhooks_out::rotate_secret(svc, &org, ep_id).await.unwrap();
    let received = receiver.received_requests().await.unwrap();
    assert!(received.len() >= 2, "the receiver heard the events");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("webhook attempt"), "the attempts were logged");
    assert_no_leaks(
        &text,
        &[
            ("signing secret", &secret),
            ("rotated secret", &rotated),
            ("endpoint URL path", "private-path-logscan"),
            ("endpoint URL token", WEBHOOK_QUERY_TOKEN),
            ("customer phone", CUSTOMER),
            ("message text", INBOUND_TEXT),
            ("bearer token", &admin),
        ],
    );
    h.stop().await;
}
