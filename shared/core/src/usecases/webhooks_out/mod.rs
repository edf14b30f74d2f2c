//! Webhooks to tenants: an org registers HTTPS endpoints and Switchboard delivers the
//! platform events it subscribed to ([`crate::usecases::platform_events`]), signed the
//! Standard Webhooks way, with retries, a delivery log, manual retry and replay.
//!
//! An endpoint (`ORG#<org>#WEBHOOKS` / `EP#<id>`) holds its URL, the event types it
//! wants, whether it is disabled (by a person, or by Switchboard after five days of
//! failing every delivery) and its signing secrets, encrypted with the cipher port under
//! `{org_id, purpose: webhook_secret, endpoint_id}`. A secret is `whsec_` + base64 of 32
//! random bytes and is shown when the endpoint is created and when it is rotated; after
//! a rotation the old secret still signs (beside the new one) for 24 hours, so a receiver
//! can switch without losing a delivery.
//!
//! Delivery is in [`delivery`].

pub mod delivery;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cipher::EncryptionContext;
use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::record::{Record, Versioned, decode_all, item, load};
use crate::services::Services;
use crate::store::{Condition, Query, SortKey};
use crate::usecases::platform_events::EventType;

/// Most endpoints an org holds.
pub const MAX_ENDPOINTS: usize = 100;
/// Longest URL.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// How long a rotated-out secret keeps signing.
pub const ROTATION_GRACE_HOURS: i64 = 24;

const SK_PREFIX: &str = "EP#";
const SECRET_PURPOSE: &str = "webhook_secret";

fn endpoints_pk(org: &OrgId) -> String {
    format!("ORG#{org}#WEBHOOKS")
}

/// One signing secret, sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The envelope (cipher port).
    pub sealed: String,
    /// When it was made.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// When it stops signing (after a rotation), if ever.
    #[serde(default, with = "rfc3339_millis::option")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An org's webhook endpoint, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `we_` + 32 hex.
    pub id: String,
    /// Owner.
    pub org_id: OrgId,
    /// Where deliveries go (https, public address).
    pub url: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// Whether deliveries are paused.
    #[serde(default)]
    pub disabled: bool,
    /// Why it is disabled: `manual` or `failing`.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// The signing secrets, newest first (older ones only until their expiry).
    pub secrets: Vec<SealedSecret>,
    /// When the current run of failed attempts began (cleared by a success).
    #[serde(default, with = "rfc3339_millis::option")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Last successful delivery.
    #[serde(default, with = "rfc3339_millis::option")]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Made.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl Record for Endpoint {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }
}

impl Endpoint {
    /// The key of endpoint `id` of `org`.
    pub fn key_of(org: &OrgId, id: &str) -> (String, String) {
        (endpoints_pk(org), format!("{SK_PREFIX}{id}"))
    }

    /// Whether it wants events of `kind`.
    pub fn wants(&self, kind: EventType) -> bool {
        self.events.contains(&kind)
    }

    /// The API view (never a secret).
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "events": self.events,
            "disabled": self.disabled,
            "disabled_reason": self.disabled_reason,
            "failing_since": self.failing_since.map(fmt_time),
            "last_success_at": self.last_success_at.map(fmt_time),
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

/// The encryption context of an endpoint's signing secrets.
pub fn secret_context(org: &OrgId, endpoint: &str) -> EncryptionContext {
    EncryptionContext::new(org, SECRET_PURPOSE).with("endpoint_id", endpoint)
}

fn new_secret() -> Result<String> {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("no randomness for a webhook secret".into()))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

async fn seal(svc: &Services, org: &OrgId, endpoint: &str, secret: &str) -> Result<String> {
    Ok(svc
        .cipher
        .encrypt(secret.as_bytes(), &secret_context(org, endpoint))
        .await?)
}

/// The secrets that sign now (newest first), decrypted.
pub async fn signing_secrets(svc: &Services, ep: &Endpoint) -> Result<Vec<String>> {
    let now = svc.clock.now();
    let mut out = Vec::new();
    for s in ep
        .secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|t| t > now))
    {
        let plain = svc
            .cipher
            .decrypt(&s.sealed, &secret_context(&ep.org_id, &ep.id))
            .await?;
        out.push(
            String::from_utf8(plain)
                .map_err(|_| Error::Internal("a webhook secret is not text".into()))?,
        );
    }
    Ok(out)
}

fn parse_url(v: Option<&Value>, allow_loopback: bool) -> Result<String> {
    let url = v
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty() && u.chars().count() <= MAX_URL_CHARS)
        .ok_or_else(|| {
            Error::validation(
                "url",
                "invalid_url",
                format!("url is an https URL of at most {MAX_URL_CHARS} characters"),
            )
        })?;
    crate::webhook_http::check_url(url, allow_loopback).map_err(|reason| {
        Error::validation(
            "url",
            "url_not_allowed",
            format!("url must be https to a public address ({reason})"),
        )
    })?;
    Ok(url.to_owned())
}

fn parse_events(v: Option<&Value>) -> Result<Vec<EventType>> {
    let invalid = |message: String| Error::validation("events", "invalid_events", message);
    let list = v
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("events is a non-empty list of event types (or [\"*\"])".into()))?;
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let name = e.as_str().unwrap_or("");
        if name == "*" {
            return Ok(EventType::ALL.to_vec());
        }
        let kind = EventType::parse(name).ok_or_else(|| {
            Error::validation(
                format!("events[{i}]"),
                "unknown_event_type",
                "not an event type Switchboard publishes (see the event catalogue)",
            )
        })?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    out.sort();
    Ok(out)
}

fn parse_description(v: Option<&Value>) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if s.chars().count() <= MAX_DESCRIPTION_CHARS && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
        }
        _ => Err(Error::validation(
            "description",
            "invalid_description",
            format!("description is text of at most {MAX_DESCRIPTION_CHARS} characters"),
        )),
    }
}

async fn list_records(svc: &Services, org: &OrgId) -> Result<Vec<Endpoint>> {
    let page = svc
        .store
        .query(
            Query::table(endpoints_pk(org))
                .sort(SortKey::BeginsWith(SK_PREFIX.to_owned()))
                .limit(MAX_ENDPOINTS),
        )
        .await?;
    Ok(decode_all(&page.items)?)
}

/// The org's endpoints (at most [`MAX_ENDPOINTS`]), for delivery: consistent, so an
/// endpoint made a moment ago gets the next event.
pub async fn endpoints(svc: &Services, org: &OrgId) -> Result<Vec<Endpoint>> {
    let page = svc
        .store
        .query(
            Query::table(endpoints_pk(org))
                .sort(SortKey::BeginsWith(SK_PREFIX.to_owned()))
                .limit(MAX_ENDPOINTS)
                .consistent(),
        )
        .await?;
    Ok(decode_all(&page.items)?)
}

/// Loads one endpoint (404 when absent or another org's).
pub async fn get(svc: &Services, org: &OrgId, id: &str) -> Result<Versioned<Endpoint>> {
    if !valid_id(id) {
        return Err(Error::not_found("webhook_endpoint"));
    }
    let (pk, sk) = Endpoint::key_of(org, id);
    load::<Endpoint>(&*svc.store, &pk, &sk)
        .await?
        .ok_or_else(|| Error::not_found("webhook_endpoint"))
}

fn valid_id(id: &str) -> bool {
    id.strip_prefix("we_")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `POST /v1/webhook-endpoints` `{url, events, description?}`: the endpoint and its
/// secret (shown once).
pub async fn create(
    svc: &Services,
    org: &OrgId,
    allow_loopback: bool,
    body: &Value,
) -> Result<(Endpoint, String)> {
    let body = crate::usecases::triage::object_of_fields(body, &["url", "events", "description"])?;
    let url = parse_url(body.get("url"), allow_loopback)?;
    let events = parse_events(body.get("events"))?;
    let description = parse_description(body.get("description"))?;
    if list_records(svc, org).await?.len() >= MAX_ENDPOINTS {
        return Err(Error::Conflict {
            code: "too_many_endpoints",
            message: format!("an org holds at most {MAX_ENDPOINTS} webhook endpoints"),
        });
    }
    let id = format!("we_{}", uuid::Uuid::new_v4().simple());
    let secret = new_secret()?;
    let now = svc.clock.now();
    let ep = Endpoint {
        id: id.clone(),
        org_id: org.clone(),
        url,
        description,
        events,
        disabled: false,
        disabled_reason: None,
        secrets: vec![SealedSecret {
            sealed: seal(svc, org, &id, &secret).await?,
            created_at: now,
            expires_at: None,
        }],
        failing_since: None,
        last_success_at: None,
        created_at: now,
        updated_at: now,
    };
    svc.store.put(item(&ep, 1)?, Condition::NotExists).await?;
    tracing::info!(org_id = %org, endpoint_id = %id, "webhook endpoint created");
    Ok((ep, secret))
}

/// `GET /v1/webhook-endpoints`.
pub async fn list(svc: &Services, org: &OrgId) -> Result<Vec<Endpoint>> {
    let mut eps = list_records(svc, org).await?;
    eps.sort_by_key(|e| std::cmp::Reverse(e.created_at));
    Ok(eps)
}

/// `PATCH /v1/webhook-endpoints/{id}` `{url?, events?, description?, disabled?}`.
/// Enabling an endpoint Switchboard disabled starts its failure count over.
pub async fn update(
    svc: &Services,
    org: &OrgId,
    id: &str,
    allow_loopback: bool,
    body: &Value,
) -> Result<Endpoint> {
    let body = crate::usecases::triage::object_of_fields(
        body,
        &["url", "events", "description", "disabled"],
    )?;
    let url = body
        .get("url")
        .map(|v| parse_url(Some(v), allow_loopback))
        .transpose()?;
    let events = body
        .get("events")
        .map(|v| parse_events(Some(v)))
        .transpose()?;
    let description = body
        .get("description")
        .map(|v| parse_description(Some(v)))
        .transpose()?;
    let disabled = match body.get("disabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(Error::validation(
                "disabled",
                "invalid_disabled",
                "disabled is true or false",
            ));
        }
    };
    let mut ep = get(svc, org, id).await?;
    let r = &mut ep.record;
    if let Some(url) = url {
        r.url = url;
    }
    if let Some(events) = events {
        r.events = events;
    }
    if let Some(description) = description {
        r.description = description;
    }
    match disabled {
        Some(true) if !r.disabled => {
            r.disabled = true;
            r.disabled_reason = Some("manual".into());
        }
        Some(false) if r.disabled => {
            r.disabled = false;
            r.disabled_reason = None;
            r.failing_since = None;
        }
        _ => {}
    }
    r.updated_at = svc.clock.now();
    svc.store.put(ep.next_item()?, ep.condition()).await?;
    Ok(ep.record)
}

/// `DELETE /v1/webhook-endpoints/{id}`: no more deliveries (pending retries end as
/// failed `endpoint_deleted`).
pub async fn delete(svc: &Services, org: &OrgId, id: &str) -> Result<()> {
    let ep = get(svc, org, id).await?;
    let (pk, sk) = ep.record.key();
    svc.store
        .delete(&pk, &sk, Condition::Version(ep.version))
        .await?;
    tracing::info!(org_id = %org, endpoint_id = %id, "webhook endpoint deleted");
    Ok(())
}

/// `POST /v1/webhook-endpoints/{id}/rotate-secret`: a new secret (returned once); the
/// previous one keeps signing for [`ROTATION_GRACE_HOURS`].
pub async fn rotate_secret(svc: &Services, org: &OrgId, id: &str) -> Result<(Endpoint, String)> {
    let mut ep = get(svc, org, id).await?;
    let now = svc.clock.now();
    let secret = new_secret()?;
    let sealed = seal(svc, org, id, &secret).await?;
    let r = &mut ep.record;
    r.secrets.retain(|s| s.expires_at.is_none_or(|t| t > now));
    for s in &mut r.secrets {
        let grace = now + Duration::hours(ROTATION_GRACE_HOURS);
        s.expires_at = Some(s.expires_at.map_or(grace, |t| t.min(grace)));
    }
    r.secrets.insert(
        0,
        SealedSecret {
            sealed,
            created_at: now,
            expires_at: None,
        },
    );
    r.updated_at = now;
    svc.store.put(ep.next_item()?, ep.condition()).await?;
    tracing::info!(org_id = %org, endpoint_id = %id, "webhook secret rotated");
    Ok((ep.record, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists() {
        let all = parse_events(Some(&json!(["*"]))).unwrap();
        assert_eq!(all.len(), EventType::ALL.len());
        let two = parse_events(Some(&json!([
            "message.received",
            "contact.erased",
            "message.received"
        ])))
        .unwrap();
        assert_eq!(
            two,
            vec![EventType::MessageReceived, EventType::ContactErased]
        );
        for bad in [json!([]), json!("message.received"), json!(null)] {
            assert!(parse_events(Some(&bad)).is_err(), "{bad}");
        }
        match parse_events(Some(&json!(["message.received", "message.sent"]))) {
            Err(Error::Validation { field, .. }) => assert_eq!(field, "events[1]"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(parse_url(Some(&json!("https://hooks.example.com/sb")), false).is_ok());
        for bad in [
            "http://hooks.example.com/sb",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest",
            "https://localhost/x",
            "",
        ] {
            match parse_url(Some(&json!(bad)), false) {
                Err(Error::Validation { field, .. }) => assert_eq!(field, "url"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(parse_url(Some(&json!("http://127.0.0.1:9000/x")), true).is_ok());
    }
}
