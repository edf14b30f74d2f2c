//! Building the SDK configuration once per process, on the reqwest HTTPS client of
//! [`crate::http`] (rustls + ring: no OpenSSL, no aws-lc build). `AWS_ENDPOINT_URL` is honoured by the SDK itself, which
//! is how the dev server and tests reach moto_server.
//!
//! Every client gets explicit timeouts and a bounded retry policy ([`SdkSettings`]): a
//! Lambda function times out after 10–30 s, so one hung DynamoDB, SQS, KMS or Secrets
//! Manager call must fail (and be retried by the event source or the provider) well
//! before it eats the whole invocation. The behaviour version is pinned to a dated one,
//! so an SDK upgrade cannot change retry or timeout defaults behind our back.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::lazy::SdkClient;

/// The SDK behaviour version every client is built with: the newest dated one the SDK
/// offers (retries on by default, a connect timeout). Pinned rather than `latest()`, so
/// that a new behaviour version arrives by a reviewed change, not by `cargo update`.
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// Timeouts and retries of every SDK call (`AWS_SDK_*` variables; see
/// `docs/configuration.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkSettings {
    /// Establishing a connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// One HTTP attempt, from sending the request to reading the whole response.
    pub attempt_timeout: Duration,
    /// The whole call, retries and backoff included.
    pub operation_timeout: Duration,
    /// Attempts per call, the first included (standard retry mode).
    pub max_attempts: u32,
}

impl SdkSettings {
    /// The defaults: a call gives up within 5 s whatever happens, which leaves a 10 s
    /// API or webhook function time to answer 5xx (the provider retries) and a 30 s
    /// consumer time to report the message failed. In-region DynamoDB and SQS answer in
    /// milliseconds, so 3 s per attempt and 3 attempts only cut off what is truly stuck.
    pub const DEFAULT: SdkSettings = SdkSettings {
        connect_timeout: Duration::from_millis(2_000),
        attempt_timeout: Duration::from_millis(3_000),
        operation_timeout: Duration::from_millis(5_000),
        max_attempts: 3,
    };

    /// Checks the settings make sense together; `Err` names the variable to fix.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.connect_timeout.is_zero() {
            return Err(("AWS_SDK_CONNECT_TIMEOUT_MS", "must be above 0".into()));
        }
        if self.attempt_timeout.is_zero() {
            return Err(("AWS_SDK_ATTEMPT_TIMEOUT_MS", "must be above 0".into()));
        }
        if self.operation_timeout < self.attempt_timeout {
            return Err((
                "AWS_SDK_OPERATION_TIMEOUT_MS",
                format!(
                    "must be at least AWS_SDK_ATTEMPT_TIMEOUT_MS ({} ms): it bounds the attempts",
                    self.attempt_timeout.as_millis()
                ),
            ));
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(("AWS_SDK_MAX_ATTEMPTS", "must be from 1 to 10".into()));
        }
        Ok(())
    }

    /// The SDK's timeout configuration.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    /// The SDK's retry configuration: standard mode (exponential backoff with jitter and
    /// a retry quota, so an outage does not multiply the load), backoff capped at 1 s so
    /// that the attempts fit in the operation timeout.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_max_backoff(Duration::from_secs(1))
    }
}

impl Default for SdkSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The HTTPS client every SDK client uses: reqwest with rustls, ring and the compiled-in
/// webpki roots ([`crate::http`] says why not the SDK's hyper client).
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    crate::http::ReqwestHttpClient::shared()
}

/// Loads the shared SDK config from the environment (region, credentials, endpoint) with
/// the default [`SdkSettings`].
pub async fn load() -> SdkConfig {
    load_with(&SdkSettings::DEFAULT).await
}

/// Loads the shared SDK config from the environment with `settings`' timeouts and retries.
pub async fn load_with(settings: &SdkSettings) -> SdkConfig {
    aws_config::defaults(behavior_version())
        .http_client(http_client())
        .timeout_config(settings.timeout_config())
        .retry_config(settings.retry_config())
        .load()
        .await
}

/// Clients for every service Switchboard uses, built from one config.
#[derive(Clone, Debug)]
pub struct Clients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    /// Builds all clients.
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

/// The same four clients, each built the first time it is used ([`crate::lazy`]): what
/// the runtime hands the adapters, so a function's init builds none and its first call
/// builds only the ones it needs.
#[derive(Clone, Debug)]
pub struct LazyClients {
    /// DynamoDB.
    pub dynamodb: SdkClient<aws_sdk_dynamodb::Client>,
    /// SQS.
    pub sqs: SdkClient<aws_sdk_sqs::Client>,
    /// KMS.
    pub kms: SdkClient<aws_sdk_kms::Client>,
    /// Secrets Manager.
    pub secrets: SdkClient<aws_sdk_secretsmanager::Client>,
}

impl LazyClients {
    /// Clients of `config`, none built yet.
    pub fn new(config: &SdkConfig) -> Self {
        let c = config.clone();
        let dynamodb = SdkClient::lazy(move || aws_sdk_dynamodb::Client::new(&c));
        let c = config.clone();
        let sqs = SdkClient::lazy(move || aws_sdk_sqs::Client::new(&c));
        let c = config.clone();
        let kms = SdkClient::lazy(move || aws_sdk_kms::Client::new(&c));
        let c = config.clone();
        let secrets = SdkClient::lazy(move || aws_sdk_secretsmanager::Client::new(&c));
        Self {
            dynamodb,
            sqs,
            kms,
            secrets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bound_every_call_below_a_ten_second_function() {
        let d = SdkSettings::DEFAULT;
        assert!(d.validate().is_ok());
        assert!(d.operation_timeout < Duration::from_secs(10));
        let t = d.timeout_config();
        assert_eq!(t.operation_timeout(), Some(d.operation_timeout));
        assert_eq!(t.operation_attempt_timeout(), Some(d.attempt_timeout));
        assert_eq!(t.connect_timeout(), Some(d.connect_timeout));
        assert_eq!(d.retry_config().max_attempts(), 3);
    }

    #[test]
    fn validation_names_the_variable() {
        let mut s = SdkSettings::DEFAULT;
        s.operation_timeout = Duration::from_millis(100);
        assert_eq!(s.validate().unwrap_err().0, "AWS_SDK_OPERATION_TIMEOUT_MS");
        let mut s = SdkSettings::DEFAULT;
        s.max_attempts = 0;
        assert_eq!(s.validate().unwrap_err().0, "AWS_SDK_MAX_ATTEMPTS");
    }
}
