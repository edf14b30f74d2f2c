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

/// A provider's API key from the secrets port: `NotConfigured` when it is not set, a
/// transient failure when the store cannot be read (the email retries either way).
async fn api_key(
    secrets: &dyn switchboard_core::secrets::Secrets,
    name: switchboard_core::secrets::SecretName,
    provider: &'static str,
) -> Result<switchboard_core::secrets::SecretString, switchboard_core::email::EmailError> {
    match secrets.get(name).await {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(switchboard_core::email::EmailError::NotConfigured(provider)),
        Err(_) => Err(switchboard_core::email::EmailError::Transient(format!(
            "{provider}: secret store unavailable"
        ))),
    }
}
