//! `api-list-messages`: `GET /v1/conversations/{id}/messages?limit=&cursor=` — a
//! conversation's messages in conversation order (oldest first).

use http::StatusCode;
use switchboard_core::ids::{ConversationId, Role};
use switchboard_core::usecases::inbox;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-messages";

/// Lists messages (any role); 404 for conversations not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_param(req, "id")
        .and_then(|s| ConversationId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let page = page_request(req, &caller.org)?;
    let list = inbox::list_messages(app.services(), &caller.org, &id, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
