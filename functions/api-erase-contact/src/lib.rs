//! `api-erase-contact`: `DELETE /v1/contacts/{id}` — erases a person: the contact and
//! its look-ups, conversations, messages and their content, notes, pending sends (failed,
//! so the sender skips them) and the raw webhook events naming them. The request runs
//! the first chunk of the erasure: a short history is gone before the answer (204); a
//! long one is answered 202 with the job (`Location: /v1/contacts/{id}/erasure` polls
//! it) and `cron-erasure` finishes it. Idempotent: a repeat answers the running job, or
//! 204 once the person is gone. Admins only.

use http::{HeaderValue, StatusCode, header};
use switchboard_core::ids::{ContactId, Role};
use switchboard_core::usecases::personal_data::erase::{self, Budget, CHUNK_ITEMS, Requested};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, empty, json_response, path_param, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-erase-contact";

/// Erases a contact (admin or above).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let id = path_param(req, "id")
        .and_then(|s| ContactId::parse(s).ok())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let requested = erase::request(
        app.services(),
        &caller.org,
        &id,
        caller.user.as_deref(),
        Budget::one_chunk(CHUNK_ITEMS),
    )
    .await?;
    Ok(match requested {
        Requested::Done(_) => empty(StatusCode::NO_CONTENT),
        Requested::Continuing(job) => {
            let mut resp = json_response(StatusCode::ACCEPTED, &job.view());
            if let Ok(v) = HeaderValue::from_str(&format!("/v1/contacts/{id}/erasure")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
    })
}
