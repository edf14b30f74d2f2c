//! `api-campaign-action`: `POST /v1/campaigns/{id}/start|pause|resume|cancel` (admin).
//! Start sends now, or schedules the campaign while its `send_at` is ahead; a second
//! start of a started campaign answers it unchanged. Pause holds it where it is, resume
//! continues from there, cancel stops it for good. An action its status does not allow
//! is a 409 `invalid_campaign_state`. 200 with the campaign.

use http::StatusCode;
use switchboard_core::ids::{CampaignId, Role};
use switchboard_core::usecases::campaigns::{self, Action};
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-campaign-action";

/// Applies the action; 200 with the campaign.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    campaigns::require_enabled(svc)?;
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| CampaignId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("campaign"))?;
    let action = path_param(req, "action")
        .and_then(Action::parse)
        .ok_or_else(|| ApiError::not_found("route"))?;
    let campaign = campaigns::act(svc, &caller.org, &id, action).await?;
    Ok(json_response(
        StatusCode::OK,
        &campaigns::view(svc, &campaign).await?,
    ))
}
