//! `api-create-checkout`: `POST /v1/billing/checkout` `{plan, success_url, cancel_url}` —
//! a Stripe Checkout Session (subscription mode) for the caller's org; the org's Stripe
//! customer is reused or created with the org in its metadata. Owner only.

use http::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_core::usecases::billing;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-checkout";

/// Creates a Checkout Session; 201 with its URL.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Owner).await?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let url = billing::checkout(app.services(), &app.config().billing, &caller.org, &body).await?;
    Ok(json_response(StatusCode::CREATED, &json!({"url": url})))
}
