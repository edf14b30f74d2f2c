//! `api-list-contacts`: `GET /v1/contacts?limit=&cursor=` — the org's contacts, newest
//! first.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::inbox;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-contacts";

/// Lists contacts (any role).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let page = page_request(req, &caller.org)?;
    let list = inbox::list_contacts(app.services(), &caller.org, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
