//! Signing SendGrid Event Webhook deliveries in tests.
//!
//! SendGrid signs with an ECDSA P-256 key pair it keeps; tests need both halves, so a
//! [`SendGridSigner`] generates a fresh pair, hands out the public half as SendGrid's
//! settings show it (base64 of a DER `SubjectPublicKeyInfo`, the text an operator pastes
//! into Switchboard) and signs `timestamp || body` as SendGrid does. The verifier under
//! test is `switchboard_webhooks::sendgrid`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

/// DER of a P-256 `SubjectPublicKeyInfo` up to the point: SEQUENCE, AlgorithmIdentifier
/// (id-ecPublicKey, prime256v1), BIT STRING header with 0 unused bits. The 65-byte
/// uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A throwaway SendGrid signing key pair.
pub struct SendGridSigner {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SendGridSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendGridSigner").finish_non_exhaustive()
    }
}

impl SendGridSigner {
    /// A fresh P-256 key pair (panics only if the system RNG fails, as tests may).
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("system RNG for a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("ring reads back the PKCS#8 it generated");
        Self { pair, rng }
    }

    /// The verification key as SendGrid shows it: base64 of the DER SPKI, no PEM armour.
    pub fn public_key_base64(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.pair.public_key().as_ref());
        STANDARD.encode(der)
    }

    /// The `X-Twilio-Email-Event-Webhook-Signature` value for `body` sent at `timestamp`:
    /// base64 of the DER ECDSA signature over the decimal timestamp followed by the body.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let message = [timestamp.to_string().as_bytes(), body].concat();
        let signature = self
            .pair
            .sign(&self.rng, &message)
            .expect("system RNG for an ECDSA nonce");
        STANDARD.encode(signature)
    }

    /// Both headers of a delivery of `body` at `timestamp`, as (lower-case name, value)
    /// pairs ready for a request builder.
    pub fn headers(&self, timestamp: i64, body: &[u8]) -> [(&'static str, String); 2] {
        [
            (
                switchboard_webhooks::sendgrid::SIGNATURE_HEADER,
                self.sign(timestamp, body),
            ),
            (
                switchboard_webhooks::sendgrid::TIMESTAMP_HEADER,
                timestamp.to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_webhooks::SignatureError;
    use switchboard_webhooks::sendgrid::{Headers, PublicKey, verify_signature};

    #[test]
    fn signatures_verify_with_the_published_key() {
        let signer = SendGridSigner::generate();
        let key = PublicKey::from_base64(&signer.public_key_base64()).unwrap();
        let body = br#"[{"email":"ana@example.com","timestamp":1700000000,"event":"delivered"}]"#;
        let [(_, signature), (_, timestamp)] = signer.headers(1_700_000_000, body);
        let headers = Headers {
            signature: Some(&signature),
            timestamp: Some(&timestamp),
        };
        assert_eq!(
            verify_signature(&key, headers, body, 1_700_000_000, 300),
            Ok(1_700_000_000)
        );
        let other =
            PublicKey::from_base64(&SendGridSigner::generate().public_key_base64()).unwrap();
        assert_eq!(
            verify_signature(&other, headers, body, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }
}
