//! `api-export-contact`: `GET /v1/contacts/{id}/export` — everything Switchboard holds
//! about one person, as one JSON document: the contact as stored, notes and other
//! per-contact records, every conversation with all its messages and their content, and
//! the raw webhook events naming them (when received, when they expire). Admins only,
//! because it hands out a person's data in bulk; for the same reason it is audited like
//! a change although it reads. A document past Lambda's response limit is a 422 naming
//! `include_messages`: `include_messages=false` answers the rest, with each
//! conversation's paged message list.

use http::{HeaderValue, StatusCode, header};
use switchboard_core::Error;
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::personal_data::export::{self, ExportOptions};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, path_param, query_param, respond_audited,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-export-contact";

/// Exports a contact (admin or above).
pub async fn handle(app: &App, req: Request) -> Response {
    respond_audited(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let include_messages = match query_param(req, "include_messages").as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            return Err(Error::validation(
                "include_messages",
                "invalid_include_messages",
                "include_messages must be true or false",
            )
            .into());
        }
    };
    let doc = export::export(
        app.services(),
        &caller.org,
        &id,
        ExportOptions { include_messages },
    )
    .await?;
    let mut resp = json_response(StatusCode::OK, &doc);
    let headers = resp.headers_mut();
    // A person's data: saved as a file by a browser, kept by no cache.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.json\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
