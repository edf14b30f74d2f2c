//! SendGrid's Signed Event Webhook: ECDSA P-256 / SHA-256 over `timestamp || raw body`.
//!
//! SendGrid signs each Event Webhook POST with a key pair it generates per account (or
//! per webhook). Two headers come with the body: `X-Twilio-Email-Event-Webhook-Timestamp`
//! (Unix seconds, as text) and `X-Twilio-Email-Event-Webhook-Signature` (base64 of an
//! ASN.1 DER ECDSA signature). The signed message is the timestamp text immediately
//! followed by the raw body bytes: no separator.
//!
//! Unlike the HMAC schemes there is no shared secret: the "verification key" SendGrid's
//! settings show is the base64 of a DER `SubjectPublicKeyInfo` for a P-256 key. `ring`
//! verifies against the bare uncompressed point, so [`PublicKey::from_base64`] parses the
//! SPKI once (checking that the algorithm really is id-ecPublicKey on prime256v1) and the
//! parsed key is reused for every delivery.
//!
//! As everywhere in this crate the signature is checked before the timestamp's age, and
//! every refusal is a [`SignatureError`] that callers answer with the same 401. The age
//! check matters more here than usual: with no separator between timestamp and body, a
//! digit moved from the end of one to the front of the other keeps the signed bytes, and
//! only the tenfold change of the timestamp gives it away.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};

use crate::SignatureError;

/// Header carrying the base64 DER signature (HTTP header names are case-insensitive;
/// this is the lower-case form API Gateway and Lambda URLs hand over).
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";

/// Header carrying the signed Unix timestamp, as text.
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// Default tolerance, in seconds, between the signed timestamp and "now".
///
/// SendGrid documents no window and its own libraries check none, but without one a
/// captured POST could be replayed forever. The timestamp is stamped when SendGrid makes
/// the POST, so an honest delivery is seconds old; five minutes (the Standard Webhooks
/// and Stripe window, and what other SendGrid integrations such as Symfony's Mailer
/// use) leaves room for clock skew and slow networks without letting replays live long.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Longest signature header accepted, in characters. A DER ECDSA P-256 signature is at
/// most 72 bytes (96 base64 characters); anything much longer is refused before decoding.
const MAX_SIGNATURE_HEADER_LEN: usize = 128;

/// Longest DER ECDSA P-256 signature: SEQUENCE header (2) + two INTEGERs of up to
/// 33 bytes with their headers (2 × 35).
const MAX_DER_SIGNATURE_LEN: usize = 72;

/// Standard alphabet, padding optional: keys and signatures are pasted by hand or pass
/// through tools that drop the trailing `=`.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// DER tags used in a `SubjectPublicKeyInfo`.
const DER_SEQUENCE: u8 = 0x30;
const DER_OID: u8 = 0x06;
const DER_BIT_STRING: u8 = 0x03;

/// Contents of the OID 1.2.840.10045.2.1 (id-ecPublicKey).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// Contents of the OID 1.2.840.10045.3.1.7 (prime256v1, a.k.a. secp256r1 / P-256).
const OID_PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Length of an uncompressed P-256 point: `0x04 || x (32) || y (32)`.
const POINT_LEN: usize = 65;

/// A SendGrid verification key, parsed once (at configuration time) and reused.
///
/// Holds the uncompressed P-256 point taken from the SPKI. Whether the point is on the
/// curve is checked by `ring` at verification: a key whose point is not refuses every
/// signature ([`SignatureError::Mismatch`]).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey([u8; POINT_LEN]);

impl std::fmt::Debug for PublicKey {
    // A public key is not secret, but 65 bytes of it help no log reader: print a prefix.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(P-256 {}…)", hex::encode(&self.0[1..9]))
    }
}

impl PublicKey {
    /// Parses the verification key as SendGrid's settings show it: base64 of a DER
    /// `SubjectPublicKeyInfo`. PEM armour (`-----BEGIN PUBLIC KEY-----` …), line breaks,
    /// spaces, escaped `\n` sequences (keys that went through JSON or an env file) and
    /// missing padding are tolerated.
    ///
    /// Anything that is not base64 of the SPKI of an uncompressed P-256 key with the
    /// id-ecPublicKey / prime256v1 identifiers is [`SignatureError::Malformed`].
    pub fn from_base64(text: &str) -> Result<Self, SignatureError> {
        let der = BASE64
            .decode(strip_armour(text))
            .map_err(|_| SignatureError::Malformed)?;
        Self::from_spki_der(&der)
    }

    /// Parses a DER `SubjectPublicKeyInfo` (the bytes behind [`PublicKey::from_base64`]).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, SignatureError> {
        point_from_spki(der)
            .map(Self)
            .ok_or(SignatureError::Malformed)
    }

    /// The uncompressed point `0x04 || x || y` (65 bytes).
    pub fn uncompressed_point(&self) -> &[u8] {
        &self.0
    }
}

/// The header values of a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    /// `X-Twilio-Email-Event-Webhook-Signature`: base64 DER ECDSA signature.
    pub signature: Option<&'a str>,
    /// `X-Twilio-Email-Event-Webhook-Timestamp`: Unix seconds, as text.
    pub timestamp: Option<&'a str>,
}

/// Verifies a delivery against the raw body; returns the signed timestamp.
///
/// Missing either header is [`SignatureError::Missing`]; a timestamp that is not an
/// integer or a signature that is not base64 of something shaped like a DER ECDSA
/// signature is [`SignatureError::Malformed`]; a signature that does not verify over
/// `timestamp || body` is [`SignatureError::Mismatch`]; a valid one whose timestamp is
/// more than `tolerance_secs` from `now_unix` (either way) is [`SignatureError::Expired`].
pub fn verify_signature(
    key: &PublicKey,
    headers: Headers<'_>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let (Some(sig_text), Some(ts_text)) = (headers.signature, headers.timestamp) else {
        return Err(SignatureError::Missing);
    };
    let ts_text = ts_text.trim();
    let ts: i64 = ts_text.parse().map_err(|_| SignatureError::Malformed)?;
    let sig_text = sig_text.trim();
    if sig_text.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let sig = BASE64
        .decode(sig_text)
        .map_err(|_| SignatureError::Malformed)?;
    // Only the outer shape is checked here, to tell garbage from a wrong signature in
    // the logs; `ring` parses the DER itself and refuses anything off.
    if sig.first() != Some(&DER_SEQUENCE) || !(8..=MAX_DER_SIGNATURE_LEN).contains(&sig.len()) {
        return Err(SignatureError::Malformed);
    }
    // ring takes the message in one piece (no streaming or prehashed ECDSA verify), so
    // the timestamp and body are joined once; the copy is cheap next to the ECDSA math.
    let mut message = Vec::with_capacity(ts_text.len() + body.len());
    message.extend_from_slice(ts_text.as_bytes());
    message.extend_from_slice(body);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &key.0[..])
        .verify(&message, &sig)
        .map_err(|_| SignatureError::Mismatch)?;
    // abs_diff: no overflow whatever the (signed, hence trusted, but odd) timestamp.
    let tolerance = u64::try_from(tolerance_secs).unwrap_or(0);
    if now_unix.abs_diff(ts) > tolerance {
        return Err(SignatureError::Expired);
    }
    Ok(ts)
}

/// The base64 text of a key with PEM armour, whitespace and escaped line breaks removed.
///
/// Splitting on `-----` leaves the armour lines' labels at odd positions and content at
/// even ones, whether the armour sits on its own lines or was flattened onto one. Base64
/// has no backslash, so `\n` / `\r` escapes can only be line breaks that went through an
/// encoder.
fn strip_armour(text: &str) -> String {
    let content: String = text
        .split("-----")
        .step_by(2)
        .collect::<Vec<_>>()
        .concat()
        .replace("\\n", "")
        .replace("\\r", "");
    content.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Reads one DER element with tag `tag` from the front of `input`: `(contents, rest)`.
///
/// Only the short length form is accepted: every element of a P-256 SPKI is under 128
/// bytes, and DER requires the shortest form, so a long form here is never valid.
fn der_take(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if t != tag || len >= 0x80 || rest.len() < usize::from(len) {
        return None;
    }
    Some(rest.split_at(usize::from(len)))
}

/// The uncompressed point of a P-256 `SubjectPublicKeyInfo`:
///
/// ```text
/// SEQUENCE {
///   SEQUENCE { OID id-ecPublicKey, OID prime256v1 }
///   BIT STRING (0 unused bits) 04 || x || y
/// }
/// ```
///
/// Trailing bytes at any level, other algorithms or curves, explicit curve parameters
/// and compressed points are all refused.
fn point_from_spki(der: &[u8]) -> Option<[u8; POINT_LEN]> {
    let (spki, rest) = der_take(der, DER_SEQUENCE)?;
    if !rest.is_empty() {
        return None;
    }
    let (algorithm, rest) = der_take(spki, DER_SEQUENCE)?;
    let (bits, rest) = der_take(rest, DER_BIT_STRING)?;
    if !rest.is_empty() {
        return None;
    }
    let (oid, params) = der_take(algorithm, DER_OID)?;
    let (curve, rest) = der_take(params, DER_OID)?;
    if oid != OID_EC_PUBLIC_KEY || curve != OID_PRIME256V1 || !rest.is_empty() {
        return None;
    }
    // The first content byte of a BIT STRING counts unused bits in the last byte: 0 here.
    let (&0, point) = bits.split_first()? else {
        return None;
    };
    let point: [u8; POINT_LEN] = point.try_into().ok()?;
    (point[0] == 0x04).then_some(point)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;
    use ring::rand::SystemRandom;
    use ring::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
        EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair,
    };

    /// Known-answer vector from SendGrid's own Node.js library tests
    /// (sendgrid/sendgrid-nodejs, packages/eventwebhook/src/eventwebhook.spec.js): key,
    /// signature and timestamp as published, body = `JSON.stringify` of the object there.
    const KAT_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    const KAT_SIGNATURE: &str = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    const KAT_TIMESTAMP: &str = "1588788367";
    const KAT_BODY: &[u8] =
        br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
    /// The "invalid key" of the same test file: a valid P-256 key, just not the signer's.
    const KAT_OTHER_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";

    /// DER prefix of a P-256 SPKI, before the 65-byte point.
    const P256_SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
    /// DER prefix of a P-384 SPKI (secp384r1), before the 97-byte point.
    const P384_SPKI_PREFIX: &str = "3076301006072a8648ce3d020106052b81040022036200";
    /// DER prefix of an Ed25519 SPKI, before the 32-byte key.
    const ED25519_SPKI_PREFIX: &str = "302a300506032b6570032100";

    const T: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"[{"email":"ana@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"ev1","sg_message_id":"abc.filter0001"}]"#;

    struct Signer {
        pair: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Signer {
        fn generate(alg: &'static EcdsaSigningAlgorithm) -> Self {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
            Self { pair, rng }
        }

        fn spki_base64(&self, prefix: &str) -> String {
            let mut der = hex::decode(prefix).unwrap();
            der.extend_from_slice(self.pair.public_key().as_ref());
            STANDARD.encode(der)
        }

        fn sign(&self, ts: &str, body: &[u8]) -> String {
            let message = [ts.as_bytes(), body].concat();
            STANDARD.encode(self.pair.sign(&self.rng, &message).unwrap())
        }
    }

    fn p256() -> (Signer, PublicKey) {
        let signer = Signer::generate(&ECDSA_P256_SHA256_ASN1_SIGNING);
        let key = PublicKey::from_base64(&signer.spki_base64(P256_SPKI_PREFIX)).unwrap();
        (signer, key)
    }

    fn headers<'a>(signature: &'a str, timestamp: &'a str) -> Headers<'a> {
        Headers {
            signature: Some(signature),
            timestamp: Some(timestamp),
        }
    }

    #[test]
    fn sendgrid_published_vector_verifies() {
        let key = PublicKey::from_base64(KAT_KEY).unwrap();
        let h = headers(KAT_SIGNATURE, KAT_TIMESTAMP);
        assert_eq!(
            verify_signature(&key, h, KAT_BODY, 1_588_788_367, 300),
            Ok(1_588_788_367)
        );
        // Everything that vector's test file expects to fail fails here too.
        let other = PublicKey::from_base64(KAT_OTHER_KEY).unwrap();
        assert_eq!(
            verify_signature(&other, h, KAT_BODY, 1_588_788_367, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&key, h, b"payload", 1_588_788_367, 300),
            Err(SignatureError::Mismatch)
        );
        let bad_sig = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
        assert_eq!(
            verify_signature(
                &key,
                headers(bad_sig, KAT_TIMESTAMP),
                KAT_BODY,
                1_588_788_367,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&key, headers(KAT_SIGNATURE, "timestamp"), KAT_BODY, 0, 300),
            Err(SignatureError::Malformed)
        );
        // Years later the same valid delivery is a replay.
        assert_eq!(
            verify_signature(&key, h, KAT_BODY, 1_700_000_000, DEFAULT_TOLERANCE_SECS),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn key_accepted_with_pem_armour_whitespace_and_no_padding() {
        let plain = PublicKey::from_base64(KAT_KEY).unwrap();
        let wrapped: Vec<&str> = KAT_KEY
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let variants = [
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                wrapped.join("\n")
            ),
            format!(
                "-----BEGIN PUBLIC KEY-----\r\n{}\r\n-----END PUBLIC KEY-----",
                wrapped.join("\r\n")
            ),
            format!("-----BEGIN PUBLIC KEY-----{KAT_KEY}-----END PUBLIC KEY-----"),
            format!("-----BEGIN PUBLIC KEY-----\\n{KAT_KEY}\\n-----END PUBLIC KEY-----\\n"),
            format!("  {KAT_KEY}\n"),
            KAT_KEY.trim_end_matches('=').to_owned(),
        ];
        for text in &variants {
            assert_eq!(
                PublicKey::from_base64(text).as_ref(),
                Ok(&plain),
                "{text:?}"
            );
        }
        assert_eq!(plain.uncompressed_point().len(), 65);
        assert_eq!(plain.uncompressed_point()[0], 0x04);
    }

    #[test]
    fn generated_round_trip() {
        let (signer, key) = p256();
        let sig = signer.sign("1700000000", BODY);
        let h = headers(&sig, "1700000000");
        assert_eq!(verify_signature(&key, h, BODY, T, 300), Ok(T));
        assert_eq!(verify_signature(&key, h, BODY, T + 300, 300), Ok(T));
        assert_eq!(verify_signature(&key, h, BODY, T - 300, 300), Ok(T));
        // Header values with surrounding whitespace still verify.
        let padded = format!(" {sig} ");
        assert_eq!(
            verify_signature(&key, headers(&padded, " 1700000000 "), BODY, T, 300),
            Ok(T)
        );
        // Empty bodies are signed like any other.
        let empty = signer.sign("1700000000", b"");
        assert_eq!(
            verify_signature(&key, headers(&empty, "1700000000"), b"", T, 300),
            Ok(T)
        );
    }

    #[test]
    fn tampering_and_wrong_key_mismatch() {
        let (signer, key) = p256();
        let sig = signer.sign("1700000000", BODY);
        let h = headers(&sig, "1700000000");
        let mut tampered = BODY.to_vec();
        tampered[12] ^= 1;
        assert_eq!(
            verify_signature(&key, h, &tampered, T, 300),
            Err(SignatureError::Mismatch)
        );
        // Another timestamp, even one second off, is another message.
        assert_eq!(
            verify_signature(&key, headers(&sig, "1700000001"), BODY, T, 300),
            Err(SignatureError::Mismatch)
        );
        let (_, other_key) = p256();
        assert_eq!(
            verify_signature(&other_key, h, BODY, T, 300),
            Err(SignatureError::Mismatch)
        );
        // A valid DER signature by another key.
        let (other_signer, _) = p256();
        let foreign = other_signer.sign("1700000000", BODY);
        assert_eq!(
            verify_signature(&key, headers(&foreign, "1700000000"), BODY, T, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_or_future_timestamp_expired_after_signature_check() {
        let (signer, key) = p256();
        let sig = signer.sign("1700000000", BODY);
        let h = headers(&sig, "1700000000");
        assert_eq!(
            verify_signature(&key, h, BODY, T + 301, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature(&key, h, BODY, T - 301, 300),
            Err(SignatureError::Expired)
        );
        // A negative tolerance is taken as zero: only a timestamp equal to now passes.
        assert_eq!(verify_signature(&key, h, BODY, T, -5), Ok(T));
        assert_eq!(
            verify_signature(&key, h, BODY, T + 1, -5),
            Err(SignatureError::Expired)
        );
        // Extreme clocks do not overflow.
        assert_eq!(
            verify_signature(&key, h, BODY, i64::MIN, i64::MAX),
            Err(SignatureError::Expired)
        );
        // The age is only told once the signature holds: a forged old delivery is a
        // mismatch, not "expired".
        assert_eq!(
            verify_signature(&key, h, b"forged", T + 10_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    /// The scheme puts no separator between timestamp and body, so moving a digit from
    /// the end of the timestamp to the front of the body keeps the signed bytes. The
    /// timestamp then changes tenfold, which the tolerance check refuses.
    #[test]
    fn digit_moved_from_timestamp_to_body_is_expired() {
        let (signer, key) = p256();
        let sig = signer.sign("1700000000", BODY);
        let shifted_body = [b"0".as_slice(), BODY].concat();
        assert_eq!(
            verify_signature(&key, headers(&sig, "170000000"), &shifted_body, T, 300),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn missing_headers() {
        let (signer, key) = p256();
        let sig = signer.sign("1700000000", BODY);
        for h in [
            Headers {
                signature: None,
                timestamp: Some("1700000000"),
            },
            Headers {
                signature: Some(&sig),
                timestamp: None,
            },
            Headers {
                signature: None,
                timestamp: None,
            },
        ] {
            assert_eq!(
                verify_signature(&key, h, BODY, T, 300),
                Err(SignatureError::Missing)
            );
        }
    }

    #[test]
    fn malformed_headers() {
        let (signer, key) = p256();
        let sig = signer.sign("1700000000", BODY);
        let raw = STANDARD.decode(&sig).unwrap();
        let long = "A".repeat(MAX_SIGNATURE_HEADER_LEN + 4);
        let not_der = STANDARD.encode([0x31u8; 70]);
        let too_short = STANDARD.encode([0x30u8, 0x00]);
        let too_long = STANDARD.encode([0x30u8; 80]);
        for bad_sig in [
            "",
            "   ",
            "not base64 !!",
            "MEUCIQ",
            long.as_str(),
            not_der.as_str(),
            too_short.as_str(),
            too_long.as_str(),
        ] {
            assert_eq!(
                verify_signature(&key, headers(bad_sig, "1700000000"), BODY, T, 300),
                Err(SignatureError::Malformed),
                "{bad_sig:?}"
            );
        }
        for bad_ts in ["", "abc", "1.7e9", "1700000000x", "99999999999999999999"] {
            assert_eq!(
                verify_signature(&key, headers(&sig, bad_ts), BODY, T, 300),
                Err(SignatureError::Malformed),
                "{bad_ts:?}"
            );
        }
        // A DER-shaped signature whose insides are wrong is left to ring: a mismatch.
        let mut broken = raw.clone();
        broken[1] = broken[1].wrapping_add(1);
        assert_eq!(
            verify_signature(
                &key,
                headers(&STANDARD.encode(&broken), "1700000000"),
                BODY,
                T,
                300
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn keys_that_are_not_p256_spki_are_malformed() {
        let p384 = Signer::generate(&ECDSA_P384_SHA384_ASN1_SIGNING);
        let p384_spki = p384.spki_base64(P384_SPKI_PREFIX);
        let rng = SystemRandom::new();
        let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap();
        let mut ed_der = hex::decode(ED25519_SPKI_PREFIX).unwrap();
        ed_der.extend_from_slice(ed.public_key().as_ref());
        let ed_spki = STANDARD.encode(&ed_der);

        let good = STANDARD.decode(KAT_KEY).unwrap();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut der = good.clone();
            f(&mut der);
            STANDARD.encode(der)
        };
        // Compressed point (0x02 prefix) in an otherwise well-formed SPKI of that length.
        let compressed = with(&|d| d[26] = 0x02);
        let unused_bits = with(&|d| d[25] = 0x01);
        let wrong_curve = with(&|d| d[22] = 0x08);
        let wrong_alg = with(&|d| d[12] = 0x03);
        let trailing = with(&|d| d.push(0));
        let truncated = with(&|d| {
            d.pop();
        });
        let long_form = {
            // Same key with the outer length in (non-minimal) long form.
            let mut der = vec![0x30, 0x81, 0x59];
            der.extend_from_slice(&good[2..]);
            STANDARD.encode(der)
        };
        let pkcs8_private = STANDARD.encode(
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .unwrap()
                .as_ref(),
        );
        let bare_point = STANDARD.encode(&good[26..]);
        for bad in [
            "",
            "!!!!",
            "not a key",
            "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
            STANDARD
                .encode(b"garbage DER bytes that are not an SPKI")
                .as_str(),
            p384_spki.as_str(),
            ed_spki.as_str(),
            compressed.as_str(),
            unused_bits.as_str(),
            wrong_curve.as_str(),
            wrong_alg.as_str(),
            trailing.as_str(),
            truncated.as_str(),
            long_form.as_str(),
            pkcs8_private.as_str(),
            bare_point.as_str(),
        ] {
            assert_eq!(
                PublicKey::from_base64(bad),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_is_short() {
        let key = PublicKey::from_base64(KAT_KEY).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.starts_with("PublicKey(P-256 "), "{shown}");
        assert!(shown.len() < 40, "{shown}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_headers_never_panic(
            sig in proptest::option::of(".{0,200}"),
            ts in proptest::option::of(".{0,40}"),
            body in proptest::collection::vec(any::<u8>(), 0..256),
            now in any::<i64>(),
            tolerance in any::<i64>(),
        ) {
            let key = PublicKey::from_base64(KAT_KEY).unwrap();
            let h = Headers { signature: sig.as_deref(), timestamp: ts.as_deref() };
            let result = verify_signature(&key, h, &body, now, tolerance);
            prop_assert!(result.is_err());
        }

        #[test]
        fn arbitrary_base64_signatures_never_panic(
            raw in proptest::collection::vec(any::<u8>(), 0..100),
            ts in any::<i64>(),
        ) {
            let key = PublicKey::from_base64(KAT_KEY).unwrap();
            let sig = STANDARD.encode(&raw);
            let ts = ts.to_string();
            prop_assert!(verify_signature(&key, headers(&sig, &ts), KAT_BODY, 0, 300).is_err());
        }

        #[test]
        fn arbitrary_keys_never_panic(text in ".{0,200}", der in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = PublicKey::from_base64(&text);
            let _ = PublicKey::from_spki_der(&der);
            let _ = PublicKey::from_base64(&STANDARD.encode(&der));
        }
    }
}
