//! `api-rotate-webhook-secret`: `POST /v1/webhook-endpoints/{id}/rotate-secret` — a new
//! signing secret, shown this once in `secret`; the previous one keeps signing beside it
//! for 24 hours, so the receiver can switch without losing a delivery (admins).

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-rotate-webhook-secret";

/// Rotates the secret.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("webhook_endpoint"))?;
    let (ep, secret) = webhooks_out::rotate_secret(app.services(), &caller.org, id).await?;
    let mut view = ep.view();
    view["secret"] = Value::String(secret);
    Ok(json_response(StatusCode::OK, &view))
}
