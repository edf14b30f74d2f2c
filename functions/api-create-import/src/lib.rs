//! `api-create-import`: `POST /v1/contacts/imports` — an admin uploads a CSV file of
//! contacts (`Content-Type: text/csv`, UTF-8, a header row with `phone` and optionally
//! `name`, `email`, `tags`, `status`, `cf_<key>`). The file's shape is checked (422
//! naming the column or `file`), it is stored in chunks, its first chunk is queued for
//! `worker-import`, and the answer is 202 with the import and its `Location`; progress is
//! read at `GET /v1/contacts/imports/{id}`. Rows are validated by the worker, so one bad
//! row never refuses the file. An `Idempotency-Key` makes a retried upload return the
//! same import.

use http::{HeaderValue, StatusCode, header};
use switchboard_core::ids::Role;
use switchboard_core::usecases::imports::{ContactImport, accept};
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, json_response, request_id, respond,
};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "api-create-import";

/// Accepts a contact import (admin or above).
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let caller = app.caller(req, Role::Admin).await?;
    let limit = app.config().max_import_body;
    if req.body().len() > limit {
        return Err(ApiError::too_large(limit));
    }
    if !is_csv(req) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request body must be a UTF-8 CSV file (Content-Type: text/csv)",
        ));
    }
    let accepted = accept::accept(
        app.services(),
        accept::Upload {
            org: &caller.org,
            body: req.body(),
            idempotency_key: header_str(req, "idempotency-key"),
            uploader: caller.user.as_deref(),
            correlation_id: Some(&request_id(req)),
        },
    )
    .await?;
    let mut resp = json_response(StatusCode::ACCEPTED, &accepted.import.view());
    if let Ok(location) = HeaderValue::from_str(&ContactImport::location(&accepted.import.id)) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    if accepted.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Whether the body is declared CSV (`text/csv`, or `application/csv` as some tools
/// send it) in UTF-8: a `charset` other than UTF-8 is refused rather than misread.
fn is_csv(req: &Request) -> bool {
    let Some(ct) = header_str(req, "content-type") else {
        return false;
    };
    let mut parts = ct.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset_ok = parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            let v = v.trim().trim_matches('"').to_ascii_lowercase();
            v == "utf-8" || v == "utf8" || v == "us-ascii"
        }
        _ => true,
    });
    (mime == "text/csv" || mime == "application/csv") && charset_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ct: &str) -> Request {
        http::Request::builder()
            .header("content-type", ct)
            .body(bytes::Bytes::new())
            .unwrap()
    }

    #[test]
    fn csv_content_types() {
        for ok in [
            "text/csv",
            "Text/CSV; charset=UTF-8",
            "application/csv",
            "text/csv; header=present",
        ] {
            assert!(is_csv(&req(ok)), "{ok}");
        }
        for bad in [
            "application/json",
            "text/plain",
            "text/csv; charset=latin1",
            "multipart/form-data; boundary=x",
        ] {
            assert!(!is_csv(&req(bad)), "{bad}");
        }
    }
}
