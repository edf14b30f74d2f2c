//! `api-sync-templates`: `POST /v1/templates/sync` — reads every template of the
//! business account from Meta (all pages of `GET /{waba_id}/message_templates`) and
//! stores them (admin). `{integration_id}` names the number whose business account to
//! read when the org has several; answers `{synced}` with how many templates Meta has.

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::ids::{AccountId, Role};
use switchboard_core::usecases::templates;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-sync-templates";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    #[serde(default)]
    integration_id: Option<String>,
}

/// Syncs the templates; 200 with the count.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let body: SyncBody = if req.body().is_empty() {
        SyncBody::default()
    } else {
        json_body(req, app.config().max_api_body)?
    };
    let integration = match body.integration_id.as_deref() {
        Some(id) => Some(AccountId::parse(id).map_err(|_| ApiError::not_found("integration"))?),
        None => None,
    };
    let synced = templates::sync(app.services(), &caller.org, integration.as_ref()).await?;
    Ok(json_response(StatusCode::OK, &json!({"synced": synced})))
}
