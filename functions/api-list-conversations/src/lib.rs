//! `api-list-conversations`: `GET /v1/conversations?limit=&cursor=` — the org's
//! conversations, newest activity first (latest message time, ties by id), optionally
//! narrowed by `status`, `assignee` (`me`, `none` or a user id), `label`, `priority` and
//! `sentiment` (of the latest analysed customer message: `positive`, `neutral`, `negative`).
//! Each filter is an index query (see `switchboard_core::triage`); with filters a page may
//! come back short, even empty, with a `next_cursor`: keep paging until it is `null`.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::triage::{self, ConversationFilters};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, json_response, page_request, query_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-list-conversations";

/// Lists conversations (any role).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Viewer).await?;
    let page = page_request(req, &caller.org)?;
    let filters = ConversationFilters::parse(
        query_param(req, "status").as_deref(),
        query_param(req, "assignee").as_deref(),
        query_param(req, "label").as_deref(),
        query_param(req, "priority").as_deref(),
        caller.user.as_deref(),
    )?
    .with_sentiment(query_param(req, "sentiment").as_deref())?;
    let list = triage::list_conversations(app.services(), &caller.org, &filters, page).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(list).unwrap_or_default(),
    ))
}
