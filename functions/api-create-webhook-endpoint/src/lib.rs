//! `api-create-webhook-endpoint`: `POST /v1/webhook-endpoints` `{url, events,
//! description?}` — a URL of the org's own system that receives the events it names
//! (admins). The URL must be https to a public address. Answers 201 with the endpoint and
//! its signing secret in `secret` (`whsec_…`), shown this once.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-webhook-endpoint";

/// Creates the endpoint.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let (ep, secret) = webhooks_out::create(
        app.services(),
        &caller.org,
        app.config().webhooks_allow_loopback,
        &body,
    )
    .await?;
    let mut view = ep.view();
    view["secret"] = Value::String(secret);
    Ok(json_response(StatusCode::CREATED, &view))
}
