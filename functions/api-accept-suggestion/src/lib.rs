//! `api-accept-suggestion`: `POST /v1/conversations/{id}/suggestions/{sid}/accept`
//! `{text?}` — sends an AI draft, as it is or edited, through the normal send path (the
//! 24-hour window, plan limits, pacing); answers 202 with the message and the suggestion.
//! Only a draft can be accepted (409 otherwise; a second click sends nothing); the
//! plan's AI-reply limit answers 402 and leaves the draft as it was (agents).

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::{ConversationId, Role, SuggestionId};
use switchboard_core::usecases::ai::suggestions;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, optional_json_body, path_id, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-accept-suggestion";

/// Sends the draft.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let conversation = path_id(req, "id", "conversation", ConversationId::parse)?;
    let id = path_id(req, "sid", "suggestion", SuggestionId::parse)?;
    // An empty body accepts the draft as it is.
    let body = optional_json_body(req, app.config().max_api_body)?;
    let sent = suggestions::accept(
        app.services(),
        &app.config().billing,
        &caller.org,
        &conversation,
        &id,
        &body,
        caller.user.as_deref(),
    )
    .await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({
            "suggestion": sent.suggestion.view(),
            "message": sent.message.view(),
        }),
    ))
}
