//! `api-list-contacts`: `GET /v1/contacts?tag=&status=&opted_out=&q=&limit=&cursor=` —
//! the org's contacts, newest first, filtered: every `tag` given (repeatable), a
//! `status`, `opted_out=true|false`, and `q`, a prefix of the name (any case) or of the
//! number's digits (listed by name or number). Each filter is a query on its own index;
//! with several, the others are checked on the contacts, so a page may come back short
//! with a `next_cursor` (see `usecases::contacts::list`).

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::contacts::{self, ContactFilter};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, query_param, query_params, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-contacts";

/// Lists contacts (any role).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let page = page_request(req, &caller.org)?;
    let filter = ContactFilter::parse(
        &query_params(req, "tag"),
        query_param(req, "status").as_deref(),
        query_param(req, "opted_out").as_deref(),
        query_param(req, "q").as_deref(),
    )?;
    let list = contacts::list::list(app.services(), &caller.org, &filter, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
