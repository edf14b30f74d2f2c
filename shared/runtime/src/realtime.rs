//! The realtime inbox around its use case (`switchboard_core::usecases::realtime`): how a
//! WebSocket client authenticates (shared by `ws-connect` on API Gateway and the dev
//! server's `GET /v1/realtime`), and the dev server's in-process hub that stands in for
//! API Gateway's `PostToConnection`.
//!
//! ## Authentication
//!
//! A browser cannot set `Authorization` on a WebSocket, so the token (a user JWT or an
//! `sk_live_`/`sk_test_` API key, exactly what `Authorization: Bearer` takes elsewhere)
//! comes in one of two places:
//!
//! - the query: `wss://…?token=<token>`;
//! - the subprotocol list: `Sec-WebSocket-Protocol: switchboard.v1, <token>`. The server
//!   then selects [`SUBPROTOCOL`] (`switchboard.v1`) in its answer, as browsers require,
//!   and never echoes the token. This keeps the token out of URLs (and so out of access
//!   logs and browser history).
//!
//! The caller goes through the same checks as an API request (`App::caller`, any role):
//! token or key validity, the user directory, rate limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use switchboard_core::ids::Role;
use switchboard_core::realtime::{PushOutcome, RealtimePush};
use tokio::sync::mpsc;

use crate::app::App;
use crate::auth::{AuthError, Caller};
use crate::http::ApiError;

/// The subprotocol a client offers first, with its token second; the server selects it.
pub const SUBPROTOCOL: &str = "switchboard.v1";

/// The path of the realtime endpoint on the dev server (and the class of its rate limit).
pub const PATH: &str = "/v1/realtime";

/// Where a client's token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `?token=`.
    Query,
    /// `Sec-WebSocket-Protocol: switchboard.v1, <token>` (select [`SUBPROTOCOL`]).
    Subprotocol,
}

/// The token a WebSocket client presented, from its query string (`token`, already
/// decoded) or its `Sec-WebSocket-Protocol` header; the subprotocol form wins when both
/// are given. `None` when neither holds one.
pub fn presented_token(
    query_token: Option<&str>,
    protocol_header: Option<&str>,
) -> Option<(String, TokenSource)> {
    if let Some(header) = protocol_header {
        let mut offered = header.split(',').map(str::trim);
        if offered.next() == Some(SUBPROTOCOL)
            && let Some(token) = offered.next().filter(|t| !t.is_empty())
        {
            return Some((token.to_owned(), TokenSource::Subprotocol));
        }
    }
    query_token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| (t.to_owned(), TokenSource::Query))
}

/// The `token` parameter of a raw query string, percent-decoded.
pub fn query_token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Authenticates a WebSocket client's token as an API request with
/// `Authorization: Bearer <token>` to `GET /v1/realtime` (any role).
pub async fn authenticate(app: &App, token: Option<&str>) -> Result<Caller, ApiError> {
    let Some(token) = token else {
        return Err(AuthError::Missing.into());
    };
    // A token that cannot be a header value cannot be valid either.
    let request = http::Request::builder()
        .method(http::Method::GET)
        .uri(PATH)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Bytes::new())
        .map_err(|_| ApiError::from(AuthError::Invalid("token is malformed")))?;
    app.caller(&request, Role::Viewer).await
}

/// How many frames wait for a slow dev-server socket before pushes to it fail.
const HUB_BUFFER: usize = 256;

/// The dev server's stand-in for API Gateway: one channel per open socket, keyed by a
/// connection id it makes up (`conn_<uuid>`). A push to a closed or unknown connection is
/// [`PushOutcome::Gone`], as API Gateway's 410.
#[derive(Default)]
pub struct RealtimeHub {
    senders: Mutex<HashMap<String, mpsc::Sender<String>>>,
}

impl std::fmt::Debug for RealtimeHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeHub")
            .field("open", &self.open_count())
            .finish()
    }
}

impl RealtimeHub {
    /// Opens a connection: its id and the frames pushed to it.
    pub fn open(&self) -> (String, mpsc::Receiver<String>) {
        let id = format!("conn_{}", uuid::Uuid::now_v7().simple());
        let (tx, rx) = mpsc::channel(HUB_BUFFER);
        self.lock().insert(id.clone(), tx);
        (id, rx)
    }

    /// Closes a connection (later pushes to it are Gone).
    pub fn close(&self, connection_id: &str) {
        self.lock().remove(connection_id);
    }

    /// How many connections are open.
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<String>>> {
        // A panic while holding the lock leaves the map consistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl RealtimePush for RealtimeHub {
    async fn push(&self, connection_id: &str, payload: &str) -> PushOutcome {
        let sender = self.lock().get(connection_id).cloned();
        match sender {
            None => PushOutcome::Gone,
            Some(tx) => match tx.try_send(payload.to_owned()) {
                Ok(()) => PushOutcome::Delivered,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    PushOutcome::Failed("slow_consumer".into())
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.close(connection_id);
                    PushOutcome::Gone
                }
            },
        }
    }
}

/// The push port for a configuration: API Gateway's Management API at
/// `REALTIME_ENDPOINT`, or without it an in-process hub (the dev server's sockets).
pub fn push_port(config: &crate::config::Config, http: &reqwest::Client) -> Arc<dyn RealtimePush> {
    match &config.realtime_endpoint {
        Some(endpoint) => Arc::new(switchboard_aws::ApiGatewayPush::new(
            http.clone(),
            endpoint.clone(),
            config.aws_sdk,
        )),
        None => Arc::new(RealtimeHub::default()),
    }
}

/// The app's in-process hub, when its pushes go to one (no `REALTIME_ENDPOINT`).
pub fn hub(app: &App) -> Option<Arc<RealtimeHub>> {
    let port: Arc<dyn std::any::Any + Send + Sync> = app.services().realtime.clone();
    port.downcast::<RealtimeHub>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_subprotocol_or_the_query() {
        assert_eq!(
            presented_token(None, Some("switchboard.v1, abc.def.ghi")),
            Some(("abc.def.ghi".into(), TokenSource::Subprotocol))
        );
        assert_eq!(
            presented_token(Some("sk_test_1"), None),
            Some(("sk_test_1".into(), TokenSource::Query))
        );
        // Another first protocol is not ours: the query (if any) decides.
        assert_eq!(presented_token(None, Some("chat, abc")), None);
        assert_eq!(presented_token(None, Some("switchboard.v1")), None);
        assert_eq!(presented_token(Some(" "), None), None);
        assert_eq!(query_token(Some("a=1&token=x%2By")), Some("x+y".to_owned()));
        assert_eq!(query_token(Some("a=1")), None);
        assert_eq!(query_token(None), None);
    }

    #[tokio::test]
    async fn the_hub_delivers_to_open_connections_and_reports_closed_ones_gone() {
        let hub = RealtimeHub::default();
        let (id, mut rx) = hub.open();
        assert_eq!(hub.push(&id, "one").await, PushOutcome::Delivered);
        assert_eq!(rx.recv().await.as_deref(), Some("one"));
        drop(rx);
        assert_eq!(hub.push(&id, "two").await, PushOutcome::Gone);
        assert_eq!(hub.open_count(), 0);
        assert_eq!(hub.push("conn_unknown", "x").await, PushOutcome::Gone);
        let (full, _rx) = hub.open();
        for _ in 0..HUB_BUFFER {
            assert_eq!(hub.push(&full, "x").await, PushOutcome::Delivered);
        }
        assert_eq!(
            hub.push(&full, "x").await,
            PushOutcome::Failed("slow_consumer".into())
        );
    }
}
