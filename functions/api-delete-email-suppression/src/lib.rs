//! `api-delete-email-suppression`: `DELETE /v1/email-suppressions/{address}` — takes an
//! address off the org's suppression list (it got there by a hard bounce or a spam
//! complaint), so emails reach it again. Admins only; 204, or 404 when the address is
//! not suppressed. The address may be percent-encoded (`ann%40example.org`).

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::email;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-delete-email-suppression";

/// Lifts a suppression; 204.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let address = path_param(req, "address")
        .and_then(switchboard_core::email::percent_decode)
        .filter(|a| email::valid_address(a))
        .ok_or_else(|| ApiError::not_found("suppression"))?;
    email::unsuppress(app.services(), &caller.org, &address).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
