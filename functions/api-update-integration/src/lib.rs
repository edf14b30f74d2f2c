//! `api-update-integration`: `PATCH /v1/integrations/{id}` — an admin sets the number's
//! `messages_per_second` (pacing; 1–1,000, `null` for the default) and its
//! `messaging_limit_tier` (until account sync or Meta's webhook reports the number's own).
//! Answers the integration; another org's id is 404.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::{AccountId, Role};
use switchboard_core::usecases::integrations;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-update-integration";

/// Applies the change; 200 with the integration.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| AccountId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("integration"))?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let account = integrations::update(app.services(), &caller.org, &id, &body).await?;
    Ok(json_response(StatusCode::OK, &account.view()))
}
