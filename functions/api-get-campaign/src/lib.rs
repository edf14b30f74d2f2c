//! `api-get-campaign`: `GET /v1/campaigns/{id}` — one campaign with its status, the reason
//! when Switchboard paused it, and its progress (`audience_size`, `queued`, `sent`,
//! `delivered`, `read`, `failed`, `replied`, `skipped`) (viewer).

use http::StatusCode;
use switchboard_core::ids::{CampaignId, Role};
use switchboard_core::usecases::campaigns;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-campaign";

/// Reads one campaign; 404 for ids not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    campaigns::require_enabled(svc)?;
    let caller = app.caller(req, Role::Viewer).await?;
    let id = path_param(req, "id")
        .and_then(|s| CampaignId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("campaign"))?;
    let campaign = campaigns::get(svc, &caller.org, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &campaigns::view(svc, &campaign).await?,
    ))
}
