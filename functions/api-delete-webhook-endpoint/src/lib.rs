//! `api-delete-webhook-endpoint`: `DELETE /v1/webhook-endpoints/{id}` — no more
//! deliveries to it; its scheduled retries end as failed (admins). Answers 204.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-delete-webhook-endpoint";

/// Deletes the endpoint.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("webhook_endpoint"))?;
    webhooks_out::delete(app.services(), &caller.org, id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
