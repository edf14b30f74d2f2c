//! `api-replay-webhook-endpoint`: `POST /v1/webhook-endpoints/{id}/replay` `{since}` —
//! delivers the org's events since a time (at most 30 days back) that the endpoint
//! subscribes to again, oldest first, with their original `webhook-id`s (admins).
//! Answers 202; the deliveries list shows the attempts as they are made.

use http::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::fmt_time;
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out::delivery;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-replay-webhook-endpoint";

/// Queues the replay.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("webhook_endpoint"))?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let since = delivery::request_replay(app.services(), &caller.org, id, &body).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({"endpoint_id": id, "since": fmt_time(since), "status": "queued"}),
    ))
}
