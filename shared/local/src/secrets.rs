//! Secrets from the process environment, falling back to a `.env` file. Read once at
//! start: a changed `.env` takes effect on the next start, as with any dev server.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use switchboard_core::secrets::{SecretName, SecretString, Secrets, SecretsError};

/// Secrets held in memory, from the environment and `.env`.
#[derive(Clone, Default)]
pub struct EnvSecrets(HashMap<String, SecretString>);

impl std::fmt::Debug for EnvSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl EnvSecrets {
    /// Reads every known secret from the process environment, then from `dotenv` (if the
    /// file exists) for those the environment lacks. Empty values count as absent.
    pub fn load(dotenv: Option<&Path>) -> Self {
        let mut file: HashMap<String, String> = HashMap::new();
        if let Some(path) = dotenv
            && let Ok(iter) = dotenvy::from_path_iter(path)
        {
            for (k, v) in iter.flatten() {
                file.insert(k, v);
            }
        }
        let mut map = HashMap::new();
        for name in SecretName::ALL {
            let key = name.as_str();
            let value = std::env::var(key).ok().or_else(|| file.get(key).cloned());
            if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
                map.insert(key.to_owned(), SecretString::new(v));
            }
        }
        Self(map)
    }

    /// Secrets from explicit pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (SecretName, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.as_str().to_owned(), SecretString::new(v)))
                .collect(),
        )
    }

    /// Names of the configured secrets (for the start-up log; never the values).
    pub fn configured(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// The pseudonym key the embedded backend uses when `PSEUDONYM_KEY` is not set: local
/// logs then still never show a phone number, with no setup. Deployments get a generated
/// secret of their own (template.yaml).
pub const DEVELOPMENT_PSEUDONYM_KEY: &str = "switchboard-development-pseudonym-key";

#[async_trait]
impl Secrets for EnvSecrets {
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretsError> {
        Ok(match (self.0.get(name.as_str()), name) {
            (Some(v), _) => Some(v.clone()),
            (None, SecretName::PseudonymKey) => Some(SecretString::new(DEVELOPMENT_PSEUDONYM_KEY)),
            (None, _) => None,
        })
    }
}
