//! `api-cancel-appointment`: `DELETE /v1/appointments/{id}` — cancels an appointment;
//! its pending reminders are settled as `skipped` (`cancelled`) in the same write, so no
//! reminder goes after this answers. 204; cancelling again is a no-op (agent or above).

use http::StatusCode;
use switchboard_core::ids::{AppointmentId, Role};
use switchboard_core::usecases::appointments;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-cancel-appointment";

/// Cancels the appointment; 204.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id")
        .and_then(|s| AppointmentId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("appointment"))?;
    appointments::cancel(app.services(), &caller.org, &id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
