//! `api-update-webhook-endpoint`: `PATCH /v1/webhook-endpoints/{id}` `{url?, events?,
//! description?, disabled?}` (admins). `disabled: false` enables an endpoint again,
//! also one Switchboard disabled for failing, and starts its failure count over.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-update-webhook-endpoint";

/// Changes the endpoint.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("webhook_endpoint"))?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let ep = webhooks_out::update(
        app.services(),
        &caller.org,
        id,
        app.config().webhooks_allow_loopback,
        &body,
    )
    .await?;
    Ok(json_response(StatusCode::OK, &ep.view()))
}
