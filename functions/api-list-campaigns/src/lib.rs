//! `api-list-campaigns`: `GET /v1/campaigns` — the org's broadcast campaigns, newest
//! first, each with its status and progress (viewer), paged with `limit` and `cursor`.

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::usecases::campaigns;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-campaigns";

/// Lists the campaigns; 200 `{items, next_cursor}`.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    campaigns::require_enabled(svc)?;
    let caller = app.caller(req, Role::Viewer).await?;
    let page = page_request(req, &caller.org)?;
    let listed = campaigns::list(svc, &caller.org, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": listed.items, "next_cursor": listed.next_cursor}),
    ))
}
