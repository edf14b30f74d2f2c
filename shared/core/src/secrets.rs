//! Secrets: a wrapper that never prints, and the port that fetches them.

use std::fmt;

use async_trait::async_trait;

/// A secret value. `Debug` and `Display` print a placeholder, so a secret can sit in a
/// config struct or an error without leaking into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value. Call only where it is used (a MAC key, an Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The secrets Switchboard reads. Locally they are environment variables of these
/// names; on AWS, Secrets Manager secrets named `<SECRETS_PREFIX><name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// Meta app secret: key of `X-Hub-Signature-256`.
    WhatsAppAppSecret,
    /// The token Meta echoes when verifying the webhook URL.
    WhatsAppVerifyToken,
    /// Stripe endpoint secret (`whsec_…`).
    StripeWebhookSecret,
    /// Stripe API key (`sk_…`).
    StripeApiKey,
    /// Key of the keyed hash that stands in for customer identities in FIFO group ids
    /// and logs (see [`crate::privacy`]).
    PseudonymKey,
    /// Key of Kapso's webhook signatures (`X-Kapso-Signature`).
    KapsoWebhookSecret,
    /// Optional token Kapso's webhook verification must present.
    KapsoVerifyToken,
    /// The Meta app's secret for embedded signup and `debug_token`; when unset, the
    /// WhatsApp app secret (the same app signs the webhooks).
    MetaAppSecret,
    /// Resend API key (`re_…`).
    ResendApiKey,
    /// Key of Resend's delivery webhooks (Standard Webhooks, `whsec_…`).
    ResendWebhookSecret,
    /// SendGrid API key (`SG.…`).
    SendgridApiKey,
    /// SendGrid's Event Webhook verification key: base64 DER of an ECDSA P-256 public
    /// key (not secret, but rotated with the webhook, so it lives beside the others).
    SendgridWebhookPublicKey,
    /// SMTP server with credentials (`smtp://user:pass@host:587`, `smtps://…:465`).
    SmtpUrl,
    /// OpenRouter API key (`sk-or-…`) of the `openrouter` language-model preset.
    OpenrouterApiKey,
    /// xAI API key (`xai-…`) of the `xai` language-model preset.
    XaiApiKey,
    /// Optional key of the `custom` language-model preset (Ollama needs none).
    LlmCustomApiKey,
}

impl SecretName {
    /// Every secret.
    pub const ALL: [SecretName; 16] = [
        SecretName::WhatsAppAppSecret,
        SecretName::WhatsAppVerifyToken,
        SecretName::StripeWebhookSecret,
        SecretName::StripeApiKey,
        SecretName::PseudonymKey,
        SecretName::KapsoWebhookSecret,
        SecretName::KapsoVerifyToken,
        SecretName::MetaAppSecret,
        SecretName::ResendApiKey,
        SecretName::ResendWebhookSecret,
        SecretName::SendgridApiKey,
        SecretName::SendgridWebhookPublicKey,
        SecretName::SmtpUrl,
        SecretName::OpenrouterApiKey,
        SecretName::XaiApiKey,
        SecretName::LlmCustomApiKey,
    ];

    /// The variable / secret name.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::WhatsAppAppSecret => "WHATSAPP_APP_SECRET",
            SecretName::WhatsAppVerifyToken => "WHATSAPP_VERIFY_TOKEN",
            SecretName::StripeWebhookSecret => "STRIPE_WEBHOOK_SECRET",
            SecretName::StripeApiKey => "STRIPE_API_KEY",
            SecretName::PseudonymKey => "PSEUDONYM_KEY",
            SecretName::KapsoWebhookSecret => "KAPSO_WEBHOOK_SECRET",
            SecretName::KapsoVerifyToken => "KAPSO_VERIFY_TOKEN",
            SecretName::MetaAppSecret => "META_APP_SECRET",
            SecretName::ResendApiKey => "RESEND_API_KEY",
            SecretName::ResendWebhookSecret => "RESEND_WEBHOOK_SECRET",
            SecretName::SendgridApiKey => "SENDGRID_API_KEY",
            SecretName::SendgridWebhookPublicKey => "SENDGRID_WEBHOOK_PUBLIC_KEY",
            SecretName::SmtpUrl => "SMTP_URL",
            SecretName::OpenrouterApiKey => "OPENROUTER_API_KEY",
            SecretName::XaiApiKey => "XAI_API_KEY",
            SecretName::LlmCustomApiKey => "LLM_CUSTOM_API_KEY",
        }
    }
}

/// Errors of the secrets port.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The secret store failed or could not be reached.
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
}

/// The secrets port.
#[async_trait]
pub trait Secrets: Send + Sync + std::fmt::Debug {
    /// The secret's value, or `None` when it is not configured (absent or empty).
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = SecretString::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
