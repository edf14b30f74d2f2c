//! Typed records on top of the item store: each record type knows its keys, and
//! [`load`]/[`item`] turn records into items and back with their version.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{IndexKey, Item, ItemStore, StoreError};

/// A record stored as one item.
pub trait Record: Serialize + DeserializeOwned {
    /// Table partition and sort key.
    fn key(&self) -> (String, String);

    /// Key on `gsi1`, if the record is listed there.
    fn gsi1(&self) -> Option<IndexKey> {
        None
    }

    /// Key on `gsi2`, if the record is listed there.
    fn gsi2(&self) -> Option<IndexKey> {
        None
    }

    /// Expiry (Unix seconds), if the record expires.
    fn ttl(&self) -> Option<i64> {
        None
    }
}

/// A record with the version it was read at (0 = not stored yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The record.
    pub record: T,
    /// Version read from the store; 0 when the record is new.
    pub version: u64,
}

impl<T: Record> Versioned<T> {
    /// A record that is not stored yet.
    pub fn new(record: T) -> Self {
        Self { record, version: 0 }
    }

    /// The condition under which writing this record back is safe: the item must still
    /// be at the version read (or still absent).
    pub fn condition(&self) -> crate::store::Condition {
        if self.version == 0 {
            crate::store::Condition::NotExists
        } else {
            crate::store::Condition::Version(self.version)
        }
    }

    /// The item to write back: the next version.
    pub fn next_item(&self) -> Result<Item, StoreError> {
        item(&self.record, self.version + 1)
    }
}

/// Builds the item of a record at `version`.
pub fn item<T: Record>(record: &T, version: u64) -> Result<Item, StoreError> {
    let (pk, sk) = record.key();
    let data = serde_json::to_value(record)
        .map_err(|e| StoreError::Invalid(format!("record does not serialise: {e}")))?;
    Ok(Item {
        pk,
        sk,
        gsi1: record.gsi1(),
        gsi2: record.gsi2(),
        version,
        ttl: record.ttl(),
        n: None,
        data,
    })
}

/// Reads a record.
pub async fn load<T: Record>(
    store: &dyn ItemStore,
    pk: &str,
    sk: &str,
) -> Result<Option<Versioned<T>>, StoreError> {
    match store.get(pk, sk).await? {
        Some(item) => Ok(Some(Versioned {
            record: item.decode()?,
            version: item.version,
        })),
        None => Ok(None),
    }
}

/// Decodes the items of a query page.
pub fn decode_all<T: DeserializeOwned>(items: &[Item]) -> Result<Vec<T>, StoreError> {
    items.iter().map(Item::decode).collect()
}

/// Attempts at an optimistic update before reporting contention (retryable).
const UPDATE_ATTEMPTS: usize = 8;

/// Reads a record, lets `change` edit it, and writes it back at the next version when
/// `change` returns `true` (no write otherwise). If another writer got there first, the
/// read and the change run again. `Ok(None)` when the record does not exist.
pub async fn update<T: Record>(
    store: &dyn ItemStore,
    pk: &str,
    sk: &str,
    change: impl FnMut(&mut T) -> bool,
) -> Result<Option<T>, StoreError> {
    Ok(modify(store, pk, sk, || None, change)
        .await?
        .map(|v| v.record))
}

/// Like [`update`], returning the record with the version it now has (for views that
/// show it, so a client can name it in `If-Match`).
pub async fn update_versioned<T: Record>(
    store: &dyn ItemStore,
    pk: &str,
    sk: &str,
    change: impl FnMut(&mut T) -> bool,
) -> Result<Option<Versioned<T>>, StoreError> {
    modify(store, pk, sk, || None, change).await
}

/// Like [`update`], starting from `init()` when the record does not exist yet.
pub async fn upsert<T: Record>(
    store: &dyn ItemStore,
    pk: &str,
    sk: &str,
    init: impl Fn() -> T,
    change: impl FnMut(&mut T) -> bool,
) -> Result<T, StoreError> {
    modify(store, pk, sk, || Some(init()), change)
        .await?
        .map(|v| v.record)
        .ok_or_else(|| StoreError::Invalid("upsert without a record".into()))
}

async fn modify<T: Record>(
    store: &dyn ItemStore,
    pk: &str,
    sk: &str,
    init: impl Fn() -> Option<T>,
    mut change: impl FnMut(&mut T) -> bool,
) -> Result<Option<Versioned<T>>, StoreError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let mut current = match load::<T>(store, pk, sk).await? {
            Some(v) => v,
            None => match init() {
                Some(record) => Versioned::new(record),
                None => return Ok(None),
            },
        };
        if !change(&mut current.record) {
            return Ok(Some(current));
        }
        match store.put(current.next_item()?, current.condition()).await {
            Ok(()) => {
                current.version += 1;
                return Ok(Some(current));
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}
/// Adds `n` to a progress counter, retrying a contended or unavailable store a few
/// times; a counter that still cannot be bumped is logged (progress counters are
/// reporting, never the record of what happened).
pub async fn bump(store: &dyn crate::store::ItemStore, pk: &str, sk: &str, n: i64) {
    for attempt in 0..4u64 {
        match store.increment(pk, sk, n, None).await {
            Ok(_) => return,
            Err(e) if e.is_retryable() && attempt < 3 => {
                tokio::time::sleep(std::time::Duration::from_millis(20 * (attempt + 1))).await;
            }
            Err(e) => {
                tracing::warn!(counter = sk, error = %e, "could not count progress");
                return;
            }
        }
    }
}
