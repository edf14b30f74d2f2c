//! S3 behind the object storage port: `PUT`, `GET`, `HEAD` and `DELETE` of an object and
//! presigned `GET`/`PUT` URLs, signed with SigV4 (`aws-sigv4`, which the SDK clients
//! already link) and sent with the reqwest client every provider uses.
//!
//! Why not `aws-sdk-s3`: every function links this crate, and the S3 SDK would add
//! about as much to each package as the other four SDK clients together, for five plain
//! REST calls. Credentials and region come from the same SDK config as the other
//! clients (the Lambda role's, or the environment's), loaded on first use. An endpoint
//! override (`AWS_ENDPOINT_URL`, moto in tests) is addressed path-style; AWS itself
//! virtual-hosted-style.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::{DateTime, Utc};
use switchboard_core::objects::{Object, ObjectError, ObjectInfo, ObjectStore, valid_key};
use tokio::sync::OnceCell;

use crate::SdkSettings;

/// A bucket.
pub struct S3Objects {
    http: reqwest::Client,
    bucket: String,
    settings: SdkSettings,
    sdk: OnceCell<SdkConfig>,
}

impl std::fmt::Debug for S3Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Objects")
            .field("bucket", &self.bucket)
            .finish()
    }
}

fn unavailable(e: impl std::fmt::Display) -> ObjectError {
    ObjectError::Unavailable(e.to_string())
}

/// Percent-encodes a key for a URL path (keys hold only `[A-Za-z0-9_./-]`, see
/// [`valid_key`], so nothing needs escaping; the check keeps it that way).
fn path_of(key: &str) -> Result<&str, ObjectError> {
    if valid_key(key) {
        Ok(key)
    } else {
        Err(ObjectError::InvalidKey)
    }
}

impl S3Objects {
    /// The bucket, with the SDK config loaded from the environment on first use.
    pub fn new(http: reqwest::Client, bucket: impl Into<String>, settings: SdkSettings) -> Self {
        Self {
            http,
            bucket: bucket.into(),
            settings,
            sdk: OnceCell::new(),
        }
    }

    /// The bucket with a ready SDK config (tests point it at moto).
    pub fn with_sdk(http: reqwest::Client, bucket: impl Into<String>, sdk: SdkConfig) -> Self {
        Self {
            http,
            bucket: bucket.into(),
            settings: SdkSettings::DEFAULT,
            sdk: OnceCell::new_with(Some(sdk)),
        }
    }

    async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| crate::config::load_with(&self.settings))
            .await
    }

    async fn url(&self, key: &str) -> Result<String, ObjectError> {
        let key = path_of(key)?;
        let sdk = self.sdk().await;
        Ok(match sdk.endpoint_url() {
            Some(endpoint) => format!("{}/{}/{key}", endpoint.trim_end_matches('/'), self.bucket),
            None => {
                let region = sdk.region().map(|r| r.as_ref()).unwrap_or("us-east-1");
                format!("https://{}.s3.{region}.amazonaws.com/{key}", self.bucket)
            }
        })
    }

    async fn identity(&self) -> Result<(Identity, String), ObjectError> {
        let sdk = self.sdk().await;
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| unavailable("no AWS credentials"))?;
        let credentials = provider.provide_credentials().await.map_err(unavailable)?;
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| "us-east-1".into());
        Ok((credentials.into(), region))
    }

    /// A request signed in its headers.
    async fn signed(
        &self,
        method: &str,
        key: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response, ObjectError> {
        let url = self.url(key).await?;
        let (identity, region) = self.identity().await?;
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(unavailable)?
            .into();
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(unavailable)?;
        let (instructions, _) = sign(signable, &params).map_err(unavailable)?.into_parts();
        let mut request = http::Request::builder().method(method).uri(url.as_str());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let mut request = request.body(body).map_err(unavailable)?;
        instructions.apply_to_request_http1x(&mut request);
        let request = reqwest::Request::try_from(request).map_err(unavailable)?;
        self.http.execute(request).await.map_err(unavailable)
    }

    async fn presign(
        &self,
        method: &str,
        key: &str,
        content_type: Option<&str>,
        expires: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ObjectError> {
        let url = self.url(key).await?;
        let (identity, region) = self.identity().await?;
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(now.timestamp().max(0) as u64);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .map_err(unavailable)?
            .into();
        let headers: Vec<(&str, &str)> = content_type
            .map(|t| vec![("content-type", t)])
            .unwrap_or_default();
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .map_err(unavailable)?;
        let (instructions, _) = sign(signable, &params).map_err(unavailable)?.into_parts();
        let mut request = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(())
            .map_err(unavailable)?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }
}

fn content_type_of(r: &reqwest::Response) -> String {
    r.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned()
}

fn refused(r: &reqwest::Response) -> ObjectError {
    ObjectError::Unavailable(format!("S3 answered {}", r.status()))
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        let r = self
            .signed("PUT", key, &[("content-type", content_type)], body)
            .await?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(refused(&r))
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        let r = self.signed("GET", key, &[], Vec::new()).await?;
        match r.status() {
            s if s.is_success() => {
                let content_type = content_type_of(&r);
                let body = r.bytes().await.map_err(unavailable)?.to_vec();
                Ok(Some(Object { body, content_type }))
            }
            http::StatusCode::NOT_FOUND => Ok(None),
            _ => Err(refused(&r)),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        let r = self.signed("HEAD", key, &[], Vec::new()).await?;
        match r.status() {
            s if s.is_success() => Ok(Some(ObjectInfo {
                size: r
                    .headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                content_type: content_type_of(&r),
            })),
            http::StatusCode::NOT_FOUND => Ok(None),
            _ => Err(refused(&r)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let r = self.signed("DELETE", key, &[], Vec::new()).await?;
        if r.status().is_success() || r.status() == http::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(refused(&r))
        }
    }

    async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ObjectError> {
        self.presign("GET", key, None, expires, now).await
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ObjectError> {
        self.presign("PUT", key, Some(content_type), expires, now)
            .await
    }
}
