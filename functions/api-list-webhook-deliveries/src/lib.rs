//! `api-list-webhook-deliveries`: `GET /v1/webhook-endpoints/{id}/deliveries` — the
//! endpoint's deliveries, newest event first, each with its status (`pending`,
//! `delivered`, `failed`), attempts (time, status code or error, latency) and next
//! attempt; paged with `limit` and `cursor` (admins).

use http::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out::delivery;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-webhook-deliveries";

/// Lists the deliveries.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("webhook_endpoint"))?;
    let page = page_request(req, &caller.org)?;
    let (items, next_cursor) = delivery::list(app.services(), &caller.org, id, page).await?;
    let items: Vec<Value> = items.iter().map(delivery::Delivery::view).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": items, "next_cursor": next_cursor}),
    ))
}
