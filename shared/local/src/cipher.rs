//! Envelope encryption with a local master key: AES-256-GCM for the payload under a
//! fresh data key, and AES-256-GCM again to wrap the data key under the master key.
//! The encryption context is the associated data of both layers.
//!
//! The master key is 32 random bytes in `<data dir>/master.key`, created on first run
//! with mode 0600. Losing it loses every stored token; it is a development key and
//! the AWS backend uses KMS instead, with the same envelope format.

use std::path::Path;

use async_trait::async_trait;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use switchboard_core::cipher::{Cipher, CipherError, EncryptionContext, envelope};

/// Length of AES-256 keys.
pub const KEY_LEN: usize = 32;

/// The local envelope cipher.
pub struct LocalCipher {
    master: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for LocalCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalCipher(<master key>)")
    }
}

/// Errors opening the master key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or creating the file failed.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but does not hold a 32-byte key.
    #[error("master key file {0} is not a 32-byte key")]
    Invalid(String),
}

impl LocalCipher {
    /// Uses `key` as the master key.
    pub fn from_key(key: &[u8; KEY_LEN]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("AES-256 key has the right length");
        Self {
            master: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        }
    }

    /// Loads the master key file, creating it (mode 0600) with a random key if absent.
    pub fn open_or_create(path: &Path) -> Result<Self, KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let bytes = crate::files::read_or_create_private(path, || {
            let mut key = vec![0u8; KEY_LEN];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| std::io::Error::other("no randomness"))?;
            Ok(key)
        })
        .map_err(io)?;
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyFileError::Invalid(path.display().to_string()))?;
        Ok(Self::from_key(&key))
    }

    fn nonce(&self) -> Result<[u8; NONCE_LEN], CipherError> {
        let mut n = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut n)
            .map_err(|_| CipherError::Unavailable("no randomness".into()))?;
        Ok(n)
    }
}

/// Seals `plaintext` under `key` with a random nonce; returns (nonce, ciphertext||tag).
pub(crate) fn seal(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CipherError> {
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| CipherError::Unavailable("encryption failed".into()))?;
    Ok(buf)
}

/// Opens ciphertext||tag.
pub(crate) fn open(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CipherError> {
    let mut buf = ciphertext.to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| CipherError::Decrypt)?;
    Ok(plain.to_vec())
}

/// Encrypts `plaintext` under a data key the caller already has (plaintext key and its
/// wrapped form), producing the shared envelope. Used by both backends.
pub fn seal_with_data_key(
    provider: u8,
    data_key: &[u8],
    wrapped_key: Vec<u8>,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<String, CipherError> {
    let unbound = UnboundKey::new(&AES_256_GCM, data_key).map_err(|_| CipherError::Format)?;
    let key = LessSafeKey::new(unbound);
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| CipherError::Unavailable("no randomness".into()))?;
    let ciphertext = seal(&key, nonce, &context.canonical(), plaintext)?;
    Ok(envelope::encode(&envelope::Parts {
        provider,
        wrapped_key,
        nonce,
        ciphertext,
    }))
}

/// Decrypts an envelope's payload with the unwrapped data key.
pub fn open_with_data_key(
    data_key: &[u8],
    parts: &envelope::Parts,
    context: &EncryptionContext,
) -> Result<Vec<u8>, CipherError> {
    let unbound = UnboundKey::new(&AES_256_GCM, data_key).map_err(|_| CipherError::Decrypt)?;
    open(
        &LessSafeKey::new(unbound),
        parts.nonce,
        &context.canonical(),
        &parts.ciphertext,
    )
}

#[async_trait]
impl Cipher for LocalCipher {
    async fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<String, CipherError> {
        let mut data_key = [0u8; KEY_LEN];
        self.rng
            .fill(&mut data_key)
            .map_err(|_| CipherError::Unavailable("no randomness".into()))?;
        let wrap_nonce = self.nonce()?;
        let mut wrapped = wrap_nonce.to_vec();
        wrapped.extend(seal(
            &self.master,
            wrap_nonce,
            &context.canonical(),
            &data_key,
        )?);
        seal_with_data_key(
            envelope::PROVIDER_LOCAL,
            &data_key,
            wrapped,
            plaintext,
            context,
        )
    }

    async fn decrypt(
        &self,
        text: &str,
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CipherError> {
        let parts = envelope::decode(text)?;
        if parts.provider != envelope::PROVIDER_LOCAL || parts.wrapped_key.len() < NONCE_LEN {
            return Err(CipherError::Format);
        }
        let (nonce, wrapped) = parts.wrapped_key.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CipherError::Format)?;
        let data_key = open(&self.master, nonce, &context.canonical(), wrapped)?;
        open_with_data_key(&data_key, &parts, context)
    }
}
