//! `api-summarize-conversation`: `POST /v1/conversations/{id}/summary` — a summary of the
//! conversation from the org's model (with its fallback), stored and answered again
//! (`cached: true`) until a new message comes. 409 `ai_disabled` while the org has AI
//! off; 502 `model_unavailable` when no model answered (agents).

use http::StatusCode;
use switchboard_core::ids::{ConversationId, Role};
use switchboard_core::usecases::ai::insight;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_id, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-summarize-conversation";

/// Summarises the conversation.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_id(req, "id", "conversation", ConversationId::parse)?;
    let summary = insight::summarise(app.services(), &caller.org, &id).await?;
    Ok(json_response(StatusCode::OK, &summary))
}
