//! `api-connect-instagram`: `POST /v1/integrations/instagram/connect` — connects an Instagram professional account's direct messages: `{instagram_account_id, access_token}`
//! (admin). The token is validated by reading the account on Graph when a Graph URL is
//! configured, then stored envelope-encrypted; one account belongs to one org (409).

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::model::Channel;
use switchboard_core::usecases::messaging::{self, ConnectRequest};
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-connect-instagram";

/// Connects the account; 201 with the integration.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let body: ConnectRequest = json_body(req, app.config().max_api_body)?;
    let connect = body.validate(Channel::Instagram)?;
    let account =
        messaging::connect(app.services(), &app.config().billing, &caller.org, connect).await?;
    Ok(json_response(StatusCode::CREATED, &account.view()))
}
