//! `webhook-email-sendgrid`: SendGrid's signed Event Webhook. SendGrid signs
//! `timestamp || raw body` with ECDSA P-256 (`X-Twilio-Email-Event-Webhook-Signature`,
//! `-Timestamp`); the verification key is `SENDGRID_WEBHOOK_PUBLIC_KEY` (base64 DER, as
//! SendGrid shows it). A delivery is a JSON array of events: each is stored under its
//! `sg_event_id` (a redelivered batch stores nothing twice), queued in its email's group
//! on the `email` queue, and the whole answered 200; `worker-email` applies them.

use http::StatusCode;
use serde_json::json;
use serde_json::value::RawValue;
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
use switchboard_webhooks::{email_events, sendgrid};

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "webhook-email-sendgrid";

/// Most events one delivery may carry (SendGrid batches up to a few thousand).
const MAX_EVENTS: usize = 10_000;

/// Handles a SendGrid delivery.
pub async fn handle(app: &App, req: Request) -> Response {
    respond(app, FUNCTION, &req, run(app, &req)).await
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", message)
}

async fn run(app: &App, req: &Request) -> Result<Response, ApiError> {
    let svc = app.services();
    let limit = app.config().max_webhook_body;
    if req.body().len() > limit {
        return Err(ApiError::too_large(limit));
    }
    // A deployment that does not use SendGrid has no key: the route is not there for it
    // (404, not a 5xx that would page someone for every stray request).
    let Some(key_text) =
        optional_webhook_secret(&*svc.secrets, SecretName::SendgridWebhookPublicKey).await?
    else {
        return Err(ApiError::not_found("route"));
    };
    let Ok(key) = sendgrid::PublicKey::from_base64(key_text.expose()) else {
        // A deployment problem, not the caller's: 503 so SendGrid retries once it is fixed.
        return Err(switchboard_core::Error::NotConfigured {
            what: format!("a valid {}", SecretName::SendgridWebhookPublicKey.as_str()),
        }
        .into());
    };
    let now = svc.clock.now();
    if let Err(why) = sendgrid::verify_signature(
        &key,
        sendgrid::Headers {
            signature: header_str(req, sendgrid::SIGNATURE_HEADER),
            timestamp: header_str(req, sendgrid::TIMESTAMP_HEADER),
        },
        req.body(),
        now.timestamp(),
        sendgrid::DEFAULT_TOLERANCE_SECS,
    ) {
        incr(&*svc.metrics, Metric::SignatureFailures, Some("sendgrid"));
        tracing::warn!(reason = %why, "refused an unsigned, mis-signed or stale SendGrid delivery");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "the webhook signature is missing, does not match the body, or is too old",
        ));
    }
    if !is_json(req) {
        return Err(ApiError::unsupported_media_type());
    }
    let raw: Vec<&RawValue> = serde_json::from_slice(req.body()).map_err(ApiError::invalid_json)?;
    if raw.len() > MAX_EVENTS {
        return Err(invalid(format!(
            "a delivery carries at most {MAX_EVENTS} events"
        )));
    }
    let mut stored = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let event = email_events::parse_sendgrid(format!("[{}]", r.get()).as_bytes())
            .map_err(|e| invalid(format!("event {i} is not a SendGrid event: {e}")))?
            .into_iter()
            .next()
            .ok_or_else(|| invalid(format!("event {i} is empty")))?;
        let id = event.event_id.clone().unwrap_or_default();
        if !valid_event_id(&id) {
            return Err(invalid(format!("event {i} has no valid sg_event_id")));
        }
        stored.push(stored_event(
            Provider::Sendgrid,
            id,
            &event,
            r.get().to_owned(),
            now,
            Some(request_id(req)),
        ));
    }
    let summary = ingest::store_and_enqueue(&*svc.store, &*svc.queue, stored).await?;
    ingest::count_delivery(&*svc.metrics, "sendgrid", &summary);
    tracing::info!(
        events = summary.events,
        duplicates = summary.duplicates,
        "SendGrid events accepted"
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"received": summary.events, "duplicates": summary.duplicates}),
    ))
}
