//! Envelope encryption with a local master key: AES-256-GCM for the payload under a
//! fresh data key, and AES-256-GCM again to wrap the data key under the master key.
//! The encryption context is the associated data of both layers.
//!
//! The master key is 32 random bytes in `<data dir>/master.key`, created on first run
//! with mode 0600. Losing it loses every stored token; it is a development key and
//! the AWS backend uses KMS instead, with the same envelope format
//! ([`switchboard_core::cipher::envelope`]).

use std::path::Path;

use async_trait::async_trait;
use switchboard_core::cipher::envelope::{self, KEY_LEN, NONCE_LEN};
use switchboard_core::cipher::{Cipher, CipherError, EncryptionContext};

/// The local envelope cipher.
pub struct LocalCipher {
    master: [u8; KEY_LEN],
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
        Self { master: *key }
    }

    /// Loads the master key file, creating it (mode 0600) with a random key if absent.
    pub fn open_or_create(path: &Path) -> Result<Self, KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let bytes = switchboard_core::files::read_or_create_private(path, || {
            envelope::random::<KEY_LEN>()
                .map(|k| k.to_vec())
                .map_err(|_| std::io::Error::other("no randomness"))
        })
        .map_err(io)?;
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyFileError::Invalid(path.display().to_string()))?;
        Ok(Self::from_key(&key))
    }
}

#[async_trait]
impl Cipher for LocalCipher {
    async fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<String, CipherError> {
        let data_key = envelope::random::<KEY_LEN>()?;
        // The wrapped key is nonce || AES-GCM(master, data key), bound to the context too.
        let wrap_nonce = envelope::random::<NONCE_LEN>()?;
        let mut wrapped = wrap_nonce.to_vec();
        wrapped.extend(envelope::seal_aes_gcm(
            &self.master,
            wrap_nonce,
            &context.canonical(),
            &data_key,
        )?);
        envelope::seal(
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
        let data_key = envelope::open_aes_gcm(&self.master, nonce, &context.canonical(), wrapped)?;
        envelope::open(&data_key, &parts, context)
    }
}
