//! The cipher port: envelope encryption bound to an encryption context.
//!
//! Every secret a tenant hands Switchboard (provider access tokens, API keys) is
//! encrypted under a fresh data key; the data key is wrapped by the master key (a local
//! key file, or KMS). The context — at least `{org_id, purpose}` — is bound into both
//! layers, so a ciphertext copied into another org's record does not decrypt.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::ids::OrgId;

/// Key-value pairs bound to a ciphertext. Ordered, so its canonical form is stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// A context for `purpose` within `org`.
    pub fn new(org: &OrgId, purpose: &str) -> Self {
        let mut map = BTreeMap::new();
        map.insert("org_id".to_owned(), org.as_str().to_owned());
        map.insert("purpose".to_owned(), purpose.to_owned());
        Self(map)
    }

    /// Adds a pair (e.g. the account id the secret belongs to).
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.0.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The pairs.
    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Canonical bytes used as AES-GCM associated data: `k=v` lines in key order, with
    /// lengths so that no two different contexts share a form.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            out.extend_from_slice(format!("{}:{}={}:{}\n", k.len(), k, v.len(), v).as_bytes());
        }
        out
    }
}

/// Errors of the cipher port.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The ciphertext is damaged, or the context (or key) does not match.
    #[error("ciphertext does not decrypt under this context")]
    Decrypt,
    /// The envelope is not in a format this backend reads.
    #[error("unknown envelope format")]
    Format,
    /// The key service failed or could not be reached.
    #[error("key service unavailable: {0}")]
    Unavailable(String),
}

/// The cipher port.
#[async_trait]
pub trait Cipher: Send + Sync + std::fmt::Debug {
    /// Encrypts `plaintext`, returning a self-describing envelope (base64 text).
    async fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<String, CipherError>;

    /// Decrypts an envelope made by [`Cipher::encrypt`] under the same context.
    async fn decrypt(
        &self,
        envelope: &str,
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError>;
}

/// The envelope both backends write, so that tooling and tests read either:
///
/// ```text
/// byte 0      format version (1)
/// byte 1      key provider: 1 = local master key, 2 = KMS
/// bytes 2..4  length of the wrapped data key, big-endian
/// ...         wrapped data key (local: nonce || AES-GCM; KMS: CiphertextBlob)
/// 12 bytes    nonce of the payload
/// ...         AES-256-GCM ciphertext || tag of the payload (AAD = canonical context)
/// ```
///
/// The format and the AES-256-GCM layer live here, in the core, so that the local cipher
/// and KMS share one implementation without either backend depending on the other (a
/// Lambda function links the KMS cipher only, never the embedded backend).
pub mod envelope {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use ring::rand::{SecureRandom, SystemRandom};

    use super::{CipherError, EncryptionContext};

    /// Format version byte.
    pub const VERSION: u8 = 1;
    /// Provider byte of the local master key.
    pub const PROVIDER_LOCAL: u8 = 1;
    /// Provider byte of KMS.
    pub const PROVIDER_KMS: u8 = 2;
    /// AES-GCM nonce length.
    pub const NONCE_LEN: usize = 12;

    /// The parts of an envelope.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Parts {
        /// Key provider byte.
        pub provider: u8,
        /// Wrapped data key.
        pub wrapped_key: Vec<u8>,
        /// Payload nonce.
        pub nonce: [u8; NONCE_LEN],
        /// Payload ciphertext with tag.
        pub ciphertext: Vec<u8>,
    }

    /// Encodes parts into base64 text.
    pub fn encode(parts: &Parts) -> String {
        let mut out =
            Vec::with_capacity(4 + parts.wrapped_key.len() + NONCE_LEN + parts.ciphertext.len());
        out.push(VERSION);
        out.push(parts.provider);
        out.extend_from_slice(&(parts.wrapped_key.len() as u16).to_be_bytes());
        out.extend_from_slice(&parts.wrapped_key);
        out.extend_from_slice(&parts.nonce);
        out.extend_from_slice(&parts.ciphertext);
        STANDARD.encode(out)
    }

    /// Decodes base64 text into parts.
    pub fn decode(text: &str) -> Result<Parts, CipherError> {
        let bytes = STANDARD.decode(text).map_err(|_| CipherError::Format)?;
        if bytes.len() < 4 || bytes[0] != VERSION {
            return Err(CipherError::Format);
        }
        let provider = bytes[1];
        let key_len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
        let rest = &bytes[4..];
        if rest.len() < key_len + NONCE_LEN + 16 {
            return Err(CipherError::Format);
        }
        let (wrapped_key, rest) = rest.split_at(key_len);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        Ok(Parts {
            provider,
            wrapped_key: wrapped_key.to_vec(),
            nonce: nonce.try_into().map_err(|_| CipherError::Format)?,
            ciphertext: ciphertext.to_vec(),
        })
    }

    /// Length of an AES-256 key (data keys and the local master key).
    pub const KEY_LEN: usize = 32;

    fn aes_key(key: &[u8]) -> Result<LessSafeKey, CipherError> {
        UnboundKey::new(&AES_256_GCM, key)
            .map(LessSafeKey::new)
            .map_err(|_| CipherError::Format)
    }

    /// Fills `N` bytes from the system's secure random source (nonces, data keys).
    pub fn random<const N: usize>() -> Result<[u8; N], CipherError> {
        let mut out = [0u8; N];
        SystemRandom::new()
            .fill(&mut out)
            .map_err(|_| CipherError::Unavailable("no randomness".into()))?;
        Ok(out)
    }

    /// AES-256-GCM: encrypts `plaintext` under `key` with `nonce`, authenticating `aad`;
    /// returns ciphertext || tag. The caller guarantees the nonce is fresh (random).
    pub fn seal_aes_gcm(
        key: &[u8],
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CipherError> {
        let mut buf = plaintext.to_vec();
        aes_key(key)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| CipherError::Unavailable("encryption failed".into()))?;
        Ok(buf)
    }

    /// AES-256-GCM: decrypts ciphertext || tag. Any mismatch (key, nonce, `aad`, a flipped
    /// bit) is [`CipherError::Decrypt`], never a partial plaintext.
    pub fn open_aes_gcm(
        key: &[u8],
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CipherError> {
        let mut buf = ciphertext.to_vec();
        let plain = aes_key(key)
            .map_err(|_| CipherError::Decrypt)?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| CipherError::Decrypt)?;
        Ok(plain.to_vec())
    }

    /// Encrypts `plaintext` under a data key the caller already has (its plaintext and
    /// its wrapped form, from the local master key or KMS) into an envelope whose payload
    /// is bound to `context`.
    pub fn seal(
        provider: u8,
        data_key: &[u8],
        wrapped_key: Vec<u8>,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<String, CipherError> {
        let nonce = random::<NONCE_LEN>()?;
        let ciphertext = seal_aes_gcm(data_key, nonce, &context.canonical(), plaintext)?;
        Ok(encode(&Parts {
            provider,
            wrapped_key,
            nonce,
            ciphertext,
        }))
    }

    /// Decrypts an envelope's payload with its unwrapped data key.
    pub fn open(
        data_key: &[u8],
        parts: &Parts,
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        open_aes_gcm(
            data_key,
            parts.nonce,
            &context.canonical(),
            &parts.ciphertext,
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn sealed_payload_opens_only_under_its_key_and_context() {
            let org = crate::ids::OrgId::parse("acme").unwrap();
            let ctx = EncryptionContext::new(&org, "token");
            let key = random::<KEY_LEN>().unwrap();
            let text = seal(PROVIDER_KMS, &key, vec![1, 2, 3], b"secret", &ctx).unwrap();
            let parts = decode(&text).unwrap();
            assert_eq!(parts.wrapped_key, [1, 2, 3]);
            assert_eq!(open(&key, &parts, &ctx).unwrap(), b"secret");
            let other = EncryptionContext::new(&org, "other");
            assert!(matches!(
                open(&key, &parts, &other),
                Err(CipherError::Decrypt)
            ));
            let wrong = random::<KEY_LEN>().unwrap();
            assert!(matches!(
                open(&wrong, &parts, &ctx),
                Err(CipherError::Decrypt)
            ));
        }

        #[test]
        fn round_trip_and_rejects_garbage() {
            let parts = Parts {
                provider: PROVIDER_KMS,
                wrapped_key: vec![7; 40],
                nonce: [3; NONCE_LEN],
                ciphertext: vec![9; 30],
            };
            assert_eq!(decode(&encode(&parts)).unwrap(), parts);
            assert!(decode("not base64!").is_err());
            assert!(decode(&STANDARD.encode([2u8, 1, 0, 0])).is_err());
            assert!(decode(&STANDARD.encode([1u8, 1, 0, 50, 1, 2])).is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_ordered_and_unambiguous() {
        let org = OrgId::parse("acme").unwrap();
        let a = EncryptionContext::new(&org, "x").with("account_id", "acc_1");
        let b = EncryptionContext::new(&org, "x").with("account_id", "acc_1");
        assert_eq!(a.canonical(), b.canonical());
        let c = EncryptionContext::new(&org, "x").with("account_id", "acc_2");
        assert_ne!(a.canonical(), c.canonical());
        assert!(
            String::from_utf8(a.canonical())
                .unwrap()
                .starts_with("10:account_id=")
        );
    }
}
