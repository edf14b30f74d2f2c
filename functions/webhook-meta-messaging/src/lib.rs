//! `webhook-meta-messaging`: the Messenger and Instagram webhook of the Meta app.
//!
//! - `GET /webhooks/meta-messaging`: Meta's subscription check, with the same verify
//!   token as the WhatsApp webhook (one Meta app).
//! - `POST /webhooks/meta-messaging`: verifies `X-Hub-Signature-256` with the app secret
//!   on the exact bytes, splits `entry[].messaging[]` (object `page` or `instagram`) into
//!   one event each, stores and queues them for `worker-inbound`, which routes them by
//!   page or Instagram account id; 200.

use http::{Method, StatusCode};
use switchboard_runtime::App;
use switchboard_runtime::cloud_api::{self, META_MESSAGING};
use switchboard_runtime::http::{ApiError, Request, Response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "webhook-meta-messaging";

/// Handles both methods of the webhook URL.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    match *req.method() {
        Method::GET => cloud_api::subscription(app, req, META_MESSAGING).await,
        Method::POST => cloud_api::receive(app, req, META_MESSAGING).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use GET or POST",
        )),
    }
}
