//! `api-complete-upload`: `POST /v1/media/uploads/{id}/complete` — the file sent to an
//! upload URL is checked against what was announced and uploaded to the WhatsApp number
//! (agent); 200 with the upload and its `media_id` for sends (a second call answers the
//! same). 409 `upload_missing` while nothing was uploaded; 404 for another org's upload.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::media;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-complete-upload";

/// Completes the upload; 200 with the media id.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id").ok_or_else(|| ApiError::not_found("upload"))?;
    let done = media::complete_upload(app.services(), &caller.org, id).await?;
    Ok(json_response(StatusCode::OK, &done))
}
