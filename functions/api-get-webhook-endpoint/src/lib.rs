//! `api-get-webhook-endpoint`: `GET /v1/webhook-endpoints/{id}` — one of the org's
//! webhook endpoints, without its secret (admins).

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-webhook-endpoint";

/// Reads the endpoint.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("webhook_endpoint"))?;
    let ep = webhooks_out::get(app.services(), &caller.org, id).await?;
    Ok(json_response(StatusCode::OK, &ep.record.view()))
}
