//! `api-list-audit`: `GET /v1/audit?action=&actor=&limit=&cursor=` — the org's audit log,
//! newest first (admin). Every change made through the API is in it; nothing changes it.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::audit::{self, AuditFilter};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, query_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-audit";

/// Lists audit entries (admin).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let page = page_request(req, &caller.org)?;
    let filter = AuditFilter {
        action: query_param(req, "action"),
        actor: query_param(req, "actor"),
    };
    let list = audit::list(app.services(), &caller.org, &filter, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
