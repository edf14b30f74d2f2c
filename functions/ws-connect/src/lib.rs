//! `ws-connect`: the WebSocket API's `$connect` route. Authenticates the client with the
//! token it presents (`?token=`, or `Sec-WebSocket-Protocol: switchboard.v1, <token>`;
//! a user JWT or an API key, see `switchboard_runtime::realtime`) and records the
//! connection in its org for `worker-realtime` to push to. Anything but a 2xx refuses the
//! connection: 401 without a valid token, 429 past the rate limit, 503 when the store
//! fails (the client reconnects later).

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use http::{HeaderValue, StatusCode};
use switchboard_core::usecases::realtime;
use switchboard_runtime::App;
use switchboard_runtime::realtime::{SUBPROTOCOL, TokenSource, authenticate, presented_token};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "ws-connect";

fn answer(status: StatusCode) -> ApiGatewayProxyResponse {
    let mut resp = ApiGatewayProxyResponse::default();
    resp.status_code = i64::from(status.as_u16());
    resp
}

/// Accepts (200) or refuses a new WebSocket connection.
pub async fn handle(app: &App, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let Some(connection_id) = event.request_context.connection_id.as_deref() else {
        tracing::warn!("a $connect without a connection id");
        return answer(StatusCode::BAD_REQUEST);
    };
    let protocol = event
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    let presented = presented_token(event.query_string_parameters.first("token"), protocol);
    let caller = match authenticate(app, presented.as_ref().map(|(t, _)| t.as_str())).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(status = e.status.as_u16(), code = %e.code, "realtime connection refused");
            return answer(e.status);
        }
    };
    if let Err(e) = realtime::connect(
        app.services(),
        &caller.org,
        connection_id,
        caller.user.as_deref(),
        caller.role,
    )
    .await
    {
        tracing::error!(org_id = %caller.org, error = %e, "could not record a realtime connection");
        return answer(if e.is_retryable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_REQUEST
        });
    }
    let mut resp = answer(StatusCode::OK);
    // A client that offered subprotocols must get one back, or the browser drops the
    // connection; the token it also offered is never echoed.
    if matches!(presented, Some((_, TokenSource::Subprotocol))) {
        resp.headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    resp
}
