//! Test doubles shared by the providers' tests: a secrets port with fixed values and a
//! sample email.

use std::sync::Mutex;

use async_trait::async_trait;
use switchboard_core::email::OutgoingEmail;
use switchboard_core::secrets::{SecretName, SecretString, Secrets, SecretsError};

/// Secrets with fixed values; counts reads so tests can check when a key is read.
#[derive(Debug, Default)]
pub(crate) struct FixedSecrets {
    values: Vec<(SecretName, String)>,
    /// Names read, in order.
    pub(crate) reads: Mutex<Vec<SecretName>>,
    /// When set, every read fails as an unreachable store would.
    unavailable: bool,
}

impl FixedSecrets {
    /// No secret set.
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// A store that cannot be reached.
    pub(crate) fn unavailable() -> Self {
        Self {
            unavailable: true,
            ..Self::default()
        }
    }

    /// One secret set.
    pub(crate) fn with(name: SecretName, value: &str) -> Self {
        Self {
            values: vec![(name, value.to_owned())],
            ..Self::default()
        }
    }
}

#[async_trait]
impl Secrets for FixedSecrets {
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretsError> {
        self.reads.lock().unwrap().push(name);
        if self.unavailable {
            return Err(SecretsError::Unavailable("down".into()));
        }
        Ok(self
            .values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| SecretString::new(v.clone())))
    }
}

/// An email to `to` with a display name, a Reply-To and both parts.
pub(crate) fn email(id: &str, to: &str) -> OutgoingEmail {
    OutgoingEmail {
        id: id.to_owned(),
        org_id: "acme".to_owned(),
        from_address: "reminders@clinic.example".to_owned(),
        from_name: Some("Clinic Reminders".to_owned()),
        reply_to: Some("front-desk@clinic.example".to_owned()),
        to: to.to_owned(),
        subject: "Your appointment tomorrow".to_owned(),
        html: "<p>See you at <b>10:00</b>.</p>".to_owned(),
        text: "See you at 10:00.".to_owned(),
    }
}
