//! Secrets Manager with an in-memory cache. Values are cached for a TTL (AWS's own
//! caching client defaults to one hour; Switchboard uses five minutes so a rotated
//! webhook secret takes effect quickly), and a secret that does not exist is cached as
//! absent for the same time so an unconfigured provider costs no call per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use switchboard_core::secrets::{SecretName, SecretString, Secrets, SecretsError};
use tokio::sync::RwLock;

use crate::lazy::SdkClient;

/// Default cache lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Cached values with the instant they were fetched.
type Cache = Arc<RwLock<HashMap<SecretName, (Instant, Option<SecretString>)>>>;

/// Secrets Manager, cached.
#[derive(Clone)]
pub struct SecretsManager {
    client: SdkClient<Client>,
    prefix: String,
    ttl: Duration,
    cache: Cache,
}

impl std::fmt::Debug for SecretsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretsManager(prefix={})", self.prefix)
    }
}

impl SecretsManager {
    /// Reads secret `<prefix><NAME>` for each name.
    pub fn new(
        client: impl Into<SdkClient<Client>>,
        prefix: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            client: client.into(),
            prefix: prefix.into(),
            ttl,
            cache: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// The secret id of a name.
    pub fn secret_id(&self, name: SecretName) -> String {
        format!("{}{}", self.prefix, name.as_str())
    }
}

#[async_trait]
impl Secrets for SecretsManager {
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretsError> {
        if let Some((at, value)) = self.cache.read().await.get(&name)
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let result = self
            .client
            .get_secret_value()
            .secret_id(self.secret_id(name))
            .send()
            .await;
        let value = match result {
            Ok(out) => out
                .secret_string()
                .filter(|s| !s.trim().is_empty())
                .map(SecretString::new),
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => {
                return Err(SecretsError::Unavailable(format!(
                    "{}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )));
            }
        };
        self.cache
            .write()
            .await
            .insert(name, (Instant::now(), value.clone()));
        Ok(value)
    }
}
