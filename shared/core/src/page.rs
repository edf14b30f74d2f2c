//! List pagination: `limit` 1–100 (default 50) and opaque, URL-safe cursors.
//!
//! A cursor is the store position of the last item of a page, base64url-encoded JSON.
//! It is opaque to clients but not secret; a tampered cursor can only move within the
//! caller's own partition, because the partition key always comes from the token.
//!
//! A tampered cursor is the caller's mistake, so it must answer 422 `invalid_cursor`,
//! never reach a backend that refuses it with a 500. Decoding checks what any position
//! of the caller's lists has (non-empty keys within the caller's scope, sizes DynamoDB
//! accepts); [`PageRequest::apply_to`] then checks it against the very query it is to
//! continue (the same partition for a table query, an index sort key for an index
//! query, keys inside the sort-key condition), which is what the backends would
//! otherwise refuse.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::Error;
use crate::store::{Index, Position, Query, SortKey};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 100;

/// Longest partition key DynamoDB accepts, in bytes (its limit for any key attribute
/// that is a partition key, table or index).
const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// Longest sort key DynamoDB accepts, in bytes.
const MAX_SORT_KEY_BYTES: usize = 1024;

/// Validated paging parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size.
    pub limit: usize,
    /// Position to continue after.
    pub after: Option<Position>,
}

impl PageRequest {
    /// Parses `limit` and `cursor` query values. `scope` is the key prefix every
    /// position of this list must have (e.g. `ORG#acme#`).
    pub fn parse(limit: Option<&str>, cursor: Option<&str>, scope: &str) -> Result<Self, Error> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(Error::validation(
                        "limit",
                        "invalid_limit",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    ));
                }
            },
        };
        let after = match cursor {
            None | Some("") => None,
            Some(text) => Some(decode_cursor(text, scope)?),
        };
        Ok(Self { limit, after })
    }

    /// Sets `query`'s page size and the position it continues after, once that position
    /// is checked against the query (see [`check_position`]); a position the query could
    /// not continue is a 422 `invalid_cursor`. `scope` is the key prefix every position
    /// of the list has, as for [`PageRequest::parse`]. List use cases build their query
    /// and pass it through here rather than setting `after` themselves.
    pub fn apply_to(self, query: Query, scope: &str) -> Result<Query, Error> {
        if let Some(pos) = &self.after {
            check_position(pos, &query, scope)?;
        }
        Ok(query.limit(self.limit).after(self.after))
    }
}

fn invalid_cursor() -> Error {
    Error::validation(
        "cursor",
        "invalid_cursor",
        "cursor is not valid for this list",
    )
}

/// Checks that `pos` is a position `query` can continue after, on every backend:
///
/// - non-empty table keys within `scope`, no longer than DynamoDB's key limits (it
///   refuses an empty or oversized key attribute in `ExclusiveStartKey`);
/// - for a table query, the query's own partition (a position is only meaningful within
///   its partition, and both backends refuse another);
/// - for an index query, a non-empty index sort key (the position in the index);
///   a table query's position has none;
/// - the sort key the query orders by inside the query's sort-key condition (DynamoDB
///   refuses a start key outside it).
pub fn check_position(pos: &Position, query: &Query, scope: &str) -> Result<(), Error> {
    check_keys(pos, scope)?;
    let sort_key = match query.index {
        Index::Table => {
            if pos.pk != query.pk || pos.index_sk.is_some() {
                return Err(invalid_cursor());
            }
            &pos.sk
        }
        Index::Gsi1 | Index::Gsi2 => match &pos.index_sk {
            Some(isk) if valid_sort_key(isk) => isk,
            _ => return Err(invalid_cursor()),
        },
    };
    let within = match &query.sort {
        SortKey::Any => true,
        SortKey::BeginsWith(prefix) => sort_key.starts_with(prefix.as_str()),
        // Strings compare byte by byte, as DynamoDB and SQLite (BINARY) compare them.
        SortKey::Between(from, to) => from <= sort_key && sort_key <= to,
        SortKey::AtLeast(from) => from <= sort_key,
        SortKey::AtMost(to) => sort_key <= to,
    };
    if within {
        Ok(())
    } else {
        Err(invalid_cursor())
    }
}

fn valid_sort_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_SORT_KEY_BYTES
}

/// What every position of a list in `scope` has, whatever the query.
fn check_keys(pos: &Position, scope: &str) -> Result<(), Error> {
    let pk_ok = pos.pk.len() <= MAX_PARTITION_KEY_BYTES && pos.pk.starts_with(scope);
    // An empty scope would let an empty pk through; no list has an empty key.
    if pk_ok && !pos.pk.is_empty() && valid_sort_key(&pos.sk) {
        Ok(())
    } else {
        Err(invalid_cursor())
    }
}

fn decode_cursor(text: &str, scope: &str) -> Result<Position, Error> {
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid_cursor())?;
    let pos: Position = serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())?;
    check_keys(&pos, scope)?;
    Ok(pos)
}

/// Encodes a position as a cursor.
pub fn encode_cursor(pos: &Position) -> String {
    // Serialising a struct of strings cannot fail.
    let json = serde_json::to_vec(pos).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// A page of API resources: `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Clone, Serialize)]
pub struct Paged<T> {
    /// The resources.
    pub items: Vec<T>,
    /// Cursor of the next page, `null` on the last.
    pub next_cursor: Option<String>,
}

/// One page of `T` records listed on `gsi1` partition `pk`, newest first: the records and
/// the cursor of the next page (`scope` as for [`PageRequest::parse`]).
pub async fn newest_first<T: serde::de::DeserializeOwned>(
    store: &dyn crate::store::ItemStore,
    pk: String,
    scope: &str,
    page: PageRequest,
) -> Result<(Vec<T>, Option<String>), Error> {
    let query = page.apply_to(
        crate::store::Query::index(crate::store::Index::Gsi1, pk).descending(),
        scope,
    )?;
    let result = store.query(query).await?;
    Ok((
        crate::record::decode_all::<T>(&result.items)?,
        result.next.as_ref().map(encode_cursor),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(PageRequest::parse(None, None, "ORG#a#").unwrap().limit, 50);
        assert_eq!(
            PageRequest::parse(Some("100"), None, "ORG#a#")
                .unwrap()
                .limit,
            100
        );
        for bad in ["0", "101", "-1", "ten", ""] {
            match PageRequest::parse(Some(bad), None, "ORG#a#") {
                Err(Error::Validation { field, .. }) => assert_eq!(field, "limit"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn cursor_round_trip_and_scope() {
        let pos = Position {
            pk: "ORG#a#CONV#cv_1".into(),
            sk: "CONV".into(),
            index_sk: Some("x".into()),
        };
        let c = encode_cursor(&pos);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            PageRequest::parse(None, Some(&c), "ORG#a#").unwrap().after,
            Some(pos)
        );
        assert!(matches!(
            PageRequest::parse(None, Some(&c), "ORG#b#"),
            Err(Error::Validation { .. })
        ));
        assert!(PageRequest::parse(None, Some("%%%"), "ORG#a#").is_err());
        assert!(PageRequest::parse(None, Some("e30"), "ORG#a#").is_err());
    }

    fn pos(pk: &str, sk: &str, index_sk: Option<&str>) -> Position {
        Position {
            pk: pk.into(),
            sk: sk.into(),
            index_sk: index_sk.map(Into::into),
        }
    }

    fn is_invalid_cursor(r: Result<Query, Error>) -> bool {
        matches!(
            r,
            Err(Error::Validation { ref field, code: "invalid_cursor", .. }) if field == "cursor"
        )
    }

    fn page(after: Position) -> PageRequest {
        PageRequest {
            limit: 10,
            after: Some(after),
        }
    }

    #[test]
    fn apply_to_sets_limit_and_position_it_checked() {
        let p = pos("ORG#a#CONV#cv_1", "CONV", Some("2026-06-01T12:00:00Z#cv_1"));
        let q = page(p.clone())
            .apply_to(Query::index(Index::Gsi1, "ORG#a#CONVS"), "ORG#a#")
            .unwrap();
        assert_eq!((q.limit, q.after), (10, Some(p)));
        let q = PageRequest::default()
            .apply_to(Query::table("ORG#a#X"), "ORG#a#")
            .unwrap();
        assert_eq!(q.after, None);
        let t = pos("ORG#a#CONV#cv_1", "MSG#2", None);
        let q = page(t.clone()).apply_to(Query::table("ORG#a#CONV#cv_1"), "ORG#a#");
        assert_eq!(q.unwrap().after, Some(t));
    }

    #[test]
    fn positions_a_query_cannot_continue_are_invalid_cursors() {
        let index = || Query::index(Index::Gsi1, "ORG#a#CONVS");
        let table = || Query::table("ORG#a#CONV#cv_1");
        let long_pk = format!("ORG#a#{}", "x".repeat(MAX_PARTITION_KEY_BYTES));
        let long_sk = "x".repeat(MAX_SORT_KEY_BYTES + 1);
        let cases = [
            // Index queries: the index sort key is the position in the index.
            (pos("ORG#a#CONV#cv_1", "CONV", None), index()),
            (pos("ORG#a#CONV#cv_1", "CONV", Some("")), index()),
            (pos("ORG#a#CONV#cv_1", "CONV", Some(&long_sk)), index()),
            // Empty, oversized or out-of-scope table keys.
            (pos("", "CONV", Some("k")), index()),
            (pos("ORG#a#CONV#cv_1", "", Some("k")), index()),
            (pos(&long_pk, "CONV", Some("k")), index()),
            (pos("ORG#a#CONV#cv_1", &long_sk, Some("k")), index()),
            (pos("ORG#b#CONV#cv_1", "CONV", Some("k")), index()),
            // Table queries: the same partition, and no index sort key.
            (pos("ORG#a#CONV#cv_2", "MSG#1", None), table()),
            (pos("ORG#a#CONV#cv_1", "MSG#1", Some("k")), table()),
            (pos("ORG#a#CONV#cv_1", "", None), table()),
            // Outside the sort-key condition.
            (
                pos("ORG#a#CONV#cv_1", "OTHER#1", None),
                table().sort(SortKey::BeginsWith("MSG#".into())),
            ),
            (
                pos("ORG#a#CONV#cv_1", "MSG#9", None),
                table().sort(SortKey::Between("MSG#1".into(), "MSG#5".into())),
            ),
            (
                pos("ORG#a#CONV#cv_1", "MSG#0", None),
                table().sort(SortKey::AtLeast("MSG#1".into())),
            ),
            (
                pos("ORG#a#X", "X", Some("2027")),
                index().sort(SortKey::AtMost("2026".into())),
            ),
        ];
        for (p, q) in cases {
            let what = format!("{p:?} on {:?} {:?}", q.index, q.sort);
            assert!(is_invalid_cursor(page(p).apply_to(q, "ORG#a#")), "{what}");
        }
        // Inside the condition, and at the largest sizes DynamoDB takes.
        let edge = pos(
            &long_pk[..MAX_PARTITION_KEY_BYTES],
            &long_sk[1..],
            Some(&long_sk[1..]),
        );
        assert!(page(edge).apply_to(index(), "ORG#a#").is_ok());
        let inside = pos("ORG#a#CONV#cv_1", "MSG#3", None);
        let q = table().sort(SortKey::Between("MSG#1".into(), "MSG#5".into()));
        assert!(page(inside).apply_to(q, "ORG#a#").is_ok());
    }

    #[test]
    fn decoding_refuses_empty_and_oversized_keys() {
        for p in [
            pos("", "", None),
            pos("ORG#a#X", "", Some("k")),
            pos(&format!("ORG#a#{}", "x".repeat(3000)), "x", None),
            pos("ORG#a#X", &"x".repeat(2000), None),
        ] {
            let c = encode_cursor(&p);
            match PageRequest::parse(None, Some(&c), "ORG#a#") {
                Err(Error::Validation { code, .. }) => assert_eq!(code, "invalid_cursor"),
                other => panic!("{p:?}: {other:?}"),
            }
        }
    }
}
