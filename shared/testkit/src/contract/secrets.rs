//! The secrets contract: a configured secret reads back; an unconfigured one is `None`.

use std::sync::Arc;

use switchboard_core::secrets::{SecretName, Secrets};

/// The configured value reads back, others are absent, and Debug never shows values.
pub async fn configured_and_absent(s: Arc<dyn Secrets>, expected: &str) {
    let got = s
        .get(SecretName::WhatsAppAppSecret)
        .await
        .unwrap()
        .expect("configured");
    assert_eq!(got.expose(), expected);
    assert!(!format!("{got:?}").contains(expected));
    assert!(s.get(SecretName::StripeApiKey).await.unwrap().is_none());
    // A second read (cached on AWS) agrees.
    assert_eq!(
        s.get(SecretName::WhatsAppAppSecret)
            .await
            .unwrap()
            .unwrap()
            .expose(),
        expected
    );
}
