//! The port to Meta's Send API for Messenger and Instagram: `POST /{account}/messages`
//! with `recipient.id`, `messaging_type` (and a `tag` outside the standard window) and a
//! `message`. `shared/providers` implements it over the Graph API; without a Graph URL a
//! sandbox accepts every message.

use async_trait::async_trait;
use serde_json::Value;

use crate::ids::PhoneNumberId;
use crate::secrets::SecretString;
use crate::whatsapp::GraphError;

/// One Send API request.
#[derive(Debug, Clone, Copy)]
pub struct SendApiMessage<'a> {
    /// The page (Messenger) or Instagram professional account sending.
    pub account: &'a PhoneNumberId,
    /// The person's page-scoped id.
    pub recipient: &'a str,
    /// `RESPONSE` inside the standard window, `MESSAGE_TAG` outside it.
    pub messaging_type: &'a str,
    /// The tag with `MESSAGE_TAG` (`HUMAN_AGENT`).
    pub tag: Option<&'a str>,
    /// The Send API's `message` object.
    pub message: &'a Value,
}

/// Calls to the Send API on behalf of a connected page or Instagram account.
#[async_trait]
pub trait SendApi: Send + Sync + std::fmt::Debug {
    /// Sends a message; returns Meta's message id (`mid`).
    async fn send(
        &self,
        token: &SecretString,
        message: &SendApiMessage<'_>,
    ) -> Result<String, GraphError>;

    /// Reads the page's name or the Instagram account's username with the token:
    /// validates both at connect time.
    async fn account_name(
        &self,
        token: &SecretString,
        account: &PhoneNumberId,
        instagram: bool,
    ) -> Result<Option<String>, GraphError>;
}
