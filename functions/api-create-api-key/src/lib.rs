//! `api-create-api-key`: `POST /v1/api-keys` `{name, role, expires_at?}` — an API key for
//! the org's own servers, with at most the caller's role (admins). Answers 201 with the
//! key in `key`, shown this once: only its hash is kept.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::api_keys;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-api-key";

/// Creates the key.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let (key, secret) = api_keys::create(
        app.services(),
        &caller.org,
        caller.role,
        caller.user.as_deref(),
        app.config().billing.livemode,
        &body,
    )
    .await?;
    let mut view = key.view(None);
    view["key"] = Value::String(secret);
    Ok(json_response(StatusCode::CREATED, &view))
}
