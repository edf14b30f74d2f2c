//! `api-retry-webhook-delivery`: `POST /v1/webhook-deliveries/{id}/retry` — one more
//! attempt of a delivery, made as soon as `worker-webhooks` takes it (admins). Answers
//! 202 with the delivery as it stands; 409 `endpoint_disabled` while its endpoint is
//! disabled.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out::delivery;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-retry-webhook-delivery";

/// Queues the retry.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("webhook_delivery"))?;
    let d = delivery::request_retry(app.services(), &caller.org, id).await?;
    Ok(json_response(StatusCode::ACCEPTED, &d.view()))
}
