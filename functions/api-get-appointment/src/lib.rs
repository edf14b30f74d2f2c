//! `api-get-appointment`: `GET /v1/appointments/{id}` — an appointment with each
//! reminder's due time, status (`scheduled`, `sent`, `skipped`, `missed`, `failed`) and
//! reason, per channel with the WhatsApp message or email it sent (viewer).

use http::StatusCode;
use switchboard_core::ids::{AppointmentId, Role};
use switchboard_core::usecases::appointments;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-appointment";

/// Answers the appointment; 200.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_param(req, "id")
        .and_then(|s| AppointmentId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("appointment"))?;
    let a = appointments::get(app.services(), &caller.org, &id).await?;
    Ok(json_response(StatusCode::OK, &a.view()))
}
