//! `api-list-appointments`: `GET /v1/appointments?from&to&contact_id` — the org's
//! appointments by start time (`from` defaults to now; RFC 3339 bounds, inclusive),
//! optionally one contact's, with each reminder's status; paged with `limit` and
//! `cursor` (viewer).

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::usecases::appointments;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, query_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-appointments";

/// Lists appointments; 200 `{items, next_cursor}`.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let page = page_request(req, &caller.org)?;
    let (from, to, contact) = (
        query_param(req, "from"),
        query_param(req, "to"),
        query_param(req, "contact_id"),
    );
    let listed = appointments::list(
        app.services(),
        &caller.org,
        from.as_deref(),
        to.as_deref(),
        contact.as_deref(),
        page,
    )
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": listed.items, "next_cursor": listed.next_cursor}),
    ))
}
