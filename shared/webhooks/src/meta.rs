//! Meta WhatsApp Cloud API webhooks: the `X-Hub-Signature-256` scheme, splitting a
//! delivery into one event per `entry[].changes[]`, and the typed shapes of the
//! `messages` field (inbound messages, contacts, delivery statuses).
//!
//! Meta signs the exact bytes it sends; re-serialising the JSON (escaped unicode, `\/`)
//! breaks the signature, so verification always runs on the received bytes and the
//! split keeps each change's value as the raw text Meta sent.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::SignatureError;
use crate::mac::{HmacSha256, sha256_hex};

/// Header carrying `sha256=<hex>` (HTTP header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Verifies `X-Hub-Signature-256: sha256=<hex>` as HMAC-SHA256 of `body` keyed with the
/// app secret, in constant time.
pub fn verify_signature(
    app_secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_sig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_sig.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if HmacSha256::new(app_secret).verify(&[body], &tag) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Produces the header value Meta would send for `body` (tests, tools, sample events).
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(HmacSha256::new(app_secret).sign(&[body]))
    )
}

/// Why a signed body could not be split into events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The body is not JSON at all.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not a webhook envelope (`{"object":…,"entry":[…]}`).
    #[error("body is not a webhook envelope: {0}")]
    NotEnvelope(String),
}

/// One `entry[].changes[]` item of a delivery: the unit Switchboard stores and queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The `field` Meta named (`messages`, `message_template_status_update`, …).
    pub field: String,
    /// `entry[].id`: the WhatsApp Business Account id.
    pub entry_id: String,
    /// The change's `value`, exactly as received.
    pub value: String,
    /// `value.metadata.phone_number_id`, when the field carries one.
    pub phone_number_id: Option<String>,
    /// The customer this change is about (`messages[0].from`, `statuses[0].recipient_id`
    /// or `contacts[0].wa_id`): used to keep per-conversation order on the queue.
    pub subject: Option<String>,
    /// Idempotency key: SHA-256 over field, entry id and the raw value. A redelivery of
    /// the same change yields the same key.
    pub key: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    #[allow(dead_code)]
    object: Option<String>,
    #[serde(borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(default)]
    id: Option<IdValue>,
    #[serde(borrow, default)]
    changes: Vec<RawChange<'a>>,
}

#[derive(Deserialize)]
struct RawChange<'a> {
    field: String,
    #[serde(borrow)]
    value: &'a RawValue,
}

/// Meta documents ids as strings but some test tools send numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Text(String),
    Number(serde_json::Number),
}

impl IdValue {
    fn into_string(self) -> String {
        match self {
            IdValue::Text(s) => s,
            IdValue::Number(n) => n.to_string(),
        }
    }
}

/// Just enough of a `messages` value to route and group it.
#[derive(Deserialize, Default)]
struct Peek {
    #[serde(default)]
    metadata: Option<PeekMetadata>,
    #[serde(default)]
    messages: Option<Vec<PeekFrom>>,
    #[serde(default)]
    statuses: Option<Vec<PeekRecipient>>,
    #[serde(default)]
    contacts: Option<Vec<PeekContact>>,
}

#[derive(Deserialize)]
struct PeekMetadata {
    #[serde(default)]
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct PeekFrom {
    #[serde(default)]
    from: Option<String>,
}

#[derive(Deserialize)]
struct PeekRecipient {
    #[serde(default)]
    recipient_id: Option<String>,
}

#[derive(Deserialize)]
struct PeekContact {
    #[serde(default)]
    wa_id: Option<String>,
}

/// Splits a verified delivery into its changes, keeping each value's raw text.
///
/// Parsing is shallow: a change whose value is not the shape Switchboard knows is still
/// returned (and so stored and acknowledged); only a body that is not JSON, or not an
/// envelope at all, is an error.
pub fn split(body: &[u8]) -> Result<Vec<Change>, PayloadError> {
    let envelope: Envelope<'_> = parse_envelope(body)?;
    let mut out = Vec::new();
    for entry in envelope.entry {
        let entry_id = entry.id.map(IdValue::into_string).unwrap_or_default();
        for change in entry.changes {
            let raw = change.value.get();
            let peek: Peek = serde_json::from_str(raw).unwrap_or_default();
            let phone_number_id = peek.metadata.and_then(|m| m.phone_number_id);
            let subject = first(peek.messages, |m| m.from)
                .or_else(|| first(peek.statuses, |s| s.recipient_id))
                .or_else(|| first(peek.contacts, |c| c.wa_id));
            let key = sha256_hex(&[
                change.field.as_bytes(),
                b"\n",
                entry_id.as_bytes(),
                b"\n",
                raw.as_bytes(),
            ]);
            out.push(Change {
                field: change.field,
                entry_id: entry_id.clone(),
                value: raw.to_owned(),
                phone_number_id,
                subject,
                key,
            });
        }
    }
    Ok(out)
}

/// Parses a webhook body as `T`, telling "not JSON" from "JSON of another shape" for a
/// precise 400.
pub(crate) fn parse_envelope<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, PayloadError> {
    serde_json::from_slice(body).map_err(|err| {
        match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => PayloadError::NotEnvelope(err.to_string()),
            Err(_) => PayloadError::NotJson(err.to_string()),
        }
    })
}

fn first<T>(items: Option<Vec<T>>, f: impl Fn(T) -> Option<String>) -> Option<String> {
    items.and_then(|v| v.into_iter().next()).and_then(f)
}

/// The `value` of a `messages` change.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesValue {
    /// The receiving business number.
    pub metadata: Metadata,
    /// Profiles of the customers who wrote.
    #[serde(default)]
    pub contacts: Vec<ContactProfile>,
    /// Inbound messages.
    #[serde(default)]
    pub messages: Vec<InboundMessage>,
    /// Delivery statuses of messages the business sent.
    #[serde(default)]
    pub statuses: Vec<Status>,
    /// Errors not tied to one message.
    #[serde(default)]
    pub errors: Vec<GraphError>,
}

/// `value.metadata`.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// The number's display form, e.g. `15550001111`.
    #[serde(default)]
    pub display_phone_number: Option<String>,
    /// The Graph id of the receiving number: routes the event to an org.
    pub phone_number_id: String,
}

/// `value.contacts[]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ContactProfile {
    /// The customer's WhatsApp id (their number in international form, digits only).
    pub wa_id: String,
    /// Profile (the customer-chosen name).
    #[serde(default)]
    pub profile: Option<Profile>,
}

/// `value.contacts[].profile`.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    /// Name the customer set in WhatsApp.
    #[serde(default)]
    pub name: Option<String>,
}

/// `value.messages[]`: an inbound message of any type.
///
/// The type-named object (`text`, `image`, …) is kept as JSON in `rest`: Switchboard
/// stores message content in Meta's own shape, so new types need no schema change.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundMessage {
    /// The wamid.
    pub id: String,
    /// Sender's WhatsApp id.
    pub from: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    /// Message type (`text`, `image`, `reaction`, `unsupported`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Present when the message replies to (or was forwarded from) another.
    #[serde(default)]
    pub context: Option<Value>,
    /// Everything else Meta sent: the type-named object, `errors`, `referral`, …
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Message types whose payload is a media object with an `id` to download.
pub const MEDIA_TYPES: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

impl InboundMessage {
    /// The timestamp as Unix seconds, if Meta sent a number.
    pub fn unix_seconds(&self) -> Option<i64> {
        self.timestamp.trim().parse().ok()
    }

    /// The message content in Meta's own shape: `{"type": t, t: {...}}`, plus `errors`
    /// for types Meta could not deliver (`unsupported`/`unknown`) and `referral` for
    /// click-to-WhatsApp ads.
    pub fn content(&self) -> Value {
        let mut content = Map::new();
        content.insert("type".into(), Value::String(self.kind.clone()));
        for (key, value) in &self.rest {
            if key == &self.kind || key == "errors" || key == "referral" {
                content.insert(key.clone(), value.clone());
            }
        }
        Value::Object(content)
    }

    /// The wamid this message replies to, if any.
    pub fn reply_to(&self) -> Option<String> {
        self.context
            .as_ref()
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// A short human preview for conversation lists.
    pub fn preview(&self) -> String {
        preview(&self.content())
    }
}

/// A short preview of content in Meta's shape (shared by inbound and outbound).
pub fn preview(content: &Value) -> String {
    let kind = content.get("type").and_then(Value::as_str).unwrap_or("");
    let body = content.get(kind);
    let text = |path: &[&str]| -> Option<String> {
        let mut v = body?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str().map(str::to_owned)
    };
    let found = match kind {
        "text" => text(&["body"]),
        "image" | "video" | "document" => text(&["caption"])
            .map(|c| format!("[{kind}] {c}"))
            .or_else(|| text(&["filename"]).map(|f| format!("[{kind}] {f}"))),
        "interactive" => text(&["button_reply", "title"])
            .or_else(|| text(&["list_reply", "title"]))
            .or_else(|| text(&["body", "text"])),
        "button" => text(&["text"]),
        "reaction" => text(&["emoji"]).map(|e| format!("reacted {e}")),
        "location" => text(&["name"])
            .or_else(|| text(&["address"]))
            .map(|n| format!("[location] {n}")),
        "template" => text(&["name"]).map(|n| format!("[template] {n}")),
        _ => None,
    };
    let s =
        found.unwrap_or_else(|| format!("[{}]", if kind.is_empty() { "message" } else { kind }));
    truncate_chars(&s, 120)
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((idx, _)) => format!("{}…", &s[..idx]),
        None => s.to_owned(),
    }
}

/// `value.statuses[]`: what happened to a message the business sent.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// The wamid of the outbound message.
    pub id: String,
    /// `sent`, `delivered`, `read`, `failed` (Meta may add others: kept as text).
    pub status: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    /// The customer's WhatsApp id.
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// Conversation / pricing blocks (billing information), kept as sent.
    #[serde(default)]
    pub conversation: Option<Value>,
    /// Pricing block, kept as sent.
    #[serde(default)]
    pub pricing: Option<Value>,
    /// Errors, for `failed`.
    #[serde(default)]
    pub errors: Vec<GraphError>,
    /// What the sender attached to the message (Switchboard's message id).
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
}

impl Status {
    /// The timestamp as Unix seconds, if Meta sent a number.
    pub fn unix_seconds(&self) -> Option<i64> {
        self.timestamp.trim().parse().ok()
    }
}

/// A Graph error object as it appears in webhooks and API responses.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct GraphError {
    /// Numeric code (131047, 131026, …).
    pub code: i64,
    /// Short title.
    #[serde(default)]
    pub title: Option<String>,
    /// Longer message.
    #[serde(default)]
    pub message: Option<String>,
    /// `{details: …}`.
    #[serde(default)]
    pub error_data: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-app-secret";

    fn delivery() -> &'static str {
        r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[
        {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
          "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
          "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color? \u00e9\/"}}]},
         "field":"messages"},
        {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
          "statuses":[{"id":"wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA","status":"failed","timestamp":"1750263773","recipient_id":"16467043595",
            "errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]}]},
         "field":"messages"},
        {"value":{"event":"APPROVED","message_template_id":594425479261596,"message_template_name":"hello_world","message_template_language":"en_US","reason":null},
         "field":"message_template_status_update"}]}]}"#
    }

    #[test]
    fn signature_round_trip_on_exact_bytes() {
        let body = delivery().as_bytes();
        let header = sign(SECRET, body);
        assert!(header.starts_with("sha256="));
        assert_eq!(verify_signature(SECRET, Some(&header), body), Ok(()));
        // Upper-case hex is accepted (hex decoding is case-insensitive).
        let upper = format!("sha256={}", header[7..].to_uppercase());
        assert_eq!(verify_signature(SECRET, Some(&upper), body), Ok(()));
    }

    #[test]
    fn signature_rejections() {
        let body = delivery().as_bytes();
        let header = sign(SECRET, body);
        assert_eq!(
            verify_signature(SECRET, None, body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(SECRET, Some("sha1=abcd"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(SECRET, Some(&format!("sha256={}", "zz".repeat(32))), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"other-secret", Some(&header), body),
            Err(SignatureError::Mismatch)
        );
        // Re-serialising changes `\u00e9\/` and so breaks the signature.
        let reserialised =
            serde_json::to_vec(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
        assert_eq!(
            verify_signature(SECRET, Some(&header), &reserialised),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn known_vector() {
        // Computed independently: printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac test-app-secret
        assert_eq!(
            sign(SECRET, br#"{"a":1}"#),
            "sha256=a9076adb7408d26443ef1902aaae098b7ab6b934eddfa6fc1338cd0153ddda4d"
        );
    }

    #[test]
    fn split_keeps_raw_values_and_hints() {
        let changes = split(delivery().as_bytes()).unwrap();
        assert_eq!(changes.len(), 3);
        let msg = &changes[0];
        assert_eq!(msg.field, "messages");
        assert_eq!(msg.entry_id, "102290129340398");
        assert_eq!(msg.phone_number_id.as_deref(), Some("106540352242922"));
        assert_eq!(msg.subject.as_deref(), Some("16505551234"));
        assert!(
            msg.value.contains(r"\u00e9\/"),
            "raw text kept: {}",
            msg.value
        );
        let status = &changes[1];
        assert_eq!(status.subject.as_deref(), Some("16467043595"));
        let template = &changes[2];
        assert_eq!(template.field, "message_template_status_update");
        assert_eq!(template.phone_number_id, None);
        assert_eq!(template.subject, None);
        // Keys are stable and distinct.
        let again = split(delivery().as_bytes()).unwrap();
        assert_eq!(changes[0].key, again[0].key);
        assert_ne!(changes[0].key, changes[1].key);
        assert_eq!(changes[0].key.len(), 64);
    }

    #[test]
    fn split_errors() {
        assert!(matches!(split(b"not json"), Err(PayloadError::NotJson(_))));
        assert!(matches!(
            split(b"{\"a\":1}"),
            Err(PayloadError::NotEnvelope(_))
        ));
        assert!(matches!(split(b"[1,2]"), Err(PayloadError::NotEnvelope(_))));
        assert_eq!(split(br#"{"object":"x","entry":[]}"#).unwrap(), vec![]);
        // A change whose value is not an object is still kept.
        let odd = split(br#"{"entry":[{"id":7,"changes":[{"field":"x","value":42}]}]}"#).unwrap();
        assert_eq!(odd[0].entry_id, "7");
        assert_eq!(odd[0].value, "42");
    }

    #[test]
    fn typed_messages_value() {
        let changes = split(delivery().as_bytes()).unwrap();
        let value: MessagesValue = serde_json::from_str(&changes[0].value).unwrap();
        assert_eq!(value.metadata.phone_number_id, "106540352242922");
        assert_eq!(
            value.contacts[0].profile.as_ref().unwrap().name.as_deref(),
            Some("Sheena Nelson")
        );
        let m = &value.messages[0];
        assert_eq!(m.kind, "text");
        assert_eq!(m.unix_seconds(), Some(1749416383));
        assert_eq!(
            m.content()["text"]["body"],
            "Does it come in another color? é/"
        );
        assert_eq!(m.preview(), "Does it come in another color? é/");

        let value: MessagesValue = serde_json::from_str(&changes[1].value).unwrap();
        let s = &value.statuses[0];
        assert_eq!(s.status, "failed");
        assert_eq!(s.errors[0].code, 131047);
        assert_eq!(s.errors[0].title.as_deref(), Some("Re-engagement message"));
    }

    #[test]
    fn content_of_media_reaction_interactive_and_unsupported() {
        let msgs: Vec<InboundMessage> = serde_json::from_str(
            r#"[
            {"from":"1","id":"w1","timestamp":"1","type":"image","image":{"caption":"receipt","mime_type":"image/jpeg","sha256":"abc","id":"1003383421387256"}},
            {"from":"1","id":"w2","timestamp":"2","type":"reaction","reaction":{"message_id":"w1","emoji":"👍"}},
            {"from":"1","id":"w3","timestamp":"3","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"yes","title":"Yes please"}},"context":{"from":"155","id":"wamid.orig"}},
            {"from":"1","id":"w4","timestamp":"4","type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]},
            {"from":"1","id":"w5","timestamp":"5","type":"location","location":{"latitude":1.5,"longitude":2.5,"name":"Shop"}}
        ]"#,
        )
        .unwrap();
        assert_eq!(msgs[0].content()["image"]["id"], "1003383421387256");
        assert_eq!(msgs[0].preview(), "[image] receipt");
        assert_eq!(msgs[1].preview(), "reacted 👍");
        assert_eq!(msgs[2].preview(), "Yes please");
        assert_eq!(msgs[2].reply_to().as_deref(), Some("wamid.orig"));
        assert_eq!(msgs[3].content()["errors"][0]["code"], 131051);
        assert_eq!(msgs[3].preview(), "[unsupported]");
        assert_eq!(msgs[4].preview(), "[location] Shop");
    }

    #[test]
    fn preview_truncates_on_char_boundary() {
        let long = "é".repeat(500);
        let p = preview(&serde_json::json!({"type":"text","text":{"body": long}}));
        assert_eq!(p.chars().count(), 121);
        assert!(p.ends_with('…'));
    }
}
