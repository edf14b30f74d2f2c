//! `api-list-suggestions`: `GET /v1/conversations/{id}/suggestions?limit&cursor` — the
//! conversation's AI replies, newest first: drafts waiting for an agent, auto-replies
//! sent, accepted, edited and rejected drafts, and replies the models could not give,
//! each with its variant, model and reason (viewer).

use http::StatusCode;
use switchboard_core::ids::{ConversationId, Role};
use switchboard_core::usecases::ai::suggestions;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, path_id, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-suggestions";

/// Lists the conversation's AI replies.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_id(req, "id", "conversation", ConversationId::parse)?;
    let page = page_request(req, &caller.org)?;
    let list = suggestions::list(app.services(), &caller.org, &id, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
