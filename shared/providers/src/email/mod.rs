//! Email providers: the four implementations of [`EmailSender`] Switchboard chooses
//! from with `EMAIL_PROVIDER` (and `EMAIL_FALLBACK_PROVIDER` for
//! [`switchboard_core::email::WithFallback`]).
//!
//! | provider | batch | idempotency key | refused for good | may pass |
//! |---|---|---|---|---|
//! | [`ResendClient`] | 100 per request | email id (batch: hash of its ids) | 4xx but 401/403/408/409/429 | 401, 403 (a key or sender an operator fixes), 408, 409, 429, 5xx, network |
//! | [`SendGridClient`] | no | none: SendGrid has none | 4xx but 401/403/408/409/429 | 401, 403, 408, 409, 429, 5xx, network |
//! | [`SmtpSender`] | no | none (a `Message-ID` from the id) | 5xx reply | 4xx reply, connect, TLS, timeout |
//! | [`ConsoleSender`] | no | not needed: nothing is sent | an address that does not parse | the outbox cannot be written |
//!
//! Resend batches in permissive mode: an invalid email gets its own refusal and the
//! others go. Where a provider has no idempotency key, a retry after a crash between its
//! acceptance and our record of it sends the email twice; the window is one store write.
//!
//! Why these four: Resend is the default hosted provider (its idempotency key closes
//! that window, its batch call saves ninety-nine requests in a hundred); SendGrid is the
//! common alternative a customer may already pay for; SMTP reaches anything else (SES
//! SMTP, Postmark, a company relay, Mailpit locally); the console provider is the local
//! default, so a developer never emails a real person by accident.
//!
//! What they share: API keys and `SMTP_URL` are read from the secrets port when a send
//! needs them (a missing one is [`EmailError::NotConfigured`], never a panic at
//! start-up); refusals carry the provider's reason with every address masked and never
//! a key; no provider logs an address (only [`switchboard_core::privacy::mask_email`]),
//! a subject or a body.
//!
//! [`EmailSender`]: switchboard_core::email::EmailSender
//! [`EmailError::NotConfigured`]: switchboard_core::email::EmailError::NotConfigured

mod console;
mod resend;
mod sanitise;
mod sendgrid;
mod smtp;
#[cfg(test)]
mod testing;

pub use console::ConsoleSender;
pub use resend::{RESEND_API_BASE, RESEND_MAX_BATCH, ResendClient};
pub use sendgrid::{SENDGRID_API_BASE, SendGridClient};
pub use smtp::SmtpSender;

/// What the HTTP providers share: the client, the base URL (configurable for tests) and
/// the API key read from the secrets port at each send, so a rotated key takes effect
/// with the secrets cache.
#[derive(Clone)]
struct KeyedApi {
    http: reqwest::Client,
    base: String,
    secrets: std::sync::Arc<dyn switchboard_core::secrets::Secrets>,
    key: switchboard_core::secrets::SecretName,
    provider: &'static str,
}

impl KeyedApi {
    fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        secrets: std::sync::Arc<dyn switchboard_core::secrets::Secrets>,
        key: switchboard_core::secrets::SecretName,
        provider: &'static str,
    ) -> Self {
        Self {
            http,
            base: base_url.into().trim_end_matches('/').to_owned(),
            secrets,
            key,
            provider,
        }
    }

    /// The API key: `NotConfigured` when it is not set, a transient failure when the
    /// store cannot be read (the email retries either way).
    async fn key(
        &self,
    ) -> Result<switchboard_core::secrets::SecretString, switchboard_core::email::EmailError> {
        use switchboard_core::email::EmailError;
        match self.secrets.get(self.key).await {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Err(EmailError::NotConfigured(self.provider)),
            Err(_) => Err(EmailError::Transient(format!(
                "{}: secret store unavailable",
                self.provider
            ))),
        }
    }
}
