//! The SendGrid provider: `POST /v3/mail/send`, one email per request.
//!
//! Why it is here: many customers already have a SendGrid account and sender
//! reputation; Switchboard sends through it when `EMAIL_PROVIDER=sendgrid`.
//!
//! What it lacks, and what that means:
//! - **No idempotency key.** SendGrid's v3 Mail Send takes none, so a retry after a
//!   crash between SendGrid's `202` and our record of it sends the email a second time.
//!   The window is short (one store write), and the email id rides along in
//!   `custom_args` so the duplicate is at least recognisable in events.
//! - **No batch of distinct emails.** One request can carry many personalizations of one
//!   content, not different contents, so [`EmailSender::max_batch`] is 1.
//!
//! SendGrid answers `202 Accepted` with an empty body; its id for the message is the
//! `X-Message-Id` response header (the prefix of the `sg_message_id` its events carry).
//! `custom_args` (`switchboard_email_id`, `org_id`) come back in every event.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::email::{Accepted, EmailError, EmailSender, OutgoingEmail};
use switchboard_core::secrets::{SecretName, Secrets};
use tracing::warn;

use super::sanitise::{display_name, provider_message};

/// SendGrid's API base URL.
pub const SENDGRID_API_BASE: &str = "https://api.sendgrid.com";

const NAME: &str = "sendgrid";

/// The SendGrid client.
#[derive(Clone)]
pub struct SendGridClient {
    api: super::KeyedApi,
}

impl std::fmt::Debug for SendGridClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SendGridClient({})", self.api.base)
    }
}

#[derive(Deserialize)]
struct ApiErrors {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

impl SendGridClient {
    /// A client for `base_url` ([`SENDGRID_API_BASE`] in production). `SENDGRID_API_KEY`
    /// is read from `secrets` at each send, so a rotated key takes effect with the
    /// secrets cache.
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        secrets: Arc<dyn Secrets>,
    ) -> Self {
        Self {
            api: super::KeyedApi::new(http, base_url, secrets, SecretName::SendgridApiKey, NAME),
        }
    }
}

/// The JSON SendGrid's v3 Mail Send takes for `email`.
fn mail_body(email: &OutgoingEmail) -> Value {
    let mut from = json!({"email": email.from_address});
    if let Some(name) = display_name(email.from_name.as_deref()) {
        from["name"] = json!(name);
    }
    // SendGrid refuses an empty content value, and wants text/plain before text/html.
    let content: Vec<Value> = [("text/plain", &email.text), ("text/html", &email.html)]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(kind, value)| json!({"type": kind, "value": value}))
        .collect();
    let mut body = json!({
        "personalizations": [{"to": [{"email": email.to}]}],
        "from": from,
        "subject": email.subject,
        "content": content,
        "custom_args": {"switchboard_email_id": email.id, "org_id": email.org_id},
    });
    if let Some(reply_to) = email.reply_to.as_deref().filter(|r| !r.trim().is_empty()) {
        body["reply_to"] = json!({"email": reply_to});
    }
    body
}

#[async_trait]
impl EmailSender for SendGridClient {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, EmailError> {
        let key = self.api.key().await?;
        let resp = self
            .api
            .http
            .post(format!("{}/v3/mail/send", self.api.base))
            .bearer_auth(key.expose())
            .json(&mail_body(email))
            .send()
            .await
            .map_err(|e| {
                EmailError::Transient(
                    if e.is_timeout() {
                        "sendgrid: timed out"
                    } else if e.is_connect() {
                        "sendgrid: connection failed"
                    } else {
                        "sendgrid: request failed"
                    }
                    .into(),
                )
            })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            let provider_id = resp
                .headers()
                .get("x-message-id")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            if provider_id.is_none() {
                // Accepted all the same: reporting a failure would send it again.
                warn!(email_id = %email.id, "SendGrid accepted an email without X-Message-Id");
            }
            return Ok(Accepted {
                provider: NAME,
                provider_id,
            });
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        let reason = serde_json::from_slice::<ApiErrors>(&bytes)
            .ok()
            .map(|e| {
                e.errors
                    .into_iter()
                    .filter_map(|e| match (e.field, e.message) {
                        (Some(field), Some(message)) => Some(format!("{field}: {message}")),
                        (None, Some(message)) => Some(message),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "no error detail".to_owned());
        Err(EmailError::from_http(
            status,
            provider_message(&reason, &[key.expose()]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::testing::{FixedSecrets, email};
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const KEY: &str = "SG.test-key.abc123";

    fn client(server: &MockServer) -> SendGridClient {
        SendGridClient::new(
            reqwest::Client::new(),
            server.uri(),
            Arc::new(FixedSecrets::with(SecretName::SendgridApiKey, KEY)),
        )
    }

    #[tokio::test]
    async fn send_posts_mail_send_and_returns_the_message_id() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v3/mail/send"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({
                "personalizations": [{"to": [{"email": "ann@example.org"}]}],
                "from": {"email": "reminders@clinic.example", "name": "Clinic Reminders"},
                "reply_to": {"email": "front-desk@clinic.example"},
                "subject": "Your appointment tomorrow",
                "content": [
                    {"type": "text/plain", "value": "See you at 10:00."},
                    {"type": "text/html", "value": "<p>See you at <b>10:00</b>.</p>"}
                ],
                "custom_args": {"switchboard_email_id": "em_1", "org_id": "acme"}
            })))
            .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "14c5d75ce93"))
            .expect(1)
            .mount(&server)
            .await;
        let sender = client(&server);
        assert_eq!(sender.max_batch(), 1);
        let accepted = sender
            .send(&email("em_1", "ann@example.org"))
            .await
            .unwrap();
        assert_eq!(
            accepted,
            Accepted {
                provider: "sendgrid",
                provider_id: Some("14c5d75ce93".into())
            }
        );
        // SendGrid has no idempotency key: none is sent.
        let sent = &server.received_requests().await.unwrap()[0];
        assert!(!sent.headers.contains_key("idempotency-key"));
    }

    #[test]
    fn optional_fields_are_left_out_and_names_cleaned() {
        let mut e = email("em_1", "ann@example.org");
        e.from_name = Some(" \"Acme\" <x@evil>\r\n".into());
        e.reply_to = None;
        e.html = String::new();
        let body = mail_body(&e);
        assert_eq!(
            body["from"],
            json!({"email": "reminders@clinic.example", "name": "Acme x@evil"})
        );
        assert!(body.get("reply_to").is_none());
        assert_eq!(
            body["content"],
            json!([{"type": "text/plain", "value": "See you at 10:00."}])
        );
        e.from_name = Some("  ".into());
        assert_eq!(
            mail_body(&e)["from"],
            json!({"email": "reminders@clinic.example"})
        );
    }

    #[tokio::test]
    async fn statuses_are_classified_and_errors_leak_neither_key_nor_address() {
        for (status, retryable) in [
            (400, false),
            (403, true),
            (413, false),
            (429, true),
            (500, true),
        ] {
            let server = MockServer::start().await;
            Mock::given(path("/v3/mail/send"))
                .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                    "errors": [
                        {"message": "Does not contain a valid address: ann@example.org", "field": "personalizations.0.to.0.email", "help": null},
                        {"message": format!("bad key {KEY}"), "field": null}
                    ]
                })))
                .mount(&server)
                .await;
            let err = client(&server)
                .send(&email("em_1", "ann@example.org"))
                .await
                .unwrap_err();
            assert_eq!(err.is_retryable(), retryable, "{status}: {err:?}");
            if !retryable {
                assert!(matches!(err, EmailError::Rejected { status: s, .. } if s == status));
            }
            let text = format!("{err} {err:?}");
            assert!(
                !text.contains("ann@example.org") && !text.contains(KEY),
                "{text}"
            );
            assert!(
                text.contains("personalizations.0.to.0.email: Does not contain a valid address: a***@example.org"),
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_key_sends_nothing_and_transport_failures_are_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(202))
            .expect(0)
            .mount(&server)
            .await;
        let unconfigured = SendGridClient::new(
            reqwest::Client::new(),
            server.uri(),
            Arc::new(FixedSecrets::none()),
        );
        assert_eq!(
            unconfigured
                .send(&email("em_1", "a@x.org"))
                .await
                .unwrap_err(),
            EmailError::NotConfigured("sendgrid")
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let offline = SendGridClient::new(
            reqwest::Client::new(),
            format!("http://127.0.0.1:{port}"),
            Arc::new(FixedSecrets::with(SecretName::SendgridApiKey, KEY)),
        );
        assert!(
            offline
                .send(&email("em_1", "a@x.org"))
                .await
                .unwrap_err()
                .is_retryable()
        );
    }

    #[tokio::test]
    async fn an_acceptance_without_message_id_is_still_an_acceptance() {
        let server = MockServer::start().await;
        Mock::given(path("/v3/mail/send"))
            .respond_with(ResponseTemplate::new(202))
            .mount(&server)
            .await;
        let accepted = client(&server)
            .send(&email("em_1", "a@x.org"))
            .await
            .unwrap();
        assert_eq!(accepted.provider_id, None);
    }
}
