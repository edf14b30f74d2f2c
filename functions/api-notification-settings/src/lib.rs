//! `api-notification-settings`: `GET` and `PUT /v1/users/me/notifications` — the
//! caller's own email notifications: `{"assignment_emails": true|false}` (on by default:
//! an email when a conversation is assigned to you, at most one per conversation per 15
//! minutes). Any role; each person sets only their own.

use http::{Method, StatusCode};
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::notifications;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-notification-settings";

/// Reads or sets the caller's notification preferences.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let svc = app.services();
    let Some(user) = caller.user.as_deref() else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_subject",
            "the token names no user (sub), so there are no preferences to keep",
        ));
    };
    let prefs = if req.method() == Method::PUT {
        let body: Value = json_body(req, app.config().max_api_body)?;
        notifications::put_prefs(svc, &caller.org, user, &body).await?
    } else {
        notifications::prefs(svc, &caller.org, user).await?
    };
    Ok(json_response(StatusCode::OK, &prefs.view()))
}
