//! Envelope encryption with KMS: `GenerateDataKey` (AES-256) per secret, the payload
//! sealed locally with AES-256-GCM, the wrapped key stored beside it. The encryption
//! context goes to KMS on both calls and is the payload's associated data, so a
//! ciphertext moved to another org fails at KMS and again at the payload.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use switchboard_core::cipher::{Cipher, CipherError, EncryptionContext, envelope};

use crate::lazy::SdkClient;

/// The KMS envelope cipher.
#[derive(Clone)]
pub struct KmsCipher {
    client: SdkClient<Client>,
    key_id: String,
}

impl std::fmt::Debug for KmsCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KmsCipher({})", self.key_id)
    }
}

impl KmsCipher {
    /// A cipher using the KMS key `key_id` (id, ARN or alias).
    pub fn new(client: impl Into<SdkClient<Client>>, key_id: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            key_id: key_id.into(),
        }
    }
}

fn context_map(context: &EncryptionContext) -> HashMap<String, String> {
    context.pairs().clone().into_iter().collect()
}

#[async_trait]
impl Cipher for KmsCipher {
    async fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<String, CipherError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|e| {
                CipherError::Unavailable(format!("{}", aws_sdk_kms::error::DisplayErrorContext(&e)))
            })?;
        let (Some(key), Some(wrapped)) = (out.plaintext(), out.ciphertext_blob()) else {
            return Err(CipherError::Unavailable("KMS returned no data key".into()));
        };
        envelope::seal(
            envelope::PROVIDER_KMS,
            key.as_ref(),
            wrapped.as_ref().to_vec(),
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
        if parts.provider != envelope::PROVIDER_KMS {
            return Err(CipherError::Format);
        }
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(parts.wrapped_key.clone()))
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("InvalidCiphertextException") | Some("IncorrectKeyException") => {
                    CipherError::Decrypt
                }
                _ => CipherError::Unavailable(format!(
                    "{}",
                    aws_sdk_kms::error::DisplayErrorContext(&e)
                )),
            })?;
        let key = out
            .plaintext()
            .ok_or_else(|| CipherError::Unavailable("KMS returned no plaintext".into()))?;
        envelope::open(key.as_ref(), &parts, context)
    }
}
