//! Webhook signature verification and the provider payload types Switchboard reads.
//!
//! Everything here is pure: bytes in, typed values or errors out. No I/O, no clock
//! (callers pass "now"), no allocation beyond what parsing needs. That keeps the hot
//! path of every webhook function cheap to benchmark and safe to fuzz: no input,
//! however hostile, may panic here.

pub mod email_events;
pub mod kapso;
pub mod messaging;
pub mod meta;
pub mod sendgrid;
pub mod standard;
pub mod stripe;

mod mac;

pub use mac::{constant_time_eq, hmac_sha256_hex, sha256_hex};

/// Most signatures a header may carry for the scheme a verifier checks (`v1` in both
/// Stripe's and Standard Webhooks' lists); a header with more is refused before any MAC
/// is computed.
///
/// Both providers send one signature per active secret: one normally, two while a
/// secret is rolled (Stripe keeps the old secret valid for up to 24 hours), a few if
/// rolls overlap. Eight leaves room for that, while a header of thousands of entries
/// (which costs a prober nothing to send) is refused at once instead of being walked
/// and compared entry by entry.
pub const MAX_SIGNATURES: usize = 8;

/// Why a webhook signature was refused. The variants are for logs and metrics only:
/// callers answer every one of them with the same 401 so that a prober learns nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is absent.
    #[error("signature header is missing")]
    Missing,
    /// The header is present but not in the provider's format.
    #[error("signature header is malformed")]
    Malformed,
    /// No signature in the header matches the body.
    #[error("signature does not match the body")]
    Mismatch,
    /// The signature matches but its timestamp is outside the tolerance window.
    #[error("signature timestamp is outside the tolerance window")]
    Expired,
    /// The header carries more than [`MAX_SIGNATURES`] signatures: no provider sends
    /// that many, so it is refused unchecked (and, like every variant, answered 401).
    #[error("signature header carries more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
}
