//! `api-update-quick-reply`: `PATCH /v1/quick-replies/{id}` — changes a quick reply's
//! `shortcut`, `body` or `media` (`null` removes it). Renaming moves the shortcut's
//! look-up item in the same transaction (409 `shortcut_taken` if another quick reply has
//! the new one). `If-Match` with the version makes the change conditional (412).

use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value};
use switchboard_core::ids::{QuickReplyId, Role};
use switchboard_core::usecases::quick_replies;
use switchboard_core::usecases::triage::{self, Changed};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-update-quick-reply";

/// Changes a quick reply (agent or above); answers it.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id")
        .and_then(|s| QuickReplyId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("quick reply"))?;
    let body: Map<String, Value> = json_body(req, app.config().max_api_body)?;
    let input = quick_replies::parse_input(&body, false)?;
    let if_match = triage::parse_if_match(header_str(req, "if-match"))?;
    match quick_replies::update(app.services(), &caller.org, &id, &input, if_match).await? {
        Changed::Done(r) => {
            let mut resp = json_response(StatusCode::OK, &r.record.view(r.version));
            if let Ok(tag) = HeaderValue::from_str(&triage::etag(r.version)) {
                resp.headers_mut().insert(header::ETAG, tag);
            }
            Ok(resp)
        }
        Changed::VersionMismatch { current } => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            format!(
                "the quick reply is at version {current}, not the one If-Match names; read it again and reapply the change"
            ),
        )),
    }
}
