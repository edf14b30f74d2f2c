//! `api-list-templates`: `GET /v1/templates` — the org's WhatsApp message templates as
//! last synced or reported by Meta (viewer), ordered by business account, name and
//! language; filters `status`, `category`, `language`, `name` (a prefix) and `waba_id`.

use http::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::usecases::templates::{self, TemplateFilter};
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, query_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-templates";

/// Lists the templates; 200 `{items}`.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let filter = TemplateFilter {
        status: query_param(req, "status"),
        category: query_param(req, "category"),
        language: query_param(req, "language"),
        name: query_param(req, "name"),
        waba_id: query_param(req, "waba_id"),
    };
    let items = templates::list(app.services(), &caller.org, &filter).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": items, "next_cursor": null}),
    ))
}
