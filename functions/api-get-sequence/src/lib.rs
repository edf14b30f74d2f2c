//! `api-get-sequence`: `GET /v1/sequences/{id}` — one drip sequence with its enrolments by
//! status (`enrolled`, `active`, `completed`, `stopped`) and, per step, the messages
//! queued and the steps skipped (viewer).

use http::StatusCode;
use switchboard_core::ids::{Role, SequenceId};
use switchboard_core::usecases::sequences;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-sequence";

/// Reads one sequence; 404 for ids not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    sequences::require_enabled(svc)?;
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_param(req, "id")
        .and_then(|s| SequenceId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("sequence"))?;
    let sequence = sequences::get(svc, &caller.org, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &sequences::view(svc, &sequence).await?,
    ))
}
