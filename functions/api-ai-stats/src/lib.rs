//! `api-ai-stats`: `GET /v1/ai/stats?from&to` — the A/B readout of the org's AI replies
//! over a time range (RFC 3339; the last 7 days by default, at most 92): per variant the
//! model calls, replies sent, drafts accepted, edited and rejected, handoffs, failures,
//! median and p95 model latency and tokens; and every call per purpose (reply, analysis,
//! summary, translation). Admins.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::ai::stats;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_response, query_param, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-ai-stats";

/// Answers the readout.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let svc = app.services();
    let (from, to) = stats::range(
        query_param(req, "from").as_deref(),
        query_param(req, "to").as_deref(),
        svc.clock.now(),
    )?;
    let readout = stats::readout(svc, &caller.org, from, to).await?;
    Ok(json_response(StatusCode::OK, &readout))
}
