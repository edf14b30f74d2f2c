//! `webhook-email-resend`: Resend's delivery events. Resend signs with Svix (Standard
//! Webhooks): `svix-id`/`svix-timestamp`/`svix-signature` (or their `webhook-` twins),
//! HMAC-SHA256 under the `whsec_` secret (`RESEND_WEBHOOK_SECRET`) over
//! `"<id>.<timestamp>.<raw body>"`, any of several `v1,` signatures, five minutes of
//! tolerance. A verified event is stored under its `svix-id` (a redelivery is
//! acknowledged and not applied twice), queued in its email's group on the `email`
//! queue, and answered 200; `worker-email` applies it.

use http::StatusCode;
use serde_json::json;
use switchboard_core::metrics::{Metric, incr};
use switchboard_core::model::Provider;
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::email::events::{stored_event, valid_event_id};
use switchboard_core::usecases::ingest;
use switchboard_runtime::App;
use switchboard_runtime::http::{
    ApiError, Request, Response, header_str, is_json, json_response, optional_webhook_secret,
    request_id, respond,
};
use switchboard_webhooks::{email_events, standard};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "webhook-email-resend";

/// Handles a Resend delivery.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

/// A Standard Webhooks header under either of its names.
fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    header_str(req, &format!("webhook-{name}")).or_else(|| header_str(req, &format!("svix-{name}")))
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    let limit = app.config().max_webhook_body;
    if req.body().len() > limit {
        return Err(ApiError::too_large(limit));
    }
    // A deployment that does not use Resend has no secret: the route is not there for it
    // (404, not a 5xx that would page someone for every stray request).
    let Some(secret) =
        optional_webhook_secret(&*svc.secrets, SecretName::ResendWebhookSecret).await?
    else {
        return Err(ApiError::not_found("route"));
    };
    let now = svc.clock.now();
    let headers = standard::Headers {
        id: header(req, "id"),
        timestamp: header(req, "timestamp"),
        signature: header(req, "signature"),
    };
    if let Err(why) = standard::verify_signature(
        secret.expose(),
        headers,
        req.body(),
        now.timestamp(),
        standard::DEFAULT_TOLERANCE_SECS,
    ) {
        incr(&*svc.metrics, Metric::SignatureFailures, Some("resend"));
        tracing::warn!(reason = %why, "refused an unsigned, mis-signed or stale Resend delivery");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "the webhook signature is missing, does not match the body, or is too old",
        ));
    }
    if !is_json(req) {
        return Err(ApiError::unsupported_media_type());
    }
    let id = headers.id.unwrap_or_default().to_owned();
    if !valid_event_id(&id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "the webhook id is not an event id",
        ));
    }
    let event = email_events::parse_resend(req.body()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            format!("body is not a Resend event: {e}"),
        )
    })?;
    let payload = String::from_utf8(req.body().to_vec()).map_err(ApiError::invalid_json)?;
    let stored = stored_event(
        Provider::Resend,
        id.clone(),
        &event,
        payload,
        now,
        Some(request_id(req)),
    );
    let summary = ingest::store_and_enqueue(&*svc.store, &*svc.queue, vec![stored]).await?;
    ingest::count_delivery(&*svc.metrics, "resend", &summary);
    tracing::info!(event = %id, kind = ?event.kind, duplicate = summary.duplicates > 0, "Resend event accepted");
    Ok(json_response(
        StatusCode::OK,
        &json!({"received": true, "duplicate": summary.duplicates > 0}),
    ))
}
