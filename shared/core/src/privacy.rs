//! Pseudonyms for customer identities where machines and people read them: SQS FIFO
//! group ids (queue metadata, visible to anyone who can read the queue) and log fields.
//!
//! A phone number has little entropy, so a plain hash of it is reversed by hashing every
//! number; the pseudonym is a keyed hash (HMAC-SHA256 under a secret, truncated) instead.
//! It is stable for a given key, which is all FIFO ordering needs: every message of one
//! customer lands in one group. Humans still get the last four digits
//! (`WaId::masked`) where they need to tell customers apart.

use crate::error::{Error, Result};
use crate::secrets::{SecretName, SecretString};
use crate::services::Services;

/// Hex characters kept of the keyed hash: 64 bits, collision-free in practice for the
/// customers of one business number.
const LENGTH: usize = 16;

/// Makes pseudonyms under one key.
#[derive(Debug, Clone)]
pub struct Pseudonyms(SecretString);

impl Pseudonyms {
    /// Pseudonyms under `key`.
    pub fn new(key: SecretString) -> Self {
        Self(key)
    }

    /// The pseudonym of a customer identity (a wa_id, say).
    pub fn of(&self, identity: &str) -> String {
        let mut hash = switchboard_webhooks::hmac_sha256_hex(
            self.0.expose().as_bytes(),
            &[b"switchboard-pseudonym\n", identity.as_bytes()],
        );
        hash.truncate(LENGTH);
        hash
    }
}

/// The pseudonyms of this deployment (`PSEUDONYM_KEY` from the secrets port; cached by
/// the port). Without the key nothing that needs a group id can be queued, so its
/// absence is a configuration error, never a silent fallback to clear text.
pub async fn pseudonyms(svc: &Services) -> Result<Pseudonyms> {
    match svc.secrets.get(SecretName::PseudonymKey).await? {
        Some(key) => Ok(Pseudonyms::new(key)),
        None => Err(Error::NotConfigured {
            what: SecretName::PseudonymKey.as_str().into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_keyed_and_not_the_number() {
        let a = Pseudonyms::new(SecretString::new("k1"));
        let b = Pseudonyms::new(SecretString::new("k2"));
        let p = a.of("16505551234");
        assert_eq!(p, a.of("16505551234"));
        assert_ne!(p, a.of("16505551235"));
        assert_ne!(p, b.of("16505551234"), "another key, another pseudonym");
        assert_eq!(p.len(), 16);
        assert!(!p.contains("1234"));
    }
}

/// An email address as logs and error bodies may show it: the first character of the
/// local part and the domain (`a***@example.org`); anything without an `@` becomes `***`.
pub fn mask_email(address: &str) -> String {
    match address.trim().rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "***".to_string(),
    }
}

#[cfg(test)]
mod mask_email_tests {
    #[test]
    fn keeps_only_the_first_character_and_the_domain() {
        assert_eq!(
            super::mask_email("ann.smith@example.org"),
            "a***@example.org"
        );
        assert_eq!(super::mask_email("no-at-sign"), "***");
        assert_eq!(super::mask_email("@example.org"), "***");
    }
}
