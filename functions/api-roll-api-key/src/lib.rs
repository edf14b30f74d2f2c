//! `api-roll-api-key`: `POST /v1/api-keys/{id}/roll` `{grace_hours?}` — a new value for the
//! key, shown this once in `key`; the old value keeps working for the grace (24 hours by
//! default, at most 168; 0 ends it now), so servers can switch without downtime (admins).

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::api_keys;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, optional_json_body, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-roll-api-key";

/// Rolls the key.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("api key"))?;
    let body = optional_json_body(req, app.config().max_api_body)?;
    let (key, secret) = api_keys::roll(
        app.services(),
        &caller.org,
        id,
        app.config().billing.livemode,
        &body,
    )
    .await?;
    let mut view = key.view(None);
    view["key"] = Value::String(secret);
    Ok(json_response(StatusCode::OK, &view))
}
