//! `api-ai-settings`: `GET` and `PUT /v1/ai/settings` — how the org's AI replies work:
//! `enabled`, `mode` (`draft` or `auto`), `system_prompt`, `business_hours` (timezone,
//! weekly windows, and whether auto-replies run `outside` or `inside` them), `model`,
//! `fallback_model` and `experiment` (`{model, weight}`: the share of contacts on a
//! second model), `temperature`, `max_tokens`, `timeout_secs`, `caps`,
//! `handoff_keywords`, `use_notes`, `analysis`, `categories`, `human_pause_minutes`.
//! `PUT` replaces the whole (admins); agents read. A model may only name a provider preset
//! the deployment configured (`openrouter`, `xai`, `custom`).

use http::{Method, StatusCode};
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::ai::settings;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-ai-settings";

/// Reads or replaces the org's AI settings.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let put = req.method() == Method::PUT;
    let caller = app
        .caller(req, if put { Role::Admin } else { Role::Agent })
        .await?;
    let svc = app.services();
    let s = if put {
        let body: Value = json_body(req, app.config().max_api_body)?;
        settings::put_settings(svc, &caller.org, &body).await?
    } else {
        settings::load_settings(svc, &caller.org).await?
    };
    Ok(json_response(StatusCode::OK, &s.view()))
}
