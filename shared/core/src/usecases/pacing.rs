//! Send pacing shared by every worker instance through the item store: the generic cell
//! rate algorithm (GCRA) with reservations.
//!
//! Each key (a phone number's throughput, or a number–recipient pair) holds a
//! theoretical arrival time (TAT). Reserving returns the earliest slot at or after the
//! requested time that keeps the rate: `slot = max(start, TAT − τ)`, then
//! `TAT = max(TAT, slot) + T`, where `T` is the emission interval and `τ = (burst − 1)·T`.
//! With `burst = 1` sends are spaced exactly `T` apart, so no sliding one-second window
//! ever holds more than the limit. Updates use optimistic concurrency (`version`), so any
//! number of Lambda instances share one budget without a coordinator.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{Condition, Item, ItemStore, StoreError};

/// A rate: one emission every `interval_us`, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Emission interval, microseconds.
    pub interval_us: i64,
    /// Requests that may go back to back before spacing applies (≥ 1).
    pub burst: i64,
}

impl Rate {
    /// `per_second` requests per second with a safety margin (`0.98` keeps 2 % below the
    /// limit so network jitter cannot push a window over it), no burst.
    pub fn per_second(per_second: u32, margin: f64) -> Self {
        let rate = (f64::from(per_second.max(1)) * margin).max(0.001);
        Self {
            interval_us: (1_000_000.0 / rate).ceil() as i64,
            burst: 1,
        }
    }

    /// One request every `secs` seconds after a burst of `burst`.
    pub fn every(secs: i64, burst: i64) -> Self {
        Self {
            interval_us: secs * 1_000_000,
            burst: burst.max(1),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    tat_us: i64,
}

/// Attempts before reporting contention as a retryable error.
const MAX_ATTEMPTS: usize = 64;

/// Reserves the earliest slot (microseconds since the epoch) at or after `start_us`.
pub async fn reserve(store: &dyn ItemStore, pk: &str, rate: Rate, start_us: i64) -> Result<i64> {
    match reserve_within(store, pk, rate, start_us, None).await? {
        Reservation::Slot(slot) => Ok(slot),
        // Without a horizon every slot is taken.
        Reservation::Busy { free_at_us } => Ok(free_at_us),
    }
}

/// The outcome of [`reserve_within`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The slot reserved.
    Slot(i64),
    /// Nothing was reserved: the earliest slot lies beyond the horizon, and comes within
    /// it at `free_at_us` if nobody else reserves meanwhile.
    Busy {
        /// When to ask again.
        free_at_us: i64,
    },
}

/// Reserves the earliest slot at or after `start_us` if it lies at most `horizon_us`
/// after `start_us` (any slot when `None`). A lower pacing lane reserves with a short
/// horizon: it only takes capacity that is free now, so the budget it leaves is never
/// promised far ahead and a higher lane's next send finds a slot within that horizon.
pub async fn reserve_within(
    store: &dyn ItemStore,
    pk: &str,
    rate: Rate,
    start_us: i64,
    horizon_us: Option<i64>,
) -> Result<Reservation> {
    Ok(reserve_with_state(store, pk, rate, start_us, horizon_us)
        .await?
        .0)
}

/// A request taken from a bucket at `now_us`, or refused, with the bucket's state after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Whether the request may go now.
    pub allowed: bool,
    /// Further requests that may go at once.
    pub remaining: i64,
    /// When the bucket is full again (microseconds since the epoch).
    pub full_at_us: i64,
    /// When a refused request may go (microseconds since the epoch; `now_us` if allowed).
    pub free_at_us: i64,
}

/// Takes one request from the bucket `pk` now if the rate allows it (a token bucket of
/// `rate.burst` requests refilled one per interval), never reserving a later slot.
pub async fn take(store: &dyn ItemStore, pk: &str, rate: Rate, now_us: i64) -> Result<Taken> {
    let (reservation, tat) = reserve_with_state(store, pk, rate, now_us, Some(0)).await?;
    let tau = (rate.burst - 1) * rate.interval_us;
    // Another request may go at once while TAT − τ ≤ now, one more per interval of room.
    let remaining = |tat: i64| ((now_us + tau - tat).div_euclid(rate.interval_us) + 1).max(0);
    Ok(match reservation {
        Reservation::Slot(_) => Taken {
            allowed: true,
            remaining: remaining(tat),
            full_at_us: tat,
            free_at_us: now_us,
        },
        Reservation::Busy { free_at_us } => Taken {
            allowed: false,
            remaining: 0,
            full_at_us: tat,
            free_at_us,
        },
    })
}

/// [`reserve_within`], also answering the TAT after the call.
async fn reserve_with_state(
    store: &dyn ItemStore,
    pk: &str,
    rate: Rate,
    start_us: i64,
    horizon_us: Option<i64>,
) -> Result<(Reservation, i64)> {
    let tau = (rate.burst - 1) * rate.interval_us;
    for _ in 0..MAX_ATTEMPTS {
        let current = store.get(pk, "GCRA").await?;
        let (tat, condition, version) = match &current {
            Some(item) => {
                let tat = serde_json::from_value::<State>(item.data.clone())
                    .map(|s| s.tat_us)
                    .unwrap_or(0);
                (tat, Condition::Version(item.version), item.version)
            }
            None => (0, Condition::NotExists, 0),
        };
        let slot = start_us.max(tat - tau);
        if let Some(h) = horizon_us
            && slot - start_us > h
        {
            return Ok((
                Reservation::Busy {
                    free_at_us: slot - h,
                },
                tat,
            ));
        }
        let new_tat = tat.max(slot) + rate.interval_us;
        let item = Item::new(pk, "GCRA", serde_json::json!({"tat_us": new_tat}))
            .with_version(version + 1)
            // Keep the state an hour past its last use; an expired state means "idle".
            .with_ttl(new_tat / 1_000_000 + 3600);
        match store.put(item, condition).await {
            Ok(()) => return Ok((Reservation::Slot(slot), new_tat)),
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let r = Rate::per_second(80, 1.0);
        assert_eq!(r.interval_us, 12_500);
        let r = Rate::per_second(80, 0.98);
        assert!(r.interval_us > 12_500 && r.interval_us < 12_800);
        assert_eq!(Rate::every(6, 5).interval_us, 6_000_000);
    }
}
