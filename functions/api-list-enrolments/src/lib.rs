//! `api-list-enrolments`: `GET /v1/sequences/{id}/enrolments` — a drip sequence's
//! enrolments (contact, status, stop reason, next step and when it is due), paged with
//! `limit` and `cursor` (viewer).

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::{Role, SequenceId};
use switchboard_core::usecases::sequences;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-enrolments";

/// Lists the enrolments; 200 `{items, next_cursor}`.
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
    let page = page_request(req, &caller.org)?;
    let listed = sequences::enrolments(svc, &caller.org, &id, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": listed.items, "next_cursor": listed.next_cursor}),
    ))
}
