//! `api-create-note`: `POST /v1/contacts/{id}/notes` `{"body": "…"}` — an agent writes a
//! note about a contact (at most 10,000 characters); the token's subject is its author.
//! 201 with the note. The note is kept in the contact's partition, so the contact's
//! export and erasure include it.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::Error;
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::notes;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-note";

/// Writes a note (agent or above); 404 for contacts not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let contact = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let value: Value = json_body(req, app.config().max_api_body)?;
    let body = note_body(value)?;
    let note = notes::create(
        app.services(),
        &caller.org,
        &contact,
        body,
        caller.user.clone(),
    )
    .await?;
    Ok(json_response(StatusCode::CREATED, &note.view()))
}

/// The text of `{"body": "…"}`. Another field is a 422 naming it: a misspelt `body`
/// must not pass for a missing one.
fn note_body(value: Value) -> Result<String, Error> {
    let Value::Object(mut map) = value else {
        return Err(Error::validation(
            "body",
            "invalid_body",
            "the request body must be {\"body\": \"…\"}",
        ));
    };
    if let Some(other) = map.keys().filter(|k| k.as_str() != "body").min() {
        return Err(Error::validation(
            other.as_str(),
            "unknown_field",
            "unknown field; a note takes only `body`",
        ));
    }
    match map.remove("body") {
        Some(Value::String(s)) => Ok(s),
        _ => Err(Error::validation(
            "body",
            "invalid_body",
            "body must be the note's text",
        )),
    }
}
