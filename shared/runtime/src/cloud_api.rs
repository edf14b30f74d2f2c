//! The webhook endpoints that receive WhatsApp Cloud API payloads: Meta's own
//! (`webhook-whatsapp`, `X-Hub-Signature-256`) and Kapso's (`webhook-kapso`,
//! `X-Kapso-Signature`). Both verify the signature on the exact bytes received, split the
//! delivery into one event per change, store and queue each, and answer 200; only the
//! signature scheme, its secret and the subscription check differ, so those are the
//! parameters here.

use http::StatusCode;
use serde_json::json;
use switchboard_core::metrics::{Metric, incr};
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::ingest;
use switchboard_webhooks::{SignatureError, meta};

use crate::App;
use crate::http::{
    ApiError, Request, Response, header_str, is_json, json_response, query_param, request_id, text,
};

/// A signature check: the key, the signature header's value, the body.
pub type Verify = fn(&[u8], Option<&str>, &[u8]) -> Result<(), SignatureError>;

/// Splits a verified body into the events to store.
pub type Split = fn(&[u8]) -> Result<Vec<meta::Change>, meta::PayloadError>;

/// A sender of Cloud API webhooks.
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    /// Label in metrics and logs (`whatsapp`, `kapso`).
    pub label: &'static str,
    /// The key of its signatures.
    pub secret: SecretName,
    /// The header carrying the signature (lower case, for the look-up).
    pub header: &'static str,
    /// The same as the sender's documentation spells it, for errors.
    pub header_display: &'static str,
    /// Verifies the signature header against the body under the key.
    pub verify: Verify,
    /// The token its subscription check must present.
    pub verify_token: SecretName,
    /// Whether a deployment without that token refuses the check (Meta) or echoes the
    /// challenge unchecked (Kapso, whose token is optional).
    pub token_required: bool,
    /// How a delivery becomes events: WhatsApp changes, or Messenger/Instagram
    /// messaging events.
    pub split: Split,
    /// What the body must be, for the 400's message.
    pub envelope: &'static str,
}

/// Meta's WhatsApp Cloud API webhook.
pub const META: Sender = Sender {
    label: "whatsapp",
    secret: SecretName::WhatsAppAppSecret,
    header: meta::SIGNATURE_HEADER,
    header_display: "X-Hub-Signature-256",
    verify: meta::verify_signature,
    verify_token: SecretName::WhatsAppVerifyToken,
    token_required: true,
    split: meta::split,
    envelope: "a WhatsApp webhook envelope",
};

/// Meta's Messenger and Instagram webhook: the same app, secret and verify token as
/// WhatsApp's.
pub const META_MESSAGING: Sender = Sender {
    label: "meta_messaging",
    split: switchboard_webhooks::messaging::split,
    envelope: "a Messenger or Instagram webhook envelope (object page or instagram)",
    ..META
};

/// Kapso's webhook (WhatsApp through Kapso).
pub const KAPSO: Sender = Sender {
    label: "kapso",
    secret: SecretName::KapsoWebhookSecret,
    header: switchboard_webhooks::kapso::SIGNATURE_HEADER,
    header_display: "X-Kapso-Signature",
    verify: switchboard_webhooks::kapso::verify_signature,
    verify_token: SecretName::KapsoVerifyToken,
    token_required: false,
    split: meta::split,
    envelope: "a WhatsApp webhook envelope",
};

fn not_configured(what: SecretName) -> ApiError {
    ApiError::from(switchboard_core::Error::NotConfigured {
        what: what.as_str().to_owned(),
    })
}

/// The subscription check: echoes the challenge as text when the verify token matches
/// (Meta: `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`). Kapso may send
/// `challenge` instead of `hub.challenge`, and without a configured token its check is
/// echoed unchecked. Anything else is 403.
pub async fn subscription(app: &App, req: &Request, sender: Sender) -> Result<Response, ApiError> {
    let expected = app
        .services()
        .secrets
        .get(sender.verify_token)
        .await
        .map_err(switchboard_core::Error::from)?;
    let challenge = query_param(req, "hub.challenge")
        .or_else(|| {
            (!sender.token_required)
                .then(|| query_param(req, "challenge"))
                .flatten()
        })
        .unwrap_or_default();
    let mode = query_param(req, "hub.mode");
    let accepted = match &expected {
        Some(expected) => {
            let token = query_param(req, "hub.verify_token").unwrap_or_default();
            let token_ok = switchboard_webhooks::constant_time_eq(
                token.as_bytes(),
                expected.expose().as_bytes(),
            );
            // Meta always says `subscribe`; Kapso's plain `challenge` form has no mode.
            token_ok && (mode.as_deref() == Some("subscribe") || !sender.token_required)
        }
        None if sender.token_required => return Err(not_configured(sender.verify_token)),
        None => true,
    };
    if accepted && !challenge.is_empty() {
        tracing::info!(sender = sender.label, "webhook subscription verified");
        Ok(text(StatusCode::OK, challenge))
    } else {
        tracing::warn!(sender = sender.label, mode = ?mode, "webhook verification refused");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "verify token does not match",
        ))
    }
}

/// A delivery: 413 over the body limit, 503 without the signing secret, 401 for a
/// missing or wrong signature, 415 when not JSON, 400 when not a Cloud API envelope;
/// else every change stored and queued, then 200.
pub async fn receive(app: &App, req: &Request, sender: Sender) -> Result<Response, ApiError> {
    let svc = app.services();
    let limit = app.config().max_webhook_body;
    if req.body().len() > limit {
        return Err(ApiError::too_large(limit));
    }
    let secret = crate::http::webhook_secret(&*svc.secrets, sender.secret).await?;
    if let Err(why) = (sender.verify)(
        secret.expose().as_bytes(),
        header_str(req, sender.header),
        req.body(),
    ) {
        incr(&*svc.metrics, Metric::SignatureFailures, Some(sender.label));
        tracing::warn!(sender = sender.label, reason = %why, bytes = req.body().len(), "refused an unsigned or mis-signed delivery");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            format!(
                "{} is missing or does not match the body",
                sender.header_display
            ),
        ));
    }
    if !is_json(req) {
        return Err(ApiError::unsupported_media_type());
    }
    let changes = (sender.split)(req.body()).map_err(|e| match e {
        meta::PayloadError::NotJson(detail) => ApiError::invalid_json(detail),
        meta::PayloadError::NotEnvelope(detail) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            format!("body is not {}: {detail}", sender.envelope),
        ),
    })?;
    let summary = ingest::accept_whatsapp(svc, changes, Some(&request_id(req))).await?;
    ingest::count_delivery(&*svc.metrics, sender.label, &summary);
    tracing::info!(
        sender = sender.label,
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
