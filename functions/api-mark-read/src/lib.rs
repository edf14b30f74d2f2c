//! `api-mark-read`: `POST /v1/conversations/{id}/read` — marks the conversation's latest
//! inbound message read on WhatsApp (blue ticks for the customer) and resets the unread
//! count.

use http::StatusCode;
use switchboard_core::ids::{ConversationId, Role};
use switchboard_core::usecases::outbound;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-mark-read";

/// Marks read (agent or above); answers the updated conversation.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id")
        .and_then(|s| ConversationId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let conversation = outbound::mark_read(app.services(), app.tokens(), &caller.org, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &conversation
            .record
            .view_versioned(app.services().clock.now(), conversation.version),
    ))
}
