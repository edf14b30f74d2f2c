//! `api-connect-integration`: `POST /v1/integrations/whatsapp/connect` — connects a
//! WhatsApp business number to the caller's org (admin or owner). The access token is
//! validated with Graph when a Graph URL is configured, then stored envelope-encrypted
//! under the context {org_id, account_id, purpose}; it is never returned or logged.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::integrations::{self, ConnectRequest};
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-connect-integration";

/// Connects a number; 201 with the integration, 409 if the number is connected already.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let body: ConnectRequest = json_body(req, app.config().max_api_body)?;
    let connect = body.validate()?;
    let account =
        integrations::connect(app.services(), &app.config().billing, &caller.org, connect).await?;
    Ok(json_response(StatusCode::CREATED, &account.view()))
}
