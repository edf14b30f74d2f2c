//! Object storage: files too large or too long-lived for the item store — archived
//! inbound media, uploads on their way to WhatsApp. S3 on AWS (a private, encrypted
//! bucket with a lifecycle rule), files under the data dir on the embedded backend.
//!
//! Besides reading and writing, the port signs short-lived URLs: a browser fetches a
//! large file straight from storage (`GET`, answered with a 302 by the API), or uploads
//! one larger than an API request may carry (`PUT`, with the content type it was signed
//! for). Keys are chosen by Switchboard: `media/<org>/<message id>` for archived media,
//! `uploads/<org>/<upload id>` for uploads, so the bucket's lifecycle rules and the
//! functions' permissions go by prefix.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// An object read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The bytes.
    pub body: Vec<u8>,
    /// Its content type.
    pub content_type: String,
}

/// What is known of a stored object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// Its content type.
    pub content_type: String,
}

/// Object storage errors.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The backend failed or could not be reached (retryable).
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
    /// A key Switchboard would never write (empty, `..`, absolute).
    #[error("invalid object key")]
    InvalidKey,
}

/// Whether `key` is one Switchboard writes: 1-512 bytes of `[A-Za-z0-9_./-]`, relative,
/// no `..` segment and no empty segment.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./-".contains(&b))
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// The object storage port.
#[async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Stores an object (replacing one under the same key).
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), ObjectError>;

    /// Reads an object; `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError>;

    /// Size and type of an object; `None` when there is none.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError>;

    /// Deletes an object (absent is fine).
    async fn delete(&self, key: &str) -> Result<(), ObjectError>;

    /// A URL that reads the object until `now + expires`.
    async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ObjectError>;

    /// A URL that stores a body of `content_type` under the key until `now + expires`.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ObjectError>;

    /// Whether a request to one of this store's own signed URLs may proceed: `method`,
    /// `key`, `expires`, the request's content type and `sig` as the URL and request carry
    /// them. Only a store whose URLs Switchboard itself serves (the embedded backend's,
    /// at the dev server's `/objects/`) accepts any; S3 checks its own.
    fn verify_signed(
        &self,
        _method: &str,
        _key: &str,
        _expires: i64,
        _content_type: &str,
        _sig: &str,
        _now: DateTime<Utc>,
    ) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(valid_key("acme/media/msg_1.jpg"));
        assert!(valid_key("acme/uploads/up_0a"));
        for bad in ["", "/abs", "a/../b", "a//b", "a/./b", "a b", "a\\b", "ä"] {
            assert!(!valid_key(bad), "{bad}");
        }
        assert!(!valid_key(&"k".repeat(513)));
    }
}
