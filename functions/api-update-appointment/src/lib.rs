//! `api-update-appointment`: `PATCH /v1/appointments/{id}` — changes an appointment.
//! A new `starts_at`, `timezone`, `channel` or `reminders` reschedules it: reminders not
//! yet sent are settled as `skipped` (`rescheduled`) and new ones computed, under a new
//! generation that no earlier run can send for. `title`, `location` and `notes` change
//! in place. A cancelled appointment answers 409 (agent or above).

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::{AppointmentId, Role};
use switchboard_core::usecases::appointments;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-update-appointment";

/// Changes the appointment; 200 with it.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id")
        .and_then(|s| AppointmentId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("appointment"))?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let a = appointments::patch(app.services(), &caller.org, &id, &body).await?;
    Ok(json_response(StatusCode::OK, &a.view()))
}
