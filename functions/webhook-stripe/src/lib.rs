//! `webhook-stripe`: Stripe's webhook. Verifies `Stripe-Signature` (HMAC-SHA256 over
//! `"<t>.<raw body>"`, any of several `v1` during secret rotation, timestamp within the
//! tolerance) on the exact bytes received, stores the event under its `event.id` (a
//! redelivery is acknowledged and not processed twice), queues it grouped by customer,
//! and answers 200. Test-mode events reach only a test-mode deployment, and the reverse.

use http::StatusCode;
use serde_json::json;
use switchboard_core::metrics::{Metric, incr};
use switchboard_core::model::{EventStatus, Provider, WebhookEvent};
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::ingest;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, is_json, json_response, request_id, respond,
    webhook_secret,
};
use switchboard_webhooks::stripe;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "webhook-stripe";

/// Handles a Stripe delivery.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

fn valid_event_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    let cfg = &app.config().billing;
    let limit = app.config().max_webhook_body;
    if req.body().len() > limit {
        return Err(ApiError::too_large(limit));
    }
    let secret = webhook_secret(&*svc.secrets, SecretName::StripeWebhookSecret).await?;
    let now = svc.clock.now();
    if let Err(why) = stripe::verify_signature(
        secret.expose().as_bytes(),
        header_str(req, stripe::SIGNATURE_HEADER),
        req.body(),
        now.timestamp(),
        cfg.tolerance_secs,
    ) {
        incr(&*svc.metrics, Metric::SignatureFailures, Some("stripe"));
        tracing::warn!(reason = %why, "refused an unsigned, mis-signed or stale Stripe delivery");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "Stripe-Signature is missing, does not match the body, or is too old",
        ));
    }
    if !is_json(req) {
        return Err(ApiError::unsupported_media_type());
    }
    let event = stripe::Event::parse(req.body()).map_err(|e| {
        if e.is_data() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                format!("body is not a Stripe event: {e}"),
            )
        } else {
            ApiError::invalid_json(e)
        }
    })?;
    if !valid_event_id(&event.id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "event id is not a Stripe id",
        ));
    }
    if event.livemode != cfg.livemode {
        tracing::warn!(event = %event.id, livemode = event.livemode, "refused an event of the other mode");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "livemode_mismatch",
            if cfg.livemode {
                "this deployment takes live-mode events only"
            } else {
                "this deployment takes test-mode events only"
            },
        ));
    }
    let payload = String::from_utf8(req.body().to_vec()).map_err(ApiError::invalid_json)?;
    let group_id = match event.customer() {
        Some(c) => format!("stripe:{c}"),
        None => format!("stripe:{}", event.id),
    };
    let stored = WebhookEvent {
        provider: Provider::Stripe,
        key: event.id.clone(),
        kind: event.kind.clone(),
        source_id: String::new(),
        phone_number_id: None,
        group_id,
        payload,
        status: EventStatus::Pending,
        org_id: None,
        note: None,
        received_at: now,
        updated_at: now,
        correlation_id: Some(request_id(req)),
        expires_at: None,
    };
    let summary = ingest::store_and_enqueue(&*svc.store, &*svc.queue, vec![stored]).await?;
    ingest::count_delivery(&*svc.metrics, "stripe", &summary);
    tracing::info!(event = %event.id, kind = %event.kind, duplicate = summary.duplicates > 0, "Stripe event accepted");
    Ok(json_response(
        StatusCode::OK,
        &json!({"received": true, "duplicate": summary.duplicates > 0}),
    ))
}
