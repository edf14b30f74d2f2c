//! `api-list-notes`: `GET /v1/contacts/{id}/notes?limit=&cursor=` — a contact's notes,
//! newest first.

use http::StatusCode;
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::notes;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-notes";

/// Lists a contact's notes (any role); 404 for contacts not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let contact = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let page = page_request(req, &caller.org)?;
    let list = notes::list(app.services(), &caller.org, &contact, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
