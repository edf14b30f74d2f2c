//! Payload builders in the shapes Meta sends, and signing helpers.

use serde_json::{Value, json};

/// Test app secret used by sample events and tests (documented in the README; never a
/// real secret).
pub const TEST_APP_SECRET: &str = "switchboard-test-app-secret";
/// Test verify token used by sample events and tests.
pub const TEST_VERIFY_TOKEN: &str = "switchboard-test-verify-token";
/// The business number most tests use.
pub const PHONE_NUMBER_ID: &str = "106540352242922";
/// Its WABA.
pub const WABA_ID: &str = "102290129340398";

/// A `messages` change value carrying one inbound text message.
pub fn text_change(
    phone_number_id: &str,
    from: &str,
    name: &str,
    wamid: &str,
    ts: i64,
    body: &str,
) -> Value {
    json!({
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": name}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": {"body": body}}]
        }
    })
}

/// A `messages` change value carrying an inbound message of any type (`kind` and its
/// type-named object).
pub fn message_change(
    phone_number_id: &str,
    from: &str,
    wamid: &str,
    ts: i64,
    kind: &str,
    object: Value,
) -> Value {
    let mut msg = json!({"from": from, "id": wamid, "timestamp": ts.to_string(), "type": kind});
    msg[kind] = object;
    json!({
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Customer"}, "wa_id": from}],
            "messages": [msg]
        }
    })
}

/// A `messages` change value carrying one delivery status.
pub fn status_change(
    phone_number_id: &str,
    wamid: &str,
    status: &str,
    recipient: &str,
    ts: i64,
    errors: Value,
) -> Value {
    let mut s = json!({"id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": recipient});
    if errors.as_array().is_some_and(|a| !a.is_empty()) {
        s["errors"] = errors;
    }
    json!({
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "statuses": [s]
        }
    })
}

/// Wraps changes in a delivery envelope.
pub fn delivery(changes: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": changes}]
    }))
    .expect("serialise")
}

/// The `X-Hub-Signature-256` value for `body` under the test secret.
pub fn sign(body: &[u8]) -> String {
    switchboard_webhooks::meta::sign(TEST_APP_SECRET.as_bytes(), body)
}

/// The `webhook-signature` (Standard Webhooks, as Resend sends it) of a delivery.
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    switchboard_webhooks::standard::sign(secret, id, timestamp, body).expect("a base64 secret")
}
