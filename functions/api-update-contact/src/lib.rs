//! `api-update-contact`: `PATCH /v1/contacts/{id}` — an agent edits a contact: `name`,
//! `email`, `tags`, `status`, `score`, `custom_fields` (merged; `null` deletes a key) and
//! `opted_out`. Every problem is a 422 naming the field, an unknown field included, so a
//! typo never reads as "nothing to change". The contact and the index items its filters
//! use change in one transaction.
//!
//! Concurrency: the answer carries the contact's `version` and `ETag`; with
//! `If-Match: <version>` the change applies only to that version, else 412
//! `precondition_failed` (someone, or an inbound message, changed it since it was read).

use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::contacts::{self, ContactPatch, IfMatch};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-update-contact";

/// Edits a contact (agent or above); 404 for ids not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let patch = ContactPatch::parse(&body)?;
    let if_match = header_str(req, "if-match").map(IfMatch::parse);
    let contact =
        contacts::update(app.services(), &caller.org, &id, &patch, if_match.as_ref()).await?;
    let mut resp = json_response(StatusCode::OK, &contacts::view(&contact));
    if let Ok(v) = HeaderValue::from_str(&contacts::etag(contact.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}
