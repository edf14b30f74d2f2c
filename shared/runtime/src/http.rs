//! Runtime-agnostic HTTP: the request and response types every HTTP handler takes and
//! returns, request helpers (path and query parameters, JSON bodies with their 413/415/
//! 400 rules), and the one mapping from errors to statuses and JSON bodies.
//!
//! Both adapters (Lambda and the dev server) build an [`http::Request<Bytes>`] with
//! [`PathParams`] and [`RequestId`] extensions, so handlers never see which one ran them.

use std::collections::HashMap;
use std::future::Future;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use switchboard_core::Error;
use tracing::Instrument;

use crate::auth::AuthError;

/// An HTTP request with its whole body.
pub type Request = http::Request<Bytes>;
/// An HTTP response with its whole body.
pub type Response = http::Response<Bytes>;

/// Path parameters matched by the router (`{id}` → `id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(pub HashMap<String, String>);

/// The request id: API Gateway's, or one the dev server made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The request id of a request ("-" if the adapter set none).
pub fn request_id(req: &Request) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| "-".into())
}

/// A path parameter.
pub fn path_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.extensions()
        .get::<PathParams>()
        .and_then(|p| p.0.get(name))
        .map(String::as_str)
}

/// A path parameter parsed as an id: a missing or malformed one is the resource's 404,
/// like an id that names nothing.
pub fn path_id<T, E>(
    req: &Request,
    name: &str,
    resource: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ApiError> {
    path_param(req, name)
        .and_then(|s| parse(s).ok())
        .ok_or_else(|| ApiError::not_found(resource))
}

/// A query parameter (percent-decoded; the first if repeated).
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Every value of a repeatable query parameter (`?tag=a&tag=b`), percent-decoded, in
/// order.
pub fn query_params(req: &Request, name: &str) -> Vec<String> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `limit` and `cursor` of a list request, checked against the caller's org (a
/// cursor from another org's list is a 422).
pub fn page_request(
    req: &Request,
    org: &switchboard_core::ids::OrgId,
) -> Result<switchboard_core::page::PageRequest, ApiError> {
    Ok(switchboard_core::page::PageRequest::parse(
        query_param(req, "limit").as_deref(),
        query_param(req, "cursor").as_deref(),
        &switchboard_core::model::org_scope(org),
    )?)
}

/// A header as text.
pub fn header_str<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// An error answered to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: String,
    /// Human-readable message (never secrets, never internals for 5xx).
    pub message: String,
    /// The offending field, for 422.
    pub field: Option<String>,
    /// Seconds after which a retry may succeed (503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// 400 `invalid_json`.
    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("request body is not valid JSON: {detail}"),
        )
    }

    /// 404 for a route or id that does not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    }

    /// 415.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request body must be JSON (Content-Type: application/json)",
        )
    }

    /// 500 with an opaque body; the cause goes to the log.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred; it has been logged",
        )
    }

    /// Renders the JSON error body.
    pub fn into_response(self, request_id: &str) -> Response {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
        });
        if let Some(field) = &self.field {
            error["field"] = Value::String(field.clone());
        }
        let mut resp = json_response(self.status, &json!({ "error": error }));
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing bearer token",
            ),
            AuthError::Invalid(why) => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", why),
            AuthError::NotAMember(why) => Self::new(StatusCode::FORBIDDEN, "forbidden", why),
            AuthError::KeysUnavailable => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "auth_unavailable",
                    "token signing keys could not be fetched; try again",
                );
                e.retry_after = Some(5);
                e
            }
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use switchboard_core::store::StoreError;
        let code = e.code();
        match e {
            Error::NotFound { resource } => Self::not_found(resource),
            Error::Validation { field, message, .. } => Self {
                field: Some(field),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            },
            Error::Conflict { message, .. } => Self::new(StatusCode::CONFLICT, code, message),
            Error::Forbidden { message } => Self::new(StatusCode::FORBIDDEN, code, message),
            Error::PreconditionFailed { message } => {
                Self::new(StatusCode::PRECONDITION_FAILED, code, message)
            }
            Error::PaymentRequired { message, .. } => {
                Self::new(StatusCode::PAYMENT_REQUIRED, code, message)
            }
            Error::NotConfigured { what } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                format!("{what} is not configured on this deployment"),
            ),
            Error::Provider {
                message, retryable, ..
            } => {
                let mut e = Self::new(StatusCode::BAD_GATEWAY, code, message);
                if retryable {
                    e.retry_after = Some(5);
                }
                e
            }
            Error::Unavailable { message, .. } => {
                let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
                e.retry_after = Some(1);
                e
            }
            Error::Store(StoreError::Throttled) | Error::Store(StoreError::Conflict) => {
                tracing::warn!("store throttled or conflicted; answering 503");
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code,
                    "the service is busy; try again",
                );
                e.retry_after = Some(1);
                e
            }
            other => {
                tracing::error!(error = %other, error.debug = ?other, "internal error");
                // The cause of the opaque 500, for the error report (scrubbed there).
                let _ = NOTED.try_with(|n| n.borrow_mut().cause = Some(other.to_string()));
                Self::internal()
            }
        }
    }
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(bytes))
        .unwrap_or_default()
}

/// A response with no body.
pub fn empty(status: StatusCode) -> Response {
    http::Response::builder()
        .status(status)
        .body(Bytes::new())
        .unwrap_or_default()
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body.into())
        .unwrap_or_default()
}

/// Whether the request declares a JSON body (`application/json`, any `+json`, any
/// parameters).
pub fn is_json(req: &Request) -> bool {
    header_str(req, "content-type")
        .and_then(|ct| ct.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses a JSON request body: 413 when over `limit`, 415 when not declared as JSON,
/// 400 when it does not parse (including an empty body).
pub fn json_body<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, ApiError> {
    if req.body().len() > limit {
        return Err(ApiError::too_large(limit));
    }
    if !is_json(req) {
        return Err(ApiError::unsupported_media_type());
    }
    serde_json::from_slice(req.body()).map_err(|e| {
        if e.is_data() {
            // Valid JSON of the wrong shape (an array, a number…): still the caller's 400.
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("request body has the wrong shape: {e}"),
            )
        } else {
            ApiError::invalid_json(e)
        }
    })
}

/// [`json_body`] for a body that may be left out: an empty body reads as `{}`.
pub fn optional_json_body(req: &Request, limit: usize) -> Result<serde_json::Value, ApiError> {
    if req.body().is_empty() {
        return Ok(serde_json::json!({}));
    }
    json_body(req, limit)
}

/// What the handler learned about the request that its answer and audit entry need.
#[derive(Debug, Default)]
struct Noted {
    /// The authenticated caller, recorded by [`crate::App::caller`] for the audit entry
    /// written when the handler returns.
    caller: Option<crate::auth::Caller>,
    /// The rate-limit check, whose state every answer carries in `RateLimit-*` headers.
    rate: Option<switchboard_core::usecases::rate_limits::Verdict>,
    /// The cause behind an opaque 500, for the error report.
    cause: Option<String>,
}

tokio::task_local! {
    /// What was noted about the request being handled.
    static NOTED: std::cell::RefCell<Noted>;
}

/// Records the request's authenticated caller (outside a request: nothing to do).
pub(crate) fn note_caller(caller: &crate::auth::Caller) {
    let _ = NOTED.try_with(|n| n.borrow_mut().caller = Some(caller.clone()));
}

/// Records the request's rate-limit check (outside a request: nothing to do).
pub(crate) fn note_rate(v: switchboard_core::usecases::rate_limits::Verdict) {
    let _ = NOTED.try_with(|n| n.borrow_mut().rate = Some(v));
}

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the
/// bucket is full again) of a check.
fn rate_headers(resp: &mut Response, v: &switchboard_core::usecases::rate_limits::Verdict) {
    let h = resp.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", v.limit.to_string()),
        ("ratelimit-remaining", v.remaining.to_string()),
        ("ratelimit-reset", v.reset_secs.to_string()),
    ] {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            h.insert(name, value);
        }
    }
}

/// Which requests of a route are appended to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// Changes only: every `/v1` method but reads (what [`respond`] does).
    Changes,
    /// Reads too: for the few reads that hand out personal data in bulk (a contact's
    /// export), which the audit log must show like a change ([`respond_audited`]).
    Always,
}

/// Whether a request is audited: every `/v1` method but reads, and reads too on routes
/// that opt in.
fn audited(req: &Request, audit: Audit) -> bool {
    let read = matches!(
        *req.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    );
    (!read || (audit == Audit::Always && *req.method() == http::Method::GET))
        && req.uri().path().starts_with("/v1/")
}

/// Runs a handler body inside a span named after the function, and turns its error into
/// the JSON error response. 5xx causes are logged by the error conversion; the body
/// stays opaque. A 5xx is reported to error tracking, and each request is one (sampled)
/// trace (see [`crate::error_reporting`]). A change made through the API by an
/// authenticated caller — whatever its outcome — is appended to the org's audit log.
pub async fn respond<Fut>(
    app: &crate::App,
    function: &'static str,
    req: &Request,
    fut: Fut,
) -> Response
where
    Fut: Future<Output = Result<Response, ApiError>>,
{
    respond_with(app, function, req, Audit::Changes, fut).await
}

/// [`respond`] for a read that is audited like a change (a contact's export): the
/// audit log shows who took a person's data, when, and how it ended.
pub async fn respond_audited<Fut>(
    app: &crate::App,
    function: &'static str,
    req: &Request,
    fut: Fut,
) -> Response
where
    Fut: Future<Output = Result<Response, ApiError>>,
{
    respond_with(app, function, req, Audit::Always, fut).await
}

async fn respond_with<Fut>(
    app: &crate::App,
    function: &'static str,
    req: &Request,
    audit_reads: Audit,
    fut: Fut,
) -> Response
where
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let rid = request_id(req);
    let span = tracing::info_span!(
        "request",
        function,
        request_id = %rid,
        // An API request or webhook delivery starts the work it names: its id follows
        // that work through the queues (see `telemetry`).
        correlation_id = %rid,
        method = %req.method(),
        path = %req.uri().path(),
        org_id = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    // On a Sentry hub of its own, so its trace and tags stay off other requests' events.
    let handled = async move {
        let started = std::time::Instant::now();
        let trace = crate::error_reporting::start_trace(function, "http.server");
        let mut code = None;
        let (mut resp, noted) = NOTED
            .scope(std::cell::RefCell::new(Noted::default()), async {
                let resp = match fut.await {
                    Ok(resp) => resp,
                    Err(e) => {
                        code = Some(e.code.clone());
                        e.into_response(&rid)
                    }
                };
                (resp, NOTED.with(|n| n.take()))
            })
            .await;
        let caller = noted.caller;
        if let Some(v) = &noted.rate {
            rate_headers(&mut resp, v);
        }
        let status = resp.status().as_u16();
        tracing::Span::current().record("status", status);
        if status >= 500 {
            tracing::error!(
                status,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "request failed"
            );
            crate::error_reporting::report_http_failure(&crate::error_reporting::HttpFailure {
                function,
                method: req.method().as_str(),
                status,
                code: code.as_deref(),
                request_id: &rid,
                cause: noted.cause.as_deref(),
            });
        } else {
            tracing::info!(
                status,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "request done"
            );
        }
        if let Some(caller) = caller
            && audited(req, audit_reads)
        {
            audit(app, function, req, &rid, &caller, status).await;
        }
        trace.finish_http(status);
        resp
    }
    .instrument(span);
    crate::error_reporting::isolated(handled).await
}

async fn audit(
    app: &crate::App,
    function: &str,
    req: &Request,
    request_id: &str,
    caller: &crate::auth::Caller,
    status: u16,
) {
    use switchboard_core::usecases::audit::{self, AuditEntry};
    let svc = app.services();
    let entry = AuditEntry {
        org_id: caller.org.clone(),
        id: uuid::Uuid::now_v7().to_string(),
        at: svc.clock.now(),
        actor: caller.user.clone().unwrap_or_else(|| "unknown".into()),
        role: caller.role.to_string(),
        action: function.strip_prefix("api-").unwrap_or(function).to_owned(),
        resource: format!("{} {}", req.method(), req.uri().path()),
        request_id: request_id.to_owned(),
        outcome: AuditEntry::outcome_of(status).to_owned(),
        status,
    };
    // The change has happened; a lost audit entry is an operator's alarm, not the
    // caller's error.
    if let Err(e) = audit::append(svc, &entry).await {
        tracing::error!(error = %e, action = %entry.action, "could not append to the audit log");
    }
}

/// The secret of a webhook a deployment may not use at all: `None` when it is not set
/// (the caller answers 404 and logs it), 503 when the secret store fails.
pub async fn optional_webhook_secret(
    secrets: &dyn switchboard_core::secrets::Secrets,
    name: switchboard_core::secrets::SecretName,
) -> Result<Option<switchboard_core::secrets::SecretString>, ApiError> {
    let secret = secrets.get(name).await.map_err(Error::from)?;
    if secret.is_none() {
        tracing::warn!(
            secret = name.as_str(),
            "a delivery arrived for a provider this deployment has no secret for; answering 404"
        );
    }
    Ok(secret)
}

/// The secret a webhook verifies with: 503 `not_configured` naming it when it is not set
/// (the provider retries once it is), 503 when the secret store fails.
pub async fn webhook_secret(
    secrets: &dyn switchboard_core::secrets::Secrets,
    name: switchboard_core::secrets::SecretName,
) -> Result<switchboard_core::secrets::SecretString, ApiError> {
    secrets
        .get(name)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| {
            Error::NotConfigured {
                what: name.as_str().to_owned(),
            }
            .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ct: Option<&str>, body: &str) -> Request {
        let mut b = http::Request::builder().uri("/x?limit=5&cursor=a%2Bb&limit=9");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(Bytes::from(body.to_owned())).unwrap()
    }

    #[test]
    fn optional_bodies_and_path_ids() {
        assert_eq!(
            optional_json_body(&req(None, ""), 100).unwrap(),
            serde_json::json!({})
        );
        assert_eq!(
            optional_json_body(&req(Some("application/json"), r#"{"a":1}"#), 100).unwrap()["a"],
            1
        );
        assert_eq!(
            optional_json_body(&req(Some("text/plain"), "hi"), 100)
                .unwrap_err()
                .status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a body that is there is still checked"
        );
        let mut r = req(None, "");
        r.extensions_mut().insert(PathParams(
            [("id".to_owned(), "cv_no".to_owned())]
                .into_iter()
                .collect(),
        ));
        fn parse(s: &str) -> Result<String, ()> {
            s.strip_prefix("cv_")
                .filter(|rest| rest.len() == 4)
                .map(str::to_owned)
                .ok_or(())
        }
        let e = path_id(&r, "id", "conversation", parse).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "malformed"
        );
        assert_eq!(
            path_id(&r, "sid", "suggestion", parse).unwrap_err().status,
            StatusCode::NOT_FOUND,
            "missing"
        );
        r.extensions_mut().insert(PathParams(
            [("id".to_owned(), "cv_abcd".to_owned())]
                .into_iter()
                .collect(),
        ));
        assert_eq!(path_id(&r, "id", "conversation", parse).unwrap(), "abcd");
    }

    #[test]
    fn json_body_rules() {
        #[derive(serde::Deserialize, Debug)]
        struct B {
            #[allow(dead_code)]
            a: i32,
        }
        assert!(
            json_body::<B>(
                &req(Some("application/json; charset=utf-8"), r#"{"a":1}"#),
                100
            )
            .is_ok()
        );
        assert!(json_body::<B>(&req(Some("application/vnd.api+json"), r#"{"a":1}"#), 100).is_ok());
        assert_eq!(
            json_body::<B>(&req(Some("text/plain"), r#"{"a":1}"#), 100)
                .unwrap_err()
                .status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            json_body::<B>(&req(None, r#"{"a":1}"#), 100)
                .unwrap_err()
                .status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            json_body::<B>(&req(Some("application/json"), "{"), 100)
                .unwrap_err()
                .code,
            "invalid_json"
        );
        assert_eq!(
            json_body::<B>(&req(Some("application/json"), ""), 100)
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            json_body::<B>(&req(Some("application/json"), "\"text\""), 100)
                .unwrap_err()
                .code,
            "invalid_body"
        );
        assert_eq!(
            json_body::<B>(&req(Some("application/json"), &"x".repeat(101)), 100)
                .unwrap_err()
                .status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn reads_are_audited_only_where_a_route_opts_in() {
        let r = |method: &str, path: &str| {
            http::Request::builder()
                .method(method)
                .uri(path)
                .body(Bytes::new())
                .unwrap()
        };
        assert!(audited(&r("DELETE", "/v1/contacts/ct_1"), Audit::Changes));
        assert!(!audited(&r("GET", "/v1/contacts/ct_1"), Audit::Changes));
        assert!(audited(
            &r("GET", "/v1/contacts/ct_1/export"),
            Audit::Always
        ));
        assert!(!audited(
            &r("OPTIONS", "/v1/contacts/ct_1/export"),
            Audit::Always
        ));
        assert!(!audited(&r("POST", "/webhooks/whatsapp"), Audit::Always));
    }

    #[test]
    fn query_params_decode_and_take_the_first() {
        let r = req(None, "");
        assert_eq!(query_param(&r, "limit").as_deref(), Some("5"));
        assert_eq!(query_param(&r, "cursor").as_deref(), Some("a+b"));
        assert_eq!(query_param(&r, "nope"), None);
    }

    #[test]
    fn error_bodies() {
        let e: ApiError =
            Error::validation("text.body", "too_long", "text.body is too long").into();
        let resp = e.into_response("req-1");
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(v["error"]["field"], "text.body");
        assert_eq!(v["error"]["request_id"], "req-1");
        let e: ApiError = Error::Internal("database password is hunter2".into()).into();
        let resp = e.into_response("r");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!String::from_utf8_lossy(resp.body()).contains("hunter2"));
    }
}
