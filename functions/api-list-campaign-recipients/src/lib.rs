//! `api-list-campaign-recipients`: `GET /v1/campaigns/{id}/recipients?status=` — a
//! campaign's recipients (contact, status, skip or failure reason, message id), paged
//! with `limit` and `cursor` (viewer).

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::{CampaignId, Role};
use switchboard_core::usecases::campaigns;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, path_param, query_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-campaign-recipients";

/// Lists the recipients; 200 `{items, next_cursor}`.
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
    let page = page_request(req, &caller.org)?;
    let status = query_param(req, "status");
    let listed = campaigns::recipients(svc, &caller.org, &id, status.as_deref(), page).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": listed.items, "next_cursor": listed.next_cursor}),
    ))
}
