//! The port to WhatsApp's Graph API. `shared/providers` implements it over HTTPS; the
//! dev server's sandbox implements it without Meta.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::PhoneNumberId;
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

/// Calls to WhatsApp's Graph API on behalf of a connected number.
#[async_trait]
pub trait WhatsAppApi: Send + Sync + std::fmt::Debug {
    /// Reads the phone number with the given token: validates both at connect time.
    async fn phone_number(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
    ) -> Result<PhoneNumberInfo, GraphError>;
}
