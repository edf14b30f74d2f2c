//! The Resend provider: `POST /emails`, and `POST /emails/batch` for up to 100 emails in
//! one request.
//!
//! Why Resend first: it takes an `Idempotency-Key` (kept 24 hours), so a retry after a
//! crash between its acceptance and our record of it returns the first acceptance
//! instead of sending a second email; and its batch call cuts a campaign's requests a
//! hundredfold, which matters under its default rate limit of a few requests a second.
//!
//! Each email carries two tags, `switchboard_email_id` and `org_id`, which Resend shows
//! in its dashboard and echoes in delivery events. Resend accepts only ASCII letters,
//! digits, `_` and `-` (at most 256) in a tag value; a value outside that (an org id
//! with `.` or `:`) is left out rather than rewritten, since a rewritten id would look
//! like another org's. Events are matched by Resend's email id anyway.
//!
//! Batches are sent with `x-batch-validation: permissive`: Resend then creates the
//! valid emails and lists the invalid ones in `errors` by index, so one bad address
//! does not hold back the other 99. Should Resend still refuse a whole batch as
//! invalid (400/422), the emails are sent one by one so each gets its own verdict. The
//! batch's idempotency key is derived from its email ids, so a retried batch is
//! recognised only when it holds the same emails; single sends use the email id.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::email::{Accepted, EmailError, EmailSender, OutgoingEmail};
use switchboard_core::secrets::{SecretName, SecretString, Secrets};
use tracing::warn;

use super::sanitise::provider_message;

/// Resend's API base URL.
pub const RESEND_API_BASE: &str = "https://api.resend.com";

/// Most emails Resend takes in one batch request.
pub const RESEND_MAX_BATCH: usize = 100;

const NAME: &str = "resend";

/// Longest idempotency key Resend accepts.
const MAX_IDEMPOTENCY_KEY: usize = 256;

/// Longest tag value Resend accepts.
const MAX_TAG_VALUE: usize = 256;

/// The status given to an email Resend listed in a permissive batch's `errors`: the one
/// its single-send endpoint answers for the same validation failure.
const BATCH_ITEM_INVALID: u16 = 422;

/// The Resend client.
#[derive(Clone)]
pub struct ResendClient {
    api: super::KeyedApi,
}

impl std::fmt::Debug for ResendClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResendClient({})", self.api.base)
    }
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    data: Vec<Created>,
    #[serde(default)]
    errors: Vec<BatchItemError>,
}

#[derive(Deserialize)]
struct BatchItemError {
    index: usize,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ResendClient {
    /// A client for `base_url` ([`RESEND_API_BASE`] in production). `RESEND_API_KEY` is
    /// read from `secrets` at each send, so a rotated key takes effect with the secrets
    /// cache.
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        secrets: Arc<dyn Secrets>,
    ) -> Self {
        Self {
            api: super::KeyedApi::new(http, base_url, secrets, SecretName::ResendApiKey, NAME),
        }
    }

    /// POSTs `body` and returns the answer's bytes on 2xx, else the classified error.
    async fn post(
        &self,
        key: &SecretString,
        path: &str,
        idempotency_key: &str,
        permissive: bool,
        body: &Value,
    ) -> Result<Vec<u8>, EmailError> {
        let mut req = self
            .api
            .http
            .post(format!("{}{path}", self.api.base))
            .bearer_auth(key.expose())
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        if permissive {
            req = req.header("x-batch-validation", "permissive");
        }
        let resp = req.send().await.map_err(|e| {
            EmailError::Transient(
                if e.is_timeout() {
                    "resend: timed out"
                } else if e.is_connect() {
                    "resend: connection failed"
                } else {
                    "resend: request failed"
                }
                .into(),
            )
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default().to_vec();
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let reason = match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(ApiError {
                name: Some(name),
                message: Some(message),
            }) => format!("{name}: {message}"),
            Ok(ApiError {
                message: Some(message),
                ..
            }) => message,
            Ok(ApiError {
                name: Some(name), ..
            }) => name,
            _ => "no error detail".to_owned(),
        };
        Err(EmailError::from_http(
            status,
            provider_message(&reason, &[key.expose()]),
        ))
    }

    async fn send_with_key(
        &self,
        key: &SecretString,
        email: &OutgoingEmail,
    ) -> Result<Accepted, EmailError> {
        let bytes = self
            .post(
                key,
                "/emails",
                &idempotency_key(&email.id),
                false,
                &email_body(email),
            )
            .await?;
        let provider_id = serde_json::from_slice::<Created>(&bytes).ok().map(|c| c.id);
        if provider_id.is_none() {
            // Accepted all the same: reporting a failure would send it again.
            warn!(email_id = %email.id, "Resend accepted an email without returning its id");
        }
        Ok(Accepted {
            provider: NAME,
            provider_id,
        })
    }

    /// Sends at most [`RESEND_MAX_BATCH`] emails in one request.
    async fn send_chunk(&self, chunk: &[OutgoingEmail]) -> Vec<Result<Accepted, EmailError>> {
        let key = match self.api.key().await {
            Ok(key) => key,
            Err(e) => return vec![Err(e); chunk.len()],
        };
        let body = Value::Array(chunk.iter().map(email_body).collect());
        match self
            .post(&key, "/emails/batch", &batch_key(chunk), true, &body)
            .await
        {
            Ok(bytes) => per_email(chunk, &bytes, &key),
            Err(EmailError::Rejected {
                status: status @ (400 | 422),
                ..
            }) => {
                // In permissive mode Resend reports invalid emails one by one; refusing the
                // whole batch means it could not tell which. Sending them singly gives each
                // its own verdict (a rare case: it costs one request per email).
                warn!(
                    status,
                    emails = chunk.len(),
                    "Resend refused a whole batch; sending its emails one by one"
                );
                let mut out = Vec::with_capacity(chunk.len());
                for email in chunk {
                    out.push(self.send_with_key(&key, email).await);
                }
                out
            }
            // A key, domain or availability problem: the same for every email.
            Err(e) => vec![Err(e); chunk.len()],
        }
    }
}

/// One result per email of a batch from Resend's `{data, errors}` answer.
///
/// `data` lists the created emails in request order, skipping those listed in
/// `errors` (by index), so ids are handed out in order to the emails without an error.
fn per_email(
    chunk: &[OutgoingEmail],
    bytes: &[u8],
    key: &SecretString,
) -> Vec<Result<Accepted, EmailError>> {
    let accepted = |provider_id| {
        Ok(Accepted {
            provider: NAME,
            provider_id,
        })
    };
    let Ok(answer) = serde_json::from_slice::<BatchAnswer>(bytes) else {
        // A 2xx means Resend took the batch: report the emails accepted (without ids)
        // rather than failed, which would send them again.
        warn!(
            emails = chunk.len(),
            "Resend accepted a batch with an unreadable answer"
        );
        return chunk.iter().map(|_| accepted(None)).collect();
    };
    let mut results: Vec<Option<Result<Accepted, EmailError>>> = vec![None; chunk.len()];
    for err in answer.errors {
        match results.get_mut(err.index) {
            Some(slot @ None) => {
                *slot = Some(Err(EmailError::Rejected {
                    status: BATCH_ITEM_INVALID,
                    message: provider_message(&err.message, &[key.expose()]),
                }));
            }
            _ => warn!(
                index = err.index,
                "Resend reported an error for an email not in the batch"
            ),
        }
    }
    let open = results.iter().filter(|r| r.is_none()).count();
    let mut ids = if answer.data.len() == open {
        Some(answer.data.into_iter().map(|c| c.id))
    } else {
        // Ids cannot be matched to emails; the emails were still created. Their events
        // are matched through the `switchboard_email_id` tag.
        warn!(
            ids = answer.data.len(),
            expected = open,
            "Resend's batch answer does not line up with the batch"
        );
        None
    };
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| accepted(ids.as_mut().and_then(Iterator::next))))
        .collect()
}

/// The JSON Resend's `/emails` takes for `email` (an element of `/emails/batch`).
fn email_body(email: &OutgoingEmail) -> Value {
    let mut body = json!({
        "from": email.from_header(),
        "to": [email.to],
        "subject": email.subject,
    });
    // An empty part is left out: Resend derives the text part from the HTML when `text`
    // is absent, while an empty string would opt out of that.
    if !email.html.is_empty() {
        body["html"] = json!(email.html);
    }
    if !email.text.is_empty() {
        body["text"] = json!(email.text);
    }
    if let Some(reply_to) = email.reply_to.as_deref().filter(|r| !r.trim().is_empty()) {
        body["reply_to"] = json!(reply_to);
    }
    let tags: Vec<Value> = [
        ("switchboard_email_id", &email.id),
        ("org_id", &email.org_id),
    ]
    .into_iter()
    .filter(|(_, value)| valid_tag_value(value))
    .map(|(name, value)| json!({"name": name, "value": value}))
    .collect();
    if !tags.is_empty() {
        body["tags"] = Value::Array(tags);
    }
    body
}

/// Whether Resend accepts `value` as a tag value.
fn valid_tag_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_TAG_VALUE
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The email id, or a hash of it where it is longer than Resend allows (Switchboard's
/// ids never are).
fn idempotency_key(id: &str) -> String {
    if id.len() <= MAX_IDEMPOTENCY_KEY {
        id.to_owned()
    } else {
        format!(
            "sha256-{}",
            switchboard_webhooks::sha256_hex(&[id.as_bytes()])
        )
    }
}

/// `batch-` and the SHA-256 of the batch's email ids, one per line.
fn batch_key(chunk: &[OutgoingEmail]) -> String {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(chunk.len() * 2);
    for (i, email) in chunk.iter().enumerate() {
        if i > 0 {
            parts.push(b"\n");
        }
        parts.push(email.id.as_bytes());
    }
    format!("batch-{}", switchboard_webhooks::sha256_hex(&parts))
}

#[async_trait]
impl EmailSender for ResendClient {
    fn name(&self) -> &'static str {
        NAME
    }

    fn max_batch(&self) -> usize {
        RESEND_MAX_BATCH
    }

    async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, EmailError> {
        let key = self.api.key().await?;
        self.send_with_key(&key, email).await
    }

    async fn send_batch(&self, emails: &[OutgoingEmail]) -> Vec<Result<Accepted, EmailError>> {
        if let [one] = emails {
            // The single endpoint keys on the email id: a retry of this email alone is
            // recognised whichever way it is sent next.
            return vec![self.send(one).await];
        }
        let mut out = Vec::with_capacity(emails.len());
        for chunk in emails.chunks(RESEND_MAX_BATCH) {
            out.extend(self.send_chunk(chunk).await);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::testing::{FixedSecrets, email};
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const KEY: &str = "re_test_9f8e7d";

    fn client(server: &MockServer) -> ResendClient {
        ResendClient::new(
            reqwest::Client::new(),
            format!("{}/", server.uri()),
            Arc::new(FixedSecrets::with(SecretName::ResendApiKey, KEY)),
        )
    }

    fn expected_body(id: &str, to: &str) -> Value {
        json!({
            "from": "\"Clinic Reminders\" <reminders@clinic.example>",
            "to": [to],
            "subject": "Your appointment tomorrow",
            "html": "<p>See you at <b>10:00</b>.</p>",
            "text": "See you at 10:00.",
            "reply_to": "front-desk@clinic.example",
            "tags": [
                {"name": "switchboard_email_id", "value": id},
                {"name": "org_id", "value": "acme"}
            ]
        })
    }

    fn leaks(err: &EmailError, address: &str) -> bool {
        let text = format!("{err} {err:?}");
        text.contains(KEY) || text.contains(address)
    }

    #[tokio::test]
    async fn send_posts_the_email_with_key_idempotency_and_tags() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/emails"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("idempotency-key", "em_1"))
            .and(header("content-type", "application/json"))
            .and(body_json(expected_body("em_1", "ann@example.org")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "49a3999c-0ce1"})))
            .expect(1)
            .mount(&server)
            .await;
        let accepted = client(&server)
            .send(&email("em_1", "ann@example.org"))
            .await
            .unwrap();
        assert_eq!(
            accepted,
            Accepted {
                provider: "resend",
                provider_id: Some("49a3999c-0ce1".into())
            }
        );
        // No batch header on a single send.
        let sent = &server.received_requests().await.unwrap()[0];
        assert!(!sent.headers.contains_key("x-batch-validation"));
    }

    #[test]
    fn tags_resend_would_refuse_are_left_out_and_optional_fields_omitted() {
        let mut e = email("em_1", "ann@example.org");
        e.org_id = "acme.io:eu".into();
        e.from_name = None;
        e.reply_to = None;
        e.text = String::new();
        assert_eq!(
            email_body(&e),
            json!({
                "from": "reminders@clinic.example",
                "to": ["ann@example.org"],
                "subject": "Your appointment tomorrow",
                "html": "<p>See you at <b>10:00</b>.</p>",
                "tags": [{"name": "switchboard_email_id", "value": "em_1"}]
            })
        );
        assert!(valid_tag_value("org_2x-Y9"));
        assert!(!valid_tag_value(""));
        assert!(!valid_tag_value(&"a".repeat(257)));
        assert_eq!(idempotency_key("em_1"), "em_1");
        assert_eq!(idempotency_key(&"x".repeat(300)).len(), 7 + 64);
    }

    #[tokio::test]
    async fn a_batch_is_one_permissive_request_and_errors_map_by_index() {
        let server = MockServer::start().await;
        let emails = [
            email("em_1", "ann@example.org"),
            email("em_2", "bob@example"),
            email("em_3", "cy@example.org"),
        ];
        let batch_key = format!(
            "batch-{}",
            switchboard_webhooks::sha256_hex(&[b"em_1\nem_2\nem_3"])
        );
        Mock::given(method("POST"))
            .and(path("/emails/batch"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("idempotency-key", batch_key.as_str()))
            .and(header("x-batch-validation", "permissive"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!([
                expected_body("em_1", "ann@example.org"),
                expected_body("em_2", "bob@example"),
                expected_body("em_3", "cy@example.org"),
            ])))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [{"id": "r-a"}, {"id": "r-c"}],
                "errors": [{"index": 1, "message": "Invalid `to` field: bob@example"}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let results = client(&server).send_batch(&emails).await;
        assert_eq!(results.len(), 3);
        assert_eq!(
            results[0].as_ref().unwrap().provider_id.as_deref(),
            Some("r-a")
        );
        assert_eq!(
            results[2].as_ref().unwrap().provider_id.as_deref(),
            Some("r-c")
        );
        let err = results[1].as_ref().unwrap_err();
        assert!(
            matches!(err, EmailError::Rejected { status: 422, message } if message == "Invalid `to` field: b***@example"),
            "{err:?}"
        );
        assert!(!leaks(err, "bob@example"));
        assert_eq!(client(&server).max_batch(), 100);
    }

    #[tokio::test]
    async fn an_answer_that_does_not_line_up_still_accepts_the_emails() {
        let server = MockServer::start().await;
        Mock::given(path("/emails/batch"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "only-one"}]})),
            )
            .mount(&server)
            .await;
        let results = client(&server)
            .send_batch(&[email("em_1", "a@x.org"), email("em_2", "b@x.org")])
            .await;
        for r in results {
            assert_eq!(r.unwrap().provider_id, None);
        }
    }

    #[tokio::test]
    async fn a_whole_batch_refused_as_invalid_is_sent_one_by_one() {
        let server = MockServer::start().await;
        Mock::given(path("/emails/batch"))
            .respond_with(ResponseTemplate::new(422).set_body_json(
                json!({"statusCode": 422, "name": "validation_error", "message": "Invalid batch"}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(path("/emails"))
            .and(header("idempotency-key", "em_1"))
            .and(body_json(expected_body("em_1", "ann@example.org")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "r-1"})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(path("/emails"))
            .and(header("idempotency-key", "em_2"))
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({
                "statusCode": 422, "name": "validation_error",
                "message": "Invalid `to` field. bob@@example.org is not a valid address."
            })))
            .expect(1)
            .mount(&server)
            .await;
        let results = client(&server)
            .send_batch(&[
                email("em_1", "ann@example.org"),
                email("em_2", "bob@@example.org"),
            ])
            .await;
        assert_eq!(
            results[0].as_ref().unwrap().provider_id.as_deref(),
            Some("r-1")
        );
        let err = results[1].as_ref().unwrap_err();
        assert!(
            matches!(err, EmailError::Rejected { status: 422, .. }),
            "{err:?}"
        );
        assert!(!leaks(err, "bob@@example.org"), "{err}");
        assert!(!leaks(err, "@example.org is"), "{err}");
    }

    #[tokio::test]
    async fn a_batch_refused_for_the_key_retries_every_email_without_single_sends() {
        let server = MockServer::start().await;
        Mock::given(path("/emails/batch"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "statusCode": 401, "name": "missing_api_key", "message": "Missing API key in the authorization header"
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(path("/emails"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let results = client(&server)
            .send_batch(&[email("em_1", "a@x.org"), email("em_2", "b@x.org")])
            .await;
        for r in results {
            assert!(
                matches!(r, Err(EmailError::Transient(ref m)) if m.starts_with("http 401")),
                "a refused key retries: {r:?}"
            );
        }
        let server = MockServer::start().await;
        Mock::given(path("/emails/batch"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let results = client(&server)
            .send_batch(&[email("em_1", "a@x.org"), email("em_2", "b@x.org")])
            .await;
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(e) if e.is_retryable()))
        );
    }

    #[tokio::test]
    async fn statuses_are_classified_and_errors_leak_neither_key_nor_address() {
        for (status, retryable) in [(422, false), (403, true), (429, true), (500, true)] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/emails"))
                .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                    "statusCode": status,
                    "name": "some_error",
                    "message": format!("refused ann@example.org with key {KEY}")
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
            assert!(!leaks(&err, "ann@example.org"), "{err}");
            assert!(err.to_string().contains("a***@example.org"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_missing_key_sends_nothing_and_transport_failures_are_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let unconfigured = ResendClient::new(
            reqwest::Client::new(),
            server.uri(),
            Arc::new(FixedSecrets::none()),
        );
        assert_eq!(
            unconfigured
                .send(&email("em_1", "a@x.org"))
                .await
                .unwrap_err(),
            EmailError::NotConfigured("resend")
        );
        let batch = unconfigured
            .send_batch(&[email("em_1", "a@x.org"), email("em_2", "b@x.org")])
            .await;
        assert!(
            batch
                .iter()
                .all(|r| *r == Err(EmailError::NotConfigured("resend")))
        );
        let store_down = ResendClient::new(
            reqwest::Client::new(),
            server.uri(),
            Arc::new(FixedSecrets::unavailable()),
        );
        assert!(
            store_down
                .send(&email("em_1", "a@x.org"))
                .await
                .unwrap_err()
                .is_retryable()
        );

        // Nothing listening.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let offline = ResendClient::new(
            reqwest::Client::new(),
            format!("http://127.0.0.1:{port}"),
            Arc::new(FixedSecrets::with(SecretName::ResendApiKey, KEY)),
        );
        let err = offline.send(&email("em_1", "a@x.org")).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(!leaks(&err, "a@x.org"));
    }

    #[tokio::test]
    async fn a_batch_of_one_uses_the_single_endpoint_and_its_key() {
        let server = MockServer::start().await;
        Mock::given(path("/emails"))
            .and(header("idempotency-key", "em_9"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "r-9"})))
            .expect(1)
            .mount(&server)
            .await;
        let results = client(&server)
            .send_batch(&[email("em_9", "a@x.org")])
            .await;
        assert_eq!(
            results[0].as_ref().unwrap().provider_id.as_deref(),
            Some("r-9")
        );
        assert!(client(&server).send_batch(&[]).await.is_empty());
    }
}
