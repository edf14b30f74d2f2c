//! `api-list-integrations`: `GET /v1/integrations` — the org's connected WhatsApp
//! numbers with their health (`active` or `reauth_required`). Tokens are never returned.

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::usecases::integrations;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-integrations";

/// Lists integrations (any role).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let accounts = integrations::list(app.services(), &caller.org).await?;
    let items: Vec<_> = accounts.iter().map(|a| a.view()).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": items, "next_cursor": null}),
    ))
}
