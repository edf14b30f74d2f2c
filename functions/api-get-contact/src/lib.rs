//! `api-get-contact`: `GET /v1/contacts/{id}` — one contact.

use http::StatusCode;
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::inbox;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-contact";

/// Reads one contact (any role); 404 for ids not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let contact = inbox::get_contact(app.services(), &caller.org, &id).await?;
    Ok(json_response(StatusCode::OK, &contact.view()))
}
