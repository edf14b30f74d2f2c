//! `api-reject-suggestion`: `POST /v1/conversations/{id}/suggestions/{sid}/reject`
//! `{reason?}` — turns an AI draft down, with an optional reason the A/B readout counts
//! (agents). Only a draft can be rejected (409 otherwise).

use http::StatusCode;
use switchboard_core::ids::{ConversationId, Role, SuggestionId};
use switchboard_core::usecases::ai::suggestions;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, optional_json_body, path_id, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-reject-suggestion";

/// Rejects the draft.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let conversation = path_id(req, "id", "conversation", ConversationId::parse)?;
    let id = path_id(req, "sid", "suggestion", SuggestionId::parse)?;
    let body = optional_json_body(req, app.config().max_api_body)?;
    let s = suggestions::reject(
        app.services(),
        &caller.org,
        &conversation,
        &id,
        &body,
        caller.user.as_deref(),
    )
    .await?;
    Ok(json_response(StatusCode::OK, &s.view()))
}
