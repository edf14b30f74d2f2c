//! The sample events in `events/<function>/` are real Lambda payloads (API Gateway
//! HTTP API v2 and SQS, in the shapes `sam local generate-event` produces). This test
//! runs each through the Lambda event types and the same adapter code Lambda runs, into
//! the handler, in a fixed order that tells a story, and checks every response.
//!
//! Regenerate them (signatures, event keys, the far-future test token) with
//! `UPDATE_SAMPLE_EVENTS=1 cargo test -p switchboard-cli --test e2e -- --ignored regenerate_sample_events`.
//!
//! The appointment and email samples happen at fixed times of the story ([`PINNED`]): an
//! appointment must start after it is booked, its reminder is due at one moment, and
//! Resend's and SendGrid's signatures hold for five minutes around their timestamp. The
//! replay sets the app's clock to those times for them, and to the real time for the rest.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Value, json};
use switchboard_core::ids::{ContactId, ConversationId, OrgId, PhoneNumberId, Role, WaId};
use switchboard_runtime::auth::{DevKey, dev_claims};
use switchboard_runtime::config::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER};
use switchboard_runtime::lambda;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};

use crate::support::{Harness, Options};

fn events_dir() -> PathBuf {
    switchboard_testkit::workspace_root().join("events")
}

fn key_file() -> PathBuf {
    events_dir().join("test-signing-key.pk8")
}

const ORG: &str = "acme";
const SEND_KEY: &str = "sample-order-1042-update";
const INBOUND_WAMID: &str = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUY3NjdDMjYzMEU0NTNFRDE5RAA=";
const CUSTOMER: &str = "16505551234";
/// The `Idempotency-Key` of the sample import (its id derives from it).
const IMPORT_KEY: &str = "sample-contacts-2026-11";
const IMPORT_CSV: &str = "phone,name,email,tags,status,cf_plan\n+1 650 555 1234,Sheena Nelson,sheena@example.com,vip;linen,customer,gold\n+44 20 7946 0958,Oliver Bennett,,,lead,\n";

fn sample_import_id() -> switchboard_core::ids::ImportId {
    switchboard_core::ids::ImportId::from_uuid(switchboard_core::ids::derived_uuid(&[
        "import",
        ORG,
        &switchboard_webhooks::sha256_hex(&[IMPORT_KEY.as_bytes()]),
    ]))
}

/// What each sample must produce: (function, file, expected status). For SQS samples the
/// status is the number of reported batch item failures.
const EXPECTED: &[(&str, &str, u16)] = &[
    ("api-connect-integration", "connect.json", 201),
    ("api-connect-kapso", "connect.json", 201),
    ("webhook-kapso", "verify.json", 200),
    ("webhook-kapso", "message.json", 200),
    ("webhook-kapso", "bad-signature.json", 401),
    // Without a Graph URL and META_APP_ID the samples' deployment cannot sign up: 503.
    ("api-embedded-signup", "signup.json", 503),
    ("api-connect-messenger", "connect.json", 201),
    // Without a Graph URL the samples' deployment has no templates to read: 503.
    ("api-sync-templates", "sync.json", 503),
    ("api-list-templates", "list.json", 200),
    ("api-create-template", "create.json", 503),
    ("api-delete-template", "delete.json", 503),
    ("api-connect-instagram", "connect.json", 201),
    ("webhook-meta-messaging", "verify.json", 200),
    ("webhook-meta-messaging", "messenger-message.json", 200),
    ("webhook-meta-messaging", "instagram-message.json", 200),
    ("api-sync-integration", "unknown-id.json", 404),
    ("api-update-integration", "unknown-id.json", 404),
    ("cron-account-sync", "scheduled.json", 0),
    // The samples' numbers are connected under fresh ids: a campaign naming another is 422.
    ("api-create-campaign", "unknown-integration.json", 422),
    ("api-list-campaigns", "list.json", 200),
    ("api-get-campaign", "unknown-id.json", 404),
    ("api-campaign-action", "unknown-id.json", 404),
    ("api-list-campaign-recipients", "unknown-id.json", 404),
    // A chunk of a campaign that does not exist is dropped, not retried.
    ("worker-campaigns", "chunk.json", 0),
    ("cron-campaigns", "scheduled.json", 0),
    // The samples' org has two WhatsApp numbers: an upload URL must name one.
    ("api-create-upload", "upload-without-integration.json", 422),
    ("api-complete-upload", "unknown-id.json", 404),
    ("api-create-sequence", "unknown-integration.json", 422),
    ("api-list-sequences", "list.json", 200),
    ("api-get-sequence", "unknown-id.json", 404),
    ("api-enrol-sequence", "unknown-id.json", 404),
    ("api-list-enrolments", "unknown-id.json", 404),
    ("api-remove-enrolment", "unknown-id.json", 404),
    ("cron-sequences", "scheduled.json", 0),
    ("api-list-integrations", "list.json", 200),
    ("webhook-whatsapp", "verify.json", 200),
    ("webhook-whatsapp", "message.json", 200),
    ("webhook-whatsapp", "message-base64.json", 200),
    ("webhook-whatsapp", "status.json", 200),
    ("webhook-whatsapp", "bad-signature.json", 401),
    ("worker-inbound", "message.json", 0),
    ("api-list-conversations", "list.json", 200),
    ("api-get-conversation", "get.json", 200),
    ("api-list-messages", "list.json", 200),
    ("api-list-contacts", "list.json", 200),
    ("api-get-contact", "get.json", 200),
    ("api-update-contact", "update.json", 200),
    ("api-list-contacts", "filtered.json", 200),
    ("api-create-note", "create.json", 201),
    ("api-list-notes", "list.json", 200),
    ("api-delete-note", "unknown-id.json", 404),
    ("api-opt-out-settings", "put.json", 200),
    ("api-opt-out-settings", "get.json", 200),
    ("api-list-users", "list.json", 200),
    ("api-send-message", "send-template.json", 202),
    ("api-send-message", "send-text-outside-window.json", 422),
    ("worker-outbound", "send.json", 0),
    ("api-mark-read", "read.json", 200),
    ("api-update-conversation", "update.json", 200),
    ("api-list-conversations", "filtered.json", 200),
    ("cron-snooze-sweep", "scheduled.json", 0),
    ("api-create-quick-reply", "create.json", 201),
    ("api-list-quick-replies", "list.json", 200),
    ("api-update-quick-reply", "unknown-id.json", 404),
    ("api-delete-quick-reply", "unknown-id.json", 404),
    ("api-get-media", "not-media.json", 404),
    // The samples' org has two WhatsApp numbers (Meta and Kapso): the upload must name one.
    ("api-upload-media", "upload-without-integration.json", 422),
    ("webhook-stripe", "subscription-updated.json", 200),
    ("webhook-stripe", "bad-signature.json", 401),
    ("worker-billing", "subscription-updated.json", 0),
    ("api-get-billing", "get.json", 200),
    ("api-create-checkout", "checkout.json", 201),
    ("api-create-portal", "portal.json", 201),
    ("cron-usage-report", "scheduled.json", 0),
    ("cron-outbound-sweep", "scheduled.json", 0),
    ("api-disconnect-integration", "unknown-id.json", 404),
    ("api-list-audit", "list.json", 200),
    ("api-create-import", "create.json", 202),
    ("worker-import", "chunk.json", 0),
    ("api-get-import", "get.json", 200),
    // Appointments and email, at the story's own times (PINNED): the org's settings, an
    // appointment for the sample customer whose 24h reminder the schedule emails, the
    // providers' delivery events and the email queue's consumer.
    ("api-email-settings", "put.json", 200),
    ("api-email-settings", "get.json", 200),
    ("api-reminder-settings", "put.json", 200),
    ("api-reminder-settings", "get.json", 200),
    ("api-notification-settings", "put.json", 200),
    ("api-notification-settings", "get.json", 200),
    ("api-create-appointment", "create.json", 201),
    ("api-list-appointments", "list.json", 200),
    // Appointment ids are random (UUIDv7): a sample can only name an unknown one.
    ("api-get-appointment", "unknown-id.json", 404),
    ("api-update-appointment", "unknown-id.json", 404),
    ("api-cancel-appointment", "unknown-id.json", 404),
    ("cron-reminders", "scheduled.json", 0),
    ("api-list-emails", "list.json", 200),
    ("webhook-email-resend", "delivered.json", 200),
    ("webhook-email-resend", "bad-signature.json", 401),
    ("webhook-email-sendgrid", "events.json", 200),
    ("webhook-email-sendgrid", "bad-signature.json", 401),
    // A send of an email that does not exist, and events about emails Switchboard did not
    // send (kept as ignored): nothing fails, nothing is retried.
    ("worker-email", "batch.json", 0),
    ("api-delete-email-suppression", "unknown-address.json", 404),
    // AI replies: the samples' deployment has no model key, so AI stays off.
    ("api-ai-settings", "put.json", 200),
    ("api-ai-settings", "get.json", 200),
    ("api-ai-stats", "stats.json", 200),
    ("api-list-suggestions", "list.json", 200),
    ("api-accept-suggestion", "unknown-id.json", 404),
    ("api-reject-suggestion", "unknown-id.json", 404),
    ("api-summarize-conversation", "ai-off.json", 409),
    ("api-translate-message", "ai-off.json", 409),
    ("worker-ai", "job.json", 0),
    // API keys: one made and listed; key ids are random, so roll and revoke name an
    // unknown one.
    ("api-create-api-key", "create.json", 201),
    ("api-list-api-keys", "list.json", 200),
    ("api-roll-api-key", "unknown-id.json", 404),
    ("api-revoke-api-key", "unknown-id.json", 404),
    // Webhooks to tenants: one endpoint made and listed; endpoint and delivery ids are
    // random, so the others name unknown ones; an event of an org without endpoints.
    ("api-create-webhook-endpoint", "create.json", 201),
    ("api-list-webhook-endpoints", "list.json", 200),
    ("api-get-webhook-endpoint", "unknown-id.json", 404),
    ("api-update-webhook-endpoint", "unknown-id.json", 404),
    ("api-delete-webhook-endpoint", "unknown-id.json", 404),
    ("api-rotate-webhook-secret", "unknown-id.json", 404),
    ("api-list-webhook-deliveries", "unknown-id.json", 404),
    ("api-replay-webhook-endpoint", "unknown-id.json", 404),
    ("api-retry-webhook-delivery", "unknown-id.json", 404),
    ("worker-webhooks", "event.json", 0),
    ("worker-webhook-retries", "retry.json", 0),
    // The realtime inbox: a connection refused without a valid token, one made with the
    // subprotocol form; an event pushed (the sample connection is not open on this
    // process: Gone, so its record is dropped, and nothing fails); a late $disconnect.
    ("ws-connect", "bad-token.json", 401),
    ("ws-connect", "connect.json", 200),
    ("worker-realtime", "event.json", 0),
    ("ws-disconnect", "disconnect.json", 200),
    // Last: the sample customer is exported, then erased (a short history: 204).
    ("api-export-contact", "export.json", 200),
    ("api-erase-contact", "erase.json", 204),
    ("api-get-erasure", "get.json", 200),
    ("cron-erasure", "scheduled.json", 0),
];

/// The Kapso webhook secret the samples are signed with (test-only, documented).
const KAPSO_TEST_SECRET: &str = "switchboard-kapso-test-secret";
/// The number the samples connect through Kapso.
const KAPSO_PHONE_NUMBER_ID: &str = "106540352242999";

/// The Stripe endpoint secret the samples are signed with (test-only, documented).
const STRIPE_TEST_SECRET: &str = "whsec_switchboard_test_secret";
/// The signing time of the Stripe sample (replays need `STRIPE_WEBHOOK_TOLERANCE_SECS`).
const STRIPE_SIGNED_AT: i64 = 1_763_856_100;
const STRIPE_EVENT: &str =
    include_str!("../../../shared/webhooks/fixtures/stripe_subscription_updated.json");

/// The Resend webhook secret the samples are signed with (test-only, documented).
const RESEND_TEST_SECRET: &str = "whsec_c3dpdGNoYm9hcmQtcmVzZW5kLXNhbXBsZS1zZWNyZXQ=";
/// The Resend sample's `svix-id` (its event key).
const RESEND_EVENT_ID: &str = "msg_2pXqYmBmZ0VXnTvqMHzO1HiBd3k";
/// The SendGrid sample's events (`sg_event_id`).
const SENDGRID_EVENT_IDS: [&str; 2] = [
    "ZGVsaXZlcmVkLTAtMjQ5NjY2MTYtQUJD",
    "b3Blbi0xLTI0OTY2NjE2LUFCQw",
];
/// Emails no record is stored under: the delivery samples are about them.
const RESEND_EMAIL: &str = "em_00000000000000000000000000000000";
const SENDGRID_EMAIL: &str = "em_00000000000000000000000000000001";

/// The verification key of the SendGrid samples. SendGrid signs with ECDSA P-256, so the
/// samples are signed with a throwaway pair made when they are regenerated; only its
/// public half is kept, here, for the replay (test-only).
fn sendgrid_key_file() -> PathBuf {
    events_dir().join("sendgrid-test-public-key.txt")
}

/// 2026-11-24 09:00 UTC: the org sets up email and reminders and books an appointment
/// (starting 2026-11-25 15:00 Amsterdam time, reminders 24 h and 1 h before).
const APPOINTMENTS_AT: i64 = 1_795_510_800;
/// 14:05: the reminder schedule runs; the appointment's 24 h reminder is due.
const REMINDERS_RUN_AT: i64 = 1_795_529_100;
/// 14:10: the email providers' deliveries are signed and handled.
const EMAIL_EVENTS_AT: i64 = 1_795_529_400;

/// The app's clock while a function's samples run (Unix seconds); the real time for
/// functions not listed.
const PINNED: &[(&str, i64)] = &[
    ("api-email-settings", APPOINTMENTS_AT),
    ("api-reminder-settings", APPOINTMENTS_AT),
    ("api-notification-settings", APPOINTMENTS_AT),
    ("api-create-appointment", APPOINTMENTS_AT),
    ("api-list-appointments", APPOINTMENTS_AT),
    ("api-get-appointment", APPOINTMENTS_AT),
    ("api-update-appointment", APPOINTMENTS_AT),
    ("api-cancel-appointment", APPOINTMENTS_AT),
    ("cron-reminders", REMINDERS_RUN_AT),
    ("api-list-emails", REMINDERS_RUN_AT),
    ("webhook-email-resend", EMAIL_EVENTS_AT),
    ("webhook-email-sendgrid", EMAIL_EVENTS_AT),
    ("worker-email", EMAIL_EVENTS_AT),
    ("api-delete-email-suppression", EMAIL_EVENTS_AT),
];

fn message_body() -> Vec<u8> {
    fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "Sheena Nelson",
        INBOUND_WAMID,
        1_763_800_000,
        "Hi! Do you still have the blue linen shirt in size M?",
    )])
}

/// An API Gateway HTTP API (v2) request.
#[derive(Default)]
struct Api<'a> {
    method: &'a str,
    route: &'a str,
    path: &'a str,
    query: &'a str,
    params: Value,
    headers: Value,
    body: Option<String>,
    base64: bool,
}

impl Api<'_> {
    fn event(self) -> Value {
        let mut headers = if self.headers.is_object() {
            self.headers
        } else {
            json!({})
        };
        headers["host"] = json!("abc123.execute-api.us-east-1.amazonaws.com");
        headers["user-agent"] = json!("sample-event");
        let (method, route, path) = (self.method, self.route, self.path);
        json!({
            "version": "2.0",
            "routeKey": format!("{method} {route}"),
            "rawPath": path,
            "rawQueryString": self.query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "sample-event"},
                "requestId": format!("sample-{}", path.replace('/', "-")),
                "routeKey": format!("{method} {route}"),
                "stage": "$default",
                "time": "23/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1795514400000i64
            },
            "pathParameters": if self.params.is_object() { self.params } else { json!({}) },
            "body": self.body,
            "isBase64Encoded": self.base64
        })
    }
}

fn sqs_event(body: &str, group: &str) -> Value {
    json!({"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795514400000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1795514400001",
            "MessageGroupId": group,
            "MessageDeduplicationId": "sample",
            "SequenceNumber": "18849496460467696128"
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:switchboard-inbound.fifo",
        "awsRegion": "us-east-1"
    }]})
}

/// An API Gateway WebSocket event (`$connect`/`$disconnect`) of the sample connection.
fn ws_event(route: &str, headers: Value, query: Value) -> Value {
    let connect = route == "$connect";
    json!({
        "headers": headers,
        "queryStringParameters": query,
        "requestContext": {
            "routeKey": route,
            "eventType": if connect { "CONNECT" } else { "DISCONNECT" },
            "extendedRequestId": "Xz2mQFvWIAMFbYw=",
            "requestTime": "23/Nov/2026:10:00:00 +0000",
            "messageDirection": "IN",
            "stage": "prod",
            "connectedAt": 1_795_514_400_000_i64,
            "requestTimeEpoch": if connect { 1_795_514_400_000_i64 } else { 1_795_515_000_000_i64 },
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"},
            "requestId": "Xz2mQGHfIAMF8Mw=",
            "domainName": "abc123defg.execute-api.us-east-1.amazonaws.com",
            "connectionId": "L0SM9cOFvHcCIhw=",
            "apiId": "abc123defg"
        },
        "isBase64Encoded": false
    })
}

fn write(function: &str, file: &str, value: &Value) {
    let dir = events_dir().join(function);
    std::fs::create_dir_all(&dir).unwrap();
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    std::fs::write(dir.join(file), text).unwrap();
}

#[tokio::test]
#[ignore = "writes events/; run with UPDATE_SAMPLE_EVENTS=1"]
async fn regenerate_sample_events() {
    if std::env::var("UPDATE_SAMPLE_EVENTS").is_err() {
        return;
    }
    let key = DevKey::open_or_create(&key_file()).unwrap();
    let auth = AuthConfig {
        issuer: DEV_ISSUER.into(),
        audience: DEV_AUDIENCE.into(),
        jwks_url: None,
        org_claim: "org_id".into(),
        role_claim: "org_role".into(),
        name_claim: "name".into(),
        email_claim: "email".into(),
        dev_key_file: None,
        dev_key_base64: None,
        refuse_test_key: false,
        jwks_max_stale: switchboard_runtime::config::DEFAULT_JWKS_MAX_STALE,
    };
    // Valid until 2099: sample events must keep working; the key is test-only and is
    // trusted only where SWITCHBOARD_DEV_KEY_FILE points at it.
    let claims = dev_claims(
        &auth,
        &OrgId::parse(ORG).unwrap(),
        Role::Owner,
        "sample-user",
        1_763_800_000,
        std::time::Duration::from_secs(2_300_000_000),
    );
    let bearer = json!({"authorization": format!("Bearer {}", key.sign(&claims).unwrap()), "content-type": "application/json"});
    let get = |route: &str, path: &str, params: Value| {
        Api {
            method: "GET",
            route,
            path,
            params,
            headers: bearer.clone(),
            ..Api::default()
        }
        .event()
    };
    let connect = json!({"phone_number_id": PHONE_NUMBER_ID, "waba_id": fixtures::WABA_ID, "access_token": "EAAG-sample-token", "display_phone_number": "+1 555-078-3881"});
    write(
        "api-connect-integration",
        "connect.json",
        &Api {
            method: "POST",
            route: "/v1/integrations/whatsapp/connect",
            path: "/v1/integrations/whatsapp/connect",
            headers: bearer.clone(),
            body: Some(connect.to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-integrations",
        "list.json",
        &get("/v1/integrations", "/v1/integrations", json!({})),
    );
    let unknown = "acc_00000000000000000000000000000000";
    write(
        "api-disconnect-integration",
        "unknown-id.json",
        &Api {
            method: "DELETE",
            route: "/v1/integrations/{id}",
            path: &format!("/v1/integrations/{unknown}"),
            params: json!({"id": unknown}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );

    write(
        "api-connect-kapso",
        "connect.json",
        &Api {
            method: "POST",
            route: "/v1/integrations/kapso/connect",
            path: "/v1/integrations/kapso/connect",
            headers: bearer.clone(),
            body: Some(json!({"phone_number_id": KAPSO_PHONE_NUMBER_ID, "api_key": "kapso-sample-api-key", "display_phone_number": "+1 555-078-3999"}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "webhook-kapso",
        "verify.json",
        &Api {
            method: "GET",
            route: "/webhooks/kapso",
            path: "/webhooks/kapso",
            query: "hub.mode=subscribe&hub.challenge=2291044",
            ..Api::default()
        }
        .event(),
    );
    let kapso_body = fixtures::delivery(vec![fixtures::text_change(
        KAPSO_PHONE_NUMBER_ID,
        "447700900123",
        "Oliver Bennett",
        "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0E5QjdDMjYzMEU0NTNFRDE5RQA=",
        1_763_800_100,
        "Is the linen shirt back in stock?",
    )]);
    let kapso_hook = |sig: String| {
        Api {
            method: "POST",
            route: "/webhooks/kapso",
            path: "/webhooks/kapso",
            headers: json!({"content-type": "application/json", "x-kapso-signature": sig}),
            body: Some(String::from_utf8(kapso_body.clone()).unwrap()),
            ..Api::default()
        }
        .event()
    };
    write(
        "webhook-kapso",
        "message.json",
        &kapso_hook(switchboard_webhooks::kapso::sign(
            KAPSO_TEST_SECRET.as_bytes(),
            &kapso_body,
        )),
    );
    write(
        "webhook-kapso",
        "bad-signature.json",
        &kapso_hook("0".repeat(64)),
    );
    write(
        "api-embedded-signup",
        "signup.json",
        &Api {
            method: "POST",
            route: "/v1/integrations/whatsapp/embedded-signup",
            path: "/v1/integrations/whatsapp/embedded-signup",
            headers: bearer.clone(),
            body: Some(json!({"code": "AQD-sample-signup-code", "waba_id": fixtures::WABA_ID, "phone_number_id": "106540352242998", "pin": "123456"}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    for (function, route, body) in [
        (
            "api-connect-messenger",
            "/v1/integrations/messenger/connect",
            json!({"page_id": "104512345678901", "access_token": "EAAG-sample-page-token"}),
        ),
        (
            "api-connect-instagram",
            "/v1/integrations/instagram/connect",
            json!({"instagram_account_id": "17841400000000001", "access_token": "EAAG-sample-instagram-token"}),
        ),
    ] {
        write(
            function,
            "connect.json",
            &Api {
                method: "POST",
                route,
                path: route,
                headers: bearer.clone(),
                body: Some(body.to_string()),
                ..Api::default()
            }
            .event(),
        );
    }
    write(
        "webhook-meta-messaging",
        "verify.json",
        &Api {
            method: "GET",
            route: "/webhooks/meta-messaging",
            path: "/webhooks/meta-messaging",
            query: &format!(
                "hub.mode=subscribe&hub.verify_token={}&hub.challenge=3309917",
                fixtures::TEST_VERIFY_TOKEN
            ),
            ..Api::default()
        }
        .event(),
    );
    for (file, body) in [
        (
            "messenger-message.json",
            json!({"object": "page", "entry": [{"id": "104512345678901", "time": 1_763_800_200_000_i64, "messaging": [
                {"sender": {"id": "6873012345678901"}, "recipient": {"id": "104512345678901"}, "timestamp": 1_763_800_200_000_i64,
                 "message": {"mid": "m_AbC123sampleMessengerMid", "text": "Do you ship to Ghent?"}}
            ]}]}),
        ),
        (
            "instagram-message.json",
            json!({"object": "instagram", "entry": [{"id": "17841400000000001", "time": 1_763_800_300_000_i64, "messaging": [
                {"sender": {"id": "5612345678901234"}, "recipient": {"id": "17841400000000001"}, "timestamp": 1_763_800_300_000_i64,
                 "message": {"mid": "aWdfZAG1faXRlbToxsampleInstagramMid", "text": "Is the linen shirt back?"}}
            ]}]}),
        ),
    ] {
        let bytes = serde_json::to_vec(&body).unwrap();
        write(
            "webhook-meta-messaging",
            file,
            &Api {
                method: "POST",
                route: "/webhooks/meta-messaging",
                path: "/webhooks/meta-messaging",
                headers: json!({"content-type": "application/json", "x-hub-signature-256": fixtures::sign(&bytes)}),
                body: Some(String::from_utf8(bytes).unwrap()),
                ..Api::default()
            }
            .event(),
        );
    }
    write(
        "api-sync-templates",
        "sync.json",
        &Api {
            method: "POST",
            route: "/v1/templates/sync",
            path: "/v1/templates/sync",
            headers: bearer.clone(),
            body: Some("{}".into()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-upload-media",
        "upload-without-integration.json",
        &Api {
            method: "POST",
            route: "/v1/media",
            path: "/v1/media",
            headers: json!({"authorization": bearer["authorization"], "content-type": "image/png"}),
            body: Some(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                b"\x89PNG\r\n\x1a\nsample-image",
            )),
            base64: true,
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-create-template",
        "create.json",
        &Api {
            method: "POST",
            route: "/v1/templates",
            path: "/v1/templates",
            headers: bearer.clone(),
            body: Some(json!({"name": "order_shipped", "language": "en_US", "category": "UTILITY", "components": [
                {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.", "example": {"body_text": [["Sheena", "#1042"]]}}
            ]}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-delete-template",
        "delete.json",
        &Api {
            method: "DELETE",
            route: "/v1/templates/{name}",
            path: "/v1/templates/order_shipped",
            params: json!({"name": "order_shipped"}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-templates",
        "list.json",
        &get("/v1/templates", "/v1/templates", json!({})),
    );
    let unknown_campaign = "cmp_00000000000000000000000000000000";
    write(
        "api-create-campaign",
        "unknown-integration.json",
        &Api {
            method: "POST",
            route: "/v1/campaigns",
            path: "/v1/campaigns",
            headers: bearer.clone(),
            body: Some(json!({
                "name": "Spring sale",
                "integration_id": unknown,
                "template": {"name": "spring_sale", "language": "en_US", "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "{{contact.name}}"}]}
                ]},
                "audience": {"tags_any": ["vip"]},
                "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/Amsterdam"}
            }).to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-campaigns",
        "list.json",
        &get("/v1/campaigns", "/v1/campaigns", json!({})),
    );
    write(
        "api-get-campaign",
        "unknown-id.json",
        &get(
            "/v1/campaigns/{id}",
            &format!("/v1/campaigns/{unknown_campaign}"),
            json!({"id": unknown_campaign}),
        ),
    );
    write(
        "api-campaign-action",
        "unknown-id.json",
        &Api {
            method: "POST",
            route: "/v1/campaigns/{id}/{action}",
            path: &format!("/v1/campaigns/{unknown_campaign}/start"),
            params: json!({"id": unknown_campaign, "action": "start"}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-campaign-recipients",
        "unknown-id.json",
        &get(
            "/v1/campaigns/{id}/recipients",
            &format!("/v1/campaigns/{unknown_campaign}/recipients"),
            json!({"id": unknown_campaign}),
        ),
    );
    let mut campaign_sqs = sqs_event(
        &json!({"org_id": ORG, "campaign_id": unknown_campaign, "generation": 1, "chunk": 0})
            .to_string(),
        unknown_campaign,
    );
    let record = &mut campaign_sqs["Records"][0];
    record["eventSourceARN"] = json!("arn:aws:sqs:us-east-1:123456789012:switchboard-campaign");
    for fifo_only in ["MessageGroupId", "MessageDeduplicationId", "SequenceNumber"] {
        record["attributes"]
            .as_object_mut()
            .unwrap()
            .remove(fifo_only);
    }
    write("worker-campaigns", "chunk.json", &campaign_sqs);
    write(
        "cron-campaigns",
        "scheduled.json",
        &json!({
            "version": "0",
            "id": "3c8d2b7e-5f1a-4e6b-9d0c-7a2f4e8b1c53",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-23T10:01:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchboard-CronCampaignsCampaignSchedule"],
            "detail": {}
        }),
    );
    write(
        "api-create-upload",
        "upload-without-integration.json",
        &Api {
            method: "POST",
            route: "/v1/media/uploads",
            path: "/v1/media/uploads",
            headers: bearer.clone(),
            body: Some(json!({"content_type": "application/pdf", "size": 48_000_000}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    let unknown_upload = "up_00000000000000000000000000000000";
    write(
        "api-complete-upload",
        "unknown-id.json",
        &Api {
            method: "POST",
            route: "/v1/media/uploads/{id}/complete",
            path: &format!("/v1/media/uploads/{unknown_upload}/complete"),
            params: json!({"id": unknown_upload}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    let unknown_sequence = "seq_00000000000000000000000000000000";
    let some_contact = "ct_00000000000000000000000000000000";
    write(
        "api-create-sequence",
        "unknown-integration.json",
        &Api {
            method: "POST",
            route: "/v1/sequences",
            path: "/v1/sequences",
            headers: bearer.clone(),
            body: Some(
                json!({
                    "name": "Onboarding",
                    "integration_id": unknown,
                    "steps": [
                        {"delay": "0s", "template": {"name": "welcome", "language": "en_US"}},
                        {"delay": "1d", "text": "How is your first day going?"}
                    ],
                    "stop_on_reply": true
                })
                .to_string(),
            ),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-sequences",
        "list.json",
        &get("/v1/sequences", "/v1/sequences", json!({})),
    );
    write(
        "api-get-sequence",
        "unknown-id.json",
        &get(
            "/v1/sequences/{id}",
            &format!("/v1/sequences/{unknown_sequence}"),
            json!({"id": unknown_sequence}),
        ),
    );
    write(
        "api-enrol-sequence",
        "unknown-id.json",
        &Api {
            method: "POST",
            route: "/v1/sequences/{id}/enrolments",
            path: &format!("/v1/sequences/{unknown_sequence}/enrolments"),
            params: json!({"id": unknown_sequence}),
            headers: bearer.clone(),
            body: Some(json!({"contact_ids": [some_contact]}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-enrolments",
        "unknown-id.json",
        &get(
            "/v1/sequences/{id}/enrolments",
            &format!("/v1/sequences/{unknown_sequence}/enrolments"),
            json!({"id": unknown_sequence}),
        ),
    );
    write(
        "api-remove-enrolment",
        "unknown-id.json",
        &Api {
            method: "DELETE",
            route: "/v1/sequences/{id}/enrolments/{contact_id}",
            path: &format!("/v1/sequences/{unknown_sequence}/enrolments/{some_contact}"),
            params: json!({"id": unknown_sequence, "contact_id": some_contact}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "cron-sequences",
        "scheduled.json",
        &json!({
            "version": "0",
            "id": "9e4b1c7a-2d5f-4a8e-b3c6-1f7d9a2e5b84",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-23T10:02:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchboard-CronSequencesSequenceSchedule"],
            "detail": {}
        }),
    );
    write(
        "api-update-integration",
        "unknown-id.json",
        &Api {
            method: "PATCH",
            route: "/v1/integrations/{id}",
            path: &format!("/v1/integrations/{unknown}"),
            params: json!({"id": unknown}),
            headers: bearer.clone(),
            body: Some(json!({"messages_per_second": 250}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-sync-integration",
        "unknown-id.json",
        &Api {
            method: "POST",
            route: "/v1/integrations/{id}/sync",
            path: &format!("/v1/integrations/{unknown}/sync"),
            params: json!({"id": unknown}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );

    let body = message_body();
    let signed = |body: &[u8]| json!({"content-type": "application/json", "x-hub-signature-256": fixtures::sign(body)});
    let hook = |headers: Value, body: String, base64: bool| {
        Api {
            method: "POST",
            route: "/webhooks/whatsapp",
            path: "/webhooks/whatsapp",
            headers,
            body: Some(body),
            base64,
            ..Api::default()
        }
        .event()
    };
    let query = format!(
        "hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
        fixtures::TEST_VERIFY_TOKEN
    );
    write(
        "webhook-whatsapp",
        "verify.json",
        &Api {
            method: "GET",
            route: "/webhooks/whatsapp",
            path: "/webhooks/whatsapp",
            query: &query,
            ..Api::default()
        }
        .event(),
    );
    write(
        "webhook-whatsapp",
        "message.json",
        &hook(
            signed(&body),
            String::from_utf8(body.clone()).unwrap(),
            false,
        ),
    );
    write(
        "webhook-whatsapp",
        "message-base64.json",
        &hook(
            signed(&body),
            base64::engine::general_purpose::STANDARD.encode(&body),
            true,
        ),
    );
    let status = fixtures::delivery(vec![fixtures::status_change(
        PHONE_NUMBER_ID,
        "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCQjk5QjA3QTM4RjE0QjY4QTMA",
        "delivered",
        CUSTOMER,
        1_763_800_100,
        json!([]),
    )]);
    write(
        "webhook-whatsapp",
        "status.json",
        &hook(
            signed(&status),
            String::from_utf8(status.clone()).unwrap(),
            false,
        ),
    );
    let forged = json!({"content-type": "application/json", "x-hub-signature-256": format!("sha256={}", "0".repeat(64))});
    write(
        "webhook-whatsapp",
        "bad-signature.json",
        &hook(forged, String::from_utf8(body.clone()).unwrap(), false),
    );

    let change = switchboard_webhooks::meta::split(&body).unwrap().remove(0);
    let event_ref = json!({"provider": "whatsapp", "event": change.key}).to_string();
    write(
        "worker-inbound",
        "message.json",
        &sqs_event(&event_ref, &format!("wa:{PHONE_NUMBER_ID}:{CUSTOMER}")),
    );

    let org = OrgId::parse(ORG).unwrap();
    let wa = WaId::parse(CUSTOMER).unwrap();
    let conv =
        ConversationId::for_thread(&org, &PhoneNumberId::parse(PHONE_NUMBER_ID).unwrap(), &wa);
    let contact = ContactId::for_wa_id(&org, &wa);
    write(
        "api-list-conversations",
        "list.json",
        &Api {
            method: "GET",
            route: "/v1/conversations",
            path: "/v1/conversations",
            query: "limit=20",
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-get-conversation",
        "get.json",
        &get(
            "/v1/conversations/{id}",
            &format!("/v1/conversations/{conv}"),
            json!({"id": conv.as_str()}),
        ),
    );
    write(
        "api-list-messages",
        "list.json",
        &get(
            "/v1/conversations/{id}/messages",
            &format!("/v1/conversations/{conv}/messages"),
            json!({"id": conv.as_str()}),
        ),
    );
    write(
        "api-list-contacts",
        "list.json",
        &get("/v1/contacts", "/v1/contacts", json!({})),
    );
    write(
        "api-get-contact",
        "get.json",
        &get(
            "/v1/contacts/{id}",
            &format!("/v1/contacts/{contact}"),
            json!({"id": contact.as_str()}),
        ),
    );
    write(
        "api-update-contact",
        "update.json",
        &Api {
            method: "PATCH",
            route: "/v1/contacts/{id}",
            path: &format!("/v1/contacts/{contact}"),
            params: json!({"id": contact.as_str()}),
            headers: bearer.clone(),
            body: Some(
                json!({"email": "sheena@example.com", "tags": ["vip", "linen"], "status": "customer", "score": 80, "custom_fields": {"size": "M"}})
                    .to_string(),
            ),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-contacts",
        "filtered.json",
        &Api {
            method: "GET",
            route: "/v1/contacts",
            path: "/v1/contacts",
            query: "tag=vip&status=customer&q=she",
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    let notes_route = "/v1/contacts/{id}/notes";
    let notes_path = format!("/v1/contacts/{contact}/notes");
    write(
        "api-create-note",
        "create.json",
        &Api {
            method: "POST",
            route: notes_route,
            path: &notes_path,
            params: json!({"id": contact.as_str()}),
            headers: bearer.clone(),
            body: Some(json!({"body": "Prefers linen; asked about size M restock."}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-notes",
        "list.json",
        &get(notes_route, &notes_path, json!({"id": contact.as_str()})),
    );
    let unknown_note = "nt_00000000000000000000000000000000";
    write(
        "api-delete-note",
        "unknown-id.json",
        &Api {
            method: "DELETE",
            route: "/v1/contacts/{id}/notes/{note_id}",
            path: &format!("{notes_path}/{unknown_note}"),
            params: json!({"id": contact.as_str(), "note_id": unknown_note}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-opt-out-settings",
        "put.json",
        &Api {
            method: "PUT",
            route: "/v1/settings/opt-out",
            path: "/v1/settings/opt-out",
            headers: bearer.clone(),
            body: Some(
                json!({"opt_out_keywords": ["STOP", "UNSUBSCRIBE", "STOPP", "AFMELDEN", "PARAR"], "opt_in_keywords": ["START", "EMPEZAR"]})
                    .to_string(),
            ),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-opt-out-settings",
        "get.json",
        &get("/v1/settings/opt-out", "/v1/settings/opt-out", json!({})),
    );
    write(
        "api-list-users",
        "list.json",
        &get("/v1/users", "/v1/users", json!({})),
    );

    let post = |route: &str, path: &str, params: Value, headers: Value, body: Value| {
        Api {
            method: "POST",
            route,
            path,
            params,
            headers,
            body: Some(body.to_string()),
            ..Api::default()
        }
        .event()
    };
    let mut keyed = bearer.clone();
    keyed["idempotency-key"] = json!(SEND_KEY);
    let template = json!({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}, "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1042"}]}]}});
    let route = "/v1/conversations/{id}/messages";
    let path = format!("/v1/conversations/{conv}/messages");
    write(
        "api-send-message",
        "send-template.json",
        &post(route, &path, json!({"id": conv.as_str()}), keyed, template),
    );
    write(
        "api-send-message",
        "send-text-outside-window.json",
        &post(
            route,
            &path,
            json!({"id": conv.as_str()}),
            bearer.clone(),
            json!({"type": "text", "text": {"body": "Hi again!"}}),
        ),
    );
    let message_id =
        switchboard_core::ids::MessageId::from_uuid(switchboard_core::ids::derived_uuid(&[
            "outbound",
            ORG,
            &switchboard_webhooks::sha256_hex(&[SEND_KEY.as_bytes()]),
        ]));
    let outbound_ref = json!({"org_id": ORG, "message_id": message_id}).to_string();
    let mut sqs = sqs_event(&outbound_ref, &format!("acc:{CUSTOMER}"));
    sqs["Records"][0]["eventSourceARN"] =
        json!("arn:aws:sqs:us-east-1:123456789012:switchboard-outbound.fifo");
    write("worker-outbound", "send.json", &sqs);
    write(
        "api-mark-read",
        "read.json",
        &post(
            "/v1/conversations/{id}/read",
            &format!("/v1/conversations/{conv}/read"),
            json!({"id": conv.as_str()}),
            bearer.clone(),
            json!({}),
        ),
    );
    write(
        "api-update-conversation",
        "update.json",
        &Api {
            method: "PATCH",
            route: "/v1/conversations/{id}",
            path: &format!("/v1/conversations/{conv}"),
            params: json!({"id": conv.as_str()}),
            headers: bearer.clone(),
            body: Some(
                json!({"status": "pending", "assignee": "sample-user", "labels": ["vip", "order:1042"], "priority": "high"})
                    .to_string(),
            ),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-conversations",
        "filtered.json",
        &Api {
            method: "GET",
            route: "/v1/conversations",
            path: "/v1/conversations",
            query: "status=pending&assignee=me&label=vip&limit=20",
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "cron-snooze-sweep",
        "scheduled.json",
        &json!({
            "version": "0",
            "id": "3c9e1f27-6a4b-4d8e-9f10-2b7c5d4e6a83",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-23T10:01:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchboard-CronSnoozeSweepEveryMinute"],
            "detail": {}
        }),
    );
    write(
        "api-create-quick-reply",
        "create.json",
        &post(
            "/v1/quick-replies",
            "/v1/quick-replies",
            json!({}),
            bearer.clone(),
            json!({"shortcut": "hours", "body": "We are open 9:00-18:00, Monday to Saturday."}),
        ),
    );
    write(
        "api-list-quick-replies",
        "list.json",
        &get("/v1/quick-replies", "/v1/quick-replies", json!({})),
    );
    let unknown_reply = "qr_00000000000000000000000000000000";
    write(
        "api-update-quick-reply",
        "unknown-id.json",
        &Api {
            method: "PATCH",
            route: "/v1/quick-replies/{id}",
            path: &format!("/v1/quick-replies/{unknown_reply}"),
            params: json!({"id": unknown_reply}),
            headers: bearer.clone(),
            body: Some(json!({"body": "We are open 9:00-19:00."}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-delete-quick-reply",
        "unknown-id.json",
        &Api {
            method: "DELETE",
            route: "/v1/quick-replies/{id}",
            path: &format!("/v1/quick-replies/{unknown_reply}"),
            params: json!({"id": unknown_reply}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    let inbound = switchboard_core::ids::MessageId::for_wamid(&org, INBOUND_WAMID);
    write(
        "api-get-media",
        "not-media.json",
        &get(
            "/v1/messages/{id}/media",
            &format!("/v1/messages/{inbound}/media"),
            json!({"id": inbound.as_str()}),
        ),
    );

    let stripe_body = STRIPE_EVENT.as_bytes().to_vec();
    let stripe_sig = switchboard_webhooks::stripe::sign(
        STRIPE_TEST_SECRET.as_bytes(),
        &stripe_body,
        STRIPE_SIGNED_AT,
    );
    let stripe_hook = |sig: String| {
        Api {
            method: "POST",
            route: "/webhooks/stripe",
            path: "/webhooks/stripe",
            headers: json!({"content-type": "application/json; charset=utf-8", "stripe-signature": sig}),
            body: Some(STRIPE_EVENT.to_owned()),
            ..Api::default()
        }
        .event()
    };
    write(
        "webhook-stripe",
        "subscription-updated.json",
        &stripe_hook(stripe_sig),
    );
    write(
        "webhook-stripe",
        "bad-signature.json",
        &stripe_hook(format!("t={STRIPE_SIGNED_AT},v1={}", "0".repeat(64))),
    );
    let stripe_event = switchboard_webhooks::stripe::Event::parse(&stripe_body).unwrap();
    let billing_ref = json!({"provider": "stripe", "event": stripe_event.id}).to_string();
    let mut billing_sqs = sqs_event(
        &billing_ref,
        &format!("stripe:{}", stripe_event.customer().unwrap()),
    );
    billing_sqs["Records"][0]["eventSourceARN"] =
        json!("arn:aws:sqs:us-east-1:123456789012:switchboard-billing.fifo");
    write("worker-billing", "subscription-updated.json", &billing_sqs);
    write(
        "api-get-billing",
        "get.json",
        &get("/v1/billing", "/v1/billing", json!({})),
    );
    write(
        "api-list-audit",
        "list.json",
        &get("/v1/audit", "/v1/audit", json!({})),
    );
    let mut csv_headers = bearer.clone();
    csv_headers["content-type"] = json!("text/csv");
    csv_headers["idempotency-key"] = json!(IMPORT_KEY);
    write(
        "api-create-import",
        "create.json",
        &Api {
            method: "POST",
            route: "/v1/contacts/imports",
            path: "/v1/contacts/imports",
            headers: csv_headers,
            body: Some(IMPORT_CSV.to_owned()),
            ..Api::default()
        }
        .event(),
    );
    let import = sample_import_id();
    let chunk_ref = json!({"org_id": ORG, "import_id": import, "chunk": 0}).to_string();
    let mut import_sqs = sqs_event(&chunk_ref, import.as_str());
    import_sqs["Records"][0]["eventSourceARN"] =
        json!("arn:aws:sqs:us-east-1:123456789012:switchboard-import.fifo");
    write("worker-import", "chunk.json", &import_sqs);
    write(
        "api-get-import",
        "get.json",
        &get(
            "/v1/contacts/imports/{id}",
            &format!("/v1/contacts/imports/{import}"),
            json!({"id": import.as_str()}),
        ),
    );
    write(
        "api-create-checkout",
        "checkout.json",
        &post(
            "/v1/billing/checkout",
            "/v1/billing/checkout",
            json!({}),
            bearer.clone(),
            json!({"plan": "professional", "success_url": "https://app.example.com/billing/done", "cancel_url": "https://app.example.com/billing"}),
        ),
    );
    write(
        "api-create-portal",
        "portal.json",
        &post(
            "/v1/billing/portal",
            "/v1/billing/portal",
            json!({}),
            bearer.clone(),
            json!({"return_url": "https://app.example.com/billing"}),
        ),
    );
    write(
        "cron-usage-report",
        "scheduled.json",
        &json!({
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-23T10:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchboard-CronUsageReportHourly"],
            "detail": {}
        }),
    );
    // ------------------------------------------------------------ appointments and email
    let customer =
        ContactId::for_wa_id(&OrgId::parse(ORG).unwrap(), &WaId::parse(CUSTOMER).unwrap());
    let put = |route: &str, body: Value| {
        Api {
            method: "PUT",
            route,
            path: route,
            headers: bearer.clone(),
            body: Some(body.to_string()),
            ..Api::default()
        }
        .event()
    };
    write(
        "api-email-settings",
        "put.json",
        &put(
            "/v1/settings/email",
            json!({"from_name": "Acme Linen", "reply_to": "hello@acme.example", "locale": "en", "billing_email": "billing@acme.example"}),
        ),
    );
    write(
        "api-email-settings",
        "get.json",
        &get("/v1/settings/email", "/v1/settings/email", json!({})),
    );
    write(
        "api-reminder-settings",
        "put.json",
        &put(
            "/v1/settings/reminders",
            json!({"template": "appointment_reminder", "language": "en_US", "offsets": ["24h", "1h"], "email": true}),
        ),
    );
    write(
        "api-reminder-settings",
        "get.json",
        &get(
            "/v1/settings/reminders",
            "/v1/settings/reminders",
            json!({}),
        ),
    );
    write(
        "api-notification-settings",
        "put.json",
        &put(
            "/v1/users/me/notifications",
            json!({"assignment_emails": false}),
        ),
    );
    write(
        "api-notification-settings",
        "get.json",
        &get(
            "/v1/users/me/notifications",
            "/v1/users/me/notifications",
            json!({}),
        ),
    );
    write(
        "api-create-appointment",
        "create.json",
        &post(
            "/v1/contacts/{id}/appointments",
            &format!("/v1/contacts/{customer}/appointments"),
            json!({"id": customer.as_str()}),
            bearer.clone(),
            json!({
                "starts_at": "2026-11-25T15:00:00+01:00",
                "timezone": "Europe/Amsterdam",
                "title": "Linen shirt fitting",
                "location": "Acme Linen, Keizersgracht 12, Amsterdam",
                "notes": "Size M; bring the blue one.",
                "channel": "email",
                "reminders": ["24h", "1h"]
            }),
        ),
    );
    write(
        "api-list-appointments",
        "list.json",
        &Api {
            method: "GET",
            route: "/v1/appointments",
            path: "/v1/appointments",
            query: &format!(
                "from=2026-11-24T00:00:00Z&to=2026-11-30T23:59:59Z&contact_id={customer}"
            ),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    let unknown_appointment = "apt_00000000000000000000000000000000";
    let appointment_path = format!("/v1/appointments/{unknown_appointment}");
    write(
        "api-get-appointment",
        "unknown-id.json",
        &get(
            "/v1/appointments/{id}",
            &appointment_path,
            json!({"id": unknown_appointment}),
        ),
    );
    write(
        "api-update-appointment",
        "unknown-id.json",
        &Api {
            method: "PATCH",
            route: "/v1/appointments/{id}",
            path: &appointment_path,
            params: json!({"id": unknown_appointment}),
            headers: bearer.clone(),
            body: Some(
                json!({"starts_at": "2026-11-26T10:30:00+01:00", "reminders": ["1d", "2h"]})
                    .to_string(),
            ),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-cancel-appointment",
        "unknown-id.json",
        &Api {
            method: "DELETE",
            route: "/v1/appointments/{id}",
            path: &appointment_path,
            params: json!({"id": unknown_appointment}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "cron-reminders",
        "scheduled.json",
        &json!({
            "version": "0",
            "id": "5b2e8c41-7d3a-4f9e-a1c6-8e4d2b7f9a13",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-24T14:05:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchboard-CronRemindersReminders"],
            "detail": {}
        }),
    );
    write(
        "api-list-emails",
        "list.json",
        &Api {
            method: "GET",
            route: "/v1/emails",
            path: "/v1/emails",
            query: "status=queued&limit=20",
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    let resend_body = json!({
        "type": "email.delivered",
        "created_at": "2026-11-24T14:09:58.000Z",
        "data": {
            "email_id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
            "from": "Acme Linen <reminders@acme.example>",
            "to": ["sheena@example.com"],
            "subject": "Reminder: Linen shirt fitting",
            "created_at": "2026-11-24T14:05:01.000Z",
            "tags": {"switchboard_email_id": RESEND_EMAIL, "org_id": ORG}
        }
    })
    .to_string();
    let resend_hook = |signature: String| {
        Api {
            method: "POST",
            route: "/webhooks/email/resend",
            path: "/webhooks/email/resend",
            headers: json!({
                "content-type": "application/json",
                "svix-id": RESEND_EVENT_ID,
                "svix-timestamp": EMAIL_EVENTS_AT.to_string(),
                "svix-signature": signature
            }),
            body: Some(resend_body.clone()),
            ..Api::default()
        }
        .event()
    };
    write(
        "webhook-email-resend",
        "delivered.json",
        &resend_hook(fixtures::sign_standard(
            RESEND_TEST_SECRET,
            RESEND_EVENT_ID,
            EMAIL_EVENTS_AT,
            resend_body.as_bytes(),
        )),
    );
    write(
        "webhook-email-resend",
        "bad-signature.json",
        &resend_hook(format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode([0u8; 32])
        )),
    );
    let sendgrid = switchboard_testkit::sendgrid::SendGridSigner::generate();
    std::fs::write(sendgrid_key_file(), sendgrid.public_key_base64() + "\n").unwrap();
    let sg_message_id = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0";
    let sendgrid_body = json!([
        {
            "email": "oliver@example.com",
            "timestamp": EMAIL_EVENTS_AT - 5,
            "event": "delivered",
            "sg_event_id": SENDGRID_EVENT_IDS[0],
            "sg_message_id": sg_message_id,
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "response": "250 OK",
            "switchboard_email_id": SENDGRID_EMAIL,
            "org_id": ORG
        },
        {
            "email": "oliver@example.com",
            "timestamp": EMAIL_EVENTS_AT - 1,
            "event": "open",
            "sg_event_id": SENDGRID_EVENT_IDS[1],
            "sg_message_id": sg_message_id,
            "useragent": "Mozilla/5.0",
            "ip": "203.0.113.7",
            "switchboard_email_id": SENDGRID_EMAIL,
            "org_id": ORG
        }
    ])
    .to_string();
    let sendgrid_hook = |signed: [(&str, String); 2]| {
        let mut headers = json!({"content-type": "application/json"});
        for (name, value) in signed {
            headers[name] = json!(value);
        }
        Api {
            method: "POST",
            route: "/webhooks/email/sendgrid",
            path: "/webhooks/email/sendgrid",
            headers,
            body: Some(sendgrid_body.clone()),
            ..Api::default()
        }
        .event()
    };
    write(
        "webhook-email-sendgrid",
        "events.json",
        &sendgrid_hook(sendgrid.headers(EMAIL_EVENTS_AT, sendgrid_body.as_bytes())),
    );
    // Signed with another key: what a forged delivery looks like.
    write(
        "webhook-email-sendgrid",
        "bad-signature.json",
        &sendgrid_hook(
            switchboard_testkit::sendgrid::SendGridSigner::generate()
                .headers(EMAIL_EVENTS_AT, sendgrid_body.as_bytes()),
        ),
    );
    // One FIFO group per email: the send of an email and the events about it.
    let email_record = |n: u8, body: Value, group: &str, dedupe: &str| {
        let mut r = sqs_event(&body.to_string(), group)["Records"][0].clone();
        r["messageId"] = json!(format!("7c1e52a0-4b8d-4e2f-9a63-0d5f8e2b1c{n:02}"));
        r["attributes"]["MessageDeduplicationId"] = json!(dedupe);
        r["attributes"]["SequenceNumber"] = json!(format!("188494964604676961{n:02}"));
        r["eventSourceARN"] = json!("arn:aws:sqs:us-east-1:123456789012:switchboard-email.fifo");
        r
    };
    let event_ref = |provider: &str, event: &str, path: &str| json!({"provider": provider, "event": event, "correlation_id": format!("sample-{}", path.replace('/', "-"))});
    write(
        "worker-email",
        "batch.json",
        &json!({"Records": [
            email_record(1, json!({"send": RESEND_EMAIL, "org_id": ORG}), &format!("email:{RESEND_EMAIL}"), RESEND_EMAIL),
            email_record(2, event_ref("resend", RESEND_EVENT_ID, "/webhooks/email/resend"), &format!("email:{RESEND_EMAIL}"), RESEND_EVENT_ID),
            email_record(3, event_ref("sendgrid", SENDGRID_EVENT_IDS[0], "/webhooks/email/sendgrid"), &format!("email:{SENDGRID_EMAIL}"), SENDGRID_EVENT_IDS[0]),
            email_record(4, event_ref("sendgrid", SENDGRID_EVENT_IDS[1], "/webhooks/email/sendgrid"), &format!("email:{SENDGRID_EMAIL}"), SENDGRID_EVENT_IDS[1]),
        ]}),
    );
    write(
        "api-delete-email-suppression",
        "unknown-address.json",
        &Api {
            method: "DELETE",
            route: "/v1/email-suppressions/{address}",
            path: "/v1/email-suppressions/ann%40example.org",
            params: json!({"address": "ann%40example.org"}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );

    // ------------------------------------------------------------------ AI replies
    // The samples' deployment has no model key, so the org's AI stays off: the settings
    // are stored and read, the readout and the conversation's (empty) list of suggestions
    // answer, summary and translation say AI is off, and the AI job skips.
    let org = OrgId::parse(ORG).unwrap();
    let sample_conversation = ConversationId::for_thread(
        &org,
        &PhoneNumberId::parse(PHONE_NUMBER_ID).unwrap(),
        &WaId::parse(CUSTOMER).unwrap(),
    );
    let sample_message = switchboard_core::ids::MessageId::for_wamid(&org, INBOUND_WAMID);
    write(
        "api-ai-settings",
        "put.json",
        &put(
            "/v1/ai/settings",
            json!({
                "enabled": false,
                "mode": "draft",
                "system_prompt": "You answer for Acme Linen, a linen shop in Amsterdam. Be brief and friendly.",
                "business_hours": {"timezone": "Europe/Amsterdam", "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:30"}], "auto_reply": "outside"},
                "model": {"provider": "openrouter", "name": "anthropic/claude-3.5-sonnet"},
                "fallback_model": {"provider": "openrouter", "name": "anthropic/claude-3-haiku"},
                "experiment": {"model": {"provider": "xai", "name": "grok-3"}, "weight": 50},
                "caps": {"per_conversation_per_day": 5, "per_org_per_day": 500},
                "categories": ["orders", "returns"]
            }),
        ),
    );
    write(
        "api-ai-settings",
        "get.json",
        &get("/v1/ai/settings", "/v1/ai/settings", json!({})),
    );
    write(
        "api-ai-stats",
        "stats.json",
        &Api {
            method: "GET",
            route: "/v1/ai/stats",
            path: "/v1/ai/stats",
            query: "from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z",
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-list-suggestions",
        "list.json",
        &get(
            "/v1/conversations/{id}/suggestions",
            &format!("/v1/conversations/{sample_conversation}/suggestions"),
            json!({"id": sample_conversation.as_str()}),
        ),
    );
    let unknown_suggestion = "sg_00000000000000000000000000000000";
    for (function, verb, body) in [
        (
            "api-accept-suggestion",
            "accept",
            json!({"text": "Yes, we have it in size M!"}),
        ),
        (
            "api-reject-suggestion",
            "reject",
            json!({"reason": "wrong size"}),
        ),
    ] {
        write(
            function,
            "unknown-id.json",
            &post(
                &format!("/v1/conversations/{{id}}/suggestions/{{sid}}/{verb}"),
                &format!(
                    "/v1/conversations/{sample_conversation}/suggestions/{unknown_suggestion}/{verb}"
                ),
                json!({"id": sample_conversation.as_str(), "sid": unknown_suggestion}),
                bearer.clone(),
                body,
            ),
        );
    }
    write(
        "api-summarize-conversation",
        "ai-off.json",
        &post(
            "/v1/conversations/{id}/summary",
            &format!("/v1/conversations/{sample_conversation}/summary"),
            json!({"id": sample_conversation.as_str()}),
            bearer.clone(),
            json!({}),
        ),
    );
    write(
        "api-translate-message",
        "ai-off.json",
        &post(
            "/v1/messages/{id}/translate",
            &format!("/v1/messages/{sample_message}/translate"),
            json!({"id": sample_message.as_str()}),
            bearer.clone(),
            json!({"to": "nl"}),
        ),
    );
    let mut ai_job = sqs_event(
        &json!({"org_id": ORG, "conversation_id": sample_conversation, "message_id": sample_message}).to_string(),
        sample_conversation.as_str(),
    );
    ai_job["Records"][0]["eventSourceARN"] =
        json!("arn:aws:sqs:us-east-1:123456789012:switchboard-ai.fifo");
    ai_job["Records"][0]["attributes"]["MessageDeduplicationId"] =
        json!(format!("ai-{sample_message}"));
    write("worker-ai", "job.json", &ai_job);

    // ------------------------------------------------------------------ realtime
    let token = bearer["authorization"]
        .as_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_owned();
    let ws_headers = |protocol: Option<String>| {
        let mut h = json!({
            "Host": "abc123defg.execute-api.us-east-1.amazonaws.com",
            "Origin": "https://app.example.com",
            "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13"
        });
        if let Some(p) = protocol {
            h["Sec-WebSocket-Protocol"] = json!(p);
        }
        h
    };
    write(
        "ws-connect",
        "connect.json",
        &ws_event(
            "$connect",
            ws_headers(Some(format!("switchboard.v1, {token}"))),
            json!(null),
        ),
    );
    write(
        "ws-connect",
        "bad-token.json",
        &ws_event(
            "$connect",
            ws_headers(None),
            json!({"token": "not-a-token"}),
        ),
    );
    write(
        "ws-disconnect",
        "disconnect.json",
        &ws_event(
            "$disconnect",
            json!({"Host": "abc123defg.execute-api.us-east-1.amazonaws.com"}),
            json!(null),
        ),
    );
    let org = OrgId::parse(ORG).unwrap();
    let realtime_body = json!({
        "org_id": ORG,
        "event": {
            "id": switchboard_core::usecases::platform_events::event_id(&org, &["message.received", sample_message.as_str()]),
            "type": "message.received",
            "timestamp": "2026-11-23T10:00:00.123Z",
            "data": {"message_id": sample_message, "conversation_id": sample_conversation, "channel": "whatsapp", "kind": "text"}
        }
    });
    let mut realtime_event = sqs_event(&realtime_body.to_string(), &format!("org-{ORG}"));
    realtime_event["Records"][0]["eventSourceARN"] =
        json!("arn:aws:sqs:us-east-1:123456789012:switchboard-realtime.fifo");
    realtime_event["Records"][0]["attributes"]["MessageDeduplicationId"] =
        realtime_body["event"]["id"].clone();
    write("worker-realtime", "event.json", &realtime_event);

    // ------------------------------------------------------------------ API keys
    // Key ids are random: the samples make one and name an unknown one.
    write(
        "api-create-api-key",
        "create.json",
        &post(
            "/v1/api-keys",
            "/v1/api-keys",
            json!({}),
            bearer.clone(),
            json!({"name": "Order sync", "role": "agent", "expires_at": "2027-06-30T00:00:00Z"}),
        ),
    );
    write(
        "api-list-api-keys",
        "list.json",
        &get("/v1/api-keys", "/v1/api-keys", json!({})),
    );
    let unknown_key = "key_00000000000000000000000000000000";
    write(
        "api-roll-api-key",
        "unknown-id.json",
        &post(
            "/v1/api-keys/{id}/roll",
            &format!("/v1/api-keys/{unknown_key}/roll"),
            json!({"id": unknown_key}),
            bearer.clone(),
            json!({"grace_hours": 24}),
        ),
    );
    write(
        "api-revoke-api-key",
        "unknown-id.json",
        &Api {
            method: "DELETE",
            route: "/v1/api-keys/{id}",
            path: &format!("/v1/api-keys/{unknown_key}"),
            params: json!({"id": unknown_key}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );

    // ------------------------------------------------------------------ webhooks to tenants
    write(
        "api-create-webhook-endpoint",
        "create.json",
        &post(
            "/v1/webhook-endpoints",
            "/v1/webhook-endpoints",
            json!({}),
            bearer.clone(),
            json!({"url": "https://hooks.example.com/switchboard", "events": ["message.received", "conversation.updated"], "description": "Order system"}),
        ),
    );
    write(
        "api-list-webhook-endpoints",
        "list.json",
        &get("/v1/webhook-endpoints", "/v1/webhook-endpoints", json!({})),
    );
    let unknown_endpoint = "we_00000000000000000000000000000000";
    write(
        "api-get-webhook-endpoint",
        "unknown-id.json",
        &get(
            "/v1/webhook-endpoints/{id}",
            &format!("/v1/webhook-endpoints/{unknown_endpoint}"),
            json!({"id": unknown_endpoint}),
        ),
    );
    write(
        "api-update-webhook-endpoint",
        "unknown-id.json",
        &Api {
            method: "PATCH",
            route: "/v1/webhook-endpoints/{id}",
            path: &format!("/v1/webhook-endpoints/{unknown_endpoint}"),
            params: json!({"id": unknown_endpoint}),
            headers: bearer.clone(),
            body: Some(json!({"disabled": true}).to_string()),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-delete-webhook-endpoint",
        "unknown-id.json",
        &Api {
            method: "DELETE",
            route: "/v1/webhook-endpoints/{id}",
            path: &format!("/v1/webhook-endpoints/{unknown_endpoint}"),
            params: json!({"id": unknown_endpoint}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-rotate-webhook-secret",
        "unknown-id.json",
        &post(
            "/v1/webhook-endpoints/{id}/rotate-secret",
            &format!("/v1/webhook-endpoints/{unknown_endpoint}/rotate-secret"),
            json!({"id": unknown_endpoint}),
            bearer.clone(),
            json!({}),
        ),
    );
    write(
        "api-list-webhook-deliveries",
        "unknown-id.json",
        &get(
            "/v1/webhook-endpoints/{id}/deliveries",
            &format!("/v1/webhook-endpoints/{unknown_endpoint}/deliveries"),
            json!({"id": unknown_endpoint}),
        ),
    );
    write(
        "api-replay-webhook-endpoint",
        "unknown-id.json",
        &post(
            "/v1/webhook-endpoints/{id}/replay",
            &format!("/v1/webhook-endpoints/{unknown_endpoint}/replay"),
            json!({"id": unknown_endpoint}),
            bearer.clone(),
            json!({"since": "2026-12-01T00:00:00Z"}),
        ),
    );
    let unknown_delivery = format!("dlv_{}{:015}{}", "0".repeat(32), 0, "0".repeat(32));
    write(
        "api-retry-webhook-delivery",
        "unknown-id.json",
        &post(
            "/v1/webhook-deliveries/{id}/retry",
            &format!("/v1/webhook-deliveries/{unknown_delivery}/retry"),
            json!({"id": unknown_delivery}),
            bearer.clone(),
            json!({}),
        ),
    );
    let event_id = switchboard_core::usecases::platform_events::event_id(
        &OrgId::parse(ORG).unwrap(),
        &["message.received", "sample"],
    );
    let mut webhooks_event = sqs_event(
        &json!({"org_id": ORG, "event": {"id": event_id, "type": "message.received", "timestamp": "2026-12-07T10:00:00.000Z", "data": {"message_id": "m_sample", "conversation_id": "c_sample"}}}).to_string(),
        &format!("org-{ORG}"),
    );
    webhooks_event["Records"][0]["eventSourceARN"] =
        json!("arn:aws:sqs:us-east-1:123456789012:switchboard-webhooks.fifo");
    webhooks_event["Records"][0]["attributes"]["MessageDeduplicationId"] = json!(event_id);
    write("worker-webhooks", "event.json", &webhooks_event);
    // A retry of a delivery that has expired: nothing to do, nothing fails.
    let mut retry_event = sqs_event(
        &json!({"kind": "retry", "org_id": ORG, "delivery_id": unknown_delivery, "manual": false})
            .to_string(),
        "",
    );
    let record = &mut retry_event["Records"][0];
    record["eventSourceARN"] =
        json!("arn:aws:sqs:us-east-1:123456789012:switchboard-webhook-retries");
    if let Some(attributes) = record["attributes"].as_object_mut() {
        attributes.remove("MessageGroupId");
        attributes.remove("MessageDeduplicationId");
        attributes.remove("SequenceNumber");
    }
    write("worker-webhook-retries", "retry.json", &retry_event);

    let contact =
        ContactId::for_wa_id(&OrgId::parse(ORG).unwrap(), &WaId::parse(CUSTOMER).unwrap());
    write(
        "api-export-contact",
        "export.json",
        &get(
            "/v1/contacts/{id}/export",
            &format!("/v1/contacts/{contact}/export"),
            json!({"id": contact.as_str()}),
        ),
    );
    write(
        "api-erase-contact",
        "erase.json",
        &Api {
            method: "DELETE",
            route: "/v1/contacts/{id}",
            path: &format!("/v1/contacts/{contact}"),
            params: json!({"id": contact.as_str()}),
            headers: bearer.clone(),
            ..Api::default()
        }
        .event(),
    );
    write(
        "api-get-erasure",
        "get.json",
        &get(
            "/v1/contacts/{id}/erasure",
            &format!("/v1/contacts/{contact}/erasure"),
            json!({"id": contact.as_str()}),
        ),
    );
    write(
        "cron-erasure",
        "scheduled.json",
        &json!({
            "version": "0",
            "id": "7a1f3c52-9d4e-4b8a-8e21-5c6d7f8a9b01",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-23T10:06:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchboard-CronErasureEveryMinute"],
            "detail": {}
        }),
    );
    write(
        "cron-outbound-sweep",
        "scheduled.json",
        &json!({
            "version": "0",
            "id": "0e8d7c61-4b1a-4f53-9a36-2c5f1d8e7b90",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-23T10:05:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchboard-CronOutboundSweepEvery5Minutes"],
            "detail": {}
        }),
    );
    write(
        "cron-account-sync",
        "scheduled.json",
        &json!({
            "version": "0",
            "id": "6a1f0c2e-93d4-4b8e-a7c1-5d2e9f3b8a41",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-23T03:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/switchboard-CronAccountSyncDailySync"],
            "detail": {}
        }),
    );
}

fn sample_files() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for dir in std::fs::read_dir(events_dir()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "json") {
                out.insert((name(&dir), name(&f)));
            }
        }
    }
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_sample_event_has_an_expectation() {
    let files = sample_files();
    let expected: BTreeSet<(String, String)> = EXPECTED
        .iter()
        .map(|(f, n, _)| (f.to_string(), n.to_string()))
        .collect();
    assert_eq!(
        files, expected,
        "events/ and the EXPECTED table must list the same samples"
    );
    let functions: BTreeSet<String> = files.iter().map(|(f, _)| f.clone()).collect();
    for dir in std::fs::read_dir(switchboard_testkit::workspace_root().join("functions")).unwrap() {
        let f = name(&dir.unwrap().path());
        assert!(
            functions.contains(&f),
            "function {f} has no sample event in events/{f}/"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_events_run_through_the_lambda_types_into_the_handlers() {
    // A faked Stripe for the billing samples: the subscription re-fetch, customer,
    // checkout, portal and meter calls.
    let stripe = wiremock::MockServer::start().await;
    let sub: Value = serde_json::from_str::<Value>(STRIPE_EVENT).unwrap()["data"]["object"].clone();
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    for (m, p, body) in [
        ("GET", format!("/v1/subscriptions/{sub_id}"), sub.clone()),
        (
            "POST",
            "/v1/checkout/sessions".to_owned(),
            json!({"id": "cs_1", "url": "https://checkout.stripe.com/c/pay/cs_1"}),
        ),
        (
            "POST",
            "/v1/billing_portal/sessions".to_owned(),
            json!({"id": "bps_1", "url": "https://billing.stripe.com/p/session/bps_1"}),
        ),
        (
            "POST",
            "/v1/billing/meter_events".to_owned(),
            json!({"object": "billing.meter_event"}),
        ),
    ] {
        wiremock::Mock::given(wiremock::matchers::method(m))
            .and(wiremock::matchers::path(p))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(body))
            .mount(&stripe)
            .await;
    }
    let mut billing = switchboard_core::billing::BillingConfig::default().with_prices(
        switchboard_core::billing::Plan::Professional,
        &["price_professional_monthly"],
    );
    // Samples are replays: their signatures are old by design.
    billing.tolerance_secs = i64::MAX / 4;
    // The real time, but for the samples PINNED to the story's times.
    let clock = std::sync::Arc::new(switchboard_core::clock::FixedClock::new(chrono::Utc::now()));
    let sendgrid_key = std::fs::read_to_string(sendgrid_key_file()).unwrap();
    let h = Harness::with(Options {
        serve: false,
        clock: Some(clock.clone()),
        dev_key: Some(key_file()),
        secrets: vec![
            (
                switchboard_core::secrets::SecretName::WhatsAppAppSecret,
                fixtures::TEST_APP_SECRET.into(),
            ),
            (
                switchboard_core::secrets::SecretName::WhatsAppVerifyToken,
                fixtures::TEST_VERIFY_TOKEN.into(),
            ),
            (
                switchboard_core::secrets::SecretName::StripeWebhookSecret,
                STRIPE_TEST_SECRET.into(),
            ),
            (
                switchboard_core::secrets::SecretName::StripeApiKey,
                "sk_test_sample".into(),
            ),
            (
                switchboard_core::secrets::SecretName::KapsoWebhookSecret,
                KAPSO_TEST_SECRET.into(),
            ),
            (
                switchboard_core::secrets::SecretName::ResendWebhookSecret,
                RESEND_TEST_SECRET.into(),
            ),
            (
                switchboard_core::secrets::SecretName::SendgridWebhookPublicKey,
                sendgrid_key.trim().into(),
            ),
        ],
        stripe_url: Some(stripe.uri()),
        billing: Some(billing),
        ..Options::default()
    })
    .await;
    let routes = switchboard_cli::routes::http_routes();
    let consumers = switchboard_cli::routes::consumers();
    let schedules =
        switchboard_cli::routes::schedules(&switchboard_runtime::config::Config::local("unused"));
    for (function, file, expected) in EXPECTED {
        clock.set(match PINNED.iter().find(|(f, _)| f == function) {
            Some((_, at)) => chrono::DateTime::from_timestamp(*at, 0).unwrap(),
            None => chrono::Utc::now(),
        });
        let text = std::fs::read_to_string(events_dir().join(function).join(file)).unwrap();
        if let Some(schedule) = schedules.iter().find(|s| s.function == *function) {
            let event: aws_lambda_events::event::eventbridge::EventBridgeEvent<Value> =
                serde_json::from_str(&text).unwrap();
            let summary = (schedule.handler)(h.app.clone(), event.time.unwrap()).await;
            let summary = summary.unwrap_or_else(|e| panic!("{function}/{file}: {e}"));
            // The usage report and the erasures count failures; the outbound sweep counts
            // sends it handed over, the snooze sweep conversations it reopened, the
            // account sync the numbers it could not read, the sequence schedule the steps
            // it left for the next run.
            let count = summary
                .get("failures")
                .or_else(|| summary.get("deferred"))
                .or_else(|| summary.get("requeued"))
                .or_else(|| summary.get("reopened"))
                .or_else(|| summary.get("failed"))
                .cloned()
                .unwrap_or(Value::Null);
            assert_eq!(count, *expected as i64, "{function}/{file}: {summary}");
            if *function == "cron-reminders" {
                assert_eq!(
                    summary,
                    json!({"sent": 1, "skipped": 0, "missed": 0, "failed": 0, "deferred": 0, "requeued": 0}),
                    "the sample appointment's 24h reminder was emailed"
                );
            }
            continue;
        }
        if let Some(consumer) = consumers.iter().find(|c| c.function == *function) {
            let event: aws_lambda_events::event::sqs::SqsEvent =
                serde_json::from_str(&text).unwrap();
            let batch = lambda::from_sqs(event);
            assert!(!batch.is_empty());
            let outcome = (consumer.handler)(h.app.clone(), batch).await;
            let response = lambda::batch_response(&outcome, &[]);
            if *function == "worker-outbound" {
                let org = OrgId::parse(ORG).unwrap();
                let id = switchboard_core::ids::MessageId::from_uuid(
                    switchboard_core::ids::derived_uuid(&[
                        "outbound",
                        ORG,
                        &switchboard_webhooks::sha256_hex(&[SEND_KEY.as_bytes()]),
                    ]),
                );
                let (pk, sk) = switchboard_core::model::Message::key_of(&org, &id);
                let stored: switchboard_core::model::Message = h
                    .app
                    .services()
                    .store
                    .get(&pk, &sk)
                    .await
                    .unwrap()
                    .unwrap()
                    .decode()
                    .unwrap();
                assert_eq!(
                    stored.status.as_str(),
                    "sent",
                    "the sample send went out (sandbox)"
                );
            }
            assert_eq!(
                response.batch_item_failures.len() as u16,
                *expected,
                "{function}/{file}: {outcome:?}"
            );
            continue;
        }
        if switchboard_cli::routes::WEBSOCKET_FUNCTIONS.contains(function) {
            let event: aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{function}/{file}: {e}"));
            let resp = if *function == ws_connect::FUNCTION {
                ws_connect::handle(&h.app, event).await
            } else {
                ws_disconnect::handle(&h.app, event).await
            };
            assert_eq!(resp.status_code, i64::from(*expected), "{function}/{file}");
            continue;
        }
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{function}/{file}: {e}"));
        let method = request.method().clone();
        let route = routes
            .iter()
            .find(|r| r.function == *function && r.method == method)
            .unwrap_or_else(|| panic!("no route for {function} {method}"));
        let response = (route.handler)(h.app.clone(), lambda::from_lambda(request)).await;
        let status = response.status().as_u16();
        let body = String::from_utf8_lossy(response.body()).into_owned();
        assert_eq!(status, *expected, "{function}/{file}: {body}");
        // The response converts into what API Gateway receives.
        let lambda_resp = lambda::to_lambda(response);
        assert_eq!(lambda_resp.status().as_u16(), status);
        match (*function, *file) {
            ("webhook-whatsapp", "verify.json") => assert_eq!(body, "1158201444"),
            ("api-list-conversations", "filtered.json") => {
                let v: Value = serde_json::from_str(&body).unwrap();
                let c = &v["items"][0];
                assert_eq!(
                    (
                        v["items"].as_array().map(Vec::len),
                        c["status"].as_str(),
                        c["priority"].as_str()
                    ),
                    (Some(1), Some("pending"), Some("high")),
                    "the sample patch put it on these lists: {v}"
                );
            }
            ("api-list-conversations", _) => {
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
                assert_eq!(
                    v["items"][0]["unread_count"], 1,
                    "the base64 copy was a duplicate"
                );
            }
            ("api-list-audit", _) => {
                let v: Value = serde_json::from_str(&body).unwrap();
                let actions: Vec<&str> = v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e["action"].as_str())
                    .collect();
                assert!(
                    actions.contains(&"connect-integration") && actions.contains(&"send-message"),
                    "the samples' changes were audited: {v}"
                );
            }
            ("api-get-import", _) => {
                let v: Value = serde_json::from_str(&body).unwrap();
                // Sheena wrote in earlier (an update); Oliver is new.
                assert_eq!(
                    (
                        v["status"].as_str(),
                        v["created"].as_u64(),
                        v["updated"].as_u64()
                    ),
                    (Some("completed"), Some(1), Some(1)),
                    "the sample import was applied by the worker sample: {v}"
                );
            }
            ("api-list-contacts", "filtered.json") => {
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    v["items"].as_array().map(Vec::len),
                    Some(1),
                    "the sample patch tagged the customer: {v}"
                );
            }
            ("api-list-appointments", _) => {
                let v: Value = serde_json::from_str(&body).unwrap();
                let a = &v["items"][0];
                assert_eq!(
                    (
                        v["items"].as_array().map(Vec::len),
                        a["title"].as_str(),
                        a["reminders"].as_array().map(Vec::len)
                    ),
                    (Some(1), Some("Linen shirt fitting"), Some(2)),
                    "the sample appointment, with its two reminders: {v}"
                );
            }
            ("api-list-emails", _) => {
                let v: Value = serde_json::from_str(&body).unwrap();
                let e = &v["items"][0];
                assert_eq!(
                    (
                        v["items"].as_array().map(Vec::len),
                        e["kind"].as_str(),
                        e["to"].as_str()
                    ),
                    (
                        Some(1),
                        Some("appointment_reminder"),
                        Some("sheena@example.com")
                    ),
                    "the reminder the schedule emailed: {v}"
                );
            }
            ("webhook-email-sendgrid", "events.json") => {
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v, json!({"received": 2, "duplicates": 0}));
            }
            ("api-list-users", _) => {
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["items"][0]["id"], "sample-user", "{v}");
            }
            ("api-get-billing", _) => {
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    (v["plan"].as_str(), v["status"].as_str()),
                    (Some("professional"), Some("active")),
                    "{v}"
                );
            }
            ("api-list-messages", _) => {
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    v["items"][0]["content"]["text"]["body"],
                    "Hi! Do you still have the blue linen shirt in size M?"
                );
            }
            _ => {}
        }
    }
}
