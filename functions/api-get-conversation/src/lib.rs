//! `api-get-conversation`: `GET /v1/conversations/{id}` — one conversation with its
//! contact, last message, unread count, customer-service window and workflow fields
//! (status, assignee, labels, priority, snooze), with its version as `version` and
//! `ETag` for a later `If-Match`.

use http::{HeaderValue, StatusCode, header};
use switchboard_core::ids::{ConversationId, Role};
use switchboard_core::usecases::{inbox, triage};
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-conversation";

/// Reads one conversation (any role); 404 for ids not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_param(req, "id")
        .and_then(|s| ConversationId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let c = inbox::get_conversation_versioned(app.services(), &caller.org, &id).await?;
    let mut resp = json_response(
        StatusCode::OK,
        &c.record
            .view_versioned(app.services().clock.now(), c.version),
    );
    if let Ok(tag) = HeaderValue::from_str(&triage::etag(c.version)) {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    Ok(resp)
}
