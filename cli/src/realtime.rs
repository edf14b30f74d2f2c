//! `GET /v1/realtime` on the dev server: the realtime inbox's WebSocket endpoint, the same
//! protocol as API Gateway's WebSocket API on AWS (docs/api.md, "Realtime").
//!
//! The client is authenticated before the upgrade (401 without a valid token, from
//! `?token=` or `Sec-WebSocket-Protocol: switchboard.v1, <token>`, which selects
//! `switchboard.v1`). On upgrade the socket gets a connection id from the in-process hub
//! and is recorded through the same `connect` use case as `ws-connect`; `worker-realtime`
//! (a poller here, as every consumer) pushes events to it through the hub, and they are
//! forwarded as text frames. Closing the socket runs `disconnect`, as `$disconnect`
//! does; like API Gateway, the server closes a connection after two hours.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use switchboard_core::usecases::realtime::{self, CONNECTION_TTL_SECS};
use switchboard_runtime::App;
use switchboard_runtime::auth::Caller;
use switchboard_runtime::http::ApiError;
use switchboard_runtime::realtime::{
    RealtimeHub, SUBPROTOCOL, TokenSource, authenticate, hub, presented_token, query_token,
};
use tokio::sync::mpsc;

fn refuse(e: ApiError) -> Response {
    let rid = uuid::Uuid::now_v7().to_string();
    let (parts, body) = e.into_response(&rid).into_parts();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Authenticates, then upgrades to a WebSocket registered for the caller's org.
pub async fn upgrade(
    State(app): State<App>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let protocol = headers
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    let query_token = query_token(query.as_deref());
    let presented = presented_token(query_token.as_deref(), protocol);
    let caller = match authenticate(&app, presented.as_ref().map(|(t, _)| t.as_str())).await {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(hub) = hub(&app) else {
        // Pushes go to API Gateway (REALTIME_ENDPOINT is set): this process cannot
        // reach its sockets.
        return refuse(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "realtime pushes go to API Gateway in this configuration (REALTIME_ENDPOINT)",
        ));
    };
    let ws = if matches!(presented, Some((_, TokenSource::Subprotocol))) {
        ws.protocols([SUBPROTOCOL])
    } else {
        ws
    };
    ws.on_upgrade(move |socket| serve_socket(app, hub, caller, socket))
}

/// Registers the socket, forwards pushed frames until either side closes or the
/// connection's two hours are up, then forgets it.
async fn serve_socket(app: App, hub: Arc<RealtimeHub>, caller: Caller, mut socket: WebSocket) {
    let (connection_id, rx) = hub.open();
    let svc = app.services();
    if let Err(e) = realtime::connect(
        svc,
        &caller.org,
        &connection_id,
        caller.user.as_deref(),
        caller.role,
    )
    .await
    {
        tracing::error!(org_id = %caller.org, error = %e, "could not record a realtime connection");
        hub.close(&connection_id);
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: close_code::ERROR,
                reason: "unavailable".into(),
            })))
            .await;
        return;
    }
    forward(&mut socket, rx).await;
    hub.close(&connection_id);
    if let Err(e) = realtime::disconnect(svc, &connection_id).await {
        tracing::warn!(org_id = %caller.org, error = %e, "could not forget a realtime connection; it expires on its own");
    }
}

async fn forward(socket: &mut WebSocket, mut rx: mpsc::Receiver<String>) {
    let limit = tokio::time::sleep(Duration::from_secs(CONNECTION_TTL_SECS as u64));
    tokio::pin!(limit);
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(text) = frame else { break };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // The client says nothing the server acts on; pings are answered by
                // the WebSocket layer.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = &mut limit => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: close_code::AWAY,
                        reason: "connection time limit".into(),
                    })))
                    .await;
                break;
            }
        }
    }
}
