//! `api-get-erasure`: `GET /v1/contacts/{id}/erasure` — where the erasure of a contact
//! is: `running` with what it has removed so far, or `completed` (kept 30 days). Admins
//! only; 404 when the contact was never erased (or is another org's).

use http::StatusCode;
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::personal_data::erase;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-erasure";

/// Shows an erasure (admin or above).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("erasure"))?;
    let job = erase::status(app.services(), &caller.org, &id).await?;
    Ok(json_response(StatusCode::OK, &job.view()))
}
