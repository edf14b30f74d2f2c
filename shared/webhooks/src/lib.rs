//! Webhook signature verification and the provider payload types Switchboard reads.
//!
//! Everything here is pure: bytes in, typed values or errors out. No I/O, no clock
//! (callers pass "now"), no allocation beyond what parsing needs. That keeps the hot
//! path of every webhook function cheap to benchmark and safe to fuzz: no input,
//! however hostile, may panic here.

pub mod meta;
pub mod standard;
pub mod stripe;

mod mac;

pub use mac::{constant_time_eq, sha256_hex};

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
}
