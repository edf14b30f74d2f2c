//! The HTTP client of every AWS SDK client: reqwest (hyper, HTTP/1.1, rustls with ring and
//! the compiled-in webpki roots) behind the SDK's `HttpClient` interface.
//!
//! Why not the SDK's own hyper client (`aws-smithy-http-client`): it always links HTTP/2
//! (the `h2` crate, the largest single piece of a function binary after the SDK itself),
//! and it reads and parses the system's root certificates (every file under
//! `/etc/ssl/certs`) while each SDK client is built, which was most of a function's init
//! time. The provider clients already use reqwest, so the SDK now shares its HTTP stack
//! and TLS roots: one stack in the binary, and no certificate files read at start.
//!
//! The SDK keeps doing what it does on any HTTP client: signing, retries, and the attempt
//! and operation timeouts ([`crate::SdkSettings`]); this client applies the connect and
//! read timeouts it is handed and keeps a connection pool.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// How long an idle pooled connection is kept. Below the ~60 s after which AWS endpoints
/// (and NAT gateways) drop idle connections, so a thawed Lambda seldom picks a dead one;
/// when it does, the SDK retries the I/O error on a new connection.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// The (connect, read) timeouts a connector was built for.
type TimeoutKey = (Option<Duration>, Option<Duration>);

/// An SDK `HttpClient` on reqwest. Builds one reqwest client per distinct (connect, read)
/// timeout pair the SDK asks for — in practice one per process — and shares it.
#[derive(Debug, Default)]
pub struct ReqwestHttpClient {
    connectors: Mutex<HashMap<TimeoutKey, SharedHttpConnector>>,
}

impl ReqwestHttpClient {
    /// The client, ready to hand to `aws_config` or a service config.
    pub fn shared() -> SharedHttpClient {
        SharedHttpClient::new(Self::default())
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| {
                let mut builder = reqwest::Client::builder()
                    .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                    .tcp_nodelay(true)
                    // The SDK follows no redirects; AWS APIs answer errors instead.
                    .redirect(reqwest::redirect::Policy::none());
                if let Some(t) = key.0 {
                    builder = builder.connect_timeout(t);
                }
                if let Some(t) = key.1 {
                    builder = builder.read_timeout(t);
                }
                // Building fails only if the TLS backend cannot initialise, which no
                // request could survive either; fall back to the defaults rather than
                // panic inside the SDK.
                let client = builder.build().unwrap_or_else(|_| reqwest::Client::new());
                SharedHttpConnector::new(ReqwestConnector { client })
            })
            .clone()
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("reqwest", Some("0.12".into())))
    }
}

#[derive(Debug, Clone)]
struct ReqwestConnector {
    client: reqwest::Client,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            // In-memory bodies (every request Switchboard makes) go as bytes, so reqwest
            // sends a Content-Length; anything else streams.
            let body = match body.bytes() {
                Some(bytes) => reqwest::Body::from(bytes.to_vec()),
                None => reqwest::Body::wrap(body),
            };
            let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
                .map_err(|e| ConnectorError::user(e.into()))?;
            let response = client.execute(request).await.map_err(classify)?;
            let response: http::Response<reqwest::Body> = response.into();
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// Sorts a transport failure the way the SDK's retry classifier expects: timeouts and I/O
/// failures (refused, reset, a dead pooled connection) are retried; the rest are not.
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}
