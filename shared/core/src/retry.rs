//! Retry delays: exponential backoff with jitter, one formula for every consumer.

use std::time::Duration;

/// Adds up to 20 % random jitter, so retries of a burst spread out.
pub fn jitter(d: Duration) -> Duration {
    let spread = d.as_millis() as u64 / 5 + 1;
    d + Duration::from_millis((uuid::Uuid::new_v4().as_u128() % u128::from(spread)) as u64)
}

/// `base · 2^attempt`, capped, plus jitter.
pub fn exponential(base: Duration, attempt: u32, cap: Duration) -> Duration {
    jitter(base.saturating_mul(1u32 << attempt.min(20)).min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_jitters_within_a_fifth() {
        let s = Duration::from_secs;
        for _ in 0..50 {
            let d = exponential(s(5), 0, s(900));
            assert!(d >= s(5) && d <= s(6), "{d:?}");
            assert!(exponential(s(5), 2, s(900)) >= s(20));
            let capped = exponential(s(1), 30, s(300));
            assert!(capped >= s(300) && capped <= s(360), "{capped:?}");
        }
    }
}
