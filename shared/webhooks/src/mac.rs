//! HMAC and digest helpers shared by the provider schemes, on top of `ring`.
//!
//! Tags are compared with [`constant_time_eq`], never with `==`. A scheme whose header
//! may carry several candidate signatures (one per active secret) computes the MAC once
//! with [`HmacSha256::tag`] and compares that [`Tag`] with each candidate: the MAC costs
//! a pass over the whole body, a comparison costs 32 bytes.

use ring::{digest, hmac};

/// A keyed HMAC-SHA256 context, built once per verification.
pub(crate) struct HmacSha256(hmac::Key);

impl HmacSha256 {
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The MAC of the concatenated `parts`, computed once, to compare with any number
    /// of candidate signatures.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in parts {
            ctx.update(part);
        }
        Tag(ctx.sign())
    }

    /// Checks `tag` against the MAC of the concatenated `parts`, in constant time.
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.tag(parts).matches(tag)
    }

    /// The MAC of the concatenated `parts` (used by signing helpers in tests and tools).
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.tag(parts).0.as_ref().to_vec()
    }
}

/// A computed MAC. It never leaves the crate and has no `PartialEq`, so the only way
/// to compare it is [`Tag::matches`], in constant time.
pub(crate) struct Tag(hmac::Tag);

impl Tag {
    /// Whether `candidate` is this tag, in constant time.
    pub(crate) fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_ref(), candidate)
    }
}

/// Compares two byte strings without an early exit on the first difference.
/// Lengths are public (every scheme's tag length is fixed), so a length mismatch
/// may return at once.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit loop.
    std::hint::black_box(diff) == 0
}

/// Lower-case hex HMAC-SHA256 of `parts` concatenated under `key`: keyed pseudonyms of
/// customer identities (FIFO group ids, log fields) that cannot be reversed by hashing
/// every phone number.
pub fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(HmacSha256::new(key).sign(parts))
}

/// Lower-case hex SHA-256 of `parts` concatenated: the idempotency key of stored events.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    hex::encode(ctx.finish().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = HmacSha256::new(b"Jefe");
        let tag = mac.sign(&[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(mac.verify(&[b"what do ya want for nothing?"], &tag));
        let mut bad = tag.clone();
        bad[31] ^= 1;
        assert!(!mac.verify(&[b"what do ya want for nothing?"], &bad));
        assert!(!mac.verify(&[b"what do ya want for nothing?"], &tag[..31]));
    }

    #[test]
    fn one_tag_compares_with_many_candidates() {
        let mac = HmacSha256::new(b"Jefe");
        let computed = mac.tag(&[b"what do ya want for nothing?"]);
        let good = mac.sign(&[b"what do ya want ", b"for nothing?"]);
        let mut bad = good.clone();
        bad[0] ^= 0x80;
        assert!(computed.matches(&good));
        assert!(!computed.matches(&bad));
        assert!(!computed.matches(&good[..31]));
        assert!(!computed.matches(&[]));
        // Comparing does not consume or change the tag.
        assert!(computed.matches(&good));
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(&[b"a", b"bc"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
