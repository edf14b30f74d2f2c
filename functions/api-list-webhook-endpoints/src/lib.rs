//! `api-list-webhook-endpoints`: `GET /v1/webhook-endpoints` — the org's webhook
//! endpoints, newest first, without their secrets (admins).

use http::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_core::usecases::webhooks_out;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-webhook-endpoints";

/// Lists the endpoints.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let items: Vec<Value> = webhooks_out::list(app.services(), &caller.org)
        .await?
        .iter()
        .map(webhooks_out::Endpoint::view)
        .collect();
    // At most 100 endpoints an org: one page.
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": items, "next_cursor": null}),
    ))
}
