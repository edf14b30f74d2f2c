//! `api-sync-integration`: `POST /v1/integrations/{id}/sync` — reads the number's health
//! and its token's state from Meta now, as the daily `cron-account-sync` does, and
//! answers the integration as stored (admin). A Kapso number answers 409.

use http::StatusCode;
use switchboard_core::ids::{AccountId, Role};
use switchboard_core::usecases::accounts;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-sync-integration";

/// Syncs one integration; 200 with it, 404 when it is not the caller's org's.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| AccountId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("integration"))?;
    let account = accounts::sync_one(app.services(), &caller.org, &id).await?;
    Ok(json_response(StatusCode::OK, &account.view()))
}
