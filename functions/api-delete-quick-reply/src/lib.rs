//! `api-delete-quick-reply`: `DELETE /v1/quick-replies/{id}` — removes a quick reply and
//! frees its shortcut in one transaction → 204.

use http::StatusCode;
use switchboard_core::ids::{QuickReplyId, Role};
use switchboard_core::usecases::quick_replies;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-delete-quick-reply";

/// Deletes a quick reply (agent or above).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id")
        .and_then(|s| QuickReplyId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("quick reply"))?;
    quick_replies::delete(app.services(), &caller.org, &id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
