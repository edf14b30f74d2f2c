//! `webhook-kapso`: the webhook of WhatsApp numbers connected through Kapso.
//!
//! - `GET /webhooks/kapso`: Kapso's verification echoes `hub.challenge` (or `challenge`);
//!   when a `KAPSO_VERIFY_TOKEN` is configured, only if `hub.verify_token` matches it.
//! - `POST /webhooks/kapso`: verifies `X-Kapso-Signature` (hex HMAC-SHA256 of the raw
//!   body under `KAPSO_WEBHOOK_SECRET`, `sha256=` prefix optional) in constant time, then
//!   the same path as Meta's webhook: the payloads are Meta's WhatsApp format, split into
//!   one event per change, stored, queued for `worker-inbound`, 200.

use http::{Method, StatusCode};
use switchboard_runtime::App;
use switchboard_runtime::cloud_api::{self, KAPSO};
use switchboard_runtime::http::{ApiError, Request, Response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "webhook-kapso";

/// Handles both methods of the webhook URL.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    match *req.method() {
        Method::GET => cloud_api::subscription(app, req, KAPSO).await,
        Method::POST => cloud_api::receive(app, req, KAPSO).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use GET or POST",
        )),
    }
}
