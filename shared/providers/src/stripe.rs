//! The Stripe API client: a small reqwest client for the five endpoints billing uses.
//!
//! Why not a crate: async-stripe's generated crates cover Stripe's whole surface; for
//! five endpoints a hand-written client adds no dependency (reqwest and rustls are
//! already in the tree) and no build time, where the generated crates added minutes to
//! a clean build on the reference machine (see the README's performance section).
//!
//! Every request: `Authorization: Bearer <key>` (the key comes from the secrets port at
//! call time, so a rotated key takes effect with the secrets cache), `Stripe-Version`
//! pinned, form-encoded bodies, an `Idempotency-Key` on every POST. Failures on 429,
//! 5xx and network errors are retried with exponential backoff, unless Stripe's
//! `Stripe-Should-Retry` header says not to (and retried when it says to).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use switchboard_core::ids::OrgId;
use switchboard_core::secrets::{SecretName, Secrets};
use switchboard_core::stripe::{CheckoutRequest, StripeApi, StripeError};

/// The API version Switchboard's parsing is written against.
pub const STRIPE_VERSION: &str = "2025-09-30.clover";

/// The Stripe client.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    secrets: Arc<dyn Secrets>,
    max_attempts: u32,
    backoff: Duration,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StripeClient({})", self.base)
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct WithId {
    id: String,
}

#[derive(Deserialize)]
struct WithUrl {
    url: String,
}

impl StripeClient {
    /// A client for `base` (`https://api.stripe.com` in production).
    pub fn new(http: reqwest::Client, base: impl Into<String>, secrets: Arc<dyn Secrets>) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            secrets,
            max_attempts: 3,
            backoff: Duration::from_millis(500),
        }
    }

    /// Sets the retry policy (tests shorten the backoff).
    pub fn with_retries(mut self, max_attempts: u32, backoff: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.backoff = backoff;
        self
    }

    async fn key(&self) -> Result<String, StripeError> {
        match self.secrets.get(SecretName::StripeApiKey).await {
            Ok(Some(k)) => Ok(k.expose().to_owned()),
            Ok(None) => Err(StripeError::NotConfigured),
            Err(e) => Err(StripeError::Transport(e.to_string())),
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        form: Option<&[(String, String)]>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, StripeError> {
        let key = self.key().await?;
        let body = form.map(|pairs| {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                s.append_pair(k, v);
            }
            s.finish()
        });
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&key)
                .header("Stripe-Version", STRIPE_VERSION);
            if let Some(k) = idempotency_key {
                req = req.header("Idempotency-Key", k);
            }
            if let Some(b) = &body {
                req = req
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(b.clone());
            }
            let result = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let should_retry = resp
                        .headers()
                        .get("stripe-should-retry")
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v == "true");
                    let bytes = resp.bytes().await.unwrap_or_default();
                    if (200..300).contains(&status) {
                        return serde_json::from_slice(&bytes).map_err(|e| {
                            StripeError::Transport(format!("unreadable Stripe answer: {e}"))
                        });
                    }
                    let retryable =
                        should_retry.unwrap_or(status == 429 || status >= 500 || status == 409);
                    let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
                        Ok(e) => (
                            e.error.code.or(e.error.kind),
                            e.error.message.unwrap_or_default(),
                        ),
                        Err(_) => (None, format!("HTTP {status}")),
                    };
                    Err(StripeError::Api {
                        status,
                        code,
                        message,
                        retryable,
                    })
                }
                Err(e) => Err(StripeError::Transport(if e.is_timeout() {
                    "timed out".into()
                } else {
                    "request failed".into()
                })),
            };
            match result {
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    let jitter = (uuid::Uuid::new_v4().as_u128() % 100) as u64;
                    tokio::time::sleep(
                        self.backoff * 2u32.pow(attempt - 1) + Duration::from_millis(jitter),
                    )
                    .await;
                }
                other => return other,
            }
        }
    }
}

impl StripeClient {
    /// POSTs a form and decodes the answer into `T`.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        let v = self
            .request(
                reqwest::Method::POST,
                path,
                Some(form),
                Some(idempotency_key),
            )
            .await?;
        serde_json::from_value(v)
            .map_err(|e| StripeError::Transport(format!("unexpected Stripe answer: {e}")))
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[async_trait]
impl StripeApi for StripeClient {
    async fn create_customer(
        &self,
        org: &OrgId,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let form = pairs(&[
            ("metadata[org_id]", org.as_str()),
            ("description", &format!("Switchboard org {org}")),
        ]);
        self.post::<WithId>("/v1/customers", &form, idempotency_key)
            .await
            .map(|r| r.id)
    }

    async fn create_checkout_session(
        &self,
        req: &CheckoutRequest<'_>,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let form = pairs(&[
            ("mode", "subscription"),
            ("customer", req.customer),
            ("client_reference_id", req.org.as_str()),
            ("line_items[0][price]", req.price),
            ("line_items[0][quantity]", "1"),
            ("success_url", req.success_url),
            ("cancel_url", req.cancel_url),
            ("metadata[org_id]", req.org.as_str()),
            ("subscription_data[metadata][org_id]", req.org.as_str()),
        ]);
        self.post::<WithUrl>("/v1/checkout/sessions", &form, idempotency_key)
            .await
            .map(|r| r.url)
    }

    async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let form = pairs(&[("customer", customer), ("return_url", return_url)]);
        self.post::<WithUrl>("/v1/billing_portal/sessions", &form, idempotency_key)
            .await
            .map(|r| r.url)
    }

    async fn get_subscription(&self, id: &str) -> Result<Value, StripeError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StripeError::Api {
                status: 400,
                code: None,
                message: "invalid subscription id".into(),
                retryable: false,
            });
        }
        self.request(
            reqwest::Method::GET,
            &format!("/v1/subscriptions/{id}"),
            None,
            None,
        )
        .await
    }

    async fn create_meter_event(
        &self,
        event_name: &str,
        customer: &str,
        value: u64,
        identifier: &str,
        timestamp: i64,
    ) -> Result<(), StripeError> {
        let value = value.to_string();
        let ts = timestamp.to_string();
        let form = pairs(&[
            ("event_name", event_name),
            ("payload[stripe_customer_id]", customer),
            ("payload[value]", &value),
            ("identifier", identifier),
            ("timestamp", &ts),
        ]);
        self.request(
            reqwest::Method::POST,
            "/v1/billing/meter_events",
            Some(&form),
            Some(identifier),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::secrets::{SecretString, SecretsError};
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[derive(Debug)]
    struct Key(Option<&'static str>);

    #[async_trait]
    impl Secrets for Key {
        async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretsError> {
            Ok(if name == SecretName::StripeApiKey {
                self.0.map(SecretString::new)
            } else {
                None
            })
        }
    }

    fn client(server: &MockServer, key: Option<&'static str>) -> StripeClient {
        StripeClient::new(reqwest::Client::new(), server.uri(), Arc::new(Key(key)))
            .with_retries(3, Duration::from_millis(5))
    }

    #[tokio::test]
    async fn form_bodies_headers_and_idempotency() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/checkout/sessions"))
            .and(header("authorization", "Bearer sk_test_123"))
            .and(header("stripe-version", STRIPE_VERSION))
            .and(header("idempotency-key", "k1"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string(
                "mode=subscription&customer=cus_1&client_reference_id=acme&line_items%5B0%5D%5Bprice%5D=price_pro&line_items%5B0%5D%5Bquantity%5D=1\
                 &success_url=https%3A%2F%2Fapp.example%2Fok&cancel_url=https%3A%2F%2Fapp.example%2Fno&metadata%5Borg_id%5D=acme&subscription_data%5Bmetadata%5D%5Borg_id%5D=acme",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "cs_1", "url": "https://checkout.stripe.com/c/pay/cs_1"})))
            .expect(1)
            .mount(&server)
            .await;
        let org = OrgId::parse("acme").unwrap();
        let url = client(&server, Some("sk_test_123"))
            .create_checkout_session(
                &CheckoutRequest {
                    org: &org,
                    customer: "cus_1",
                    price: "price_pro",
                    success_url: "https://app.example/ok",
                    cancel_url: "https://app.example/no",
                },
                "k1",
            )
            .await
            .unwrap();
        assert_eq!(url, "https://checkout.stripe.com/c/pay/cs_1");
    }

    #[tokio::test]
    async fn retries_honour_stripe_should_retry() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/subscriptions/sub_1"))
            .respond_with(
                ResponseTemplate::new(500)
                    .insert_header("stripe-should-retry", "true")
                    .set_body_json(
                        serde_json::json!({"error": {"type": "api_error", "message": "boom"}}),
                    ),
            )
            .up_to_n_times(2)
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/subscriptions/sub_1"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"id": "sub_1", "status": "active"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let v = client(&server, Some("sk"))
            .get_subscription("sub_1")
            .await
            .unwrap();
        assert_eq!(v["status"], "active");

        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .respond_with(
                ResponseTemplate::new(503)
                    .insert_header("stripe-should-retry", "false")
                    .set_body_json(
                        serde_json::json!({"error": {"type": "api_error", "message": "no"}}),
                    ),
            )
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server, Some("sk"))
            .create_customer(&OrgId::parse("a").unwrap(), "k")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StripeError::Api {
                    status: 503,
                    retryable: false,
                    ..
                }
            ),
            "{err:?}"
        );

        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/billing/meter_events"))
            .respond_with(ResponseTemplate::new(429).set_body_json(serde_json::json!({"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "slow down"}})))
            .expect(3)
            .mount(&server)
            .await;
        let err = client(&server, Some("sk"))
            .create_meter_event("m", "cus", 1, "id-1", 1)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            StripeError::Api {
                status: 429,
                retryable: true,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn missing_key_and_errors_never_leak_the_key() {
        let server = MockServer::start().await;
        assert_eq!(
            client(&server, None)
                .get_subscription("sub_1")
                .await
                .unwrap_err(),
            StripeError::NotConfigured
        );
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such subscription: 'sub_x'"}})))
            .mount(&server)
            .await;
        let err = client(&server, Some("sk_live_secret"))
            .get_subscription("sub_x")
            .await
            .unwrap_err();
        assert!(err.is_not_found());
        assert!(!format!("{err:?}{err}").contains("sk_live_secret"));
    }
}
