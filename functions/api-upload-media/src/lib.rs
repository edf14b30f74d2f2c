//! `api-upload-media`: `POST /v1/media` — the file is the request body, its
//! `Content-Type` one WhatsApp takes (image/jpeg or png ≤ 5 MB, video/mp4 or 3gpp ≤ 16 MB,
//! audio ≤ 16 MB, documents ≤ 100 MB, image/webp stickers ≤ 500 KB) and its size within
//! what this route carries (`MAX_MEDIA_BYTES`); it is uploaded to the WhatsApp number
//! (`?integration_id=` when the org has several) and answered 201 with the media id to
//! send (agent). Another type is 415, too large 413.

use http::StatusCode;
use switchboard_core::ids::{AccountId, Role};
use switchboard_core::usecases::media;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, json_response, query_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-upload-media";

/// Uploads the file; 201 with its media id.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let Some((kind, mime, max)) = header_str(req, "content-type").and_then(media::kind_of) else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be a file WhatsApp sends: image/jpeg, image/png, video/mp4, video/3gpp, audio (aac, amr, mpeg, mp4, ogg), a document (pdf, text, Office) or an image/webp sticker",
        ));
    };
    let limit = max.min(app.config().max_media_bytes);
    if req.body().len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a {kind} uploaded here is at most {limit} bytes"),
        ));
    }
    if req.body().is_empty() {
        return Err(ApiError::from(switchboard_core::Error::validation(
            "body",
            "empty_file",
            "the body is the file; it is empty",
        )));
    }
    let integration = match query_param(req, "integration_id") {
        Some(id) => Some(AccountId::parse(&id).map_err(|_| ApiError::not_found("integration"))?),
        None => None,
    };
    let uploaded = media::upload(
        app.services(),
        &caller.org,
        integration.as_ref(),
        kind,
        mime,
        req.body(),
    )
    .await?;
    Ok(json_response(StatusCode::CREATED, &uploaded))
}
