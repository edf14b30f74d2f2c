//! The port that pushes one frame to one open realtime connection (an inbox in a browser
//! tab): the API Gateway Management API's `PostToConnection` on AWS, an in-process channel
//! on the dev server. Which connections an org has is the item store's business
//! (`usecases::realtime`); this port only knows connection ids.
//!
//! A push never fails loudly: it reports [`PushOutcome::Gone`] when the connection no longer
//! exists (the caller drops its record) and [`PushOutcome::Failed`] with a short code for
//! anything else, so that one broken connection cannot fail a fan-out to the others.

use std::any::Any;

use async_trait::async_trait;

/// How one push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The frame was handed to the connection.
    Delivered,
    /// The connection does not exist any more (API Gateway's 410 Gone, or a dev-server
    /// socket that closed): its record should go.
    Gone,
    /// Anything else (throttled, a 5xx, a timeout, a refused signature): a short code
    /// such as `http_429`, `timeout`, `connect`, `credentials`; never a token or payload.
    Failed(String),
}

/// Pushes frames to realtime connections.
///
/// `Any` is a supertrait so that the dev server can reach its concrete in-process hub
/// behind `Services::realtime` (to attach sockets to it) without a second handle.
#[async_trait]
pub trait RealtimePush: Any + Send + Sync + std::fmt::Debug {
    /// Sends `payload` (a JSON text frame) to `connection_id`.
    async fn push(&self, connection_id: &str, payload: &str) -> PushOutcome;
}

/// The longest connection id accepted (API Gateway's are 16 characters; the dev server's
/// 37).
pub const MAX_CONNECTION_ID_LEN: usize = 128;

/// Whether `id` looks like a connection id: 1 to [`MAX_CONNECTION_ID_LEN`] characters of
/// `[A-Za-z0-9=+/_-]` (API Gateway's ids are base64-like, ending in `=`).
pub fn valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CONNECTION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'+' | b'/' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_checked() {
        assert!(valid_connection_id("L0SM9cOFvHcCIhw="));
        assert!(valid_connection_id("conn_0190a4b2c3d4"));
        assert!(!valid_connection_id(""));
        assert!(!valid_connection_id("a b"));
        assert!(!valid_connection_id("../x?y"));
        assert!(!valid_connection_id(&"a".repeat(MAX_CONNECTION_ID_LEN + 1)));
    }
}
