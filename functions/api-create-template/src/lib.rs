//! `api-create-template`: `POST /v1/templates` — validates a template against Meta's rules
//! (name, language, category, header/body/footer/buttons, body ≤ 1,024 characters,
//! variables `{{1}}`.. without gaps with an example each), submits it to the business
//! account (`POST /{waba_id}/message_templates`) and answers 201 with it as Meta took it
//! (usually `PENDING`; the status webhook follows) (admin).

use http::StatusCode;
use serde_json::Value;
use switchboard_core::ids::Role;
use switchboard_core::usecases::templates;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, Request, Response, json_body, json_response, respond};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-template";

/// Submits the template; 201 with it.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let body: Value = json_body(req, app.config().max_api_body)?;
    let (submission, integration) = templates::validate_new(&body)?;
    let created = templates::create(
        app.services(),
        &caller.org,
        &submission,
        integration.as_ref(),
    )
    .await?;
    Ok(json_response(StatusCode::CREATED, &created))
}
