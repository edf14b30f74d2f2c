//! Media, both ways.
//!
//! - **Uploads for sending.** `POST /v1/media` takes a file as the request body with its
//!   content type, checks it against WhatsApp's types and sizes, uploads it to the number
//!   (`POST /{phone_number_id}/media`) and answers the media id a message then names
//!   (`{"type": "image", "image": {"id": …}}`). A file larger than an API request may
//!   carry goes to object storage first: `POST /v1/media/uploads` answers a presigned
//!   `PUT` URL and an upload id, the browser sends the file there, and
//!   `POST /v1/media/uploads/{id}/complete` checks it and uploads it to the number.
//! - **Received media.** A customer's file is archived in object storage when it arrives
//!   (Meta's download URLs expire in minutes and its media ids after weeks), or at the
//!   latest when it is first read. `GET /v1/messages/{id}/media` serves it from storage,
//!   or answers a short-lived signed URL (302) when it is larger than a Lambda response
//!   carries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{AccountId, MessageId, OrgId};
use crate::model::{Account, Channel, Conversation, Message, StoredMedia};
use crate::objects::ObjectError;
use crate::record::{Record, item, load, update};
use crate::services::Services;
use crate::store::Condition;
use crate::usecases::integrations;

const MB: usize = 1024 * 1024;

/// WhatsApp's media kinds: (message type, MIME types, largest file).
pub const KINDS: [(&str, &[&str], usize); 5] = [
    ("image", &["image/jpeg", "image/png"], 5 * MB),
    ("video", &["video/mp4", "video/3gpp"], 16 * MB),
    (
        "audio",
        &[
            "audio/aac",
            "audio/amr",
            "audio/mpeg",
            "audio/mp4",
            "audio/ogg",
        ],
        16 * MB,
    ),
    (
        "document",
        &[
            "application/pdf",
            "text/plain",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ],
        100 * MB,
    ),
    // Animated stickers may be 500 KB, static ones 100 KB; WhatsApp tells them apart.
    ("sticker", &["image/webp"], 500 * 1024),
];

/// What a content type is to WhatsApp: its message type and largest file; `None` when
/// WhatsApp does not take it.
pub fn kind_of(content_type: &str) -> Option<(&'static str, &'static str, usize)> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    KINDS.iter().find_map(|(kind, mimes, max)| {
        mimes
            .iter()
            .find(|m| **m == mime)
            .map(|m| (*kind, *m, *max))
    })
}

/// The WhatsApp number a file is uploaded to: the one named, or the org's only one.
async fn number(svc: &Services, org: &OrgId, id: Option<&AccountId>) -> Result<Account> {
    let mut numbers: Vec<Account> = match id {
        Some(id) => vec![integrations::get(svc, org, id).await?.record],
        None => integrations::list(svc, org).await?,
    };
    numbers.retain(|a| a.channel == Channel::Whatsapp);
    match (numbers.len(), id) {
        (1, _) => Ok(numbers.remove(0)),
        (0, Some(_)) => Err(Error::validation(
            "integration_id",
            "not_a_whatsapp_number",
            "media is uploaded to a WhatsApp number",
        )),
        (0, None) => Err(Error::Conflict {
            code: "no_whatsapp_number",
            message: "connect a WhatsApp number first".into(),
        }),
        _ => Err(Error::validation(
            "integration_id",
            "required",
            "the org has several numbers: name the integration to upload to",
        )),
    }
}

/// Uploads a checked file (`mime` from [`kind_of`]) to the number and answers
/// `{id, type, mime_type, size, integration_id}`.
pub async fn upload(
    svc: &Services,
    org: &OrgId,
    integration: Option<&AccountId>,
    kind: &str,
    mime: &str,
    bytes: &[u8],
) -> Result<Value> {
    let account = number(svc, org, integration).await?;
    let token = integrations::access_token(svc, &account).await?;
    let (client, _) = svc.whatsapp_for(account.provider);
    let id = client
        .upload_media(&token, &account.phone_number_id, mime, bytes)
        .await
        .map_err(|e| crate::usecases::outbound::provider_error(&e))?;
    info!(org_id = %org, account_id = %account.id, kind, bytes = bytes.len(), "media uploaded");
    Ok(json!({
        "id": id,
        "type": kind,
        "mime_type": mime,
        "size": bytes.len(),
        "integration_id": account.id,
    }))
}

/// The largest file Switchboard archives or takes through an upload URL: WhatsApp's
/// largest media (documents).
pub const MAX_FILE: usize = 100 * MB;
/// How long a signed download URL lives.
pub const DOWNLOAD_URL_SECS: u64 = 300;
/// How long a signed upload URL lives.
pub const UPLOAD_URL_SECS: u64 = 900;

fn storage_error(e: ObjectError) -> Error {
    match e {
        ObjectError::InvalidKey => Error::Internal("invalid object key".into()),
        ObjectError::Unavailable(m) => Error::Unavailable {
            code: "storage_unavailable",
            message: if m.contains("MEDIA_BUCKET") {
                "this deployment has no media storage".into()
            } else {
                "media storage is unavailable; try again".into()
            },
        },
    }
}

/// The media id a message's content names, for media kinds.
fn media_id_of(message: &Message) -> Option<String> {
    let kind = message.kind();
    switchboard_webhooks::meta::MEDIA_TYPES
        .contains(&kind)
        .then(|| {
            message
                .content
                .get(kind)?
                .get("id")?
                .as_str()
                .map(str::to_owned)
        })
        .flatten()
}

/// Archives a media message's file in object storage, once; answers where it is (`None`
/// for a message without media). Reads it from Graph with the number's token.
pub async fn archive(svc: &Services, org: &OrgId, id: &MessageId) -> Result<Option<StoredMedia>> {
    let (pk, sk) = Message::key_of(org, id);
    let Some(message) = load::<Message>(&*svc.store, &pk, &sk).await? else {
        return Ok(None);
    };
    let message = message.record;
    if let Some(stored) = message.media {
        return Ok(Some(stored));
    }
    let Some(media_id) = media_id_of(&message) else {
        return Ok(None);
    };
    let (c_pk, c_sk) = Conversation::key_of(org, &message.conversation_id);
    let Some(conversation) = load::<Conversation>(&*svc.store, &c_pk, &c_sk).await? else {
        return Ok(None);
    };
    let Some(account) =
        crate::usecases::outbound::current_account(svc, org, &conversation.record).await?
    else {
        return Ok(None);
    };
    let token = integrations::access_token(svc, &account).await?;
    let (client, _) = svc.whatsapp_for(account.provider);
    let err = |e: crate::whatsapp::GraphError| crate::usecases::outbound::provider_error(&e);
    let info = client.media_info(&token, &media_id).await.map_err(err)?;
    let bytes = client
        .download(&token, &info.url, MAX_FILE)
        .await
        .map_err(err)?;
    let stored = StoredMedia {
        key: format!("media/{org}/{id}"),
        size: bytes.len() as u64,
        content_type: info
            .mime_type
            .unwrap_or_else(|| "application/octet-stream".into()),
    };
    svc.objects
        .put(&stored.key, bytes, &stored.content_type)
        .await
        .map_err(storage_error)?;
    let kept = stored.clone();
    update::<Message>(&*svc.store, &pk, &sk, |m| {
        if m.media.is_some() {
            return false;
        }
        m.media = Some(kept.clone());
        true
    })
    .await?;
    info!(org_id = %org, message_id = %id, bytes = stored.size, "media archived");
    Ok(Some(stored))
}

/// Archives a just-received media message's file; a failure is logged, not raised (the
/// file is archived when it is first read, while Meta still has it).
pub async fn archive_on_arrival(svc: &Services, org: &OrgId, id: &MessageId) {
    if let Err(e) = archive(svc, org, id).await {
        warn!(org_id = %org, message_id = %id, error = %e, "media not archived on arrival; it will be when first read");
    }
}

/// What `GET /v1/messages/{id}/media` answers.
#[derive(Debug)]
pub enum Served {
    /// The file itself.
    File(crate::usecases::outbound::Media),
    /// A signed URL of the file in storage (302).
    Redirect(String),
}

/// Serves a message's media: from storage (archiving it first if it is not yet), as a
/// signed URL when it is larger than `max_inline`; from Graph when storage cannot be
/// used.
pub async fn serve(
    svc: &Services,
    tokens: &crate::usecases::outbound::TokenCache,
    org: &OrgId,
    id: &MessageId,
    max_inline: usize,
) -> Result<Served> {
    let (pk, sk) = Message::key_of(org, id);
    let message = load::<Message>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("message"))?
        .record;
    if media_id_of(&message).is_none() && message.media.is_none() {
        return Err(Error::not_found("media"));
    }
    let filename = message
        .content
        .get(message.kind())
        .and_then(|o| o.get("filename"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let stored = match message.media {
        Some(m) => Some(m),
        None => match archive(svc, org, id).await {
            Ok(m) => m,
            Err(Error::Unavailable { .. }) => None,
            Err(e) => return Err(e),
        },
    };
    if let Some(m) = stored {
        if m.size as usize > max_inline {
            let url = svc
                .objects
                .presign_get(
                    &m.key,
                    std::time::Duration::from_secs(DOWNLOAD_URL_SECS),
                    svc.clock.now(),
                )
                .await
                .map_err(storage_error)?;
            return Ok(Served::Redirect(url));
        }
        if let Some(o) = svc.objects.get(&m.key).await.map_err(storage_error)? {
            return Ok(Served::File(crate::usecases::outbound::Media {
                bytes: o.body,
                mime_type: o.content_type,
                filename,
            }));
        }
    }
    // No storage on this deployment: straight from Graph, within the response limit.
    Ok(Served::File(
        crate::usecases::outbound::media(svc, tokens, org, id, max_inline).await?,
    ))
}

// ------------------------------------------------------------------- upload URLs

/// A file on its way to WhatsApp through object storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    /// Id (`up_…`).
    pub id: String,
    /// Owner.
    pub org_id: OrgId,
    /// The number it goes to.
    pub account_id: AccountId,
    /// WhatsApp's kind (`image`, `document`, …).
    pub kind: String,
    /// Its MIME type.
    pub content_type: String,
    /// The size announced.
    pub size: u64,
    /// The object's key.
    pub key: String,
    /// WhatsApp's media id, once uploaded.
    #[serde(default)]
    pub media_id: Option<String>,
    /// When the upload URL expires (the record lives a day).
    #[serde(with = "rfc3339_millis")]
    pub expires_at: DateTime<Utc>,
}

impl Upload {
    fn key_of(org: &OrgId, id: &str) -> (String, String) {
        (format!("ORG#{org}#UPLOAD#{id}"), "UPLOAD".to_owned())
    }

    fn view(&self) -> Value {
        json!({
            "id": self.id,
            "integration_id": self.account_id,
            "type": self.kind,
            "mime_type": self.content_type,
            "size": self.size,
            "media_id": self.media_id,
            "status": if self.media_id.is_some() { "completed" } else { "pending" },
            "expires_at": fmt_time(self.expires_at),
        })
    }
}

impl Record for Upload {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at.timestamp() + 86_400)
    }
}

/// `POST /v1/media/uploads`: checks the announced file (`content_type`, `size`,
/// `integration_id?`) and answers an upload URL with its id.
pub async fn create_upload(svc: &Services, org: &OrgId, body: &Value) -> Result<Value> {
    let content_type = body["content_type"].as_str().ok_or_else(|| {
        Error::validation(
            "content_type",
            "invalid_content_type",
            "content_type is the file's MIME type",
        )
    })?;
    let Some((kind, mime, max)) = kind_of(content_type) else {
        return Err(Error::validation(
            "content_type",
            "unsupported_media_type",
            "WhatsApp does not take this type (see the media limits)",
        ));
    };
    let size = body["size"]
        .as_u64()
        .filter(|s| *s > 0)
        .ok_or_else(|| Error::validation("size", "invalid_size", "size is the file's bytes"))?;
    if size as usize > max {
        return Err(Error::validation(
            "size",
            "file_too_large",
            format!("WhatsApp takes {kind} files up to {max} bytes"),
        ));
    }
    let integration = match &body["integration_id"] {
        Value::Null => None,
        v => Some(
            v.as_str()
                .and_then(|s| AccountId::parse(s).ok())
                .ok_or_else(|| {
                    Error::validation(
                        "integration_id",
                        "invalid_integration_id",
                        "integration_id names a connected WhatsApp number",
                    )
                })?,
        ),
    };
    let account = number(svc, org, integration.as_ref()).await?;
    let now = svc.clock.now();
    let id = format!("up_{}", uuid::Uuid::now_v7().simple());
    let upload = Upload {
        key: format!("uploads/{org}/{id}"),
        id,
        org_id: org.clone(),
        account_id: account.id,
        kind: kind.to_owned(),
        content_type: mime.to_owned(),
        size,
        media_id: None,
        expires_at: now + chrono::Duration::seconds(UPLOAD_URL_SECS as i64),
    };
    let url = svc
        .objects
        .presign_put(
            &upload.key,
            mime,
            std::time::Duration::from_secs(UPLOAD_URL_SECS),
            now,
        )
        .await
        .map_err(storage_error)?;
    svc.store
        .put(item(&upload, 1)?, Condition::NotExists)
        .await?;
    let mut view = upload.view();
    view["upload_url"] = json!(url);
    view["method"] = json!("PUT");
    view["headers"] = json!({"content-type": mime});
    Ok(view)
}

/// `POST /v1/media/uploads/{id}/complete`: checks the stored file against what was
/// announced and uploads it to the number; answers the upload with its `media_id`
/// (a second call answers the same).
pub async fn complete_upload(svc: &Services, org: &OrgId, id: &str) -> Result<Value> {
    if !id.starts_with("up_") || id.len() != 35 || !id[3..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::not_found("upload"));
    }
    let (pk, sk) = Upload::key_of(org, id);
    let pending = load::<Upload>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("upload"))?
        .record;
    if pending.media_id.is_some() {
        return Ok(pending.view());
    }
    let object = svc
        .objects
        .get(&pending.key)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| Error::Conflict {
            code: "upload_missing",
            message: "nothing was uploaded to the upload URL yet".into(),
        })?;
    let max = kind_of(&pending.content_type).map(|k| k.2).unwrap_or(0);
    if object.body.len() > max {
        return Err(Error::validation(
            "size",
            "file_too_large",
            format!("WhatsApp takes {} files up to {max} bytes", pending.kind),
        ));
    }
    let sent = upload(
        svc,
        org,
        Some(&pending.account_id),
        &pending.kind,
        &pending.content_type,
        &object.body,
    )
    .await?;
    let media_id = sent["id"].as_str().unwrap_or_default().to_owned();
    let done = update::<Upload>(&*svc.store, &pk, &sk, |u| {
        if u.media_id.is_some() {
            return false;
        }
        u.media_id = Some(media_id.clone());
        true
    })
    .await?
    .unwrap_or(pending);
    // WhatsApp has the file now; the copy in storage is not needed any more.
    if let Err(e) = svc.objects.delete(&done.key).await {
        warn!(error = %e, "could not delete an upload's object; the bucket's lifecycle rule will");
    }
    Ok(done.view())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_map_to_whatsapp_kinds_and_limits() {
        assert_eq!(kind_of("image/jpeg"), Some(("image", "image/jpeg", 5 * MB)));
        assert_eq!(
            kind_of("IMAGE/PNG; q=1"),
            Some(("image", "image/png", 5 * MB))
        );
        assert_eq!(kind_of("application/pdf").map(|k| k.2), Some(100 * MB));
        assert_eq!(kind_of("image/webp").map(|k| k.0), Some("sticker"));
        assert_eq!(kind_of("image/gif"), None);
        assert_eq!(kind_of("application/json"), None);
        assert_eq!(kind_of(""), None);
    }
}
