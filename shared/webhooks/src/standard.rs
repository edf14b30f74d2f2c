//! Standard Webhooks (the scheme of Resend, Clerk and other Svix-based senders).
//!
//! Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (or their `svix-`
//! twins); the signed string is `"<id>.<timestamp>.<body>"`, HMAC-SHA256 keyed with the
//! base64 secret after its `whsec_` prefix; the signature header is a space-separated
//! list of `v1,<base64>`, any of which may match. Tolerance is five minutes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::SignatureError;
use crate::mac::HmacSha256;

/// Default tolerance, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The three header values of a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    /// `webhook-id`: also the idempotency key.
    pub id: Option<&'a str>,
    /// `webhook-timestamp`: Unix seconds.
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`.
    pub signature: Option<&'a str>,
}

fn key_bytes(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(b64).map_err(|_| SignatureError::Malformed)
}

/// Verifies a delivery; returns the signed timestamp.
pub fn verify_signature(
    secret: &str,
    headers: Headers<'_>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let (Some(id), Some(ts_text), Some(sigs)) = (headers.id, headers.timestamp, headers.signature)
    else {
        return Err(SignatureError::Missing);
    };
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    let mac = HmacSha256::new(&key_bytes(secret)?);
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts_text.trim().as_bytes(), b".", body];
    let mut any = false;
    let mut matched = false;
    for sig in sigs.split_whitespace() {
        let Some(("v1", b64)) = sig.split_once(',') else {
            continue;
        };
        if let Ok(tag) = STANDARD.decode(b64) {
            any = true;
            matched |= mac.verify(&parts, &tag);
        }
    }
    if !any {
        return Err(SignatureError::Malformed);
    }
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now_unix - ts).abs() > tolerance_secs {
        return Err(SignatureError::Expired);
    }
    Ok(ts)
}

/// Produces the `webhook-signature` value for a delivery (tests and tools).
pub fn sign(secret: &str, id: &str, ts: i64, body: &[u8]) -> Result<String, SignatureError> {
    let ts = ts.to_string();
    let tag = HmacSha256::new(&key_bytes(secret)?).sign(&[
        id.as_bytes(),
        b".",
        ts.as_bytes(),
        b".",
        body,
    ]);
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn round_trip_rotation_and_tolerance() {
        let sig = sign(SECRET, "msg_1", 1_700_000_000, b"{}").unwrap();
        let list = format!("v1,AAAA {sig} v2,zzz");
        let h = Headers {
            id: Some("msg_1"),
            timestamp: Some("1700000000"),
            signature: Some(&list),
        };
        assert_eq!(
            verify_signature(SECRET, h, b"{}", 1_700_000_010, 300),
            Ok(1_700_000_000)
        );
        assert_eq!(
            verify_signature(SECRET, h, b"{}", 1_700_000_400, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature(SECRET, h, b"{ }", 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        let other_id = Headers {
            id: Some("msg_2"),
            ..h
        };
        assert_eq!(
            verify_signature(SECRET, other_id, b"{}", 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        let missing = Headers {
            signature: None,
            ..h
        };
        assert_eq!(
            verify_signature(SECRET, missing, b"{}", 1_700_000_000, 300),
            Err(SignatureError::Missing)
        );
    }
}
