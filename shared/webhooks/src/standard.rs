//! Standard Webhooks (the scheme of Resend, Clerk and other Svix-based senders).
//!
//! Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (or their `svix-`
//! twins); the signed string is `"<id>.<timestamp>.<body>"`, HMAC-SHA256 keyed with the
//! base64 secret after its `whsec_` prefix; the signature header is a space-separated
//! list of `v1,<base64>`, any of which may match. Tolerance is five minutes.
//!
//! As for Stripe, a list with more than [`MAX_SIGNATURES`] `v1` entries is refused
//! outright and the MAC is computed once, then compared with each entry.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::mac::HmacSha256;
use crate::{MAX_SIGNATURES, SignatureError};

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
///
/// The MAC is computed once, whatever the number of `v1` entries, and compared with
/// each in constant time; a list of more than [`MAX_SIGNATURES`] `v1` entries is
/// refused before any MAC is computed.
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
    // `None` for an entry that is not base64: it must not hide a valid one, and alone
    // it makes the header malformed.
    let mut candidates: Vec<Option<Vec<u8>>> = Vec::new();
    for sig in sigs.split_whitespace() {
        let Some(("v1", b64)) = sig.split_once(',') else {
            continue;
        };
        // Undecodable entries count too: the bound is on what was sent.
        if candidates.len() == MAX_SIGNATURES {
            return Err(SignatureError::TooManySignatures);
        }
        candidates.push(STANDARD.decode(b64).ok());
    }
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    if candidates.iter().all(Option::is_none) {
        return Err(SignatureError::Malformed);
    }
    let expected = HmacSha256::new(&key_bytes(secret)?).tag(&[
        id.as_bytes(),
        b".",
        ts_text.trim().as_bytes(),
        b".",
        body,
    ]);
    // Compare with every candidate (no early exit) so timing does not reveal which matched.
    let matched = candidates
        .iter()
        .flatten()
        .fold(false, |acc, tag| expected.matches(tag) | acc);
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

    /// `n` `v1` entries signed with other secrets, then `good` (if any).
    fn list_with(n: usize, good: Option<&str>) -> String {
        let mut list: Vec<String> = (0..n)
            .map(|i| {
                let other = STANDARD.encode(format!("other-secret-{i}"));
                sign(&other, "msg_1", 1_700_000_000, b"{}").unwrap()
            })
            .collect();
        list.extend(good.map(str::to_owned));
        list.join(" ")
    }

    fn check(list: &str) -> Result<i64, SignatureError> {
        let h = Headers {
            id: Some("msg_1"),
            timestamp: Some("1700000000"),
            signature: Some(list),
        };
        verify_signature(SECRET, h, b"{}", 1_700_000_000, 300)
    }

    #[test]
    fn many_signatures_refused_even_with_a_valid_one() {
        let good = sign(SECRET, "msg_1", 1_700_000_000, b"{}").unwrap();
        for others in [MAX_SIGNATURES, 5_000] {
            assert_eq!(
                check(&list_with(others, Some(&good))),
                Err(SignatureError::TooManySignatures),
                "{others} others and the valid one"
            );
        }
        // The valid one first does not help, and undecodable entries count too.
        let list = format!("{good} {}", ["v1,!!"; MAX_SIGNATURES].join(" "));
        assert_eq!(check(&list), Err(SignatureError::TooManySignatures));
        // Other versions do not count: they are ignored, not verified.
        let list = format!("{good} {}", ["v1a,AAAA"; 100].join(" "));
        assert_eq!(check(&list), Ok(1_700_000_000));
    }

    #[test]
    fn one_valid_among_a_few_passes() {
        let good = sign(SECRET, "msg_1", 1_700_000_000, b"{}").unwrap();
        let few = format!("v1,!! {}", list_with(2, Some(&good)));
        assert_eq!(check(&few), Ok(1_700_000_000));
        assert_eq!(check(&list_with(3, None)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn valid_one_last_of_the_allowed_count_passes() {
        let good = sign(SECRET, "msg_1", 1_700_000_000, b"{}").unwrap();
        let list = list_with(MAX_SIGNATURES - 1, Some(&good));
        assert_eq!(list.split_whitespace().count(), MAX_SIGNATURES);
        assert_eq!(check(&list), Ok(1_700_000_000));
        assert_eq!(
            check(&list_with(MAX_SIGNATURES, None)),
            Err(SignatureError::Mismatch)
        );
    }
}
