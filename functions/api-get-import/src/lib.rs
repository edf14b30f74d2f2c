//! `api-get-import`: `GET /v1/contacts/imports/{id}` — an import's progress: `status`
//! (`queued`, `running`, `completed`, `failed`), `rows_total`, `rows_done`, `created`,
//! `updated`, `unchanged`, `failed` and the first 100 `errors` as `{row, field, message}`.
//! Admins only, like the upload: the errors describe the org's contact data.

use http::StatusCode;
use switchboard_core::ids::{ImportId, Role};
use switchboard_core::usecases::imports;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, path_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-get-import";

/// Reads one import (admin or above); 404 for ids not in the caller's org.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| ImportId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("import"))?;
    let import = imports::get(app.services(), &caller.org, &id).await?;
    Ok(json_response(StatusCode::OK, &import.view()))
}
