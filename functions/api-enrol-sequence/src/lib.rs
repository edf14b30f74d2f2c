//! `api-enrol-sequence`: `POST /v1/sequences/{id}/enrolments` — enrols contacts in a drip
//! sequence (admin): `{contact_ids: [...]}` (1-1,000) or `{audience: {tags_any?,
//! tags_all?, status?}, cursor?}` (1,000 contacts per request; `next_cursor` continues).
//! A contact is enrolled in a sequence once. 200 `{enrolled, already_enrolled,
//! next_cursor}`.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::{Role, SequenceId};
use switchboard_core::usecases::sequences;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-enrol-sequence";

/// Enrols the contacts; 200 with the counts.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    sequences::require_enabled(svc)?;
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| SequenceId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("sequence"))?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let enrolled = sequences::enrol(svc, &caller.org, &id, &body).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(enrolled).unwrap_or_default(),
    ))
}
