//! Every item of a store, read around the port (tests only): the rows of the embedded
//! backend's SQLite file or a scan of the DynamoDB table — expired items included, since
//! an item past its TTL still holds its data until it is actually deleted. For tests
//! that must show that something (a person's number, name or words) is nowhere in the
//! store; the port has no scan on purpose, and production code never needs one.

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;

/// One stored item: its table keys and all of it as text (every key, index key and
/// attribute, the JSON document as stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Everything the item holds, as text.
    pub text: String,
}

impl RawItem {
    /// Whether any of the item's text contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.text.contains(needle)
    }
}

/// Every row of the embedded backend's store file (`store.sqlite3` in a data dir).
pub fn sqlite(path: &Path) -> Vec<RawItem> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut stmt = conn
        .prepare(
            "SELECT pk, sk, coalesce(gsi1pk, ''), coalesce(gsi1sk, ''), coalesce(gsi2pk, ''), \
             coalesce(gsi2sk, ''), coalesce(ttl, ''), coalesce(n, ''), data FROM items",
        )
        .expect("the items table");
    stmt.query_map([], |row| {
        let mut parts = Vec::with_capacity(9);
        for i in 0..9 {
            let v: rusqlite::types::Value = row.get(i)?;
            parts.push(match v {
                rusqlite::types::Value::Text(t) => t,
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Real(f) => f.to_string(),
                rusqlite::types::Value::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
                rusqlite::types::Value::Null => String::new(),
            });
        }
        Ok(RawItem {
            pk: parts[0].clone(),
            sk: parts[1].clone(),
            text: parts.join("\n"),
        })
    })
    .expect("scan")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// Every item of a DynamoDB table (a full `Scan`, paged).
pub async fn dynamodb(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<RawItem> {
    let mut out = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        for item in page.items() {
            let text = |k: &str| item.get(k).map(attr_text).unwrap_or_default();
            let mut keys: Vec<&String> = item.keys().collect();
            keys.sort();
            out.push(RawItem {
                pk: text("pk"),
                sk: text("sk"),
                text: keys
                    .into_iter()
                    .map(|k| attr_text(&item[k]))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return out,
        }
    }
}

fn attr_text(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
        AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.join("\n"),
        AttributeValue::L(l) => l.iter().map(attr_text).collect::<Vec<_>>().join("\n"),
        AttributeValue::M(m) => m.values().map(attr_text).collect::<Vec<_>>().join("\n"),
        other => format!("{other:?}"),
    }
}
