//! `api-reminder-settings`: `GET` and `PUT /v1/settings/reminders` — how the org's
//! appointment reminders go: `{template, language}` (an approved WhatsApp template whose
//! body takes the contact's name, the date and the time, in that order), `offsets` (the
//! default reminders of new appointments, such as `["24h", "1h"]`), `email` (whether
//! email reminders go) and an optional `integration_id` (the number they go from; the
//! org's first WhatsApp number otherwise). `PUT` replaces the whole (admins); agents read.

use http::{Method, StatusCode};
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::reminders;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-reminder-settings";

/// Reads or replaces the org's reminder settings.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    // Agents book appointments and see what their reminders will do; admins set it.
    let role = if req.method() == Method::PUT {
        Role::Admin
    } else {
        Role::Agent
    };
    let caller = app.caller(req, role).await?;
    let svc = app.services();
    let settings = if req.method() == Method::PUT {
        let body: Value = json_body(req, app.config().max_api_body)?;
        reminders::put_settings(svc, &caller.org, &body).await?
    } else {
        reminders::settings(svc, &caller.org).await?
    };
    Ok(json_response(
        StatusCode::OK,
        &reminders::settings_view(&settings),
    ))
}
