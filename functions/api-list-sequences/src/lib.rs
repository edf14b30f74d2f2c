//! `api-list-sequences`: `GET /v1/sequences` — the org's drip sequences, newest first,
//! each with its progress (viewer), paged with `limit` and `cursor`.

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::usecases::sequences;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-sequences";

/// Lists the sequences; 200 `{items, next_cursor}`.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    sequences::require_enabled(svc)?;
    let caller = app.caller(req, Role::Viewer).await?;
    let page = page_request(req, &caller.org)?;
    let listed = sequences::list(svc, &caller.org, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": listed.items, "next_cursor": listed.next_cursor}),
    ))
}
