//! `api-list-users`: `GET /v1/users?limit=&cursor=` — the org's people as the API has
//! seen them (id, name, e-mail, role, first and last seen), for assigning conversations.
//! Every authenticated request records its caller (see `usecases::users`), so a
//! teammate appears here after their first request.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::users;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-users";

/// Lists the org's users (any role).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let page = page_request(req, &caller.org)?;
    let list = users::list(app.services(), &caller.org, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
