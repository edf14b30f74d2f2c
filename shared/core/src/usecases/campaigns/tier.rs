//! Meta's messaging limit tier: how many unique customers a number may start
//! business-initiated conversations with in a rolling 24 hours.
//!
//! Each customer a campaign reaches leaves a marker that lives 24 hours (`TIER#<number>`
//! / `C#<contact>`); the first marker of a customer in the window also counts one in
//! the hour's bucket. The customers reached in the window are the sum of the last 25
//! hourly buckets: a bucket is counted for an hour longer than its markers live, so the
//! sum errs high by at most one hour's customers and never lets a campaign past the
//! tier. A customer reached again inside the window costs nothing.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::{ContactId, PhoneNumberId};
use crate::services::Services;
use crate::store::{Condition, Item, Query, SortKey, StoreError};

const DAY_SECS: i64 = 86_400;
const HOUR_SECS: i64 = 3_600;

fn marker_pk(number: &PhoneNumberId) -> String {
    format!("TIER#{number}")
}

fn buckets_pk(number: &PhoneNumberId) -> String {
    format!("TIER#{number}#HOURS")
}

fn bucket_sk(unix: i64) -> String {
    format!("{:012}", unix.div_euclid(HOUR_SECS) * HOUR_SECS)
}

/// Records that `contact` is reached by the number now; answers whether it is new in
/// the window (and so counted against the tier).
pub async fn reach(
    svc: &Services,
    number: &PhoneNumberId,
    contact: &ContactId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let t = now.timestamp();
    let marker = Item::new(
        marker_pk(number),
        format!("C#{contact}"),
        serde_json::Value::Null,
    )
    .with_ttl(t + DAY_SECS);
    match svc.store.put(marker, Condition::NotExists).await {
        Ok(()) => {
            svc.store
                .increment(
                    &buckets_pk(number),
                    &bucket_sk(t),
                    1,
                    Some(t + DAY_SECS + 2 * HOUR_SECS),
                )
                .await?;
            Ok(true)
        }
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Unique customers the number reached in the last 24 hours (erring high by at most the
/// oldest hour's).
pub async fn used(svc: &Services, number: &PhoneNumberId, now: DateTime<Utc>) -> Result<u64> {
    let t = now.timestamp();
    let page = svc
        .store
        .query(
            Query::table(buckets_pk(number))
                .sort(SortKey::Between(
                    bucket_sk(t - DAY_SECS),
                    bucket_sk(t) + "~",
                ))
                .consistent(),
        )
        .await?;
    Ok(page
        .items
        .iter()
        .filter_map(|i| i.n)
        .map(|n| n.max(0) as u64)
        .sum())
}

/// When the oldest counted bucket stops counting: the earliest time capacity can free.
pub fn next_release(now: DateTime<Utc>) -> DateTime<Utc> {
    let t = now.timestamp();
    let next_hour = (t.div_euclid(HOUR_SECS) + 1) * HOUR_SECS;
    DateTime::from_timestamp(next_hour, 0).unwrap_or(now)
}
