//! `api-get-billing`: `GET /v1/billing` — plan, status, current period, trial end, usage
//! this period against the plan's limits, and whether sending is allowed (and why not).

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::billing;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-billing";

/// The billing summary (any role).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let summary = billing::summary(app.services(), &app.config().billing, &caller.org).await?;
    Ok(json_response(StatusCode::OK, &summary))
}
