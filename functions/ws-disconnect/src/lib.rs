//! `ws-disconnect`: the WebSocket API's `$disconnect` route. Forgets the connection (its
//! record in the org and the look-up that names the org: `$disconnect` knows only the
//! connection id). API Gateway delivers `$disconnect` on a best-effort basis; a record it
//! misses expires with the connection's two-hour limit, and `worker-realtime` drops one
//! it finds gone before that.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use switchboard_core::usecases::realtime;
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "ws-disconnect";

/// Forgets a closed connection. The answer goes nowhere (the socket is closed); a store
/// failure is an error status so that it shows in the function's metrics.
pub async fn handle(app: &App, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let mut resp = ApiGatewayProxyResponse::default();
    resp.status_code = 200;
    let Some(connection_id) = event.request_context.connection_id.as_deref() else {
        tracing::warn!("a $disconnect without a connection id");
        return resp;
    };
    match realtime::disconnect(app.services(), connection_id).await {
        Ok(Some(_)) => {}
        Ok(None) => tracing::info!(
            connection_id,
            "disconnect of an unknown or expired connection"
        ),
        Err(e) => {
            tracing::error!(connection_id, error = %e, "could not forget a realtime connection");
            resp.status_code = 500;
        }
    }
    resp
}
