//! `api-delete-template`: `DELETE /v1/templates/{name}` — deletes a template (every
//! language of the name) at Meta and here (admin); 404 when the org has none by that name.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::templates;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, empty, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-delete-template";

/// Deletes the template; 204.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let name = path_param(req, "name").ok_or_else(|| ApiError::not_found("template"))?;
    templates::delete(app.services(), &caller.org, name).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
