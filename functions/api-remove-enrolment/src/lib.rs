//! `api-remove-enrolment`: `DELETE /v1/sequences/{id}/enrolments/{contact_id}` — stops a
//! contact's drip sequence (`removed`): no further step goes to them (admin). 204; 404
//! when the contact is not enrolled.

use http::StatusCode;
use switchboard_core::ids::{ContactId, Role, SequenceId};
use switchboard_core::usecases::sequences;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-remove-enrolment";

/// Stops the enrolment; 204.
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
    let contact = path_param(req, "contact_id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("enrolment"))?;
    sequences::remove(svc, &caller.org, &id, &contact).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
