//! `api-send-message`: `POST /v1/conversations/{id}/messages` — an agent sends a
//! message. The body mirrors Graph's message object; it is validated against Meta's
//! limits (422 naming the field), checked against the 24-hour customer-service window
//! (only templates outside it), stored `queued`, queued for `worker-outbound`, and
//! answered 202. An `Idempotency-Key` makes retries safe: the same key and body return
//! the same message; the same key with another body is a 422.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::{ConversationId, Role};
use switchboard_core::usecases::outbound::{self, SendRequest};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, json_body, json_response, path_param, request_id,
    respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-send-message";

/// Accepts a message for sending (agent or above).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id")
        .and_then(|s| ConversationId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let accepted = outbound::send(
        app.services(),
        SendRequest {
            org: &caller.org,
            conversation: &id,
            body: &body,
            idempotency_key: header_str(req, "idempotency-key"),
            sender: caller.user.as_deref(),
            billing: &app.config().billing,
            correlation_id: Some(&request_id(req)),
            origin: None,
        },
    )
    .await?;
    let mut resp = json_response(StatusCode::ACCEPTED, &accepted.message.view());
    if accepted.replayed {
        resp.headers_mut().insert(
            "idempotent-replayed",
            http::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}
