//! `api-list-api-keys`: `GET /v1/api-keys` — the org's API keys, newest first: id, name,
//! role, the key's first 12 characters, when made, expiring, rolled and last used; never
//! a key or its hash (admins).

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::usecases::api_keys;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-api-keys";

/// Lists the keys.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let items = api_keys::list(app.services(), &caller.org).await?;
    // At most 100 keys an org: one page.
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": items, "next_cursor": null}),
    ))
}
