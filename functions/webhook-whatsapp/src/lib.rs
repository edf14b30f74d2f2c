//! `webhook-whatsapp`: the WhatsApp Cloud API webhook.
//!
//! - `GET /webhooks/whatsapp`: Meta's subscription check. `hub.mode=subscribe` with the
//!   configured verify token echoes `hub.challenge` as text; anything else is 403.
//! - `POST /webhooks/whatsapp`: verifies `X-Hub-Signature-256` on the exact bytes
//!   received, splits the delivery into one event per change, stores each under its
//!   idempotency key, queues it, and answers 200. Slow work happens in `worker-inbound`.
//!
//! A deployment without the app secret answers 503 `not_configured`: it never accepts
//! input it cannot authenticate.

use http::{Method, StatusCode};
use serde_json::json;
use switchboard_core::metrics::{Metric, incr};
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::ingest;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, is_json, json_response, query_param, request_id,
    respond, text,
};
use switchboard_webhooks::meta;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "webhook-whatsapp";

/// Handles both methods of the webhook URL.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    match *req.method() {
        Method::GET => verify(app, req).await,
        Method::POST => receive(app, req).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use GET or POST",
        )),
    }
}

fn not_configured(what: &str) -> ApiError {
    ApiError::from(switchboard_core::Error::NotConfigured {
        what: what.to_owned(),
    })
}

async fn verify(app: &App, req: &Request) -> Result<Response, ApiError> {
    let Some(expected) = app
        .services()
        .secrets
        .get(SecretName::WhatsAppVerifyToken)
        .await
        .map_err(switchboard_core::Error::from)?
    else {
        return Err(not_configured("WHATSAPP_VERIFY_TOKEN"));
    };
    let mode = query_param(req, "hub.mode");
    let token = query_param(req, "hub.verify_token").unwrap_or_default();
    let challenge = query_param(req, "hub.challenge").unwrap_or_default();
    let token_ok =
        switchboard_webhooks::constant_time_eq(token.as_bytes(), expected.expose().as_bytes());
    if mode.as_deref() == Some("subscribe") && token_ok && !challenge.is_empty() {
        tracing::info!("webhook subscription verified");
        Ok(text(StatusCode::OK, challenge))
    } else {
        tracing::warn!(mode = ?mode, "webhook verification refused");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "verify token does not match",
        ))
    }
}

async fn receive(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    let limit = app.config().max_webhook_body;
    if req.body().len() > limit {
        return Err(ApiError::too_large(limit));
    }
    let Some(secret) = svc
        .secrets
        .get(SecretName::WhatsAppAppSecret)
        .await
        .map_err(switchboard_core::Error::from)?
    else {
        return Err(not_configured("WHATSAPP_APP_SECRET"));
    };
    if let Err(why) = meta::verify_signature(
        secret.expose().as_bytes(),
        header_str(req, meta::SIGNATURE_HEADER),
        req.body(),
    ) {
        incr(&*svc.metrics, Metric::SignatureFailures, Some("whatsapp"));
        tracing::warn!(reason = %why, bytes = req.body().len(), "refused an unsigned or mis-signed delivery");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "X-Hub-Signature-256 is missing or does not match the body",
        ));
    }
    if !is_json(req) {
        return Err(ApiError::unsupported_media_type());
    }
    let changes = meta::split(req.body()).map_err(|e| match e {
        meta::PayloadError::NotJson(detail) => ApiError::invalid_json(detail),
        meta::PayloadError::NotEnvelope(detail) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            format!("body is not a WhatsApp webhook envelope: {detail}"),
        ),
    })?;
    let summary = ingest::accept_whatsapp(svc, changes, Some(&request_id(req))).await?;
    ingest::count_delivery(&*svc.metrics, "whatsapp", &summary);
    tracing::info!(
        events = summary.events,
        stored = summary.stored,
        duplicates = summary.duplicates,
        enqueued = summary.enqueued,
        "delivery accepted"
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"received": summary.events, "duplicates": summary.duplicates}),
    ))
}
