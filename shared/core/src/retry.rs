//! Retry delays: exponential backoff with jitter, one formula and one policy for every
//! consumer.
//!
//! Provider incidents last minutes to hours (Meta and Stripe status pages show outages
//! of 20 minutes to several hours), while Meta retries its own webhooks for up to 7 days
//! and Stripe for 3. A retry budget of a minute would dead-letter everything in flight
//! during any real incident and leave a person to redrive it, so transient failures are
//! retried from seconds up to an hour apart for about a day ([`RetryPolicy::DEFAULT`]);
//! the dead-letter queue is for what still fails after that, and for poison.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// SQS's longest visibility timeout (12 h): no retry delay may exceed it, because
/// retries wait in the queue as hidden messages.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(12 * 3600);

/// Adds up to 20 % random jitter, so retries of a burst spread out.
pub fn jitter(d: Duration) -> Duration {
    let spread = d.as_millis() as u64 / 5 + 1;
    d + Duration::from_millis((uuid::Uuid::new_v4().as_u128() % u128::from(spread)) as u64)
}

/// `base · 2^attempt`, capped, plus jitter.
pub fn exponential(base: Duration, attempt: u32, cap: Duration) -> Duration {
    jitter(base.saturating_mul(1u32 << attempt.min(20)).min(cap))
}

/// How long and how often transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry; each later one doubles it.
    pub base: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
    /// How long after the first failure retries stop.
    pub horizon: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl RetryPolicy {
    /// 5 s, 10 s, 20 s, … up to an hour apart, for 24 hours: about 33 attempts.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        base: Duration::from_secs(5),
        max_delay: Duration::from_secs(3600),
        horizon: Duration::from_secs(24 * 3600),
    };

    /// The delay before retry number `retry` (1-based), without jitter.
    pub fn nominal_delay(&self, retry: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_delay)
    }

    /// The delay before retry number `retry` (1-based), with up to 20 % jitter (never
    /// beyond what a queue can hold).
    pub fn delay(&self, retry: u32) -> Duration {
        jitter(self.nominal_delay(retry)).min(MAX_QUEUE_DELAY)
    }

    /// How many retries fit in the horizon (attempts = retries + 1): the budget of a
    /// consumer that counts receives rather than remembering its first failure.
    pub fn max_retries(&self) -> u32 {
        let mut total = Duration::ZERO;
        let mut retries = 0;
        loop {
            let next = total + self.nominal_delay(retries + 1);
            if next > self.horizon || retries >= 10_000 {
                return retries;
            }
            total = next;
            retries += 1;
        }
    }

    /// The delay before retry number `retry` of work that first failed at
    /// `first_failure`, or `None` when that retry would fall after the horizon: give up.
    pub fn next(
        &self,
        retry: u32,
        first_failure: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let delay = self.delay(retry);
        let deadline = first_failure + chrono::Duration::from_std(self.horizon).ok()?;
        let at = now + chrono::Duration::from_std(delay).ok()?;
        (at <= deadline).then_some(delay)
    }

    /// Checks the policy is usable: a positive base, delays a queue can hold, a horizon
    /// at least as long as the first delay.
    pub fn validate(&self) -> Result<(), String> {
        if self.base.is_zero() {
            return Err("the base delay must be at least one second".into());
        }
        if self.max_delay > MAX_QUEUE_DELAY {
            return Err(
                "the longest delay may not exceed 12 hours (SQS's visibility limit)".into(),
            );
        }
        if self.max_delay < self.base {
            return Err("the longest delay may not be shorter than the base delay".into());
        }
        if self.horizon < self.base {
            return Err("the horizon may not be shorter than the base delay".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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

    #[test]
    fn the_default_policy_spans_a_day_of_hourly_retries() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(p.nominal_delay(1), Duration::from_secs(5));
        assert_eq!(p.nominal_delay(2), Duration::from_secs(10));
        assert_eq!(p.nominal_delay(11), Duration::from_secs(3600));
        assert_eq!(p.nominal_delay(40), Duration::from_secs(3600));
        // 5 s … 2,560 s (10 retries, 5,115 s) then hourly until 24 h: 32 retries.
        assert_eq!(p.max_retries(), 32);
        let total: Duration = (1..=p.max_retries()).map(|r| p.nominal_delay(r)).sum();
        assert!(total <= p.horizon && total + p.nominal_delay(33) > p.horizon);
        assert!(total > Duration::from_secs(23 * 3600), "{total:?}");
    }

    #[test]
    fn next_gives_up_after_the_horizon() {
        let p = RetryPolicy {
            base: Duration::from_secs(10),
            max_delay: Duration::from_secs(60),
            horizon: Duration::from_secs(120),
        };
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let d = p.next(1, t0, t0).expect("first retry");
        assert!(d >= Duration::from_secs(10) && d <= Duration::from_secs(12));
        // 100 s after the first failure a 60 s delay would land past 120 s.
        assert_eq!(p.next(4, t0, t0 + chrono::Duration::seconds(100)), None);
        assert!(p.next(4, t0, t0 + chrono::Duration::seconds(30)).is_some());
    }

    #[test]
    fn validation() {
        assert!(RetryPolicy::DEFAULT.validate().is_ok());
        let bad = RetryPolicy {
            max_delay: Duration::from_secs(13 * 3600),
            ..RetryPolicy::DEFAULT
        };
        assert!(bad.validate().is_err());
        let bad = RetryPolicy {
            base: Duration::ZERO,
            ..RetryPolicy::DEFAULT
        };
        assert!(bad.validate().is_err());
    }
}
