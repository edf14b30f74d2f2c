//! `api-create-campaign`: `POST /v1/campaigns` — creates a draft broadcast campaign
//! (admin): `{name, integration_id, template: {name, language, components}, audience:
//! {tags_any?, tags_all?, status?, contact_ids?}, send_at?, quiet_hours?: {start, end,
//! timezone}}`. Components may use `{{contact.name}}`, `{{contact.email}}`,
//! `{{contact.phone}}` and `{{contact.custom.<key>}}`; a template Switchboard knows must
//! be approved. 201 with the campaign; nothing is sent until it is started.

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::campaigns;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-campaign";

/// Creates the campaign; 201 with it.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    campaigns::require_enabled(svc)?;
    let caller = app.caller(req, Role::Admin).await?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let campaign = campaigns::create(svc, &caller.org, caller.user.as_deref(), &body).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &campaigns::view(svc, &campaign).await?,
    ))
}
