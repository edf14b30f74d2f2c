//! `api-connect-kapso`: `POST /v1/integrations/kapso/connect` — connects a WhatsApp
//! number through Kapso to the caller's org (admin or owner). The Kapso API key is
//! validated by reading the number through Kapso when a Kapso URL is configured, then
//! stored envelope-encrypted like a Meta access token; it is never returned or logged.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::integrations::{self, KapsoConnectRequest};
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-connect-kapso";

/// Connects a number; 201 with the integration, 409 if the number is connected already.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let body: KapsoConnectRequest = json_body(req, app.config().max_api_body)?;
    let connect = body.validate()?;
    let account =
        integrations::connect(app.services(), &app.config().billing, &caller.org, connect).await?;
    Ok(json_response(StatusCode::CREATED, &account.view()))
}
