//! `api-create-appointment`: `POST /v1/contacts/{id}/appointments` — books an
//! appointment for a contact: `{starts_at (RFC 3339 with offset), timezone (IANA),
//! title, location?, notes?, channel: whatsapp|email|both, reminders?: ["24h", "1h"]}`.
//! Without `reminders` the org's default offsets apply. Offsets in `m`/`h` are exact;
//! `d` means calendar days in the timezone. 201 with the appointment and each
//! reminder's due time (agent or above).

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::appointments;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-appointment";

/// Creates the appointment; 201.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let contact = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let a = appointments::create(
        app.services(),
        &caller.org,
        &contact,
        caller.user.as_deref(),
        &body,
    )
    .await?;
    Ok(json_response(StatusCode::CREATED, &a.view()))
}
