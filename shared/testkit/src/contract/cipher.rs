//! The cipher contract. Every case runs on the local cipher and on KMS (moto).

use std::sync::Arc;

use switchboard_core::cipher::{Cipher, CipherError, EncryptionContext, envelope};
use switchboard_core::ids::OrgId;

fn ctx(org: &str) -> EncryptionContext {
    EncryptionContext::new(&OrgId::parse(org).unwrap(), "test_token").with("account_id", "acc_1")
}

/// Encrypt then decrypt under the same context returns the plaintext; ciphertexts of
/// the same plaintext differ (fresh data key and nonce).
pub async fn round_trip(c: Arc<dyn Cipher>) {
    let secret = "EAAG-very-secret-token-✓".as_bytes();
    let a = c.encrypt(secret, &ctx("acme")).await.unwrap();
    let b = c.encrypt(secret, &ctx("acme")).await.unwrap();
    assert_ne!(a, b);
    assert!(!a.contains("very-secret"));
    assert_eq!(c.decrypt(&a, &ctx("acme")).await.unwrap(), secret);
    assert_eq!(c.decrypt(&b, &ctx("acme")).await.unwrap(), secret);
}

/// A ciphertext moved to another org (or another account) does not decrypt.
pub async fn context_is_bound(c: Arc<dyn Cipher>) {
    let a = c.encrypt(b"token", &ctx("acme")).await.unwrap();
    let err = c.decrypt(&a, &ctx("other")).await.unwrap_err();
    assert!(matches!(err, CipherError::Decrypt), "{err:?}");
    let other_account = ctx("acme").with("account_id", "acc_2");
    assert!(matches!(
        c.decrypt(&a, &other_account).await,
        Err(CipherError::Decrypt)
    ));
}

/// Tampering with any part of the envelope is detected.
pub async fn tampering_is_detected(c: Arc<dyn Cipher>) {
    let text = c.encrypt(b"token", &ctx("acme")).await.unwrap();
    let mut parts = envelope::decode(&text).unwrap();
    let last = parts.ciphertext.len() - 1;
    parts.ciphertext[last] ^= 1;
    assert!(matches!(
        c.decrypt(&envelope::encode(&parts), &ctx("acme")).await,
        Err(CipherError::Decrypt)
    ));
    assert!(matches!(
        c.decrypt("garbage", &ctx("acme")).await,
        Err(CipherError::Format)
    ));
}

/// Stamps one test per cipher contract case for a factory.
#[macro_export]
macro_rules! cipher_contract {
    ($factory:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn round_trip() {
            $crate::contract::cipher::round_trip($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn context_is_bound() {
            $crate::contract::cipher::context_is_bound($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn tampering_is_detected() {
            $crate::contract::cipher::tampering_is_detected($factory().await).await;
        }
    };
}
