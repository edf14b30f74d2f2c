//! Delivering platform events to endpoints: `worker-webhooks` consumes the `webhooks`
//! queue (events and replays) and `worker-webhook-retries` the `webhook-retries` queue;
//! both run [`process`], which takes three kinds of message.
//!
//! - **An event** (queued by [`platform_events::publish`], one FIFO group per org): the
//!   fan-out. For each of the org's enabled endpoints that wants the event's type, a
//!   delivery record is made and the first attempt is made at once, all endpoints
//!   concurrently — so each endpoint gets the org's events in the order they were
//!   published. An endpoint that is failing (its last attempt failed) gets no inline
//!   attempt: its delivery is scheduled like a retry, so one dead endpoint never holds up
//!   the org's other endpoints for its timeouts.
//! - **A retry** (on the standard `webhook-retries` queue, consumed by
//!   `worker-webhook-retries`): the message stays hidden until the delivery's next attempt
//!   is due ([`SCHEDULE`]: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the first attempt's
//!   failure — eight attempts over about 27.5 hours), then
//!   attempts. A manual retry (`POST /v1/webhook-deliveries/{id}/retry`) is one attempt now.
//! - **A replay** (`POST /v1/webhook-endpoints/{id}/replay {since}`, one group per endpoint):
//!   the org's events since a time, oldest first, delivered to that endpoint again in
//!   order, a page per message.
//!
//! Every attempt of an event carries the same `webhook-id` (the event id), so a receiver
//! that keeps the ids it has processed handles each event once, whatever Switchboard
//! repeats. A delivery's record (`ORG#<org>#WHEP#<endpoint>` / `DLV#<time>#<event>`)
//! exists once per endpoint and event: a fan-out that runs again (the message came back
//! after a crash) does not attempt again what it already attempted.
//!
//! An endpoint whose attempts have all failed for [`DISABLE_AFTER_DAYS`] is disabled and
//! the org's admins are told; enabling it again (PATCH `disabled: false`) starts over.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Endpoint, endpoints, get, signing_secrets};
use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::metrics::Metric;
use crate::page::{PageRequest, encode_cursor};
use crate::queue::{OutgoingMessage, QueueName};
use crate::record::{Record, Versioned, decode_all, load};
use crate::services::Services;
use crate::store::{Condition, Position, Query, SortKey, StoreError};
use crate::usecases::platform_events::{self, EventMessage, PlatformEvent};
use crate::webhook_http::{WebhookOutcome, WebhookRequest};

/// Delays before each retry, after the previous attempt failed (Svix's schedule).
pub const SCHEDULE: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
/// The longest an attempt may take.
pub const ATTEMPT_TIMEOUT: StdDuration = StdDuration::from_secs(15);
/// An endpoint failing every attempt this long is disabled.
pub const DISABLE_AFTER_DAYS: i64 = 5;
/// How long delivery records are kept.
pub const DELIVERY_RETENTION_DAYS: i64 = 30;
/// Attempts kept on a delivery record (the latest ones).
pub const MAX_ATTEMPTS_KEPT: usize = 20;
/// Endpoints attempted at once in a fan-out: all of an org's, so one event's fan-out
/// takes at most one attempt's timeout.
pub const FAN_OUT_CONCURRENCY: usize = super::MAX_ENDPOINTS;
/// Events replayed per replay message.
pub const REPLAY_PAGE: usize = 50;
/// Time a replay message spends delivering before handing the rest to the next one.
pub const REPLAY_BUDGET: StdDuration = StdDuration::from_secs(30);
/// How often a healthy endpoint's last success is written (at most).
const LAST_SUCCESS_EVERY_SECS: i64 = 300;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; an attempt is scheduled.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// No more automatic attempts (schedule spent, endpoint disabled or deleted).
    Failed,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it was made.
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    /// The endpoint's status code, if it answered.
    #[serde(default)]
    pub status_code: Option<u16>,
    /// Why there was no answer (`timeout`, `connect`, `refused:private_address`, …).
    #[serde(default)]
    pub error: Option<String>,
    /// Milliseconds until the answer (or the failure).
    pub latency_ms: u64,
    /// Whether a person asked for it (retry) or a replay made it.
    #[serde(default)]
    pub trigger: Trigger,
}

/// What made an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The event's fan-out or a scheduled retry.
    #[default]
    Automatic,
    /// `POST /v1/webhook-deliveries/{id}/retry`.
    Manual,
    /// `POST /v1/webhook-endpoints/{id}/replay`.
    Replay,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Owner.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event (what is sent).
    pub event: PlatformEvent,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts of the current schedule (a manual retry or replay starts a new one).
    pub scheduled_attempts: u32,
    /// Every attempt (the latest [`MAX_ATTEMPTS_KEPT`]).
    pub attempts: Vec<Attempt>,
    /// When the next automatic attempt is due.
    #[serde(default, with = "rfc3339_millis::option")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why it failed for good.
    #[serde(default)]
    pub failure: Option<String>,
    /// Made.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

fn deliveries_pk(org: &OrgId, endpoint: &str) -> String {
    format!("ORG#{org}#WHEP#{endpoint}")
}

fn delivery_sk(event: &PlatformEvent) -> String {
    format!(
        "DLV#{:015}#{}",
        event.timestamp.timestamp_millis().max(0),
        event.id
    )
}

impl Record for Delivery {
    fn key(&self) -> (String, String) {
        (
            deliveries_pk(&self.org_id, &self.endpoint_id),
            delivery_sk(&self.event),
        )
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

impl Delivery {
    /// A new, pending delivery of `event` to `ep`, made at `now`.
    fn new(ep: &Endpoint, event: &PlatformEvent, now: DateTime<Utc>) -> Self {
        Self {
            org_id: ep.org_id.clone(),
            endpoint_id: ep.id.clone(),
            event: event.clone(),
            state: DeliveryState::Pending,
            scheduled_attempts: 0,
            attempts: Vec::new(),
            next_attempt_at: None,
            failure: None,
            created_at: now,
            expires_at: now.timestamp() + DELIVERY_RETENTION_DAYS * 86_400,
        }
    }

    /// The public id: `dlv_` + the endpoint's hex + the event's time + the event's hex,
    /// which is also where the record lives.
    pub fn id(&self) -> String {
        delivery_id(&self.endpoint_id, &self.event)
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id(),
            "endpoint_id": self.endpoint_id,
            "event_id": self.event.id,
            "event_type": self.event.kind,
            "status": self.state,
            "attempts": self.attempts.iter().map(|a| json!({
                "at": fmt_time(a.at),
                "status_code": a.status_code,
                "error": a.error,
                "latency_ms": a.latency_ms,
                "trigger": a.trigger,
            })).collect::<Vec<_>>(),
            "next_attempt_at": self.next_attempt_at.map(fmt_time),
            "failure": self.failure,
            "created_at": fmt_time(self.created_at),
        })
    }
}

/// The id of `event`'s delivery to `endpoint`.
pub fn delivery_id(endpoint: &str, event: &PlatformEvent) -> String {
    format!(
        "dlv_{}{:015}{}",
        endpoint.trim_start_matches("we_"),
        event.timestamp.timestamp_millis().max(0),
        event.id.trim_start_matches("evt_")
    )
}

/// The endpoint id and record key a delivery id names, or `None` for a malformed one.
fn parse_delivery_id(org: &OrgId, id: &str) -> Option<(String, String, String)> {
    let rest = id.strip_prefix("dlv_")?;
    if rest.len() != 32 + 15 + 32 || !rest.is_ascii() {
        return None;
    }
    let (ep, rest) = rest.split_at(32);
    let (ts, evt) = rest.split_at(15);
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(ep) || !hex(evt) || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let endpoint = format!("we_{ep}");
    Some((
        deliveries_pk(org, &endpoint),
        format!("DLV#{ts}#evt_{evt}"),
        endpoint,
    ))
}

/// Messages of the `webhooks` queue besides events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Attempt a delivery when due (or now, for a manual retry).
    Retry {
        /// Owner.
        org_id: OrgId,
        /// The delivery.
        delivery_id: String,
        /// A person asked: attempt now, once.
        #[serde(default)]
        manual: bool,
    },
    /// Deliver the org's events since a time to one endpoint again.
    Replay {
        /// Owner.
        org_id: OrgId,
        /// The endpoint.
        endpoint_id: String,
        /// From when.
        #[serde(with = "rfc3339_millis")]
        since: DateTime<Utc>,
        /// Where the previous page ended.
        #[serde(default)]
        after: Option<Position>,
    },
}

/// What to do with a `webhooks` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done: delete it.
    Done,
    /// Hide it until then (a retry not yet due, or the next scheduled attempt).
    Later(StdDuration),
}

/// Processes one `webhooks` message. `redelivered`: the queue has handed it out before
/// (a crash or timeout mid-way), so the fan-out checks what it already did.
pub async fn process(svc: &Services, body: &str, redelivered: bool) -> Result<Outcome> {
    if let Ok(job) = serde_json::from_str::<Job>(body) {
        return match job {
            Job::Retry {
                org_id,
                delivery_id,
                manual,
            } => retry(svc, &org_id, &delivery_id, manual).await,
            Job::Replay {
                org_id,
                endpoint_id,
                since,
                after,
            } => replay_page(svc, &org_id, &endpoint_id, since, after).await,
        };
    }
    let message: EventMessage = serde_json::from_str(body)
        .map_err(|e| Error::Internal(format!("not a webhooks message: {e}")))?;
    fan_out(svc, &message.org_id, &message.event, redelivered).await?;
    Ok(Outcome::Done)
}

/// The body every attempt of an event sends.
pub fn payload(event: &PlatformEvent) -> String {
    // A struct of strings and JSON values always serialises.
    serde_json::to_string(event).unwrap_or_default()
}

/// The Standard Webhooks headers of an attempt: `webhook-id` (the event id, the same on
/// every attempt), `webhook-timestamp` (now) and `webhook-signature` (`v1,<base64>` for
/// each secret that signs now, space-separated).
pub fn signed_headers(
    secrets: &[String],
    event_id: &str,
    now: DateTime<Utc>,
    body: &str,
) -> Result<Vec<(String, String)>> {
    let ts = now.timestamp();
    let mut sigs = Vec::with_capacity(secrets.len());
    for s in secrets {
        sigs.push(
            switchboard_webhooks::standard::sign(s, event_id, ts, body.as_bytes())
                .map_err(|_| Error::Internal("a webhook secret is not base64".into()))?,
        );
    }
    Ok(vec![
        ("webhook-id".to_owned(), event_id.to_owned()),
        ("webhook-timestamp".to_owned(), ts.to_string()),
        ("webhook-signature".to_owned(), sigs.join(" ")),
    ])
}

/// Secrets decrypted lately, per endpoint and secret set (KMS is not called per attempt).
static SECRETS: std::sync::LazyLock<crate::recent::Recent<String, Vec<String>>> =
    std::sync::LazyLock::new(Default::default);
const SECRETS_MAX_AGE: StdDuration = StdDuration::from_secs(300);

async fn secrets_of(svc: &Services, ep: &Endpoint) -> Result<Vec<String>> {
    let now = svc.clock.now();
    let active: Vec<&str> = ep
        .secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|t| t > now))
        .map(|s| s.sealed.as_str())
        .collect();
    let key = format!(
        "{}#{}",
        ep.id,
        switchboard_webhooks::sha256_hex(&[active.join(" ").as_bytes()])
    );
    if let Some(s) = SECRETS.get(&key, SECRETS_MAX_AGE) {
        return Ok(s);
    }
    let s = signing_secrets(svc, ep).await?;
    SECRETS.put(key, s.clone());
    Ok(s)
}

/// Makes one attempt and says how it went.
async fn attempt(
    svc: &Services,
    ep: &Endpoint,
    event: &PlatformEvent,
    body: &str,
    trigger: Trigger,
) -> Result<(Attempt, WebhookOutcome)> {
    let secrets = secrets_of(svc, ep).await?;
    let now = svc.clock.now();
    let headers = signed_headers(&secrets, &event.id, now, body)?;
    let outcome = svc
        .webhook_http
        .post(WebhookRequest {
            url: ep.url.clone(),
            headers,
            body: body.to_owned(),
            timeout: ATTEMPT_TIMEOUT,
        })
        .await;
    let (status_code, error, latency_ms) = match &outcome {
        WebhookOutcome::Answered { status, latency_ms } => (Some(*status), None, *latency_ms),
        WebhookOutcome::Refused { reason } => (None, Some(format!("refused:{reason}")), 0),
        WebhookOutcome::Failed { error, latency_ms } => (None, Some(error.clone()), *latency_ms),
    };
    let result = if outcome.is_success() {
        "delivered"
    } else if matches!(outcome, WebhookOutcome::Refused { .. }) {
        "refused"
    } else {
        "failed"
    };
    svc.metrics
        .count(Metric::TenantWebhookAttempts, Some(result), 1);
    tracing::info!(
        org_id = %ep.org_id,
        endpoint_id = %ep.id,
        event_id = %event.id,
        status = status_code,
        error = error.as_deref().unwrap_or(""),
        latency_ms,
        "webhook attempt"
    );
    Ok((
        Attempt {
            at: now,
            status_code,
            error,
            latency_ms,
            trigger,
        },
        outcome,
    ))
}

fn push_attempt(d: &mut Delivery, a: Attempt) {
    d.attempts.push(a);
    if d.attempts.len() > MAX_ATTEMPTS_KEPT {
        let extra = d.attempts.len() - MAX_ATTEMPTS_KEPT;
        d.attempts.drain(..extra);
    }
}

/// Applies an automatic attempt's outcome to the delivery: delivered, the next attempt
/// scheduled, or failed when the schedule is spent.
fn settle_scheduled(d: &mut Delivery, success: bool, now: DateTime<Utc>) {
    d.scheduled_attempts += 1;
    if success {
        d.state = DeliveryState::Delivered;
        d.next_attempt_at = None;
        d.failure = None;
        return;
    }
    match SCHEDULE.get(d.scheduled_attempts as usize - 1) {
        Some(secs) => {
            d.state = DeliveryState::Pending;
            d.next_attempt_at = Some(now + Duration::seconds(*secs));
        }
        None => {
            d.state = DeliveryState::Failed;
            d.next_attempt_at = None;
            d.failure = Some("retries_exhausted".into());
        }
    }
}

async fn queue_retry(svc: &Services, d: &Delivery, manual: bool) -> Result<()> {
    let body = serde_json::to_string(&Job::Retry {
        org_id: d.org_id.clone(),
        delivery_id: d.id(),
        manual,
    })
    .map_err(|e| Error::Internal(format!("retry job does not serialise: {e}")))?;
    // On the standard retries queue: each retry is hidden there until due, apart from the
    // fan-outs (a redelivered duplicate finds the delivery settled or its write refused).
    svc.queue
        .send(
            QueueName::WebhookRetries,
            vec![OutgoingMessage {
                body,
                group_id: None,
                dedupe_id: None,
                delay: None,
            }],
        )
        .await?;
    Ok(())
}

/// Notes an attempt's outcome on the endpoint: the start of a failing run (and, five days
/// into one, disabling it), or the end of one.
async fn note_on_endpoint(svc: &Services, ep: &Endpoint, success: bool) -> Result<()> {
    let now = svc.clock.now();
    let needs_write = |r: &Endpoint| {
        if success {
            r.failing_since.is_some()
                || r.last_success_at
                    .is_none_or(|t| (now - t).num_seconds() >= LAST_SUCCESS_EVERY_SECS)
        } else {
            r.failing_since.is_none()
                || (!r.disabled
                    && r.failing_since
                        .is_some_and(|t| now - t >= Duration::days(DISABLE_AFTER_DAYS)))
        }
    };
    if !needs_write(ep) {
        return Ok(());
    }
    for _ in 0..5 {
        let Ok(mut cur) = get(svc, &ep.org_id, &ep.id).await else {
            return Ok(()); // deleted meanwhile
        };
        if !needs_write(&cur.record) {
            return Ok(());
        }
        let r = &mut cur.record;
        let mut disabled_now = false;
        if success {
            r.failing_since = None;
            r.last_success_at = Some(now);
        } else if r.failing_since.is_none() {
            r.failing_since = Some(now);
        } else {
            r.disabled = true;
            r.disabled_reason = Some("failing".into());
            r.updated_at = now;
            disabled_now = true;
        }
        match svc.store.put(cur.next_item()?, cur.condition()).await {
            Ok(()) => {
                if disabled_now {
                    tracing::warn!(org_id = %ep.org_id, endpoint_id = %ep.id, "webhook endpoint disabled after failing for {DISABLE_AFTER_DAYS} days");
                    crate::usecases::notifications::on_webhook_endpoint_disabled(svc, &cur.record)
                        .await;
                }
                return Ok(());
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The fan-out of one event to the org's endpoints.
pub async fn fan_out(
    svc: &Services,
    org: &OrgId,
    event: &PlatformEvent,
    redelivered: bool,
) -> Result<usize> {
    let targets: Vec<Endpoint> = endpoints(svc, org)
        .await?
        .into_iter()
        .filter(|e| !e.disabled && e.wants(event.kind))
        .collect();
    if targets.is_empty() {
        return Ok(0);
    }
    let body = payload(event);
    // In chunks (one, at most) rather than a buffered stream: the futures stay `Send` for
    // the Lambda runtime.
    let mut results = Vec::with_capacity(targets.len());
    for chunk in targets.chunks(FAN_OUT_CONCURRENCY) {
        results.extend(
            futures::future::join_all(
                chunk
                    .iter()
                    .map(|ep| deliver_first(svc, ep, event, &body, redelivered)),
            )
            .await,
        );
    }
    for r in results {
        r?;
    }
    Ok(targets.len())
}

async fn deliver_first(
    svc: &Services,
    ep: &Endpoint,
    event: &PlatformEvent,
    body: &str,
    redelivered: bool,
) -> Result<()> {
    let now = svc.clock.now();
    let mut d = Versioned::new(Delivery::new(ep, event, now));
    if redelivered {
        let (pk, sk) = d.record.key();
        if let Some(existing) = load::<Delivery>(&*svc.store, &pk, &sk).await? {
            // Made by an earlier run: what it still needs is its retry message (queued
            // again; the dedupe id drops a repeat).
            if existing.record.state == DeliveryState::Pending {
                queue_retry(svc, &existing.record, false).await?;
            }
            return Ok(());
        }
    }
    if ep.failing_since.is_some() {
        // Failing: scheduled behind its retries, not attempted inline.
        d.record.next_attempt_at = Some(now + Duration::seconds(SCHEDULE[0]));
        return create_then_queue(svc, d).await;
    }
    let (a, outcome) = attempt(svc, ep, event, body, Trigger::Automatic).await?;
    let success = outcome.is_success();
    push_attempt(&mut d.record, a);
    settle_scheduled(&mut d.record, success, svc.clock.now());
    if success {
        match svc.store.put(d.next_item()?, Condition::NotExists).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    } else {
        create_then_queue(svc, d).await?;
    }
    note_on_endpoint(svc, ep, success).await
}

async fn create_then_queue(svc: &Services, d: Versioned<Delivery>) -> Result<()> {
    match svc.store.put(d.next_item()?, Condition::NotExists).await {
        Ok(()) => queue_retry(svc, &d.record, false).await,
        // Another run made it (and queued its retry).
        Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Loads a delivery of the org (404 when absent, malformed or another org's).
pub async fn load_delivery(svc: &Services, org: &OrgId, id: &str) -> Result<Versioned<Delivery>> {
    let (pk, sk, _) =
        parse_delivery_id(org, id).ok_or_else(|| Error::not_found("webhook_delivery"))?;
    load::<Delivery>(&*svc.store, &pk, &sk)
        .await?
        .ok_or_else(|| Error::not_found("webhook_delivery"))
}

async fn retry(svc: &Services, org: &OrgId, id: &str, manual: bool) -> Result<Outcome> {
    let mut d = match load_delivery(svc, org, id).await {
        Ok(d) => d,
        Err(Error::NotFound { .. }) => return Ok(Outcome::Done), // expired
        Err(e) => return Err(e),
    };
    let now = svc.clock.now();
    if !manual {
        if d.record.state != DeliveryState::Pending {
            return Ok(Outcome::Done);
        }
        if let Some(due) = d.record.next_attempt_at
            && due > now
        {
            let wait = (due - now).to_std().unwrap_or_default();
            return Ok(Outcome::Later(
                wait.clamp(StdDuration::from_secs(1), crate::retry::MAX_QUEUE_DELAY),
            ));
        }
    }
    let ep = match get(svc, org, &d.record.endpoint_id).await {
        Ok(ep) => ep.record,
        Err(Error::NotFound { .. }) => {
            return give_up(svc, d, "endpoint_deleted").await;
        }
        Err(e) => return Err(e),
    };
    if ep.disabled {
        return give_up(svc, d, "endpoint_disabled").await;
    }
    let body = payload(&d.record.event);
    let trigger = if manual {
        Trigger::Manual
    } else {
        Trigger::Automatic
    };
    let (a, outcome) = attempt(svc, &ep, &d.record.event, &body, trigger).await?;
    let success = outcome.is_success();
    push_attempt(&mut d.record, a);
    if manual {
        if success {
            d.record.state = DeliveryState::Delivered;
            d.record.next_attempt_at = None;
            d.record.failure = None;
        }
        // A failed manual attempt leaves the schedule (if any) as it was.
    } else {
        settle_scheduled(&mut d.record, success, svc.clock.now());
    }
    match svc.store.put(d.next_item()?, d.condition()).await {
        Ok(()) => {}
        // Changed meanwhile (a manual retry beside a scheduled one): the other wrote its
        // own outcome; this attempt stays in the endpoint's log lines only.
        Err(StoreError::ConditionFailed { .. }) => return Ok(Outcome::Done),
        Err(e) => return Err(e.into()),
    }
    note_on_endpoint(svc, &ep, success).await?;
    if !manual && d.record.state == DeliveryState::Pending {
        let wait = d
            .record
            .next_attempt_at
            .map(|t| (t - svc.clock.now()).to_std().unwrap_or_default())
            .unwrap_or_default();
        return Ok(Outcome::Later(
            wait.clamp(StdDuration::from_secs(1), crate::retry::MAX_QUEUE_DELAY),
        ));
    }
    Ok(Outcome::Done)
}

async fn give_up(svc: &Services, mut d: Versioned<Delivery>, why: &str) -> Result<Outcome> {
    if d.record.state == DeliveryState::Pending {
        d.record.state = DeliveryState::Failed;
        d.record.next_attempt_at = None;
        d.record.failure = Some(why.to_owned());
        match svc.store.put(d.next_item()?, d.condition()).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Outcome::Done)
}

/// `POST /v1/webhook-deliveries/{id}/retry`: one attempt as soon as the worker takes it.
pub async fn request_retry(svc: &Services, org: &OrgId, id: &str) -> Result<Delivery> {
    let d = load_delivery(svc, org, id).await?;
    let ep = get(svc, org, &d.record.endpoint_id).await?;
    if ep.record.disabled {
        return Err(Error::Conflict {
            code: "endpoint_disabled",
            message: "the endpoint is disabled; enable it first".into(),
        });
    }
    queue_retry(svc, &d.record, true).await?;
    Ok(d.record)
}

/// `GET /v1/webhook-endpoints/{id}/deliveries`: newest first.
pub async fn list(
    svc: &Services,
    org: &OrgId,
    endpoint: &str,
    page: PageRequest,
) -> Result<(Vec<Delivery>, Option<String>)> {
    get(svc, org, endpoint).await?;
    let pk = deliveries_pk(org, endpoint);
    let query = page.apply_to(
        Query::table(pk.clone())
            .sort(SortKey::BeginsWith("DLV#".into()))
            .descending(),
        &pk,
    )?;
    let result = svc.store.query(query).await?;
    Ok((
        decode_all::<Delivery>(&result.items)?,
        result.next.as_ref().map(encode_cursor),
    ))
}

/// `POST /v1/webhook-endpoints/{id}/replay` `{since}`: queues the replay; returns the
/// time it starts from.
pub async fn request_replay(
    svc: &Services,
    org: &OrgId,
    endpoint: &str,
    body: &Value,
) -> Result<DateTime<Utc>> {
    let ep = get(svc, org, endpoint).await?;
    let body = crate::usecases::triage::object_of_fields(body, &["since"])?;
    let now = svc.clock.now();
    let oldest = now - Duration::days(platform_events::EVENT_RETENTION_DAYS);
    let since = body
        .get("since")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t <= now && *t >= oldest)
        .ok_or_else(|| {
            Error::validation(
                "since",
                "invalid_since",
                format!(
                    "since is an RFC 3339 time within the last {} days",
                    platform_events::EVENT_RETENTION_DAYS
                ),
            )
        })?;
    if ep.record.disabled {
        return Err(Error::Conflict {
            code: "endpoint_disabled",
            message: "the endpoint is disabled; enable it first".into(),
        });
    }
    queue_replay(svc, org, endpoint, since, None, now).await?;
    Ok(since)
}

async fn queue_replay(
    svc: &Services,
    org: &OrgId,
    endpoint: &str,
    since: DateTime<Utc>,
    after: Option<Position>,
    requested: DateTime<Utc>,
) -> Result<()> {
    let dedupe = switchboard_webhooks::sha256_hex(&[
        endpoint.as_bytes(),
        since.to_rfc3339().as_bytes(),
        after
            .as_ref()
            .map(|p| p.sk.as_str())
            .unwrap_or("")
            .as_bytes(),
        requested.timestamp_millis().to_string().as_bytes(),
    ]);
    let body = serde_json::to_string(&Job::Replay {
        org_id: org.clone(),
        endpoint_id: endpoint.to_owned(),
        since,
        after,
    })
    .map_err(|e| Error::Internal(format!("replay job does not serialise: {e}")))?;
    svc.queue
        .send(
            QueueName::Webhooks,
            vec![OutgoingMessage::fifo(
                body,
                format!("replay-{endpoint}"),
                dedupe,
            )],
        )
        .await?;
    Ok(())
}

async fn replay_page(
    svc: &Services,
    org: &OrgId,
    endpoint: &str,
    since: DateTime<Utc>,
    after: Option<Position>,
) -> Result<Outcome> {
    let ep = match get(svc, org, endpoint).await {
        Ok(ep) if !ep.record.disabled => ep.record,
        Ok(_) | Err(Error::NotFound { .. }) => return Ok(Outcome::Done),
        Err(e) => return Err(e),
    };
    let started = std::time::Instant::now();
    let mut position = after;
    loop {
        let (events, next) =
            platform_events::since(svc, org, since, position.clone(), REPLAY_PAGE).await?;
        for (i, event) in events.iter().enumerate() {
            if ep.wants(event.kind) {
                replay_one(svc, &ep, event).await?;
            }
            if started.elapsed() >= REPLAY_BUDGET && (i + 1 < events.len() || next.is_some()) {
                let (pk, sk) = platform_events::StoredEvent::key_of(org, event);
                let last = Some(Position {
                    pk,
                    sk,
                    index_sk: None,
                });
                queue_replay(svc, org, endpoint, since, last, svc.clock.now()).await?;
                return Ok(Outcome::Done);
            }
        }
        match next {
            Some(p) => position = Some(p),
            None => return Ok(Outcome::Done),
        }
    }
}

async fn replay_one(svc: &Services, ep: &Endpoint, event: &PlatformEvent) -> Result<()> {
    let now = svc.clock.now();
    let (pk, sk) = (deliveries_pk(&ep.org_id, &ep.id), delivery_sk(event));
    let mut d = match load::<Delivery>(&*svc.store, &pk, &sk).await? {
        Some(d) => d,
        None => Versioned::new(Delivery::new(ep, event, now)),
    };
    let body = payload(event);
    let (a, outcome) = attempt(svc, ep, event, &body, Trigger::Replay).await?;
    let success = outcome.is_success();
    push_attempt(&mut d.record, a);
    // A replay starts a new schedule for what it could not deliver.
    d.record.scheduled_attempts = 0;
    settle_scheduled(&mut d.record, success, svc.clock.now());
    match svc.store.put(d.next_item()?, d.condition()).await {
        Ok(()) => {
            if d.record.state == DeliveryState::Pending {
                queue_retry(svc, &d.record, false).await?;
            }
        }
        Err(StoreError::ConditionFailed { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    note_on_endpoint(svc, ep, success).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::platform_events::EventType;

    fn event(at_ms: i64) -> PlatformEvent {
        PlatformEvent {
            id: format!("evt_{}", "ab".repeat(16)),
            kind: EventType::MessageReceived,
            timestamp: DateTime::from_timestamp_millis(at_ms).unwrap(),
            data: json!({}),
        }
    }

    #[test]
    fn delivery_ids_name_their_record() {
        let org = OrgId::parse("org_1").unwrap();
        let ep = format!("we_{}", "cd".repeat(16));
        let e = event(1_760_000_000_123);
        let id = delivery_id(&ep, &e);
        let (pk, sk, endpoint) = parse_delivery_id(&org, &id).unwrap();
        assert_eq!(endpoint, ep);
        assert_eq!(pk, deliveries_pk(&org, &ep));
        assert_eq!(sk, delivery_sk(&e));
        for bad in [
            "dlv_",
            "dlv_xyz",
            &id[..id.len() - 1],
            &id.replace("dlv_", "dlx_"),
        ] {
            assert!(parse_delivery_id(&org, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_schedule_is_eight_attempts_over_about_27_hours() {
        let t0 = DateTime::from_timestamp(1_760_000_000, 0).unwrap();
        let mut d = Delivery {
            org_id: OrgId::parse("org_1").unwrap(),
            endpoint_id: "we_1".into(),
            event: event(0),
            state: DeliveryState::Pending,
            scheduled_attempts: 0,
            attempts: Vec::new(),
            next_attempt_at: None,
            failure: None,
            created_at: t0,
            expires_at: 0,
        };
        let mut now = t0;
        let mut attempts = 0;
        while d.state == DeliveryState::Pending {
            attempts += 1;
            settle_scheduled(&mut d, false, now);
            if let Some(t) = d.next_attempt_at {
                now = t;
            }
        }
        assert_eq!(attempts, 8);
        assert_eq!(d.failure.as_deref(), Some("retries_exhausted"));
        let hours = (now - t0).num_minutes() as f64 / 60.0;
        assert!((27.0..28.0).contains(&hours), "{hours}");
    }

    #[test]
    fn signatures_cover_every_active_secret() {
        let s1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let s2 = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let h = signed_headers(&[s1.into(), s2.into()], "evt_1", now, "{}").unwrap();
        let sig = &h[2].1;
        assert_eq!(sig.split(' ').count(), 2);
        for s in [s1, s2] {
            switchboard_webhooks::standard::verify_signature(
                s,
                switchboard_webhooks::standard::Headers {
                    id: Some("evt_1"),
                    timestamp: Some("1700000000"),
                    signature: Some(sig),
                },
                b"{}",
                1_700_000_000,
                300,
            )
            .unwrap();
        }
    }
}
