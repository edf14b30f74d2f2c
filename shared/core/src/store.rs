//! The item store port: a small slice of DynamoDB's model that SQLite can honour too.
//!
//! Items live in one table keyed by `pk`/`sk` with two fixed global secondary indexes
//! (`gsi1`, `gsi2`). A document (`data`, JSON) holds the record; `version` supports
//! optimistic concurrency; `n` is a numeric attribute for atomic counters; `ttl` is an
//! expiry in Unix seconds. Both backends hide expired items from reads, because
//! DynamoDB's TTL deletes lazily (sometimes days late).
//!
//! Conditions are deliberately few (not-exists, exists, version-equals): repositories
//! express every state change through them, so no backend-specific expression leaks
//! into the domain.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// DynamoDB's item size limit; the embedded backend enforces it too so that nothing
/// works locally that would fail in production.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// DynamoDB's TransactWriteItems limit.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// A key on a secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    /// Partition key on the index.
    pub pk: String,
    /// Sort key on the index.
    pub sk: String,
}

impl IndexKey {
    /// Builds an index key.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Partition key. Tenant items start with `ORG#<org_id>`.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Key on `gsi1`, if the item is indexed there.
    pub gsi1: Option<IndexKey>,
    /// Key on `gsi2`, if the item is indexed there.
    pub gsi2: Option<IndexKey>,
    /// Optimistic-concurrency version; writers set it, conditions compare it.
    pub version: u64,
    /// Expiry, Unix seconds.
    pub ttl: Option<i64>,
    /// Counter attribute, changed atomically by [`ItemStore::increment`].
    pub n: Option<i64>,
    /// The record.
    pub data: Value,
}

impl Item {
    /// A new item at version 1 with a document.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: Value) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            gsi1: None,
            gsi2: None,
            version: 1,
            ttl: None,
            n: None,
            data,
        }
    }

    /// Sets the `gsi1` key.
    pub fn with_gsi1(mut self, key: IndexKey) -> Self {
        self.gsi1 = Some(key);
        self
    }

    /// Sets the `gsi2` key.
    pub fn with_gsi2(mut self, key: IndexKey) -> Self {
        self.gsi2 = Some(key);
        self
    }

    /// Sets the version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    /// Sets the expiry.
    pub fn with_ttl(mut self, ttl: i64) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Whether the item has expired at `now_unix`.
    pub fn is_expired(&self, now_unix: i64) -> bool {
        self.ttl.is_some_and(|t| t <= now_unix)
    }

    /// The document as stored (JSON text), refused when the whole item would exceed
    /// [`MAX_ITEM_BYTES`] as DynamoDB counts it (names plus values). Backends call this
    /// once per write, so a document is serialised once.
    pub fn encode(&self) -> Result<String, StoreError> {
        let data = self.data.to_string();
        let keys = self
            .gsi1
            .as_ref()
            .map_or(0, |k| k.pk.len() + k.sk.len() + 12)
            + self
                .gsi2
                .as_ref()
                .map_or(0, |k| k.pk.len() + k.sk.len() + 12);
        let size = 4 + self.pk.len() + self.sk.len() + keys + 40 + data.len();
        if size > MAX_ITEM_BYTES {
            return Err(StoreError::TooLarge(format!(
                "item {}/{} is {size} bytes; the limit is {MAX_ITEM_BYTES}",
                self.pk, self.sk
            )));
        }
        Ok(data)
    }

    /// Decodes the document.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_value(self.data.clone()).map_err(|e| {
            StoreError::Corrupt(format!("item {}/{} does not decode: {e}", self.pk, self.sk))
        })
    }
}

/// Which key a query runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Index {
    /// The table's own `pk`/`sk`.
    Table,
    /// `gsi1pk`/`gsi1sk`.
    Gsi1,
    /// `gsi2pk`/`gsi2sk`.
    Gsi2,
}

/// A condition on the sort key of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    /// Every item of the partition.
    Any,
    /// Sort keys starting with the prefix.
    BeginsWith(String),
    /// Sort keys in `[from, to]`, inclusive both ends (DynamoDB `BETWEEN`).
    Between(String, String),
    /// Sort keys `<= to`.
    AtMost(String),
    /// Sort keys `>= from`.
    AtLeast(String),
}

/// Where a page of a query ended; hand it back to continue after that item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Table partition key of the last item.
    pub pk: String,
    /// Table sort key of the last item.
    pub sk: String,
    /// Index sort key of the last item, for index queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_sk: Option<String>,
}

/// A query on one partition.
#[derive(Debug, Clone)]
pub struct Query {
    /// Table or index.
    pub index: Index,
    /// Partition key value on that index.
    pub pk: String,
    /// Sort-key condition.
    pub sort: SortKey,
    /// Ascending (`true`) or descending sort-key order.
    pub forward: bool,
    /// Maximum items to return.
    pub limit: usize,
    /// Continue after this position.
    pub after: Option<Position>,
    /// Strongly consistent read (table queries only; DynamoDB's GSIs are always
    /// eventually consistent). Set where correctness depends on seeing a write made a
    /// moment earlier.
    pub consistent: bool,
}

impl Query {
    /// A forward query of a whole partition on the table, up to 100 items.
    pub fn table(pk: impl Into<String>) -> Self {
        Self {
            index: Index::Table,
            pk: pk.into(),
            sort: SortKey::Any,
            forward: true,
            limit: 100,
            after: None,
            consistent: false,
        }
    }

    /// The same on an index.
    pub fn index(index: Index, pk: impl Into<String>) -> Self {
        Self {
            index,
            ..Self::table(pk)
        }
    }

    /// Sets the sort-key condition.
    pub fn sort(mut self, sort: SortKey) -> Self {
        self.sort = sort;
        self
    }

    /// Newest (largest sort key) first.
    pub fn descending(mut self) -> Self {
        self.forward = false;
        self
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Continues after a position.
    pub fn after(mut self, after: Option<Position>) -> Self {
        self.after = after;
        self
    }

    /// Asks for a strongly consistent read (ignored on indexes, which cannot offer one).
    pub fn consistent(mut self) -> Self {
        self.consistent = self.index == Index::Table;
        self
    }
}

/// One page of query results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The items, in query order.
    pub items: Vec<Item>,
    /// Where to continue, or `None` when the partition is exhausted.
    pub next: Option<Position>,
}

/// A write condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Unconditional.
    Always,
    /// No item has this key (idempotent creates).
    NotExists,
    /// An item has this key.
    Exists,
    /// An item has this key at exactly this version (optimistic concurrency).
    Version(u64),
}

/// One write of a transaction.
#[derive(Debug, Clone)]
pub enum Write {
    /// Create or replace an item.
    Put {
        /// The item.
        item: Item,
        /// Condition on the existing item.
        condition: Condition,
    },
    /// Delete an item.
    Delete {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Condition on the existing item.
        condition: Condition,
    },
    /// Check a condition without writing.
    Check {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// The condition.
        condition: Condition,
    },
}

impl Write {
    /// A put.
    pub fn put(item: Item, condition: Condition) -> Self {
        Write::Put { item, condition }
    }

    /// A delete.
    pub fn delete(pk: impl Into<String>, sk: impl Into<String>, condition: Condition) -> Self {
        Write::Delete {
            pk: pk.into(),
            sk: sk.into(),
            condition,
        }
    }
}

/// Errors of the item store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition did not hold; `index` is the failing write of a transaction (0 for a
    /// single write).
    #[error("condition failed on write {index}")]
    ConditionFailed {
        /// Position of the failing write.
        index: usize,
    },
    /// Concurrent transactions collided; retrying is safe.
    #[error("transaction conflict")]
    Conflict,
    /// The backend is throttling; retry later.
    #[error("throttled")]
    Throttled,
    /// The item is over [`MAX_ITEM_BYTES`] or the transaction over its limits.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The request was malformed (a bug, or a tampered cursor).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A stored item does not decode.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    /// The backend failed or could not be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict | StoreError::Throttled | StoreError::Unavailable(_)
        )
    }
}

/// The item store.
#[async_trait]
pub trait ItemStore: Send + Sync + std::fmt::Debug {
    /// Reads an item (strongly consistent); expired items read as absent.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;

    /// Writes an item under a condition.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;

    /// Deletes an item under a condition. Deleting an absent item with
    /// [`Condition::Always`] succeeds.
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError>;

    /// Queries one partition of the table or an index. Index reads may lag writes on
    /// DynamoDB (eventual consistency); expired items are skipped.
    async fn query(&self, query: Query) -> Result<Page, StoreError>;

    /// Applies up to [`MAX_TRANSACTION_ITEMS`] writes atomically: all or none. At most
    /// one write per key.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Atomically adds `delta` to the item's `n` (creating the item at 0 if absent or
    /// expired, with `ttl` if given) and returns the new value.
    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError>;

    /// Atomically subtracts `amount` (≥ 0) from the item's `n` if it holds at least
    /// that much, and returns the new value; `None` (and no change) when it holds less,
    /// is absent or has expired. Counters given back this way never go below zero.
    async fn take(&self, pk: &str, sk: &str, amount: i64) -> Result<Option<i64>, StoreError>;
}
