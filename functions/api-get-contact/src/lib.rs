//! `api-get-contact`: `GET /v1/contacts/{id}` — one contact, with its `version` (also
//! the `ETag`, which `PATCH` takes back as `If-Match`).

use http::{HeaderValue, StatusCode, header};
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::contacts;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-contact";

/// Reads one contact (any role); 404 for ids not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let contact = contacts::get(app.services(), &caller.org, &id).await?;
    let mut resp = json_response(StatusCode::OK, &contacts::view(&contact));
    if let Ok(v) = HeaderValue::from_str(&contacts::etag(contact.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}
