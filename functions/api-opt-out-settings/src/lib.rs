//! `api-opt-out-settings`: `GET` and `PUT /v1/settings/opt-out` — the org's opt-out
//! keywords (a customer message that is exactly one of them opts the customer out of
//! marketing) and opt-in keywords (back in). `PUT` replaces both lists:
//! `{"opt_out_keywords": [...], "opt_in_keywords": [...]}`, at most 20 each, 1-32
//! characters, matched ignoring case and surrounding white space. Admins only; an org
//! that never set them has `STOP`, `UNSUBSCRIBE`, `STOPP`, `AFMELDEN` and `START`.

use http::{Method, StatusCode};
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::opt_out;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-opt-out-settings";

/// Reads or replaces the org's keywords (admin or above).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let svc = app.services();
    if req.method() == Method::PUT {
        let body: Value = json_body(req, app.config().max_api_body)?;
        let settings = opt_out::put(svc, &caller.org, &body, caller.user.clone()).await?;
        return Ok(json_response(
            StatusCode::OK,
            &opt_out::view(&settings, true),
        ));
    }
    let (settings, set) = opt_out::get(svc, &caller.org).await?;
    Ok(json_response(
        StatusCode::OK,
        &opt_out::view(&settings, set),
    ))
}
