//! `api-list-emails`: `GET /v1/emails?to=&status=` — the org's emails, newest first,
//! with their delivery status (`queued`, `sent`, `delivered`, `opened`, `clicked`,
//! `bounced`, `complained`, `failed`, `suppressed`) and reason; paged with `limit` and
//! `cursor` (admin). Filters apply within each page, so a page may hold fewer items.

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::usecases::email;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, query_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-emails";

/// Lists the org's emails; 200 `{items, next_cursor}`.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let page = page_request(req, &caller.org)?;
    let to = query_param(req, "to");
    let status = query_param(req, "status");
    let listed = email::list(
        app.services(),
        &caller.org,
        to.as_deref(),
        status.as_deref(),
        page,
    )
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": listed.items, "next_cursor": listed.next_cursor}),
    ))
}
