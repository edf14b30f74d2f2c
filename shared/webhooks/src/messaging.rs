//! Messenger and Instagram webhooks (`object` `page` or `instagram`): each
//! `entry[].messaging[]` item is one event — a message (text, attachments, a quick reply,
//! a reply to a story or an ad), an echo of the page's own message, a postback, a
//! reaction, a read, a delivery, an edit or an unsend. They are signed like WhatsApp's
//! (`X-Hub-Signature-256` with the app secret), so verification is [`crate::meta`]'s;
//! this module splits a delivery into [`Change`]s that the WhatsApp path stores and queues
//! as they are, and types an event's fields for the consumer.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::mac::sha256_hex;
use crate::meta::{Change, PayloadError};

/// The `field` of a stored Messenger event.
pub const MESSENGER_FIELD: &str = "messaging.page";
/// The `field` of a stored Instagram event.
pub const INSTAGRAM_FIELD: &str = "messaging.instagram";

#[derive(Deserialize)]
struct Envelope<'a> {
    object: String,
    #[serde(borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(borrow, default)]
    messaging: Vec<&'a RawValue>,
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Splits a delivery into one change per messaging event. `entry[].id` is the page or
/// Instagram account (routing); the subject is the person (the sender, or the recipient
/// of an echo), which keeps one person's events in order on the queue.
pub fn split(body: &[u8]) -> Result<Vec<Change>, PayloadError> {
    let envelope: Envelope<'_> = crate::meta::parse_envelope(body)?;
    let field = match envelope.object.as_str() {
        "page" => MESSENGER_FIELD,
        "instagram" => INSTAGRAM_FIELD,
        other => {
            return Err(PayloadError::NotEnvelope(format!(
                "object {other:?} is neither page nor instagram"
            )));
        }
    };
    let mut out = Vec::new();
    for entry in envelope.entry {
        let entry_id = entry.id.as_ref().and_then(id_text).unwrap_or_default();
        for raw in entry.messaging {
            let raw = raw.get();
            let event: Event = serde_json::from_str(raw).unwrap_or_default();
            let key = sha256_hex(&[
                field.as_bytes(),
                b"\n",
                entry_id.as_bytes(),
                b"\n",
                raw.as_bytes(),
            ]);
            out.push(Change {
                field: field.to_owned(),
                entry_id: entry_id.clone(),
                value: raw.to_owned(),
                phone_number_id: Some(entry_id.clone()),
                subject: event.person().map(str::to_owned),
                key,
            });
        }
    }
    Ok(out)
}

/// A party of an event.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Party {
    /// Page-scoped id (or the page's / account's own id).
    #[serde(default)]
    pub id: String,
}

/// One `messaging[]` item.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    /// Who sent it.
    #[serde(default)]
    pub sender: Party,
    /// Who received it.
    #[serde(default)]
    pub recipient: Party,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// A message (or an echo of the page's own).
    #[serde(default)]
    pub message: Option<EventMessage>,
    /// A button or menu item the person chose.
    #[serde(default)]
    pub postback: Option<Postback>,
    /// A reaction to a message.
    #[serde(default)]
    pub reaction: Option<Reaction>,
    /// The person read the page's messages (up to `watermark`, or `mid` on Instagram).
    #[serde(default)]
    pub read: Option<Read>,
    /// Messages delivered to the person.
    #[serde(default)]
    pub delivery: Option<Delivery>,
    /// The person edited a message.
    #[serde(default)]
    pub message_edit: Option<MessageEdit>,
    /// An ad or link that started the conversation.
    #[serde(default)]
    pub referral: Option<Value>,
}

impl Event {
    /// The person this event is about: the recipient of an echo, else the sender.
    pub fn person(&self) -> Option<&str> {
        let id = if self.message.as_ref().is_some_and(|m| m.is_echo) {
            &self.recipient.id
        } else {
            &self.sender.id
        };
        (!id.is_empty()).then_some(id.as_str())
    }
}

/// A message.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventMessage {
    /// Meta's message id.
    #[serde(default)]
    pub mid: String,
    /// Text.
    #[serde(default)]
    pub text: Option<String>,
    /// Files, by URL.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// The quick reply chosen.
    #[serde(default)]
    pub quick_reply: Option<QuickReply>,
    /// What it replies to: a message (`mid`) or a story (`story.url`, `story.id`).
    #[serde(default)]
    pub reply_to: Option<Value>,
    /// Sent by the page itself (from another tool or Switchboard).
    #[serde(default)]
    pub is_echo: bool,
    /// Unsent by the person (Instagram).
    #[serde(default)]
    pub is_deleted: bool,
}

/// An attachment.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Attachment {
    /// `image`, `video`, `audio`, `file`, `story_mention`, `share`, `ig_reel`, …
    #[serde(default, rename = "type")]
    pub kind: String,
    /// `{url}` for files; other types carry their own fields.
    #[serde(default)]
    pub payload: Value,
}

/// A quick reply.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QuickReply {
    /// The developer-defined payload.
    #[serde(default)]
    pub payload: String,
}

/// A postback.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Postback {
    /// The button's title.
    #[serde(default)]
    pub title: Option<String>,
    /// The developer-defined payload.
    #[serde(default)]
    pub payload: Option<String>,
    /// Its id (Instagram).
    #[serde(default)]
    pub mid: Option<String>,
}

/// A reaction.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reaction {
    /// The message reacted to.
    #[serde(default)]
    pub mid: String,
    /// `react` or `unreact`.
    #[serde(default)]
    pub action: String,
    /// The emoji.
    #[serde(default)]
    pub emoji: Option<String>,
    /// Meta's name of the reaction (`love`, `like`, …).
    #[serde(default)]
    pub reaction: Option<String>,
}

/// A read receipt.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Read {
    /// Everything sent before this (milliseconds) was read (Messenger).
    #[serde(default)]
    pub watermark: Option<i64>,
    /// The message read (Instagram).
    #[serde(default)]
    pub mid: Option<String>,
}

/// A delivery receipt.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Delivery {
    /// The messages delivered.
    #[serde(default)]
    pub mids: Vec<String>,
    /// Everything sent before this (milliseconds) was delivered.
    #[serde(default)]
    pub watermark: Option<i64>,
}

/// An edit.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageEdit {
    /// The message edited.
    #[serde(default)]
    pub mid: String,
    /// Its new text.
    #[serde(default)]
    pub text: Option<String>,
    /// How many times it has been edited.
    #[serde(default)]
    pub num_edit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_page_and_instagram_deliveries_by_person() {
        let body = br#"{"object":"page","entry":[{"id":"1122334455","time":1763800000000,"messaging":[
            {"sender":{"id":"7001"},"recipient":{"id":"1122334455"},"timestamp":1763800000000,"message":{"mid":"m_1","text":"hi"}},
            {"sender":{"id":"1122334455"},"recipient":{"id":"7002"},"timestamp":1763800000001,"message":{"mid":"m_2","text":"hello","is_echo":true}}
        ]}]}"#;
        let changes = split(body).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].field, MESSENGER_FIELD);
        assert_eq!(changes[0].phone_number_id.as_deref(), Some("1122334455"));
        assert_eq!(changes[0].subject.as_deref(), Some("7001"));
        assert_eq!(
            changes[1].subject.as_deref(),
            Some("7002"),
            "an echo is about its recipient"
        );
        assert_ne!(changes[0].key, changes[1].key);
        // The same delivery again yields the same keys (duplicates are recognised).
        assert_eq!(split(body).unwrap()[0].key, changes[0].key);

        let ig = br#"{"object":"instagram","entry":[{"id":17841400000000001,"messaging":[{"sender":{"id":"9001"},"recipient":{"id":"17841400000000001"},"read":{"mid":"m_9"}}]}]}"#;
        let changes = split(ig).unwrap();
        assert_eq!(changes[0].field, INSTAGRAM_FIELD);
        assert_eq!(changes[0].entry_id, "17841400000000001");
    }

    #[test]
    fn other_objects_and_non_json_are_refused() {
        assert!(matches!(
            split(br#"{"object":"whatsapp_business_account","entry":[]}"#),
            Err(PayloadError::NotEnvelope(_))
        ));
        assert!(matches!(split(b"not json"), Err(PayloadError::NotJson(_))));
        assert!(matches!(
            split(br#"{"hello":1}"#),
            Err(PayloadError::NotEnvelope(_))
        ));
    }
}
