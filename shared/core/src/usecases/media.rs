//! Media uploads for sending: `POST /v1/media` takes a file as the request body with its
//! content type, checks it against WhatsApp's types and sizes, uploads it to the number
//! (`POST /{phone_number_id}/media`) and answers the media id a message then names
//! (`{"type": "image", "image": {"id": …}}`).

use serde_json::{Value, json};
use tracing::info;

use crate::error::{Error, Result};
use crate::ids::{AccountId, OrgId};
use crate::model::{Account, Channel};
use crate::services::Services;
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
