//! `api-embedded-signup`: `POST /v1/integrations/whatsapp/embedded-signup` — connects a
//! WhatsApp number through Meta's embedded signup (admin). The frontend runs Meta's
//! signup dialog and posts the `code` it returns with the chosen `waba_id` and
//! `phone_number_id` (and the number's `pin` to register it). Switchboard exchanges the
//! code for a business token, subscribes its app to the business account, registers the
//! number, reads it, and stores the token encrypted; a failing step stores nothing.

use http::StatusCode;
use switchboard_core::ids::Role;
use switchboard_core::usecases::accounts::{self, SignupRequest};
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-embedded-signup";

/// Runs the signup; 201 with the integration.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let body: SignupRequest = json_body(req, app.config().max_api_body)?;
    let signup = body.validate()?;
    let account =
        accounts::embedded_signup(app.services(), &app.config().billing, &caller.org, signup)
            .await?;
    Ok(json_response(StatusCode::CREATED, &account.view()))
}
