//! `api-create-quick-reply`: `POST /v1/quick-replies` — an agent saves an answer under a
//! shortcut: `{shortcut, body, media?}` → 201 with the quick reply. The shortcut is
//! unique in the org (409 `shortcut_taken`), enforced by a look-up item written in the
//! same transaction, so two concurrent creates cannot both have it.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value};
use switchboard_core::ids::Role;
use switchboard_core::usecases::{quick_replies, triage};
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-quick-reply";

/// Creates a quick reply (agent or above).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let body: Map<String, Value> = json_body(req, app.config().max_api_body)?;
    let input = quick_replies::parse_input(&body, true)?;
    let created =
        quick_replies::create(app.services(), &caller.org, input, caller.user.as_deref()).await?;
    let mut resp = json_response(StatusCode::CREATED, &created.record.view(created.version));
    if let Ok(tag) = HeaderValue::from_str(&triage::etag(created.version)) {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    Ok(resp)
}
