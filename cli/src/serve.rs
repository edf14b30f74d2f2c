//! The dev server: every HTTP handler as an axum route, every queue consumer as an
//! in-process poller, every scheduled job as a ticker — on the embedded backend by
//! default, or on AWS (or moto) with `--backend aws`.
//!
//! Shutdown (SIGINT/SIGTERM or [`Running::shutdown`]) stops accepting connections,
//! lets in-flight requests and the batch each poller holds finish, and leaves queued
//! work for the next start.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{RawPathParams, State};
use axum::routing::{MethodFilter, MethodRouter, on};
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use switchboard_core::secrets::SecretName;
use switchboard_runtime::App;
use switchboard_runtime::http::{ApiError, PathParams, RequestId};
use switchboard_runtime::local::{HttpFn, run_poller, run_ticker};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::routes::{consumers, http_routes, schedules};

/// A running dev server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops gracefully and waits until everything has finished.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.wait().await;
    }

    /// Waits until the server has stopped (after a signal or [`Running::shutdown`]).
    pub async fn wait(self) {
        match self.server.await {
            Ok(Err(e)) => tracing::error!(error = %e, "server error"),
            Err(e) => tracing::error!(error = %e, "server task failed"),
            Ok(Ok(())) => {}
        }
        let _ = self.shutdown.send(true);
        for w in self.workers {
            let _ = w.await;
        }
        tracing::info!("stopped");
    }

    /// A handle that triggers shutdown (for signal handlers).
    pub fn trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

fn filter(method: &http::Method) -> MethodFilter {
    match *method {
        http::Method::GET => MethodFilter::GET,
        http::Method::POST => MethodFilter::POST,
        http::Method::DELETE => MethodFilter::DELETE,
        http::Method::PUT => MethodFilter::PUT,
        http::Method::PATCH => MethodFilter::PATCH,
        _ => MethodFilter::OPTIONS,
    }
}

type AxumFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = axum::response::Response> + Send>>;

/// Adapts a handler to axum: reads the body (413 past the largest limit any route
/// accepts: webhooks' or contact imports'), attaches path parameters and a request id, and converts back.
fn endpoint(
    handler: HttpFn,
) -> impl Fn(State<App>, RawPathParams, axum::extract::Request) -> AxumFuture
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(app): State<App>, params: RawPathParams, req: axum::extract::Request| {
        let handler = handler.clone();
        let params: std::collections::HashMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Box::pin(async move {
            let request_id = uuid::Uuid::now_v7().to_string();
            let limit = app
                .config()
                .max_webhook_body
                .max(app.config().max_import_body);
            let (parts, body) = req.into_parts();
            let bytes: Bytes = match axum::body::to_bytes(body, limit).await {
                Ok(b) => b,
                Err(_) => {
                    return to_axum(
                        ApiError::too_large(limit).into_response(&request_id),
                        &request_id,
                    );
                }
            };
            let mut request = http::Request::from_parts(parts, bytes);
            request.extensions_mut().insert(PathParams(params));
            request
                .extensions_mut()
                .insert(RequestId(request_id.clone()));
            let resp = handler(app, request).await;
            to_axum(resp, &request_id)
        })
    }
}

fn to_axum(resp: switchboard_runtime::Response, request_id: &str) -> axum::response::Response {
    let (mut parts, body) = resp.into_parts();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        parts.headers.insert("x-request-id", v);
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

/// Builds the router of every route.
pub fn router(app: App) -> Router {
    // Group methods per path so one path can serve several functions.
    let mut by_path: BTreeMap<&'static str, Vec<(http::Method, HttpFn)>> = BTreeMap::new();
    for r in http_routes() {
        by_path
            .entry(r.path)
            .or_default()
            .push((r.method, r.handler));
    }
    let mut router = Router::new();
    for (path, methods) in by_path {
        let mut mr: Option<MethodRouter<App>> = None;
        for (method, handler) in methods {
            let h = endpoint(handler);
            mr = Some(match mr {
                None => on(filter(&method), h),
                Some(existing) => existing.on(filter(&method), h),
            });
        }
        if let Some(mr) = mr {
            router = router.route(path, mr);
        }
    }
    router
        .route(
            switchboard_runtime::realtime::PATH,
            axum::routing::get(crate::realtime::upgrade),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/metrics", axum::routing::get(metrics))
        .route(
            "/objects/{*key}",
            axum::routing::get(object_get)
                .put(object_put)
                .layer(axum::extract::DefaultBodyLimit::max(OBJECT_BODY_LIMIT)),
        )
        .fallback(|| async {
            let rid = uuid::Uuid::now_v7().to_string();
            to_axum(
                ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
                    .into_response(&rid),
                &rid,
            )
        })
        .layer(axum::middleware::from_fn_with_state(app.clone(), cors))
        .with_state(app)
}

/// The largest body a signed upload URL takes on the dev server: WhatsApp's largest
/// media (documents, 100 MB) and some room.
const OBJECT_BODY_LIMIT: usize = 101 * 1024 * 1024;

/// The query of a signed object URL.
#[derive(serde::Deserialize)]
struct Signed {
    method: String,
    expires: i64,
    sig: String,
}

fn object_refused(status: StatusCode, code: &str, message: &str) -> axum::response::Response {
    let rid = uuid::Uuid::now_v7().to_string();
    to_axum(
        ApiError::new(status, code, message).into_response(&rid),
        &rid,
    )
}

/// `GET /objects/<key>?method=GET&expires=…&sig=…`: the embedded backend's stand-in for
/// a presigned S3 download.
async fn object_get(
    State(app): State<App>,
    axum::extract::Path(key): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<Signed>,
) -> axum::response::Response {
    let objects = &app.services().objects;
    if q.method != "GET"
        || !objects.verify_signed(
            "GET",
            &key,
            q.expires,
            "",
            &q.sig,
            app.services().clock.now(),
        )
    {
        return object_refused(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "the URL is not signed for this, or has expired",
        );
    }
    match objects.get(&key).await {
        Ok(Some(o)) => {
            let mut resp = axum::response::Response::new(axum::body::Body::from(o.body));
            if let Ok(v) = HeaderValue::from_str(&o.content_type) {
                resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
            }
            resp
        }
        Ok(None) => object_refused(StatusCode::NOT_FOUND, "not_found", "no such object"),
        Err(e) => {
            tracing::warn!(error = %e, "object storage failed");
            object_refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "object storage is unavailable",
            )
        }
    }
}

/// `PUT /objects/<key>?method=PUT&expires=…&sig=…` with the signed content type: the
/// embedded backend's stand-in for a presigned S3 upload.
async fn object_put(
    State(app): State<App>,
    axum::extract::Path(key): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<Signed>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let objects = &app.services().objects;
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if q.method != "PUT"
        || !objects.verify_signed(
            "PUT",
            &key,
            q.expires,
            content_type,
            &q.sig,
            app.services().clock.now(),
        )
    {
        return object_refused(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "the URL is not signed for this, or has expired",
        );
    }
    match objects.put(&key, body.to_vec(), content_type).await {
        Ok(()) => axum::response::Response::new(axum::body::Body::empty()),
        Err(e) => {
            tracing::warn!(error = %e, "object storage failed");
            object_refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "object storage is unavailable",
            )
        }
    }
}

/// `GET /metrics`: what the process has counted since it started, in the Prometheus
/// text format (the same counters a Lambda publishes as CloudWatch metrics).
async fn metrics(State(app): State<App>) -> axum::response::Response {
    let mut resp =
        axum::response::Response::new(axum::body::Body::from(app.metrics().prometheus()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Whether `origin` matches one of `allowed`: exactly, or `scheme://host:*` for any port
/// of that host.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|pattern| {
        if pattern == "*" || pattern == origin {
            return true;
        }
        match pattern.strip_suffix(":*") {
            Some(base) => {
                origin == base
                    || origin
                        .strip_prefix(base)
                        .and_then(|rest| rest.strip_prefix(':'))
                        .is_some_and(|port| {
                            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                        })
            }
            None => false,
        }
    })
}

/// CORS for a frontend served from another origin (a dev server on another port): a
/// preflight from an allowed origin gets its answer here; other requests from it get the
/// headers a browser needs to read the response. Requests from other origins get no
/// CORS headers, so the browser keeps their responses from the page.
async fn cors(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let origin = req
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let allowed = origin
        .as_deref()
        .is_some_and(|o| origin_allowed(&app.config().cors_origins, o));
    let preflight = req.method() == http::Method::OPTIONS
        && req
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        let status = if allowed {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::FORBIDDEN
        };
        let mut r = axum::response::Response::new(axum::body::Body::empty());
        *r.status_mut() = status;
        if allowed {
            let h = r.headers_mut();
            h.insert(
                http::header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
            h.insert(
                http::header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, idempotency-key, if-match"),
            );
            h.insert(
                http::header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        r
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.append(http::header::VARY, HeaderValue::from_static("Origin"));
    if allowed && let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("idempotent-replayed, retry-after, x-request-id, etag"),
        );
    }
    resp
}

/// Binds `addr` and starts the server, pollers and tickers.
pub async fn start(app: App, addr: SocketAddr) -> std::io::Result<Running> {
    start_with(app, addr, true).await
}

/// Like [`start`]; without `workers` only the HTTP routes run (tests that drive the
/// consumers by hand).
pub async fn start_with(app: App, addr: SocketAddr, workers_on: bool) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);

    let mut workers = Vec::new();
    let (consumers, schedules) = if workers_on {
        (consumers(), schedules(app.config()))
    } else {
        (Vec::new(), Vec::new())
    };
    for c in consumers {
        tracing::info!(queue = %c.queue, function = c.function, "starting consumer");
        workers.push(tokio::spawn(run_poller(
            app.clone(),
            c.queue,
            c.handler,
            rx.clone(),
        )));
    }
    for s in schedules {
        tracing::info!(
            function = s.function,
            every_secs = s.every.as_secs(),
            "starting schedule"
        );
        workers.push(tokio::spawn(run_ticker(
            app.clone(),
            s.function,
            s.every,
            s.handler,
            rx.clone(),
        )));
    }

    let mut stop = rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(app))
            .with_graceful_shutdown(async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await
    });
    Ok(Running {
        addr,
        shutdown: tx,
        server,
        workers,
    })
}

/// Logs what is configured, and what is not (by name only, never values).
pub async fn log_startup(app: &App, addr: SocketAddr) {
    let cfg = app.config();
    tracing::info!(
        addr = %addr,
        backend = ?cfg.backend,
        data_dir = %cfg.data_dir.display(),
        routes = http_routes().len(),
        consumers = consumers().len(),
        "switchboard dev server listening"
    );
    for name in SecretName::ALL {
        match app.services().secrets.get(name).await {
            Ok(Some(_)) => tracing::info!(secret = name.as_str(), "configured"),
            Ok(None) => tracing::warn!(
                secret = name.as_str(),
                "not configured: endpoints that need it answer 503 not_configured"
            ),
            Err(e) => tracing::warn!(secret = name.as_str(), error = %e, "could not read"),
        }
    }
    match &cfg.whatsapp_graph_url {
        Some(url) => tracing::info!(graph = %url, "WhatsApp Graph API configured"),
        None => {
            tracing::info!("WHATSAPP_GRAPH_URL not set: connect does not validate tokens with Meta")
        }
    }
}
