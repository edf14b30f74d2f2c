//! `api-disconnect-integration`: `DELETE /v1/integrations/{id}` — disconnects a number
//! (admin or owner). Its stored token is deleted with it; later webhooks for the number
//! are acknowledged and kept as unroutable events.

use http::StatusCode;
use switchboard_core::ids::{AccountId, Role};
use switchboard_core::usecases::integrations;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-disconnect-integration";

/// Disconnects; 204, or 404 for an id not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| AccountId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("integration"))?;
    integrations::disconnect(app.services(), &caller.org, &id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
