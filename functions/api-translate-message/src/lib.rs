//! `api-translate-message`: `POST /v1/messages/{id}/translate` `{to}` — the message's
//! text in the language `to` (`en`, `nl`, `pt-BR`, …) from the org's model, cached per
//! message and language (`cached: true`). 409 `ai_disabled` while the org has AI off; 502
//! `model_unavailable` when no model answered (agents).

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::{MessageId, Role};
use switchboard_core::usecases::ai::insight;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_body, json_response, path_id, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-translate-message";

/// Translates the message.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_id(req, "id", "message", MessageId::parse)?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let t = insight::translate(app.services(), &caller.org, &id, &body).await?;
    Ok(json_response(StatusCode::OK, &t))
}
