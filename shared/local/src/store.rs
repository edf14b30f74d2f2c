//! The item store on SQLite: one table shaped like the DynamoDB table (`pk`, `sk`, two
//! GSIs as partial indexes), conditions and transactions inside `BEGIN IMMEDIATE`.
//!
//! SQLite compares text byte-wise (BINARY collation), which is DynamoDB's sort-key
//! order for UTF-8 strings, so queries page in the same order on both backends.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter, types::Value as SqlValue};
use switchboard_core::clock::Clock;
use switchboard_core::store::{
    Condition, Index, IndexKey, Item, ItemStore, MAX_TRANSACTION_ITEMS, Page, Position, Query,
    SortKey, StoreError, Write,
};

use crate::sqlite::{self, blocking};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk      TEXT NOT NULL,
    sk      TEXT NOT NULL,
    gsi1pk  TEXT,
    gsi1sk  TEXT,
    gsi2pk  TEXT,
    gsi2sk  TEXT,
    version INTEGER NOT NULL,
    ttl     INTEGER,
    n       INTEGER,
    data    TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
";

/// The SQLite item store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`, and drops items whose TTL passed.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let conn = sqlite::open(path).map_err(unavailable)?;
        Self::init(conn, clock)
    }

    /// An in-memory store (tests).
    pub fn in_memory(clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(unavailable)?;
        Self::init(conn, clock)
    }

    fn init(conn: Connection, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        conn.execute(
            "DELETE FROM items WHERE ttl IS NOT NULL AND ttl <= ?1",
            [clock.now().timestamp()],
        )
        .map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        blocking(self.conn.clone(), f)
            .await
            .unwrap_or_else(|e| Err(unavailable(e)))
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The version of the live item at a key: an expired row counts as absent, exactly as
/// it does for reads (it may linger until the next open).
fn current_version(
    conn: &Connection,
    pk: &str,
    sk: &str,
    now: i64,
) -> Result<Option<u64>, StoreError> {
    conn.query_row(
        "SELECT version FROM items WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)",
        rusqlite::params![pk, sk, now],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|v| v.map(|v| v as u64))
    .map_err(unavailable)
}

fn holds(condition: Condition, current: Option<u64>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::Version(v) => current == Some(v),
    }
}

/// Writes an item whose document was encoded by [`Item::encode`].
fn write_item(conn: &Connection, item: &Item, data: &str) -> Result<(), StoreError> {
    let (g1pk, g1sk) = split_key(&item.gsi1);
    let (g2pk, g2sk) = split_key(&item.gsi2);
    conn.execute(
        "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, ttl, n, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        rusqlite::params![
            item.pk,
            item.sk,
            g1pk,
            g1sk,
            g2pk,
            g2sk,
            item.version as i64,
            item.ttl,
            item.n,
            data
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn split_key(key: &Option<IndexKey>) -> (Option<&str>, Option<&str>) {
    match key {
        Some(k) => (Some(k.pk.as_str()), Some(k.sk.as_str())),
        None => (None, None),
    }
}

const COLUMNS: &str = "pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, ttl, n, data";

fn read_row(row: &Row<'_>) -> rusqlite::Result<Item> {
    let index = |pk: Option<String>, sk: Option<String>| match (pk, sk) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    };
    let data: String = row.get(9)?;
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        gsi1: index(row.get(2)?, row.get(3)?),
        gsi2: index(row.get(4)?, row.get(5)?),
        version: row.get::<_, i64>(6)? as u64,
        ttl: row.get(7)?,
        n: row.get(8)?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
    })
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        let now = self.clock.now().timestamp();
        self.run(move |conn| {
            let item = conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2"),
                    [&pk, &sk],
                    read_row,
                )
                .optional()
                .map_err(unavailable)?;
            Ok(item.filter(|i| !i.is_expired(now)))
        })
        .await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let data = item.encode()?;
        let now = self.clock.now().timestamp();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            if !holds(condition, current_version(&tx, &item.pk, &item.sk, now)?) {
                return Err(StoreError::ConditionFailed { index: 0 });
            }
            write_item(&tx, &item, &data)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        let now = self.clock.now().timestamp();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            if !holds(condition, current_version(&tx, &pk, &sk, now)?) {
                return Err(StoreError::ConditionFailed { index: 0 });
            }
            tx.execute("DELETE FROM items WHERE pk = ?1 AND sk = ?2", [&pk, &sk])
                .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if query.limit == 0 {
            return Err(StoreError::Invalid("query limit must be at least 1".into()));
        }
        let now = self.clock.now().timestamp();
        self.run(move |conn| {
            let (pk_col, sk_col) = match query.index {
                Index::Table => ("pk", "sk"),
                Index::Gsi1 => ("gsi1pk", "gsi1sk"),
                Index::Gsi2 => ("gsi2pk", "gsi2sk"),
            };
            let mut sql = format!("SELECT {COLUMNS} FROM items WHERE {pk_col} = ?");
            let mut args: Vec<SqlValue> = vec![SqlValue::Text(query.pk.clone())];
            match &query.sort {
                SortKey::Any => {}
                SortKey::BeginsWith(prefix) => {
                    // substr() rather than LIKE: prefixes may contain % and _.
                    sql.push_str(&format!(" AND substr({sk_col}, 1, ?) = ?"));
                    args.push(SqlValue::Integer(prefix.chars().count() as i64));
                    args.push(SqlValue::Text(prefix.clone()));
                }
                SortKey::Between(from, to) => {
                    sql.push_str(&format!(" AND {sk_col} >= ? AND {sk_col} <= ?"));
                    args.push(SqlValue::Text(from.clone()));
                    args.push(SqlValue::Text(to.clone()));
                }
                SortKey::AtLeast(from) => {
                    sql.push_str(&format!(" AND {sk_col} >= ?"));
                    args.push(SqlValue::Text(from.clone()));
                }
                SortKey::AtMost(to) => {
                    sql.push_str(&format!(" AND {sk_col} <= ?"));
                    args.push(SqlValue::Text(to.clone()));
                }
            }
            let cmp = if query.forward { ">" } else { "<" };
            let dir = if query.forward { "ASC" } else { "DESC" };
            if let Some(after) = &query.after {
                match query.index {
                    Index::Table => {
                        if after.pk != query.pk {
                            return Err(StoreError::Invalid(
                                "position is from another partition".into(),
                            ));
                        }
                        sql.push_str(&format!(" AND sk {cmp} ?"));
                        args.push(SqlValue::Text(after.sk.clone()));
                    }
                    Index::Gsi1 | Index::Gsi2 => {
                        let Some(index_sk) = &after.index_sk else {
                            return Err(StoreError::Invalid(
                                "index position lacks its sort key".into(),
                            ));
                        };
                        sql.push_str(&format!(" AND ({sk_col}, pk, sk) {cmp} (?, ?, ?)"));
                        args.push(SqlValue::Text(index_sk.clone()));
                        args.push(SqlValue::Text(after.pk.clone()));
                        args.push(SqlValue::Text(after.sk.clone()));
                    }
                }
            }
            match query.index {
                Index::Table => sql.push_str(&format!(" ORDER BY sk {dir}")),
                _ => sql.push_str(&format!(" ORDER BY {sk_col} {dir}, pk {dir}, sk {dir}")),
            }
            sql.push_str(" LIMIT ?");
            args.push(SqlValue::Integer(query.limit as i64));

            let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
            let rows: Vec<Item> = stmt
                .query_map(params_from_iter(args), read_row)
                .map_err(unavailable)?
                .collect::<Result<_, _>>()
                .map_err(unavailable)?;
            // Like DynamoDB: a full page carries a position even if nothing follows.
            let next = if rows.len() == query.limit {
                rows.last().map(|last| Position {
                    pk: last.pk.clone(),
                    sk: last.sk.clone(),
                    index_sk: match query.index {
                        Index::Table => None,
                        Index::Gsi1 => last.gsi1.as_ref().map(|k| k.sk.clone()),
                        Index::Gsi2 => last.gsi2.as_ref().map(|k| k.sk.clone()),
                    },
                })
            } else {
                None
            };
            let items = rows.into_iter().filter(|i| !i.is_expired(now)).collect();
            Ok(Page { items, next })
        })
        .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        if writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooLarge(format!(
                "{} writes in one transaction; the limit is {MAX_TRANSACTION_ITEMS}",
                writes.len()
            )));
        }
        let mut keys = std::collections::HashSet::new();
        // Encoded documents of the puts, in write order.
        let mut documents = Vec::new();
        for w in &writes {
            let key = match w {
                Write::Put { item, .. } => {
                    documents.push(item.encode()?);
                    (item.pk.clone(), item.sk.clone())
                }
                Write::Delete { pk, sk, .. } | Write::Check { pk, sk, .. } => {
                    (pk.clone(), sk.clone())
                }
            };
            if !keys.insert(key) {
                return Err(StoreError::Invalid(
                    "a transaction may touch each key only once".into(),
                ));
            }
        }
        let now = self.clock.now().timestamp();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            for (index, w) in writes.iter().enumerate() {
                let (pk, sk, condition) = match w {
                    Write::Put { item, condition } => (&item.pk, &item.sk, *condition),
                    Write::Delete { pk, sk, condition } | Write::Check { pk, sk, condition } => {
                        (pk, sk, *condition)
                    }
                };
                if !holds(condition, current_version(&tx, pk, sk, now)?) {
                    return Err(StoreError::ConditionFailed { index });
                }
            }
            let mut documents = documents.iter();
            for w in &writes {
                match w {
                    Write::Put { item, .. } => {
                        let data = documents.next().expect("one document per put");
                        write_item(&tx, item, data)?
                    }
                    Write::Delete { pk, sk, .. } => {
                        tx.execute("DELETE FROM items WHERE pk = ?1 AND sk = ?2", [pk, sk])
                            .map_err(unavailable)?;
                    }
                    Write::Check { .. } => {}
                }
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        delta: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        let now = self.clock.now().timestamp();
        self.run(move |conn| {
            // An expired row is replaced by a fresh counter, as if it had been deleted.
            conn.query_row(
                "INSERT INTO items (pk, sk, version, ttl, n, data) VALUES (?1, ?2, 1, ?3, ?4, 'null')
                 ON CONFLICT (pk, sk) DO UPDATE SET
                   n = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5
                            THEN excluded.n ELSE COALESCE(items.n, 0) + excluded.n END,
                   version = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5
                            THEN 1 ELSE items.version END,
                   data = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5
                            THEN 'null' ELSE items.data END,
                   gsi1pk = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5
                            THEN NULL ELSE items.gsi1pk END,
                   gsi1sk = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5
                            THEN NULL ELSE items.gsi1sk END,
                   gsi2pk = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5
                            THEN NULL ELSE items.gsi2pk END,
                   gsi2sk = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5
                            THEN NULL ELSE items.gsi2sk END,
                   ttl = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5
                            THEN excluded.ttl ELSE COALESCE(excluded.ttl, items.ttl) END
                 RETURNING n",
                rusqlite::params![pk, sk, ttl, delta, now],
                |r| r.get::<_, i64>(0),
            )
            .map_err(unavailable)
        })
        .await
    }

    async fn take(&self, pk: &str, sk: &str, amount: i64) -> Result<Option<i64>, StoreError> {
        if amount < 0 {
            return Err(StoreError::Invalid(
                "take needs a non-negative amount".into(),
            ));
        }
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        let now = self.clock.now().timestamp();
        self.run(move |conn| {
            conn.query_row(
                "UPDATE items SET n = n - ?3
                 WHERE pk = ?1 AND sk = ?2 AND n >= ?3 AND (ttl IS NULL OR ttl > ?4)
                 RETURNING n",
                rusqlite::params![pk, sk, amount, now],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(unavailable)
        })
        .await
    }
}
