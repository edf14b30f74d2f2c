//! `webhook-whatsapp`: the WhatsApp Cloud API webhook.
//!
//! - `GET /webhooks/whatsapp`: Meta's subscription check. `hub.mode=subscribe` with the
//!   configured verify token echoes `hub.challenge` as text; anything else is 403.
//! - `POST /webhooks/whatsapp`: verifies `X-Hub-Signature-256` on the exact bytes
//!   received, splits the delivery into one event per change, stores each under its
//!   idempotency key, queues it, and answers 200. Slow work happens in `worker-inbound`.
//!
//! A deployment without the app secret answers 503 `not_configured`: it never accepts
//! input it cannot authenticate. The steps are shared with `webhook-kapso`
//! (`switchboard_runtime::cloud_api`).

use http::{Method, StatusCode};
use switchboard_runtime::App;
use switchboard_runtime::cloud_api::{self, META};
use switchboard_runtime::http::{ApiError, Request, Response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "webhook-whatsapp";

/// Handles both methods of the webhook URL.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    match *req.method() {
        Method::GET => cloud_api::subscription(app, req, META).await,
        Method::POST => cloud_api::receive(app, req, META).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use GET or POST",
        )),
    }
}
