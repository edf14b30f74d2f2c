//! API Gateway's WebSocket Management API behind the realtime push port:
//! `POST {REALTIME_ENDPOINT}/@connections/{id}` with the frame as the body, signed with
//! SigV4 for `execute-api` (`aws-sigv4`, which the SDK clients already link) and sent with
//! the reqwest client every provider uses.
//!
//! Why not `aws-sdk-apigatewaymanagement`: one plain REST call does not justify another
//! SDK client in the package of `worker-realtime`. Credentials and region come from the
//! same SDK config as the other clients (the Lambda role's), loaded on first use.
//!
//! Outcomes: 2xx is delivered; 410 Gone means the client went away (its record is
//! dropped); anything else, or no answer within the SDK's attempt timeout, is a failure
//! with a short code (`http_429`, `timeout`, …) and is not retried here (see
//! `switchboard_core::usecases::realtime`).

use std::time::SystemTime;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use switchboard_core::realtime::{PushOutcome, RealtimePush, valid_connection_id};
use tokio::sync::OnceCell;

use crate::SdkSettings;

/// The Management API of one WebSocket API stage.
pub struct ApiGatewayPush {
    http: reqwest::Client,
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`, without a trailing `/`.
    endpoint: String,
    settings: SdkSettings,
    sdk: OnceCell<SdkConfig>,
}

impl std::fmt::Debug for ApiGatewayPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiGatewayPush")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Percent-encodes a path segment (everything but RFC 3986's unreserved characters), as
/// the SDKs encode a connection id (`…Ihw=` becomes `…Ihw%3D`).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ApiGatewayPush {
    /// The stage at `endpoint`, with the SDK config loaded from the environment on first
    /// use.
    pub fn new(http: reqwest::Client, endpoint: impl Into<String>, settings: SdkSettings) -> Self {
        Self {
            http,
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            settings,
            sdk: OnceCell::new(),
        }
    }

    /// The stage at `endpoint` with a ready SDK config (tests).
    pub fn with_sdk(http: reqwest::Client, endpoint: impl Into<String>, sdk: SdkConfig) -> Self {
        Self {
            http,
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            settings: SdkSettings::DEFAULT,
            sdk: OnceCell::new_with(Some(sdk)),
        }
    }

    async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| crate::config::load_with(&self.settings))
            .await
    }

    /// The signed request, or the code of why it could not be made.
    async fn request(
        &self,
        connection_id: &str,
        payload: &str,
    ) -> Result<reqwest::Request, String> {
        let url = format!(
            "{}/@connections/{}",
            self.endpoint,
            encode_segment(connection_id)
        );
        let sdk = self.sdk().await;
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| "credentials".to_owned())?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|_| "credentials".to_owned())?;
        let identity: Identity = credentials.into();
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| "us-east-1".into());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| "signing".to_owned())?
            .into();
        let headers = [("content-type", "application/json")];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(payload.as_bytes()),
        )
        .map_err(|_| "signing".to_owned())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|_| "signing".to_owned())?
            .into_parts();
        let mut request = http::Request::builder()
            .method("POST")
            .uri(url.as_str())
            .header("content-type", "application/json")
            .body(payload.as_bytes().to_vec())
            .map_err(|_| "request".to_owned())?;
        instructions.apply_to_request_http1x(&mut request);
        let mut request = reqwest::Request::try_from(request).map_err(|_| "request".to_owned())?;
        *request.timeout_mut() = Some(self.settings.attempt_timeout);
        Ok(request)
    }
}

#[async_trait]
impl RealtimePush for ApiGatewayPush {
    async fn push(&self, connection_id: &str, payload: &str) -> PushOutcome {
        if !valid_connection_id(connection_id) {
            // Nothing API Gateway made: a record that can never be pushed to.
            return PushOutcome::Gone;
        }
        let request = match self.request(connection_id, payload).await {
            Ok(r) => r,
            Err(code) => return PushOutcome::Failed(code),
        };
        match self.http.execute(request).await {
            Ok(r) if r.status().is_success() => PushOutcome::Delivered,
            Ok(r) if r.status() == reqwest::StatusCode::GONE => PushOutcome::Gone,
            Ok(r) => PushOutcome::Failed(format!("http_{}", r.status().as_u16())),
            Err(e) if e.is_timeout() => PushOutcome::Failed("timeout".into()),
            Err(e) if e.is_connect() => PushOutcome::Failed("connect".into()),
            Err(_) => PushOutcome::Failed("io".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use wiremock::matchers::{body_string, header, header_regex, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn sdk() -> SdkConfig {
        SdkConfig::builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            )))
            .region(aws_config::Region::new("eu-west-1"))
            .behavior_version(crate::config::behavior_version())
            .build()
    }

    #[test]
    fn connection_ids_are_encoded_in_the_path() {
        assert_eq!(encode_segment("L0SM9cOFvHcCIhw="), "L0SM9cOFvHcCIhw%3D");
        assert_eq!(encode_segment("a+b/c"), "a%2Bb%2Fc");
        assert_eq!(encode_segment("conn_1-2"), "conn_1-2");
    }

    #[tokio::test]
    async fn a_push_is_a_signed_post_to_the_connection() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/prod/@connections/L0SM9cOFvHcCIhw%3D"))
            .and(header("content-type", "application/json"))
            .and(header_regex(
                "authorization",
                r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/execute-api/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$",
            ))
            .and(header_regex("x-amz-date", r"^\d{8}T\d{6}Z$"))
            .and(body_string(r#"{"id":"evt_1","type":"message.received"}"#))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        let push = ApiGatewayPush::with_sdk(
            reqwest::Client::new(),
            format!("{}/prod/", server.uri()),
            sdk(),
        );
        let outcome = push
            .push(
                "L0SM9cOFvHcCIhw=",
                r#"{"id":"evt_1","type":"message.received"}"#,
            )
            .await;
        assert_eq!(outcome, PushOutcome::Delivered);
    }

    #[tokio::test]
    async fn gone_and_other_answers_are_told_apart() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/prod/@connections/gone1"))
            .respond_with(ResponseTemplate::new(410))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/prod/@connections/busy1"))
            .respond_with(ResponseTemplate::new(429))
            .mount(&server)
            .await;
        let push = ApiGatewayPush::with_sdk(
            reqwest::Client::new(),
            format!("{}/prod", server.uri()),
            sdk(),
        );
        assert_eq!(push.push("gone1", "{}").await, PushOutcome::Gone);
        assert_eq!(
            push.push("busy1", "{}").await,
            PushOutcome::Failed("http_429".into())
        );
        // Not a connection id API Gateway makes: never sent.
        assert_eq!(push.push("../x", "{}").await, PushOutcome::Gone);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn no_answer_is_a_failure_not_gone() {
        // A port nothing listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let push =
            ApiGatewayPush::with_sdk(reqwest::Client::new(), format!("http://{addr}/prod"), sdk());
        assert_eq!(
            push.push("c1", "{}").await,
            PushOutcome::Failed("connect".into())
        );
    }
}
