//! Kapso webhooks (WhatsApp through the Kapso provider): `X-Kapso-Signature` carries the
//! lower-case hex HMAC-SHA256 of the raw body keyed with the webhook secret, with or
//! without a `sha256=` prefix. The payloads are Meta's WhatsApp format, so a verified
//! body is split with [`crate::meta::split`].

use crate::SignatureError;
use crate::mac::HmacSha256;

/// Header carrying the signature (HTTP header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-kapso-signature";

/// Verifies `X-Kapso-Signature` (`<hex>` or `sha256=<hex>`, either case) as HMAC-SHA256
/// of `body` under `secret`, in constant time.
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_sig = header.strip_prefix("sha256=").unwrap_or(header);
    if hex_sig.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if HmacSha256::new(secret).verify(&[body], &tag) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header value Kapso would send for `body` (tests, tools, sample events).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(HmacSha256::new(secret).sign(&[body]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"switchboard-kapso-test-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac switchboard-kapso-test-secret`
    const VECTOR: &str = "155c26b98ee27b97b47c3e748122814e64fc918e44ac252f88275cc04a25b0e5";

    #[test]
    fn the_reference_vector_verifies_bare_and_prefixed() {
        assert_eq!(sign(SECRET, BODY), VECTOR);
        assert_eq!(verify_signature(SECRET, Some(VECTOR), BODY), Ok(()));
        let prefixed = format!("sha256={VECTOR}");
        assert_eq!(verify_signature(SECRET, Some(&prefixed), BODY), Ok(()));
        let upper = VECTOR.to_uppercase();
        assert_eq!(verify_signature(SECRET, Some(&upper), BODY), Ok(()));
        assert_eq!(
            verify_signature(SECRET, Some(&format!("  {VECTOR} ")), BODY),
            Ok(())
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(
            verify_signature(SECRET, None, BODY),
            Err(SignatureError::Missing)
        );
        for malformed in ["", "sha256=", "abc", &VECTOR[..63], &format!("{VECTOR}00")] {
            assert_eq!(
                verify_signature(SECRET, Some(malformed), BODY),
                Err(SignatureError::Malformed),
                "{malformed:?}"
            );
        }
        let not_hex = format!("zz{}", &VECTOR[2..]);
        assert_eq!(
            verify_signature(SECRET, Some(&not_hex), BODY),
            Err(SignatureError::Malformed)
        );
        // One changed byte of the body, of the secret, or of the signature.
        assert_eq!(
            verify_signature(
                SECRET,
                Some(VECTOR),
                br#"{"object":"whatsapp_business_account","entry":[ ]}"#
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"another-secret", Some(VECTOR), BODY),
            Err(SignatureError::Mismatch)
        );
        let flipped = format!(
            "{}{}",
            &VECTOR[..63],
            if VECTOR.ends_with('5') { '6' } else { '5' }
        );
        assert_eq!(
            verify_signature(SECRET, Some(&flipped), BODY),
            Err(SignatureError::Mismatch)
        );
        // Meta's scheme is not Kapso's: a `sha1=` prefix is not a signature.
        assert_eq!(
            verify_signature(SECRET, Some(&format!("sha1={VECTOR}")), BODY),
            Err(SignatureError::Malformed)
        );
    }
}
