//! `api-revoke-api-key`: `DELETE /v1/api-keys/{id}` — the key, and a rolled value still in
//! its grace, stop working at once; 204 (admins; another org's key is a 404).

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::api_keys;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-revoke-api-key";

/// Revokes the key.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("api key"))?;
    api_keys::revoke(app.services(), &caller.org, id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
