//! `api-get-media`: `GET /v1/messages/{id}/media` — the file of a media message, fetched
//! from Graph (`GET /{media-id}`, then the download URL) with the account's token, so the
//! frontend never holds provider tokens. Lambda returns at most `MAX_MEDIA_BYTES`.

use bytes::Bytes;
use http::{StatusCode, header};
use switchboard_core::ids::{MessageId, Role};
use switchboard_core::usecases::outbound;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-media";

/// Serves a message's media (any role).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_param(req, "id")
        .and_then(|s| MessageId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("message"))?;
    let media = outbound::media(
        app.services(),
        app.tokens(),
        &caller.org,
        &id,
        app.config().max_media_bytes,
    )
    .await?;
    let mut builder = http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, media.mime_type.as_str())
        .header(header::CACHE_CONTROL, "private, max-age=300");
    if let Some(name) = media.filename.as_deref() {
        let safe: String = name
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        builder = builder.header(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{safe}\""),
        );
    }
    builder
        .body(Bytes::from(media.bytes))
        .map_err(|_| ApiError::internal())
}
