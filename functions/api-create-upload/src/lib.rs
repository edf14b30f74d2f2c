//! `api-create-upload`: `POST /v1/media/uploads` — for a file larger than an API request
//! may carry (agent): `{content_type, size, integration_id?}` is checked against
//! WhatsApp's types and sizes (422 naming the field), then answered 201 with an upload
//! id, a signed `upload_url` that takes a `PUT` of the file with that content type for 15
//! minutes, and the headers to send. `POST /v1/media/uploads/{id}/complete` then hands it
//! to WhatsApp.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::media;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-upload";

/// Answers the upload URL; 201.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let upload = media::create_upload(app.services(), &caller.org, &body).await?;
    Ok(json_response(StatusCode::CREATED, &upload))
}
