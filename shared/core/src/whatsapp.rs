//! The port to WhatsApp's Graph API. `shared/providers` implements it over HTTPS; the
//! dev server's sandbox implements it without Meta.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::{PhoneNumberId, WaId};
use crate::secrets::SecretString;

/// What Graph says about a business phone number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumberInfo {
    /// Display form, e.g. `+1 555-078-3881`.
    pub display_phone_number: Option<String>,
    /// Business name Meta verified.
    pub verified_name: Option<String>,
}

/// A failed Graph call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error object.
    #[error("graph error {code} (http {http_status}): {message}")]
    Api {
        /// HTTP status.
        http_status: u16,
        /// Graph error code (190 token, 100 parameter, 131047 window, …).
        code: i64,
        /// Error subcode, if any.
        subcode: Option<i64>,
        /// Graph's title/message (never contains our token).
        message: String,
        /// `error_data.details`, if any.
        details: Option<String>,
    },
    /// The request did not complete (connect, timeout, unreadable body).
    #[error("graph unreachable: {0}")]
    Transport(String),
}

impl GraphError {
    /// The Graph error code, if Graph answered.
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Api { code, .. } => Some(*code),
            GraphError::Transport(_) => None,
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, Copy)]
pub struct OutboundMessage<'a> {
    /// The sending number.
    pub phone_number_id: &'a PhoneNumberId,
    /// The recipient.
    pub to: &'a WaId,
    /// Content in Meta's shape (`{"type": t, t: {...}}`).
    pub content: &'a serde_json::Value,
    /// wamid of the message replied to (`context.message_id`).
    pub reply_to: Option<&'a str>,
    /// Echoed by Meta in status webhooks (`biz_opaque_callback_data`): our message id.
    pub callback_data: Option<&'a str>,
}

/// Where to download a media file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Short-lived download URL (needs the same bearer token).
    pub url: String,
    /// MIME type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// SHA-256 of the file.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// Calls to WhatsApp's Graph API on behalf of a connected number.
#[async_trait]
pub trait WhatsAppApi: Send + Sync + std::fmt::Debug {
    /// Reads the phone number with the given token: validates both at connect time.
    async fn phone_number(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
    ) -> Result<PhoneNumberInfo, GraphError>;

    /// Sends a message; returns WhatsApp's id (wamid).
    async fn send_message(
        &self,
        token: &SecretString,
        message: &OutboundMessage<'_>,
    ) -> Result<String, GraphError>;

    /// Marks an inbound message (and those before it) read.
    async fn mark_read(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
        wamid: &str,
    ) -> Result<(), GraphError>;

    /// Looks up a media id's download URL.
    async fn media_info(
        &self,
        token: &SecretString,
        media_id: &str,
    ) -> Result<MediaInfo, GraphError>;

    /// Uploads a file for the number to send (`POST /{phone_number_id}/media`); returns
    /// the media id to use in a message.
    async fn upload_media(
        &self,
        _token: &SecretString,
        _phone_number_id: &PhoneNumberId,
        _mime_type: &str,
        _bytes: &[u8],
    ) -> Result<String, GraphError> {
        Err(GraphError::Api {
            http_status: 501,
            code: 0,
            subcode: None,
            message: "this client cannot upload media".into(),
            details: None,
        })
    }

    /// Downloads a media URL (at most `max_bytes`).
    async fn download(
        &self,
        token: &SecretString,
        url: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, GraphError>;
}
