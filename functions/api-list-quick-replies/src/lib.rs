//! `api-list-quick-replies`: `GET /v1/quick-replies?limit=&cursor=` — the org's quick
//! replies ordered by shortcut, for the composer's `/` menu.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::quick_replies;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-quick-replies";

/// Lists quick replies (any role).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let page = page_request(req, &caller.org)?;
    let list = quick_replies::list(app.services(), &caller.org, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
