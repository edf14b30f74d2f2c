//! List pagination: `limit` 1–100 (default 50) and opaque, URL-safe cursors.
//!
//! A cursor is the store position of the last item of a page, base64url-encoded JSON.
//! It is opaque to clients but not secret; a tampered cursor can only move within the
//! caller's own partition, because the partition key always comes from the token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::Error;
use crate::store::Position;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 100;

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
}

fn decode_cursor(text: &str, scope: &str) -> Result<Position, Error> {
    let invalid = || {
        Error::validation(
            "cursor",
            "invalid_cursor",
            "cursor is not valid for this list",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let pos: Position = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if !pos.pk.starts_with(scope) {
        return Err(invalid());
    }
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
}
