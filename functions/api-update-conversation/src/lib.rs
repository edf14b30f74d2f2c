//! `api-update-conversation`: `PATCH /v1/conversations/{id}` — an agent works the
//! conversation as a ticket: `status` (`snoozed` with `snoozed_until`), `assignee`,
//! `labels`, `priority`. Unknown fields are a 422 naming them. `If-Match` with the
//! conversation's version (its `version`, and the `ETag` of this answer) makes the change
//! conditional: another version answers 412 `precondition_failed`, so two agents
//! triaging the same conversation cannot overwrite each other unseen.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value};
use switchboard_core::ids::{ConversationId, Role};
use switchboard_core::usecases::triage::{self, Changed};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, json_body, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-update-conversation";

/// Changes a conversation's workflow fields (agent or above); answers the conversation.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Agent).await?;
    let id = path_param(req, "id")
        .and_then(|s| ConversationId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let body: Map<String, Value> = json_body(req, app.config().max_api_body)?;
    let svc = app.services();
    let patch = triage::parse_patch(&body, svc.clock.now())?;
    let if_match = triage::parse_if_match(header_str(req, "if-match"))?;
    match triage::update_conversation(
        svc,
        &caller.org,
        &id,
        &patch,
        if_match,
        caller.user.as_deref(),
    )
    .await?
    {
        Changed::Done(c) => {
            let mut resp = json_response(
                StatusCode::OK,
                &c.record.view_versioned(svc.clock.now(), c.version),
            );
            if let Ok(tag) = HeaderValue::from_str(&triage::etag(c.version)) {
                resp.headers_mut().insert(header::ETAG, tag);
            }
            Ok(resp)
        }
        Changed::VersionMismatch { current } => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            format!(
                "the conversation is at version {current}, not the one If-Match names; read it again and reapply the change"
            ),
        )),
    }
}
