//! `api-get-media`: `GET /v1/messages/{id}/media` — the file of a media message, from
//! object storage (archived when it arrived, or now from Graph with the account's token,
//! so the frontend never holds provider tokens). A file larger than `MAX_MEDIA_BYTES` (what
//! a Lambda response carries) is answered with a 302 to a signed URL that lives five
//! minutes, so there is no size ceiling.

use bytes::Bytes;
use http::{StatusCode, header};
use switchboard_core::ids::{MessageId, Role};
use switchboard_core::usecases::media::{self, Served};
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
    let media = match media::serve(
        app.services(),
        app.tokens(),
        &caller.org,
        &id,
        app.config().max_media_bytes,
    )
    .await?
    {
        Served::File(m) => m,
        Served::Redirect(url) => {
            return http::Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, url)
                .header(header::CACHE_CONTROL, "no-store")
                .body(Bytes::new())
                .map_err(|_| ApiError::internal());
        }
    };
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
