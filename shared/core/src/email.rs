//! The port to email providers: what a provider is asked to send and how it answers.
//!
//! Providers (Resend, SendGrid, SMTP, the console) live in `switchboard-providers`; the
//! queue consumer that calls them, the stored email records and the suppression list are
//! in [`crate::usecases::email`]. A provider only sends: it never decides whether an
//! email should go (suppression, idempotency), and it never logs an address or a body.

use async_trait::async_trait;

/// One email, fully rendered, ready for a provider.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Switchboard's id of the email: the provider's idempotency key where it has one,
    /// and a custom argument or header its delivery events carry back.
    pub id: String,
    /// The org it is sent for (carried back by providers that echo custom arguments).
    pub org_id: String,
    /// Sender address, bare (`reminders@example.com`).
    pub from_address: String,
    /// Sender display name, if any.
    pub from_name: Option<String>,
    /// Reply-To address, if any.
    pub reply_to: Option<String>,
    /// Recipient address (one recipient per email: suppression and status are per
    /// address).
    pub to: String,
    /// Subject line (no line breaks).
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
}

impl std::fmt::Debug for OutgoingEmail {
    // Addresses, subject and body are personal data: only ids and sizes are printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("to", &crate::privacy::mask_email(&self.to))
            .field("html_bytes", &self.html.len())
            .field("text_bytes", &self.text.len())
            .finish()
    }
}

impl OutgoingEmail {
    /// `Name <address>` when a display name is set (quotes and angle brackets in the
    /// name are dropped so it cannot forge another address), else the address.
    pub fn from_header(&self) -> String {
        match self.from_name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => {
                let clean: String = name
                    .chars()
                    .filter(|c| !matches!(c, '"' | '<' | '>' | '\r' | '\n' | '\\'))
                    .collect();
                format!("\"{clean}\" <{}>", self.from_address)
            }
            _ => self.from_address.clone(),
        }
    }
}

/// Decodes `%XX` escapes (an address in a URL path, credentials in `SMTP_URL`); `None` for
/// a broken escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A provider's acceptance of one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Which provider took it (`resend`, `sendgrid`, `smtp`, `console`).
    pub provider: &'static str,
    /// The provider's id for it, when it gives one (Resend's email id, SendGrid's
    /// `X-Message-Id`, the SMTP server's queue id).
    pub provider_id: Option<String>,
}

/// A failed send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// The provider is not configured (no key or URL).
    #[error("email provider {0} is not configured")]
    NotConfigured(&'static str),
    /// The provider refused this email for good (invalid address, a 4xx other than
    /// 408/409/429): sending it again cannot succeed.
    #[error("email rejected ({status}): {message}")]
    Rejected {
        /// HTTP status or SMTP reply code.
        status: u16,
        /// The provider's reason, without the address or any secret.
        message: String,
    },
    /// A failure that may pass: 5xx, 429, a timeout, a refused connection.
    #[error("email provider unavailable: {0}")]
    Transient(String),
}

impl EmailError {
    /// Whether trying again (or trying the fallback provider) may help: a failure that
    /// may pass, or a provider missing its key or URL (an operator sets it; meanwhile the
    /// fallback, if any, sends).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            EmailError::Transient(_) | EmailError::NotConfigured(_)
        )
    }

    /// Classifies an HTTP status from a provider's API. 401 and 403 (a wrong or revoked
    /// key, a sender domain not verified) say nothing about the email: an operator fixes
    /// them, so the email retries and, if the fix takes longer than the schedule, waits in
    /// the DLQ for a redrive instead of failing for good.
    pub fn from_http(status: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        if matches!(status, 401 | 403 | 408 | 409 | 429) || status >= 500 {
            EmailError::Transient(format!("http {status}: {message}"))
        } else {
            EmailError::Rejected { status, message }
        }
    }
}

/// An email provider.
#[async_trait]
pub trait EmailSender: Send + Sync + std::fmt::Debug {
    /// The provider's name (`resend`, `sendgrid`, `smtp`, `console`).
    fn name(&self) -> &'static str;

    /// Most emails one [`EmailSender::send_batch`] call sends in one request (1 where
    /// the provider has no batch call).
    fn max_batch(&self) -> usize {
        1
    }

    /// Sends one email. The provider uses `email.id` as its idempotency key where it
    /// has one.
    async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, EmailError>;

    /// Sends several emails; one result per email, in order. The default sends them one
    /// by one; providers with a batch call override it (and send at most
    /// [`EmailSender::max_batch`] per request).
    async fn send_batch(&self, emails: &[OutgoingEmail]) -> Vec<Result<Accepted, EmailError>> {
        let mut out = Vec::with_capacity(emails.len());
        for email in emails {
            out.push(self.send(email).await);
        }
        out
    }
}

/// How this deployment sends email: the provider (with its fallback) and the defaults
/// every org's emails start from.
#[derive(Clone, Debug)]
pub struct Mailer {
    /// The provider (a [`WithFallback`] when a fallback is configured).
    pub sender: std::sync::Arc<dyn EmailSender>,
    /// `EMAIL_FROM`'s address.
    pub from_address: String,
    /// `EMAIL_FROM`'s display name, if any (an org's own name overrides it).
    pub from_name: Option<String>,
    /// The CRM frontend (`APP_URL`), for links in emails; no links without it.
    pub app_url: Option<String>,
}

impl Mailer {
    /// A link into the CRM frontend, when its URL is configured.
    pub fn link(&self, path: &str) -> Option<String> {
        self.app_url.as_deref().map(|base| {
            format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches('/')
            )
        })
    }
}

/// A primary provider and the one used when it fails with a retryable error
/// (`EMAIL_FALLBACK_PROVIDER`). Permanent refusals are not retried elsewhere: an invalid
/// address is invalid at every provider.
#[derive(Debug)]
pub struct WithFallback {
    /// The provider tried first.
    pub primary: std::sync::Arc<dyn EmailSender>,
    /// The provider tried when the primary's failure may pass.
    pub fallback: std::sync::Arc<dyn EmailSender>,
}

#[async_trait]
impl EmailSender for WithFallback {
    fn name(&self) -> &'static str {
        self.primary.name()
    }

    fn max_batch(&self) -> usize {
        self.primary.max_batch()
    }

    async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, EmailError> {
        match self.primary.send(email).await {
            Err(e) if e.is_retryable() => {
                tracing::warn!(
                    email_id = %email.id,
                    primary = self.primary.name(),
                    fallback = self.fallback.name(),
                    error = %e,
                    "email provider failed; trying the fallback"
                );
                self.fallback.send(email).await
            }
            other => other,
        }
    }

    async fn send_batch(&self, emails: &[OutgoingEmail]) -> Vec<Result<Accepted, EmailError>> {
        let mut results = self.primary.send_batch(emails).await;
        let retry: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Err(e) if e.is_retryable()))
            .map(|(i, _)| i)
            .collect();
        if !retry.is_empty() {
            let again: Vec<OutgoingEmail> = retry.iter().map(|&i| emails[i].clone()).collect();
            let second = self.fallback.send_batch(&again).await;
            for (i, r) in retry.into_iter().zip(second) {
                results[i] = r;
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug)]
    struct Scripted {
        name: &'static str,
        answer: fn(&OutgoingEmail) -> Result<Accepted, EmailError>,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl EmailSender for Scripted {
        fn name(&self) -> &'static str {
            self.name
        }
        async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, EmailError> {
            self.seen.lock().unwrap().push(email.id.clone());
            (self.answer)(email)
        }
    }

    fn email(id: &str) -> OutgoingEmail {
        OutgoingEmail {
            id: id.into(),
            org_id: "acme".into(),
            from_address: "hello@example.com".into(),
            from_name: Some("Acme \"Support\" <x@evil>".into()),
            reply_to: None,
            to: "ann@example.org".into(),
            subject: "Hi".into(),
            html: "<p>Hi</p>".into(),
            text: "Hi".into(),
        }
    }

    #[tokio::test]
    async fn fallback_takes_only_retryable_failures() {
        let primary = Arc::new(Scripted {
            name: "resend",
            answer: |e| match e.id.as_str() {
                "down" => Err(EmailError::Transient("http 503".into())),
                "bad" => Err(EmailError::from_http(422, "invalid to")),
                _ => Ok(Accepted {
                    provider: "resend",
                    provider_id: Some("r1".into()),
                }),
            },
            seen: Mutex::default(),
        });
        let fallback = Arc::new(Scripted {
            name: "smtp",
            answer: |_| {
                Ok(Accepted {
                    provider: "smtp",
                    provider_id: None,
                })
            },
            seen: Mutex::default(),
        });
        let both = WithFallback {
            primary: primary.clone(),
            fallback: fallback.clone(),
        };
        let results = both
            .send_batch(&[email("ok"), email("down"), email("bad")])
            .await;
        assert_eq!(results[0].as_ref().unwrap().provider, "resend");
        assert_eq!(results[1].as_ref().unwrap().provider, "smtp");
        assert!(matches!(
            results[2],
            Err(EmailError::Rejected { status: 422, .. })
        ));
        assert_eq!(*fallback.seen.lock().unwrap(), vec!["down".to_string()]);
        assert_eq!(
            both.send(&email("down")).await.unwrap().provider,
            "smtp",
            "single sends fall back too"
        );
    }

    #[test]
    fn percent_escapes_decode_and_broken_ones_are_refused() {
        assert_eq!(
            percent_decode("ann%40example.org").as_deref(),
            Some("ann@example.org")
        );
        assert_eq!(
            percent_decode("ann@example.org").as_deref(),
            Some("ann@example.org")
        );
        assert_eq!(percent_decode("p%C3%A4ss").as_deref(), Some("päss"));
        assert_eq!(percent_decode("ann%4"), None);
        assert_eq!(percent_decode("%ff%fe"), None);
    }

    #[test]
    fn statuses_are_classified_and_names_cannot_forge_addresses() {
        assert!(EmailError::from_http(429, "slow down").is_retryable());
        assert!(EmailError::from_http(500, "oops").is_retryable());
        assert!(!EmailError::from_http(400, "bad").is_retryable());
        assert!(EmailError::from_http(403, "domain not verified").is_retryable());
        assert!(EmailError::from_http(401, "bad key").is_retryable());
        assert!(!EmailError::from_http(422, "invalid to").is_retryable());
        assert_eq!(
            email("x").from_header(),
            "\"Acme Support x@evil\" <hello@example.com>"
        );
        let dbg = format!("{:?}", email("x"));
        assert!(!dbg.contains("ann@example.org"), "{dbg}");
    }
}
