//! Quick replies: saved answers an agent inserts by typing their shortcut (`/hours`).
//!
//! A shortcut names one quick reply per org. Uniqueness cannot come from a query (an
//! index read may lag, and two creates race), so each quick reply owns a look-up item
//! keyed by its shortcut, written in the same transaction as the record under a "must
//! not exist" condition: of two concurrent creates with one shortcut exactly one wins,
//! the other is a 409 `shortcut_taken`. Renaming moves the look-up in the transaction
//! that changes the record; deleting removes both.
//!
//! The org's quick replies list through `gsi1` ordered by shortcut (a per-org collection
//! small enough to page through, kept off the org partition so it does not grow it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tracing::{debug, info};
use uuid::Uuid;

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{OrgId, QuickReplyId};
use crate::model::org_scope;
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Record, Versioned, item, load};
use crate::services::Services;
use crate::store::{Condition, Index, IndexKey, Query, StoreError, Write};
use crate::usecases::compose::compose;
use crate::usecases::triage::{Changed, refuse_unknown_fields};

/// Longest body, in characters (WhatsApp's text limit).
pub const MAX_BODY_CHARS: usize = 4096;
/// Longest shortcut, in characters.
pub const MAX_SHORTCUT_CHARS: usize = 32;
/// Media types a quick reply can carry.
pub const MEDIA_TYPES: [&str; 4] = ["image", "video", "document", "audio"];

/// Attempts at a transaction that collided with a concurrent one.
const ATTEMPTS: usize = 8;

/// Media sent with a quick reply, in the send API's terms: a media `id` uploaded to
/// WhatsApp or a `link`, and a `filename` for documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuickReplyMedia {
    /// `image`, `video`, `document` or `audio`.
    #[serde(rename = "type")]
    pub kind: String,
    /// WhatsApp media id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Public http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// File name (documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// A saved answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuickReply {
    /// Id.
    pub id: QuickReplyId,
    /// Owner.
    pub org_id: OrgId,
    /// What an agent types to insert it, unique in the org.
    pub shortcut: String,
    /// The text.
    pub body: String,
    /// Optional media.
    #[serde(default)]
    pub media: Option<QuickReplyMedia>,
    /// Who created it (token subject).
    #[serde(default)]
    pub created_by: Option<String>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl QuickReply {
    /// Key of a quick reply.
    pub fn key_of(org: &OrgId, id: &QuickReplyId) -> (String, String) {
        (format!("ORG#{org}#QR#{id}"), "QR".to_owned())
    }

    /// `gsi1` partition listing an org's quick replies by shortcut.
    pub fn list_pk(org: &OrgId) -> String {
        format!("ORG#{org}#QRS")
    }

    /// The API view, with the version a client names in `If-Match`.
    pub fn view(&self, version: u64) -> Value {
        json!({
            "id": self.id,
            "shortcut": self.shortcut,
            "body": self.body,
            "media": self.media,
            "created_by": self.created_by,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
            "version": version,
        })
    }
}

impl Record for QuickReply {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        // `#` sorts before every shortcut character, so `a#…` precedes `a-b#…` as `a`
        // precedes `a-b`: the order is the shortcuts' own.
        Some(IndexKey::new(
            Self::list_pk(&self.org_id),
            format!("{}#{}", self.shortcut, self.id),
        ))
    }
}

/// The look-up item that reserves a shortcut for one quick reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShortcutClaim {
    /// Owner.
    pub org_id: OrgId,
    /// The shortcut.
    pub shortcut: String,
    /// The quick reply holding it.
    pub quick_reply_id: QuickReplyId,
}

impl ShortcutClaim {
    /// Key of the claim on `shortcut`.
    pub fn key_of(org: &OrgId, shortcut: &str) -> (String, String) {
        (
            format!("ORG#{org}#QRSHORTCUT#{shortcut}"),
            "QRSHORTCUT".to_owned(),
        )
    }

    fn of(reply: &QuickReply) -> Self {
        Self {
            org_id: reply.org_id.clone(),
            shortcut: reply.shortcut.clone(),
            quick_reply_id: reply.id.clone(),
        }
    }
}

impl Record for ShortcutClaim {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.shortcut)
    }
}

/// Whether `s` is a shortcut: 1–32 of `[a-z0-9_-]`.
pub fn valid_shortcut(s: &str) -> bool {
    (1..=MAX_SHORTCUT_CHARS).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

/// A validated create or patch body: `None` leaves a field alone (a patch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuickReplyInput {
    /// Shortcut.
    pub shortcut: Option<String>,
    /// Body.
    pub body: Option<String>,
    /// Media; `Some(None)` removes it (a patch with `"media": null`).
    pub media: Option<Option<QuickReplyMedia>>,
}

const FIELDS: [&str; 3] = ["shortcut", "body", "media"];
const MEDIA_FIELDS: [&str; 4] = ["type", "id", "link", "filename"];

/// Validates a create (`creating`: `shortcut` and `body` required) or patch body; every
/// problem is a 422 naming its field.
pub fn parse_input(body: &Map<String, Value>, creating: bool) -> Result<QuickReplyInput> {
    refuse_unknown_fields(body, &FIELDS)?;
    let mut input = QuickReplyInput::default();
    match body.get("shortcut") {
        None if creating => {
            return Err(Error::validation(
                "shortcut",
                "required",
                "shortcut is required",
            ));
        }
        None => {}
        Some(Value::String(s)) if valid_shortcut(s) => input.shortcut = Some(s.clone()),
        Some(_) => {
            return Err(Error::validation(
                "shortcut",
                "invalid_shortcut",
                "shortcut must be 1-32 characters of lower-case letters, digits, '_' and '-'",
            ));
        }
    }
    match body.get("body") {
        None if creating => {
            return Err(Error::validation("body", "required", "body is required"));
        }
        None => {}
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if s.trim().is_empty() {
                return Err(Error::validation(
                    "body",
                    "invalid_body",
                    "body must not be empty",
                ));
            }
            if n > MAX_BODY_CHARS {
                return Err(Error::validation(
                    "body",
                    "too_long",
                    format!("body is {n} characters; the limit is {MAX_BODY_CHARS}"),
                ));
            }
            input.body = Some(s.clone());
        }
        Some(_) => {
            return Err(Error::validation(
                "body",
                "invalid_body",
                "body must be a string",
            ));
        }
    }
    match body.get("media") {
        None => {}
        Some(Value::Null) => input.media = Some(None),
        Some(v) => input.media = Some(Some(parse_media(v)?)),
    }
    Ok(input)
}

/// Validates a quick reply's media with the send API's own rules (exactly one of `id`
/// and `link`, an http(s) link, a filename on documents only), naming fields `media.…`.
pub fn parse_media(v: &Value) -> Result<QuickReplyMedia> {
    let Value::Object(m) = v else {
        return Err(Error::validation(
            "media",
            "invalid_media",
            "media must be an object {type, id | link, filename?}",
        ));
    };
    if let Some(k) = m.keys().find(|k| !MEDIA_FIELDS.contains(&k.as_str())) {
        return Err(Error::validation(
            format!("media.{k}"),
            "unknown_field",
            format!("`media.{k}` is not a field; media takes type, id, link and filename"),
        ));
    }
    let kind = match m.get("type") {
        Some(Value::String(t)) if MEDIA_TYPES.contains(&t.as_str()) => t.clone(),
        _ => {
            return Err(Error::validation(
                "media.type",
                "invalid_media",
                "media.type must be image, video, document or audio",
            ));
        }
    };
    let mut payload = m.clone();
    payload.remove("type");
    let message = json!({"type": kind, kind.clone(): Value::Object(payload)});
    // The send API names fields by type (`image.link`); here they are `media.link`.
    compose(&message).map_err(|e| match e {
        Error::Validation {
            field,
            code,
            message,
        } => {
            let rest = field.strip_prefix(kind.as_str()).unwrap_or("");
            Error::validation(
                format!("media{rest}"),
                code,
                message.replacen(kind.as_str(), "media", 1),
            )
        }
        other => other,
    })?;
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(QuickReplyMedia {
        kind,
        id: text("id"),
        link: text("link"),
        filename: text("filename"),
    })
}

fn shortcut_taken(shortcut: &str) -> Error {
    Error::Conflict {
        code: "shortcut_taken",
        message: format!("another quick reply already uses the shortcut `{shortcut}`"),
    }
}

/// The org's quick replies ordered by shortcut.
pub async fn list(svc: &Services, org: &OrgId, page: PageRequest) -> Result<Paged<Value>> {
    let query = page.apply_to(
        Query::index(Index::Gsi1, QuickReply::list_pk(org)),
        &org_scope(org),
    )?;
    let page = svc.store.query(query).await?;
    let items = page
        .items
        .iter()
        .map(|it| Ok(it.decode::<QuickReply>()?.view(it.version)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Paged {
        items,
        next_cursor: page.next.as_ref().map(encode_cursor),
    })
}

/// Creates a quick reply; 409 `shortcut_taken` when the org has one with its shortcut.
pub async fn create(
    svc: &Services,
    org: &OrgId,
    input: QuickReplyInput,
    created_by: Option<&str>,
) -> Result<Versioned<QuickReply>> {
    let (Some(shortcut), Some(body)) = (input.shortcut, input.body) else {
        return Err(Error::Internal(
            "a quick reply was created from a patch body".into(),
        ));
    };
    let now = svc.clock.now();
    let reply = QuickReply {
        id: QuickReplyId::from_uuid(Uuid::now_v7()),
        org_id: org.clone(),
        shortcut,
        body,
        media: input.media.flatten(),
        created_by: created_by.map(str::to_owned),
        created_at: now,
        updated_at: now,
    };
    for _ in 0..ATTEMPTS {
        let writes = vec![
            Write::put(item(&reply, 1)?, Condition::NotExists),
            Write::put(item(&ShortcutClaim::of(&reply), 1)?, Condition::NotExists),
        ];
        match svc.store.transact(writes).await {
            Ok(()) => {
                info!(org_id = %org, quick_reply_id = %reply.id, "quick reply created");
                return Ok(Versioned {
                    record: reply,
                    version: 1,
                });
            }
            Err(StoreError::ConditionFailed { index: 1 }) => {
                return Err(shortcut_taken(&reply.shortcut));
            }
            // Lost a race with a concurrent transaction on the claim: try again, which
            // finds the claim taken or free.
            Err(StoreError::Conflict) => {
                debug!(org_id = %org, "quick reply create collided; retrying");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

async fn load_reply(
    svc: &Services,
    org: &OrgId,
    id: &QuickReplyId,
) -> Result<Versioned<QuickReply>> {
    let (pk, sk) = QuickReply::key_of(org, id);
    load::<QuickReply>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("quick reply"))
}

/// Changes a quick reply; renaming its shortcut moves the claim in the same transaction
/// (409 `shortcut_taken` if the new one is held). With `if_match`, another version is a
/// [`Changed::VersionMismatch`].
pub async fn update(
    svc: &Services,
    org: &OrgId,
    id: &QuickReplyId,
    input: &QuickReplyInput,
    if_match: Option<u64>,
) -> Result<Changed<QuickReply>> {
    for _ in 0..ATTEMPTS {
        let mut current = load_reply(svc, org, id).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Ok(Changed::VersionMismatch {
                current: current.version,
            });
        }
        let before = current.record.clone();
        let r = &mut current.record;
        if let Some(s) = &input.shortcut {
            r.shortcut = s.clone();
        }
        if let Some(b) = &input.body {
            r.body = b.clone();
        }
        if let Some(m) = &input.media {
            r.media = m.clone();
        }
        if *r == before {
            return Ok(Changed::Done(current));
        }
        r.updated_at = svc.clock.now();
        let mut writes = vec![Write::put(current.next_item()?, current.condition())];
        let renamed = before.shortcut != current.record.shortcut;
        if renamed {
            let (pk, sk) = ShortcutClaim::key_of(org, &before.shortcut);
            writes.push(Write::delete(pk, sk, Condition::Always));
            writes.push(Write::put(
                item(&ShortcutClaim::of(&current.record), 1)?,
                Condition::NotExists,
            ));
        }
        match svc.store.transact(writes).await {
            Ok(()) => {
                info!(org_id = %org, quick_reply_id = %id, renamed, "quick reply updated");
                current.version += 1;
                return Ok(Changed::Done(current));
            }
            Err(StoreError::ConditionFailed { index: 2 }) => {
                return Err(shortcut_taken(&current.record.shortcut));
            }
            Err(StoreError::ConditionFailed { .. }) if if_match.is_some() => {
                let now = load_reply(svc, org, id).await?;
                return Ok(Changed::VersionMismatch {
                    current: now.version,
                });
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {
                debug!(quick_reply_id = %id, "quick reply changed concurrently; retrying");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// Deletes a quick reply and frees its shortcut.
pub async fn delete(svc: &Services, org: &OrgId, id: &QuickReplyId) -> Result<()> {
    for _ in 0..ATTEMPTS {
        let current = load_reply(svc, org, id).await?;
        let (pk, sk) = current.record.key();
        let (c_pk, c_sk) = ShortcutClaim::key_of(org, &current.record.shortcut);
        let writes = vec![
            Write::delete(pk, sk, Condition::Version(current.version)),
            Write::delete(c_pk, c_sk, Condition::Always),
        ];
        match svc.store.transact(writes).await {
            Ok(()) => {
                info!(org_id = %org, quick_reply_id = %id, "quick reply deleted");
                return Ok(());
            }
            // Renamed or deleted meanwhile: look again (a deleted one is a 404).
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: Value, creating: bool) -> String {
        let Value::Object(m) = body else { panic!() };
        match parse_input(&m, creating) {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shortcuts() {
        assert!(valid_shortcut("hours"));
        assert!(valid_shortcut("a_b-1"));
        assert!(valid_shortcut(&"x".repeat(32)));
        for bad in ["", "Hours", "a b", "a#b", "é", &"x".repeat(33)] {
            assert!(!valid_shortcut(bad), "{bad}");
        }
    }

    #[test]
    fn inputs_validate_naming_the_field() {
        assert_eq!(field_of(json!({"body": "x"}), true), "shortcut");
        assert_eq!(field_of(json!({"shortcut": "x"}), true), "body");
        assert_eq!(
            field_of(json!({"shortcut": "X", "body": "x"}), true),
            "shortcut"
        );
        assert_eq!(
            field_of(json!({"shortcut": "x", "body": " "}), true),
            "body"
        );
        assert_eq!(
            field_of(json!({"shortcut": "x", "body": "b".repeat(4097)}), true),
            "body"
        );
        assert_eq!(field_of(json!({"title": "x"}), false), "title");
        assert_eq!(field_of(json!({"media": "x"}), false), "media");
        assert_eq!(
            field_of(json!({"media": {"type": "sticker", "id": "1"}}), false),
            "media.type"
        );
        assert_eq!(
            field_of(json!({"media": {"type": "image"}}), false),
            "media"
        );
        assert_eq!(
            field_of(
                json!({"media": {"type": "image", "id": "1", "link": "https://x"}}),
                false
            ),
            "media"
        );
        assert_eq!(
            field_of(
                json!({"media": {"type": "image", "link": "ftp://x"}}),
                false
            ),
            "media.link"
        );
        assert_eq!(
            field_of(
                json!({"media": {"type": "image", "id": "1", "filename": "a.png"}}),
                false
            ),
            "media.filename"
        );
        assert_eq!(
            field_of(
                json!({"media": {"type": "image", "id": "1", "caption": "c"}}),
                false
            ),
            "media.caption"
        );
        let Value::Object(m) = json!({"shortcut": "invoice", "body": "Here it is",
            "media": {"type": "document", "link": "https://x.example/i.pdf", "filename": "i.pdf"}})
        else {
            panic!()
        };
        let input = parse_input(&m, true).unwrap();
        assert_eq!(
            input.media.flatten().and_then(|m| m.filename).as_deref(),
            Some("i.pdf")
        );
        let Value::Object(m) = json!({"media": null}) else {
            panic!()
        };
        assert_eq!(parse_input(&m, false).unwrap().media, Some(None));
    }
}
