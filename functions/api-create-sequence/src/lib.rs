//! `api-create-sequence`: `POST /v1/sequences` — creates a drip sequence (admin):
//! `{name, integration_id, steps: [{delay: "90s"|"15m"|"2h"|"3d", template: {name,
//! language, components}} | {delay, text}], stop_on_reply: true}`. Templates Switchboard
//! knows must be approved; a text step goes only inside the 24-hour window. 201 with it.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::sequences;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-sequence";

/// Creates the sequence; 201 with it.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    sequences::require_enabled(svc)?;
    let caller = app.caller(req, Role::Admin).await?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let sequence = sequences::create(svc, &caller.org, caller.user.as_deref(), &body).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &sequences::view(svc, &sequence).await?,
    ))
}
