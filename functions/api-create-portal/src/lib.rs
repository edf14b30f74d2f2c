//! `api-create-portal`: `POST /v1/billing/portal` `{return_url}` — a Stripe Billing Portal
//! session where the owner manages payment methods, invoices and cancellation.

use http::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_core::usecases::billing;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-portal";

/// Creates a portal session; 201 with its URL.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Owner).await?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let url = billing::portal(app.services(), &caller.org, &body).await?;
    Ok(json_response(StatusCode::CREATED, &json!({"url": url})))
}
