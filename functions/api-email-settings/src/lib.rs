//! `api-email-settings`: `GET` and `PUT /v1/settings/email` — how the org's emails
//! look: `from_name` (the sender's display name and the name in the emails; the
//! deployment's `EMAIL_FROM` name otherwise), `reply_to`, `locale` (`en` or `nl`) and
//! `billing_email` (billing notices go there as well as to the owners). `PUT` replaces
//! the whole; admins only.

use http::{Method, StatusCode};
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::email;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-email-settings";

/// Reads or replaces the org's email settings.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let svc = app.services();
    let settings = if req.method() == Method::PUT {
        let body: Value = json_body(req, app.config().max_api_body)?;
        email::put_settings(svc, &caller.org, &body).await?
    } else {
        email::settings(svc, &caller.org).await?
    };
    Ok(json_response(
        StatusCode::OK,
        &email::settings_view(&settings),
    ))
}
