//! Stripe webhooks: the `Stripe-Signature` scheme and the event envelope.
//!
//! The header is `t=<unix>,v1=<hex>[,v1=<hex>…]`; the signed string is
//! `"<t>.<raw body>"` under HMAC-SHA256 keyed with the endpoint secret as is
//! (`whsec_…` included). While a secret is rolled Stripe sends one `v1` per secret and
//! any match passes; other schemes (`v0`) are ignored. The timestamp is checked after
//! the signature, against a tolerance (Stripe's libraries default to 300 s).
//!
//! Only a handful of `v1` entries are ever legitimate, so a header with more than
//! [`MAX_SIGNATURES`] is refused outright, and the MAC, a pass over the whole body, is
//! computed once and compared with each entry: a hostile header of thousands of entries
//! on a large body costs no more than an honest one.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::mac::HmacSha256;
use crate::{MAX_SIGNATURES, SignatureError};

/// Header carrying the signature list.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// Stripe's own default tolerance, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Verifies a `Stripe-Signature` header against the raw body; returns the signed
/// timestamp on success.
///
/// The MAC is computed once, whatever the number of `v1` entries, and compared with
/// each in constant time; a header with more than [`MAX_SIGNATURES`] `v1` entries is
/// refused before any MAC is computed.
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<&str> = None;
    let mut candidates = [[0u8; 32]; MAX_SIGNATURES];
    let mut decoded = 0;
    let mut v1_entries = 0;
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" if timestamp.is_none() => timestamp = Some(v),
            "v1" => {
                // Malformed entries count too: the bound is on what was sent.
                v1_entries += 1;
                if v1_entries > MAX_SIGNATURES {
                    return Err(SignatureError::TooManySignatures);
                }
                // A malformed v1 among valid ones must not hide the valid ones.
                if hex::decode_to_slice(v, &mut candidates[decoded]).is_ok() {
                    decoded += 1;
                }
            }
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(SignatureError::Malformed)?;
    let t: i64 = t_text.parse().map_err(|_| SignatureError::Malformed)?;
    if decoded == 0 {
        return Err(SignatureError::Malformed);
    }
    let expected = HmacSha256::new(secret).tag(&[t_text.as_bytes(), b".", body]);
    // Compare with every candidate (no early exit) so timing does not reveal which matched.
    let matched = candidates[..decoded]
        .iter()
        .fold(false, |acc, tag| expected.matches(tag) | acc);
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now_unix - t).abs() > tolerance_secs {
        return Err(SignatureError::Expired);
    }
    Ok(t)
}

/// Produces a header Stripe would send for `body` at `t` (tests, tools, sample events).
pub fn sign(secret: &[u8], body: &[u8], t: i64) -> String {
    let t_text = t.to_string();
    let tag = HmacSha256::new(secret).sign(&[t_text.as_bytes(), b".", body]);
    format!("t={t_text},v1={}", hex::encode(tag))
}

/// The envelope every Stripe event shares. `data.object` stays raw JSON: the webhook
/// only needs the envelope and the customer, and the consumer parses the object when it
/// acts on it, so the hot path never builds a JSON tree.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// `evt_…`: the idempotency key.
    pub id: String,
    /// Event type, e.g. `customer.subscription.updated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds when Stripe created the event.
    pub created: i64,
    /// Live or test mode.
    #[serde(default)]
    pub livemode: bool,
    /// API version the payload is rendered in.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `{object, previous_attributes}`.
    pub data: EventData,
}

/// `event.data`.
#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    /// The object snapshot (subscription, invoice, checkout session, …), as received.
    pub object: Box<RawValue>,
}

#[derive(Deserialize)]
struct ObjectPeek {
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    customer: Option<CustomerField>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CustomerField {
    Id(String),
    Expanded { id: String },
}

impl Event {
    /// Parses an event body.
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The object as a JSON value (parsed on demand).
    pub fn object(&self) -> Value {
        serde_json::from_str(self.data.object.get()).unwrap_or(Value::Null)
    }

    /// The Stripe customer the event is about, whatever the object type.
    pub fn customer(&self) -> Option<String> {
        let peek: ObjectPeek = serde_json::from_str(self.data.object.get()).ok()?;
        if peek.object.as_deref() == Some("customer") {
            return peek.id;
        }
        match peek.customer? {
            CustomerField::Id(id) | CustomerField::Expanded { id } => Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event","type":"invoice.paid","created":1700000000,"livemode":false,"data":{"object":{"object":"invoice","id":"in_1","customer":"cus_9"}}}"#;

    #[test]
    fn valid_signature_and_tolerance() {
        let header = sign(SECRET, BODY, 1_700_000_000);
        assert_eq!(
            verify_signature(SECRET, Some(&header), BODY, 1_700_000_100, 300),
            Ok(1_700_000_000)
        );
        assert_eq!(
            verify_signature(SECRET, Some(&header), BODY, 1_700_000_301, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature(SECRET, Some(&header), BODY, 1_699_999_600, 300),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn rotation_any_v1_matches_and_v0_ignored() {
        let good = sign(SECRET, BODY, 1_700_000_000);
        let other = sign(b"whsec_old", BODY, 1_700_000_000);
        let old_v1 = other.split(",v1=").nth(1).unwrap();
        let good_v1 = good.split(",v1=").nth(1).unwrap();
        let header = format!("t=1700000000,v1={old_v1},v1={good_v1},v0=deadbeef");
        assert!(verify_signature(SECRET, Some(&header), BODY, 1_700_000_000, 300).is_ok());
        let header = format!("t=1700000000,v1=zz,v1={good_v1}");
        assert!(verify_signature(SECRET, Some(&header), BODY, 1_700_000_000, 300).is_ok());
        let header = format!("t=1700000000,v0={good_v1}");
        assert_eq!(
            verify_signature(SECRET, Some(&header), BODY, 1_700_000_000, 300),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn tampered_body_and_bad_headers() {
        let header = sign(SECRET, BODY, 1_700_000_000);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify_signature(SECRET, Some(&header), &tampered, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        // A signature for another timestamp does not verify under this one.
        let shifted = header.replacen("t=1700000000", "t=1700000001", 1);
        assert_eq!(
            verify_signature(SECRET, Some(&shifted), BODY, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(SECRET, None, BODY, 0, 300),
            Err(SignatureError::Missing)
        );
        for bad in ["", "garbage", "t=abc,v1=00", "v1=00"] {
            assert_eq!(
                verify_signature(SECRET, Some(bad), BODY, 0, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    /// `n` `v1` entries signed with other secrets, then `good` (if any), for `t`.
    fn header_with(n: usize, good: Option<&str>) -> String {
        let mut header = "t=1700000000".to_owned();
        for i in 0..n {
            let other = sign(format!("whsec_old_{i}").as_bytes(), BODY, 1_700_000_000);
            header.push_str(&format!(",v1={}", other.split(",v1=").nth(1).unwrap()));
        }
        if let Some(good) = good {
            header.push_str(&format!(",v1={good}"));
        }
        header
    }

    #[test]
    fn many_signatures_refused_even_with_a_valid_one() {
        let good = sign(SECRET, BODY, 1_700_000_000);
        let good_v1 = good.split(",v1=").nth(1).unwrap();
        for others in [MAX_SIGNATURES, 5_000] {
            let header = header_with(others, Some(good_v1));
            assert_eq!(
                verify_signature(SECRET, Some(&header), BODY, 1_700_000_000, 300),
                Err(SignatureError::TooManySignatures),
                "{others} others and the valid one"
            );
        }
        // The valid one first does not help, and malformed entries count too.
        let header = format!("{good},{}", ["v1=zz"; MAX_SIGNATURES].join(","));
        assert_eq!(
            verify_signature(SECRET, Some(&header), BODY, 1_700_000_000, 300),
            Err(SignatureError::TooManySignatures)
        );
        // Other schemes do not count: they are ignored, not verified.
        let header = format!("{good},{}", ["v0=00"; 100].join(","));
        assert!(verify_signature(SECRET, Some(&header), BODY, 1_700_000_000, 300).is_ok());
    }

    #[test]
    fn one_valid_among_a_few_passes() {
        let good = sign(SECRET, BODY, 1_700_000_000);
        let good_v1 = good.split(",v1=").nth(1).unwrap();
        let few = header_with(2, Some(good_v1)).replacen(",v1=", ",v1=zz,v1=", 1);
        assert!(verify_signature(SECRET, Some(&few), BODY, 1_700_000_000, 300).is_ok());
        assert_eq!(
            verify_signature(
                SECRET,
                Some(&header_with(3, None)),
                BODY,
                1_700_000_000,
                300
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn valid_one_last_of_the_allowed_count_passes() {
        let good = sign(SECRET, BODY, 1_700_000_000);
        let good_v1 = good.split(",v1=").nth(1).unwrap();
        let header = header_with(MAX_SIGNATURES - 1, Some(good_v1));
        assert_eq!(header.matches("v1=").count(), MAX_SIGNATURES);
        assert_eq!(
            verify_signature(SECRET, Some(&header), BODY, 1_700_000_000, 300),
            Ok(1_700_000_000)
        );
        assert_eq!(
            verify_signature(
                SECRET,
                Some(&header_with(MAX_SIGNATURES, None)),
                BODY,
                1_700_000_000,
                300
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn envelope_and_customer() {
        let event = Event::parse(BODY).unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.kind, "invoice.paid");
        assert!(!event.livemode);
        assert_eq!(event.customer().as_deref(), Some("cus_9"));
        assert_eq!(event.object()["id"], "in_1");
        let expanded = Event::parse(br#"{"id":"e","type":"t","created":1,"data":{"object":{"object":"subscription","customer":{"id":"cus_x","object":"customer"}}}}"#).unwrap();
        assert_eq!(expanded.customer().as_deref(), Some("cus_x"));
        let customer = Event::parse(br#"{"id":"e","type":"customer.updated","created":1,"data":{"object":{"object":"customer","id":"cus_y"}}}"#).unwrap();
        assert_eq!(customer.customer().as_deref(), Some("cus_y"));
    }
}
