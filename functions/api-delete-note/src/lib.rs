//! `api-delete-note`: `DELETE /v1/contacts/{id}/notes/{note_id}` — deletes a note: its
//! author may, and admins may delete anyone's; another agent gets 403. 204 when done.

use http::StatusCode;
use switchboard_core::ids::{ContactId, NoteId, Role};
use switchboard_core::usecases::notes;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-delete-note";

/// Deletes a note (its author, or an admin); 404 for notes not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let contact = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("note"))?;
    let note = path_param(req, "note_id")
        .and_then(|s| NoteId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("note"))?;
    notes::delete(
        app.services(),
        &caller.org,
        &contact,
        &note,
        caller.user.as_deref(),
        caller.role,
    )
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
