//! Billing use cases: applying Stripe events to an org's subscription state (safe under
//! late, duplicate and reordered delivery), the billing API (summary, checkout,
//! portal), usage counting and plan limits on the paths that accept work, and usage
//! reporting to Stripe's meters exactly once.
//!
//! Ordering: Stripe delivers events at least once and in no particular order. For
//! subscription changes Switchboard re-fetches the subscription (Stripe's own advice),
//! so whatever order events arrive in, the state written is Stripe's current one. When
//! the API is unavailable for a fetch, the event's snapshot is applied only if it is at
//! least as new as the state held (`event.created` vs `state_at`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::billing::{
    Billing, BillingConfig, CustomerRoute, Entitlement, Plan, SubscriptionStatus, entitlement,
};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::metrics::Metric;
use crate::model::EventStatus;
use crate::record::{Record, Versioned, decode_all, item, load, upsert};
use crate::services::Services;
use crate::store::{Condition, Index, Query, StoreError};
use crate::stripe::{CheckoutRequest, StripeError};
use crate::usecases::inbound::{finish, unsettled_event};

fn stripe_error(e: StripeError) -> Error {
    match e {
        StripeError::NotConfigured => Error::NotConfigured {
            what: "STRIPE_API_KEY".into(),
        },
        StripeError::Api {
            status,
            message,
            retryable,
            ..
        } => Error::Provider {
            code: "stripe_error",
            message: format!("Stripe refused the request (HTTP {status}): {message}"),
            retryable,
        },
        StripeError::Transport(_) => Error::Provider {
            code: "stripe_unavailable",
            message: "Stripe could not be reached; try again".into(),
            retryable: true,
        },
    }
}

/// Reads an org's billing record.
pub async fn load_billing(svc: &Services, org: &OrgId) -> Result<Option<Versioned<Billing>>> {
    let (pk, sk) = Billing::key_of(org);
    Ok(load::<Billing>(&*svc.store, &pk, &sk).await?)
}

/// Applies `change` to the org's billing record (created on first use) with
/// optimistic concurrency.
async fn update_billing(
    svc: &Services,
    org: &OrgId,
    change: impl Fn(&mut Billing),
) -> Result<Billing> {
    let (pk, sk) = Billing::key_of(org);
    let now = svc.clock.now();
    Ok(upsert(
        &*svc.store,
        &pk,
        &sk,
        || Billing::new(org, now),
        |b| {
            change(b);
            b.updated_at = svc.clock.now();
            true
        },
    )
    .await?)
}

async fn route_customer(svc: &Services, customer: &str, org: &OrgId) -> Result<()> {
    let route = CustomerRoute {
        customer_id: customer.to_owned(),
        org_id: org.clone(),
    };
    match svc.store.put(item(&route, 1)?, Condition::NotExists).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { .. }) => {
            let (pk, sk) = CustomerRoute::key_of(customer);
            let existing = load::<CustomerRoute>(&*svc.store, &pk, &sk).await?;
            match existing {
                Some(r) if &r.record.org_id != org => Err(Error::Internal(format!(
                    "customer {customer} is linked to another org; refusing to relink"
                ))),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn org_of_customer(svc: &Services, customer: &str) -> Result<Option<OrgId>> {
    let (pk, sk) = CustomerRoute::key_of(customer);
    Ok(load::<CustomerRoute>(&*svc.store, &pk, &sk)
        .await?
        .map(|r| r.record.org_id))
}

/// The parts of a subscription object billing reads. Field locations changed across
/// API versions (periods moved to items in 2025-03-31), so both are read.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionState {
    /// `sub_…`.
    pub id: String,
    /// `cus_…`.
    pub customer: Option<String>,
    /// Status.
    pub status: SubscriptionStatus,
    /// First item's price.
    pub price_id: Option<String>,
    /// Current period.
    pub current_period_start: Option<i64>,
    /// Current period end.
    pub current_period_end: Option<i64>,
    /// Trial end.
    pub trial_end: Option<i64>,
    /// Cancels at period end.
    pub cancel_at_period_end: bool,
    /// Created.
    pub created: Option<i64>,
    /// `metadata.org_id`.
    pub org_id: Option<OrgId>,
}

impl SubscriptionState {
    /// Reads a subscription object.
    pub fn parse(obj: &Value) -> Option<Self> {
        let id = obj.get("id")?.as_str()?.to_owned();
        let item = obj.pointer("/items/data/0");
        let int = |v: Option<&Value>| v.and_then(Value::as_i64);
        let customer = obj
            .get("customer")
            .and_then(|c| c.as_str().or_else(|| c.get("id").and_then(Value::as_str)))
            .map(str::to_owned);
        Some(Self {
            id,
            customer,
            status: SubscriptionStatus::parse(
                obj.get("status").and_then(Value::as_str).unwrap_or(""),
            ),
            price_id: item
                .and_then(|i| i.pointer("/price/id"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            current_period_start: int(obj.get("current_period_start"))
                .or_else(|| int(item.and_then(|i| i.get("current_period_start")))),
            current_period_end: int(obj.get("current_period_end"))
                .or_else(|| int(item.and_then(|i| i.get("current_period_end")))),
            trial_end: int(obj.get("trial_end")),
            cancel_at_period_end: obj
                .get("cancel_at_period_end")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            created: int(obj.get("created")),
            org_id: obj
                .pointer("/metadata/org_id")
                .and_then(Value::as_str)
                .and_then(|s| OrgId::parse(s).ok()),
        })
    }
}

/// Writes a subscription state into a billing record, unless it is older than what the
/// record holds or belongs to a subscription the record has moved past.
fn apply_subscription(
    b: &mut Billing,
    s: &SubscriptionState,
    state_at: i64,
    cfg: &BillingConfig,
) -> bool {
    if let (Some(current), Some(cur_created)) = (&b.subscription_id, b.subscription_created)
        && current != &s.id
        && s.created.is_some_and(|c| c < cur_created)
    {
        debug!(subscription = %s.id, "ignoring an older subscription of the customer");
        return false;
    }
    if b.subscription_id.as_deref() == Some(s.id.as_str()) && state_at < b.state_at {
        debug!(subscription = %s.id, state_at, held = b.state_at, "ignoring an older state");
        return false;
    }
    if b.current_period_start.is_some() && s.current_period_start != b.current_period_start {
        b.previous_period_start = b.current_period_start;
    }
    b.subscription_id = Some(s.id.clone());
    b.subscription_created = s.created.or(b.subscription_created);
    if let Some(c) = &s.customer {
        b.customer_id = Some(c.clone());
    }
    b.price_id = s.price_id.clone();
    b.plan = s.price_id.as_ref().and_then(|p| cfg.prices.get(p).copied());
    if s.status == SubscriptionStatus::PastDue {
        if b.status != SubscriptionStatus::PastDue || b.past_due_since.is_none() {
            b.past_due_since = Some(state_at);
        }
    } else {
        b.past_due_since = None;
    }
    b.status = s.status;
    b.current_period_start = s.current_period_start;
    b.current_period_end = s.current_period_end;
    b.trial_end = s.trial_end;
    b.cancel_at_period_end = s.cancel_at_period_end;
    b.state_at = state_at;
    true
}

/// What the billing consumer did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingOutcome {
    /// Applied to an org.
    Applied(OrgId),
    /// Processed before.
    AlreadyProcessed,
    /// Recorded only (a type billing does not act on).
    Ignored,
    /// No org could be found for the customer yet; kept as unroutable.
    Unroutable,
}

/// Applies the Stripe event a queue message points at.
pub async fn apply_event(
    svc: &Services,
    cfg: &BillingConfig,
    body: &str,
) -> Result<BillingOutcome> {
    let Some(mut event) = unsettled_event(svc, body).await? else {
        return Ok(BillingOutcome::AlreadyProcessed);
    };
    let envelope = switchboard_webhooks::stripe::Event::parse(event.payload.as_bytes())
        .map_err(|e| Error::Internal(format!("stored Stripe event does not parse: {e}")))?;
    let obj = envelope.object();
    let kind = envelope.kind.as_str();
    let handled = matches!(
        kind,
        "checkout.session.completed"
            | "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted"
            | "customer.subscription.paused"
            | "customer.subscription.resumed"
            | "customer.subscription.trial_will_end"
            | "invoice.paid"
            | "invoice.payment_failed"
            | "invoice.upcoming"
    );
    if !handled {
        finish(
            svc,
            &mut event,
            EventStatus::Ignored,
            None,
            Some(format!("{kind} is recorded only")),
        )
        .await?;
        return Ok(BillingOutcome::Ignored);
    }

    // Which org: checkout names it; everything else goes through the customer.
    let org = if kind == "checkout.session.completed" {
        let named = obj
            .get("client_reference_id")
            .and_then(Value::as_str)
            .or_else(|| obj.pointer("/metadata/org_id").and_then(Value::as_str))
            .and_then(|s| OrgId::parse(s).ok());
        match (named, envelope.customer()) {
            (Some(org), Some(customer)) => {
                route_customer(svc, &customer, &org).await?;
                Some(org)
            }
            (org, _) => org,
        }
    } else {
        match envelope.customer() {
            Some(customer) => match org_of_customer(svc, &customer).await? {
                Some(org) => Some(org),
                // A subscription event can beat checkout.session.completed; the
                // subscription carries the org in its metadata (set at checkout).
                None => match obj
                    .pointer("/metadata/org_id")
                    .and_then(Value::as_str)
                    .and_then(|s| OrgId::parse(s).ok())
                {
                    Some(org) => {
                        route_customer(svc, &customer, &org).await?;
                        Some(org)
                    }
                    None => None,
                },
            },
            None => None,
        }
    };
    let Some(org) = org else {
        warn!(event = %envelope.id, kind, "no org for this Stripe customer; keeping the event as unroutable");
        finish(
            svc,
            &mut event,
            EventStatus::Unroutable,
            None,
            Some("no org is linked to the customer".into()),
        )
        .await?;
        return Ok(BillingOutcome::Unroutable);
    };

    let subscription_id = match kind {
        "checkout.session.completed" => obj
            .get("subscription")
            .and_then(|s| s.as_str().or_else(|| s.get("id").and_then(Value::as_str)))
            .map(str::to_owned),
        k if k.starts_with("customer.subscription.") => {
            obj.get("id").and_then(Value::as_str).map(str::to_owned)
        }
        _ => obj
            .get("subscription")
            .and_then(Value::as_str)
            .or_else(|| {
                obj.pointer("/parent/subscription_details/subscription")
                    .and_then(Value::as_str)
            })
            .map(str::to_owned),
    };

    // Prefer Stripe's current state; fall back to the event's own snapshot.
    let mut state: Option<(SubscriptionState, i64)> = None;
    if let Some(id) = &subscription_id {
        match svc.stripe.get_subscription(id).await {
            Ok(current) => {
                state = SubscriptionState::parse(&current).map(|s| (s, svc.clock.now().timestamp()))
            }
            Err(e) if e.is_retryable() => return Err(stripe_error(e)),
            Err(e) => {
                debug!(error = %e, "could not re-fetch the subscription; using the event's snapshot");
                if kind.starts_with("customer.subscription.") {
                    state = SubscriptionState::parse(&obj).map(|s| (s, envelope.created));
                }
            }
        }
    }

    let created = envelope.created;
    let customer = envelope.customer();
    let updated = update_billing(svc, &org, |b| {
        if let Some(c) = &customer {
            b.customer_id = Some(c.clone());
        }
        if let Some((s, at)) = &state {
            let before = (b.plan, b.status, b.current_period_end);
            if apply_subscription(b, s, *at, cfg)
                && (b.plan, b.status, b.current_period_end) != before
            {
                b.changed_by_event = Some(envelope.id.clone());
            }
        }
        match kind {
            "invoice.paid" => {
                b.last_invoice_paid_at = Some(b.last_invoice_paid_at.unwrap_or(0).max(created))
            }
            "invoice.payment_failed" => {
                b.last_payment_failed_at = Some(b.last_payment_failed_at.unwrap_or(0).max(created))
            }
            "customer.subscription.trial_will_end" => b.trial_will_end_at = Some(created),
            "invoice.upcoming" => {
                b.upcoming_invoice = Some(serde_json::json!({
                    "amount_due": obj.get("amount_due"),
                    "currency": obj.get("currency"),
                    "next_payment_attempt": obj.get("next_payment_attempt"),
                }))
            }
            _ => {}
        }
    })
    .await?;
    info!(org_id = %org, kind, status = ?updated.status, plan = ?updated.plan, "billing state updated");
    // Owners hear of trial ends, failed payments and cancellations. Before the event is
    // settled: a failure to queue the notice retries the event, whose state update is
    // idempotent and whose notice is keyed by the event id.
    crate::usecases::notifications::on_billing_event(svc, &org, kind, &envelope.id, &obj).await?;
    // Before the event is settled too: a retry publishes it again (the same event).
    if updated.changed_by_event.as_deref() == Some(envelope.id.as_str()) {
        publish_subscription(svc, &updated, &envelope.id).await?;
    }
    finish(
        svc,
        &mut event,
        EventStatus::Processed,
        Some(org.clone()),
        None,
    )
    .await?;
    Ok(BillingOutcome::Applied(org))
}

/// Publishes `billing.subscription_updated`: the plan, status and period end the Stripe
/// event `event` left (one event per Stripe event; never ids of Stripe's own).
async fn publish_subscription(svc: &Services, b: &Billing, event: &str) -> Result<()> {
    let period_end = b
        .current_period_end
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(crate::clock::fmt_time);
    crate::usecases::platform_events::publish(
        svc,
        &b.org_id,
        crate::usecases::platform_events::EventType::BillingSubscriptionUpdated,
        &[event],
        serde_json::json!({
            "plan": b.plan,
            "status": b.status,
            "current_period_end": period_end,
            "cancel_at_period_end": b.cancel_at_period_end,
        }),
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------- usage

/// A usage counter of an org's period.
fn counter_key(org: &OrgId, period: i64, what: &str) -> (String, String) {
    (format!("ORG#{org}#USAGE"), format!("{period:012}#{what}"))
}

async fn counter(svc: &Services, org: &OrgId, period: i64, what: &str) -> Result<i64> {
    let (pk, sk) = counter_key(org, period, what);
    Ok(svc
        .store
        .get(&pk, &sk)
        .await?
        .and_then(|i| i.n)
        .unwrap_or(0))
}

fn counter_ttl(period: i64) -> Option<i64> {
    // Keep a period's counters for a year: invoices and disputes look back.
    Some(period + 400 * 86_400)
}

fn limit_reached(what: &str, limit: u64, plan: Option<Plan>) -> Error {
    Error::PaymentRequired {
        code: "plan_limit_reached",
        message: format!(
            "the {} plan allows {limit} {what}; upgrade the plan to go beyond",
            plan.map(Plan::as_str).unwrap_or("current")
        ),
    }
}

/// The org's billing record, if its subscription allows work now; else the 402.
async fn entitled(svc: &Services, cfg: &BillingConfig, org: &OrgId) -> Result<Option<Billing>> {
    let billing = load_billing(svc, org).await?.map(|b| b.record);
    let ent = entitlement(billing.as_ref(), cfg, svc.clock.now());
    if !ent.allowed {
        return Err(Error::PaymentRequired {
            code: ent.code.unwrap_or("subscription_inactive"),
            message: ent.reason.unwrap_or_default(),
        });
    }
    Ok(billing)
}

/// The org's billing state now (a fresh one if it has none), if its subscription allows
/// work; else the 402.
async fn entitled_now(
    svc: &Services,
    cfg: &BillingConfig,
    org: &OrgId,
) -> Result<(Billing, DateTime<Utc>)> {
    let now = svc.clock.now();
    let billing = entitled(svc, cfg, org)
        .await?
        .unwrap_or_else(|| Billing::new(org, now));
    Ok((billing, now))
}

/// Whether a counter value is over a limit. Compared signed: a counter can only be
/// negative through a bug or a manual edit, and it must then read as room, never (as an
/// unsigned cast would make it) as a huge count.
fn over(count: i64, limit: u64) -> bool {
    i64::try_from(limit).is_ok_and(|limit| count > limit)
}

/// Admits one outbound message for billing: the subscription must allow sending and the
/// period's message and seat limits must have room. Returns the period a message was
/// reserved in, if one was (a plan without a message limit, or no enforcement, reserves
/// nothing); the caller keeps it on the message so a message that fails for good gives
/// back exactly that. Cheap: reads the billing record and bumps counters; no Stripe
/// call.
pub async fn admit_message(
    svc: &Services,
    cfg: &BillingConfig,
    org: &OrgId,
    sender: Option<&str>,
) -> Result<Option<i64>> {
    if !cfg.enforce {
        return Ok(None);
    }
    let (billing, now) = entitled_now(svc, cfg, org).await?;
    let limits = cfg.limits_of(billing.plan);
    let period = billing.period_at(now);
    if let (Some(limit), Some(user)) = (limits.seats, sender) {
        let (pk, _) = counter_key(org, period, "seats");
        let seat =
            crate::store::Item::new(pk.clone(), format!("{period:012}#SEAT#{user}"), Value::Null)
                .with_ttl(counter_ttl(period).unwrap_or(0));
        match svc.store.put(seat, Condition::NotExists).await {
            Ok(()) => {
                let (cpk, csk) = counter_key(org, period, "seats");
                let n = svc
                    .store
                    .increment(&cpk, &csk, 1, counter_ttl(period))
                    .await?;
                if over(n, limit) {
                    svc.store.take(&cpk, &csk, 1).await?;
                    svc.store
                        .delete(&pk, &format!("{period:012}#SEAT#{user}"), Condition::Always)
                        .await?;
                    return Err(limit_reached(
                        "agents sending per period",
                        limit,
                        billing.plan,
                    ));
                }
            }
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let Some(limit) = limits.messages_per_month else {
        return Ok(None);
    };
    if !reserve(svc, org, period, "accepted", limit).await? {
        return Err(limit_reached("messages per period", limit, billing.plan));
    }
    Ok(Some(period))
}

/// Counts one more on the period's `counter` unless that goes over `limit`: then nothing
/// is counted and the answer is `false`.
async fn reserve(
    svc: &Services,
    org: &OrgId,
    period: i64,
    counter: &str,
    limit: u64,
) -> Result<bool> {
    let (pk, sk) = counter_key(org, period, counter);
    let n = svc
        .store
        .increment(&pk, &sk, 1, counter_ttl(period))
        .await?;
    if over(n, limit) {
        svc.store.take(&pk, &sk, 1).await?;
        return Ok(false);
    }
    Ok(true)
}

/// Gives back a message reservation taken in `period` (the message failed for good
/// before being sent, or was never stored). Never below zero.
pub async fn release_message(svc: &Services, org: &OrgId, period: i64) -> Result<()> {
    release(svc, org, period, "accepted").await
}

/// Takes one back from the period's `counter` (a reservation that came to nothing).
async fn release(svc: &Services, org: &OrgId, period: i64, counter: &str) -> Result<()> {
    let (pk, sk) = counter_key(org, period, counter);
    if svc.store.take(&pk, &sk, 1).await?.is_none() {
        warn!(org_id = %org, period, counter, "a reservation to give back was not on the counter");
    }
    Ok(())
}

/// Counts a sent message as billable usage of its period (an AI reply also as an AI
/// reply, reported under its own meter).
pub async fn record_sent(svc: &Services, org: &OrgId, at: DateTime<Utc>, ai: bool) -> Result<()> {
    let billing = load_billing(svc, org)
        .await?
        .map(|b| b.record)
        .unwrap_or_else(|| Billing::new(org, at));
    let period = billing.period_at(at);
    let (pk, sk) = counter_key(org, period, "sent");
    svc.store
        .increment(&pk, &sk, 1, counter_ttl(period))
        .await?;
    if ai {
        let (pk, sk) = counter_key(org, period, "ai_sent");
        svc.store
            .increment(&pk, &sk, 1, counter_ttl(period))
            .await?;
    }
    Ok(())
}

/// Admits one AI reply (an auto-reply, or a draft an agent accepts): the subscription
/// must allow sending and the period's AI-reply limit must have room (402 otherwise).
/// Returns the period it was reserved in, if one was; give it back with
/// [`release_ai_reply`] when the reply is not sent after all.
pub async fn admit_ai_reply(
    svc: &Services,
    cfg: &BillingConfig,
    org: &OrgId,
) -> Result<Option<i64>> {
    if !cfg.enforce {
        return Ok(None);
    }
    let (billing, now) = entitled_now(svc, cfg, org).await?;
    let Some(limit) = cfg.limits_of(billing.plan).ai_replies_per_month else {
        return Ok(None);
    };
    let period = billing.period_at(now);
    if !reserve(svc, org, period, "ai_accepted", limit).await? {
        return Err(limit_reached("AI replies per period", limit, billing.plan));
    }
    Ok(Some(period))
}

/// Gives back an AI-reply reservation (what [`admit_ai_reply`] answered) of a reply that
/// was not sent after all. Never fails the caller: a failure is logged.
pub async fn release_ai_reply(svc: &Services, org: &OrgId, reserved: Option<i64>) {
    if let Some(period) = reserved
        && let Err(e) = release(svc, org, period, "ai_accepted").await
    {
        warn!(org_id = %org, error = %e, "could not give back an AI reply reservation");
    }
}

/// Checks the plan allows one more connected number.
pub async fn admit_number(svc: &Services, cfg: &BillingConfig, org: &OrgId) -> Result<()> {
    if !cfg.enforce {
        return Ok(());
    }
    let plan = entitled(svc, cfg, org).await?.and_then(|b| b.plan);
    // Counted only when a limit applies: the common unlimited case costs no query.
    if let Some(limit) = cfg.limits_of(plan).connected_numbers
        && crate::usecases::integrations::list(svc, org).await?.len() as u64 >= limit
    {
        return Err(limit_reached("connected numbers", limit, plan));
    }
    Ok(())
}

// ---------------------------------------------------------------------- API

/// `GET /v1/billing`.
pub async fn summary(svc: &Services, cfg: &BillingConfig, org: &OrgId) -> Result<Value> {
    let now = svc.clock.now();
    let billing = load_billing(svc, org).await?.map(|b| b.record);
    let ent: Entitlement = entitlement(billing.as_ref(), cfg, now);
    let b = billing.clone().unwrap_or_else(|| Billing::new(org, now));
    let period = b.period_at(now);
    let limits = cfg.limits_of(b.plan);
    let numbers = crate::usecases::integrations::list(svc, org).await?.len();
    let limit = |l: Option<u64>| {
        if cfg.enforce {
            serde_json::json!(l)
        } else {
            Value::Null
        }
    };
    let time = |t: Option<i64>| {
        t.and_then(|s| DateTime::from_timestamp(s, 0))
            .map(crate::clock::fmt_time)
    };
    Ok(serde_json::json!({
        "plan": b.plan,
        "status": b.status,
        "current_period": {"start": time(b.current_period_start), "end": time(b.current_period_end)},
        "usage_period_start": time(Some(period)),
        "trial_end": time(b.trial_end),
        "cancel_at_period_end": b.cancel_at_period_end,
        "past_due_since": time(b.past_due_since),
        "usage": {
            "messages": {"used": counter(svc, org, period, "sent").await?, "accepted": counter(svc, org, period, "accepted").await?, "limit": limit(limits.messages_per_month)},
            "connected_numbers": {"used": numbers, "limit": limit(limits.connected_numbers)},
            "seats": {"used": counter(svc, org, period, "seats").await?, "limit": limit(limits.seats)},
            "ai_replies": {"used": counter(svc, org, period, "ai_sent").await?, "accepted": counter(svc, org, period, "ai_accepted").await?, "limit": limit(limits.ai_replies_per_month)},
        },
        "sending": {"allowed": ent.allowed, "reason": ent.reason, "code": ent.code},
        "enforced": cfg.enforce,
    }))
}

fn validate_url(field: &str, v: Option<&Value>) -> Result<String> {
    let s = match v {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 2048 => s,
        None | Some(Value::Null) => {
            return Err(Error::validation(
                field,
                "required",
                format!("{field} is required"),
            ));
        }
        _ => {
            return Err(Error::validation(
                field,
                "invalid_url",
                format!("{field} must be a URL"),
            ));
        }
    };
    let ok = s.starts_with("https://")
        || s.starts_with("http://localhost")
        || s.starts_with("http://127.0.0.1");
    if !ok || s.contains(char::is_whitespace) {
        return Err(Error::validation(
            field,
            "invalid_url",
            format!("{field} must be an https URL"),
        ));
    }
    Ok(s.clone())
}

async fn ensure_customer(svc: &Services, org: &OrgId) -> Result<String> {
    if let Some(c) = load_billing(svc, org)
        .await?
        .and_then(|b| b.record.customer_id)
    {
        return Ok(c);
    }
    // One customer per org, whatever the retries: the idempotency key is the org.
    let customer = svc
        .stripe
        .create_customer(org, &format!("switchboard-customer-{org}"))
        .await
        .map_err(stripe_error)?;
    route_customer(svc, &customer, org).await?;
    let c = customer.clone();
    update_billing(svc, org, |b| {
        if b.customer_id.is_none() {
            b.customer_id = Some(c.clone());
        }
    })
    .await?;
    Ok(customer)
}

/// `POST /v1/billing/checkout`: a subscription-mode Checkout Session URL.
pub async fn checkout(
    svc: &Services,
    cfg: &BillingConfig,
    org: &OrgId,
    body: &Value,
) -> Result<String> {
    let plan = match body.get("plan") {
        Some(Value::String(p)) => Plan::parse(p).ok_or_else(|| {
            Error::validation(
                "plan",
                "invalid_plan",
                "plan must be starter, professional or enterprise",
            )
        })?,
        _ => return Err(Error::validation("plan", "required", "plan is required")),
    };
    let success_url = validate_url("success_url", body.get("success_url"))?;
    let cancel_url = validate_url("cancel_url", body.get("cancel_url"))?;
    let price = cfg.checkout_prices.get(&plan).ok_or_else(|| {
        Error::validation(
            "plan",
            "plan_not_available",
            format!(
                "no Stripe price is configured for the {} plan",
                plan.as_str()
            ),
        )
    })?;
    let customer = ensure_customer(svc, org).await?;
    // Retries of the same request within the hour get the same session.
    let hour = svc.clock.now().timestamp() / 3600;
    let key = switchboard_webhooks::sha256_hex(&[
        org.as_str().as_bytes(),
        b"\n",
        plan.as_str().as_bytes(),
        b"\n",
        success_url.as_bytes(),
        b"\n",
        cancel_url.as_bytes(),
        b"\n",
        hour.to_string().as_bytes(),
    ]);
    svc.stripe
        .create_checkout_session(
            &CheckoutRequest {
                org,
                customer: &customer,
                price,
                success_url: &success_url,
                cancel_url: &cancel_url,
            },
            &format!("switchboard-checkout-{key}"),
        )
        .await
        .map_err(stripe_error)
}

/// `POST /v1/billing/portal`: a Billing Portal session URL.
pub async fn portal(svc: &Services, org: &OrgId, body: &Value) -> Result<String> {
    let return_url = validate_url("return_url", body.get("return_url"))?;
    let customer = load_billing(svc, org)
        .await?
        .and_then(|b| b.record.customer_id)
        .ok_or(Error::Conflict {
            code: "no_customer",
            message: "the organisation has no Stripe customer yet; start a checkout first".into(),
        })?;
    let minute = svc.clock.now().timestamp() / 60;
    let key = switchboard_webhooks::sha256_hex(&[
        org.as_str().as_bytes(),
        b"\n",
        return_url.as_bytes(),
        b"\n",
        minute.to_string().as_bytes(),
    ]);
    svc.stripe
        .create_portal_session(&customer, &return_url, &format!("switchboard-portal-{key}"))
        .await
        .map_err(stripe_error)
}

// ---------------------------------------------------------------------- reporting

/// What has been reported to Stripe for one org and period.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReportState {
    org_id: OrgId,
    period: i64,
    reported: i64,
    #[serde(default)]
    pending: Option<PendingReport>,
    /// Its counter's name: `report` (messages, also every state stored before AI
    /// replies had a meter of their own) or `report_ai`.
    #[serde(default = "messages_report")]
    state: String,
}

fn messages_report() -> String {
    Meter::Messages.state().to_owned()
}

/// A meter event about to be sent, with every parameter it is sent with. Stripe
/// answers `idempotency_error` to a key reused with other parameters, so a retry must
/// send exactly this — including the timestamp — never values recomputed later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PendingReport {
    identifier: String,
    value: i64,
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    customer: Option<String>,
    /// The usage's own time, inside its period: a period's tail reported after the
    /// renewal is still billed to that period's invoice.
    #[serde(default)]
    timestamp: Option<i64>,
}

impl Record for ReportState {
    fn key(&self) -> (String, String) {
        counter_key(&self.org_id, self.period, &self.state)
    }

    fn ttl(&self) -> Option<i64> {
        counter_ttl(self.period)
    }
}

/// What one usage-report run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportSummary {
    /// Orgs looked at.
    pub orgs: usize,
    /// Meter events sent.
    pub events: usize,
    /// Messages reported.
    pub messages: i64,
    /// Orgs whose report failed (retried next run).
    pub failures: usize,
}

/// Reports each org's usage not yet reported, for its current and previous period.
///
/// Exactly once: the amount to report is first saved as a pending report with an
/// identifier derived from the org, the period and the amount already reported; the
/// meter event is sent with that identifier; then the pending report is folded into
/// the reported total. A run that stops half-way re-sends the same pending report with
/// the same identifier, which Stripe deduplicates.
pub async fn report_usage(svc: &Services, cfg: &BillingConfig) -> Result<ReportSummary> {
    let mut summary = ReportSummary::default();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi1, Billing::CUSTOMERS_PK)
                    .limit(100)
                    .after(after),
            )
            .await?;
        for b in decode_all::<Billing>(&page.items)? {
            summary.orgs += 1;
            let Some(customer) = b.customer_id.clone() else {
                continue;
            };
            for (meter, period) in b
                .reportable_periods(svc.clock.now())
                .into_iter()
                .flat_map(|p| [(Meter::Messages, p), (Meter::AiReplies, p)])
            {
                match report_period(svc, cfg, &b, &customer, period, meter).await {
                    Ok(n) if n > 0 => {
                        summary.events += 1;
                        summary.messages += n;
                        svc.metrics.count(Metric::UsageReports, None, 1);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        warn!(org_id = %b.org_id, period, error = %e, "usage report failed; the next run retries it");
                        summary.failures += 1;
                        svc.metrics.count(Metric::UsageReportFailures, None, 1);
                    }
                }
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => return Ok(summary),
        }
    }
}

/// What a meter event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meter {
    /// Messages sent (`STRIPE_METER_EVENT`).
    Messages,
    /// AI replies sent (`STRIPE_AI_METER_EVENT`).
    AiReplies,
}

impl Meter {
    /// The usage counter it reports.
    fn counter(self) -> &'static str {
        match self {
            Meter::Messages => "sent",
            Meter::AiReplies => "ai_sent",
        }
    }

    /// The counter of its report state.
    fn state(self) -> &'static str {
        match self {
            Meter::Messages => "report",
            Meter::AiReplies => "report_ai",
        }
    }

    fn event_name(self, cfg: &BillingConfig) -> &str {
        match self {
            Meter::Messages => &cfg.meter_event_name,
            Meter::AiReplies => &cfg.ai_meter_event_name,
        }
    }

    /// Its meter events' identifier prefix (the messages' is the original one).
    fn identifier(self) -> &'static str {
        match self {
            Meter::Messages => "sb",
            Meter::AiReplies => "sb-ai",
        }
    }
}

async fn report_period(
    svc: &Services,
    cfg: &BillingConfig,
    billing: &Billing,
    customer: &str,
    period: i64,
    meter: Meter,
) -> Result<i64> {
    let org = &billing.org_id;
    let (pk, sk) = counter_key(org, period, meter.state());
    let mut state = load::<ReportState>(&*svc.store, &pk, &sk)
        .await?
        .unwrap_or_else(|| {
            Versioned::new(ReportState {
                org_id: org.clone(),
                period,
                reported: 0,
                pending: None,
                state: meter.state().to_owned(),
            })
        });
    if state.record.pending.is_none() {
        let sent = counter(svc, org, period, meter.counter()).await?;
        let delta = sent - state.record.reported;
        if delta <= 0 {
            return Ok(0);
        }
        // Inside the period: now while it runs, its last second once it is over.
        let timestamp = svc
            .clock
            .now()
            .timestamp()
            .min(billing.period_end(period) - 1)
            .max(period);
        state.record.pending = Some(PendingReport {
            identifier: format!(
                "{}-{org}-{period}-{}",
                meter.identifier(),
                state.record.reported
            ),
            value: delta,
            event_name: Some(meter.event_name(cfg).to_owned()),
            customer: Some(customer.to_owned()),
            timestamp: Some(timestamp),
        });
        svc.store.put(state.next_item()?, state.condition()).await?;
        state.version += 1;
    }
    let pending = state.record.pending.clone().expect("set above");
    // Reports saved before every parameter was kept fall back to today's values.
    svc.stripe
        .create_meter_event(
            pending
                .event_name
                .as_deref()
                .unwrap_or(meter.event_name(cfg)),
            pending.customer.as_deref().unwrap_or(customer),
            pending.value as u64,
            &pending.identifier,
            pending
                .timestamp
                .unwrap_or_else(|| svc.clock.now().timestamp()),
        )
        .await
        .map_err(stripe_error)?;
    state.record.reported += pending.value;
    state.record.pending = None;
    svc.store.put(state.next_item()?, state.condition()).await?;
    info!(org_id = %org, period, value = pending.value, identifier = %pending.identifier, "reported usage to Stripe");
    Ok(pending.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subscription_state_reads_both_period_locations() {
        let old = json!({"id": "sub_1", "customer": "cus_1", "status": "active", "current_period_start": 10, "current_period_end": 20, "created": 5,
            "items": {"data": [{"price": {"id": "price_pro"}}]}, "metadata": {"org_id": "acme"}});
        let s = SubscriptionState::parse(&old).unwrap();
        assert_eq!(
            (s.current_period_start, s.current_period_end),
            (Some(10), Some(20))
        );
        assert_eq!(s.price_id.as_deref(), Some("price_pro"));
        assert_eq!(s.org_id.unwrap().as_str(), "acme");
        let new = json!({"id": "sub_1", "customer": {"id": "cus_1"}, "status": "past_due",
            "items": {"data": [{"price": {"id": "price_pro"}, "current_period_start": 30, "current_period_end": 40}]}});
        let s = SubscriptionState::parse(&new).unwrap();
        assert_eq!(
            (s.current_period_start, s.status),
            (Some(30), SubscriptionStatus::PastDue)
        );
        assert_eq!(s.customer.as_deref(), Some("cus_1"));
    }

    #[test]
    fn older_states_and_older_subscriptions_do_not_win() {
        let cfg = BillingConfig::default().with_prices(Plan::Professional, &["price_pro"]);
        let org = OrgId::parse("acme").unwrap();
        let mut b = Billing::new(&org, Utc::now());
        let sub = |id: &str, status: &str, created: i64| {
            SubscriptionState::parse(&json!({"id": id, "status": status, "created": created, "items": {"data": [{"price": {"id": "price_pro"}}]}})).unwrap()
        };
        assert!(apply_subscription(
            &mut b,
            &sub("sub_1", "active", 1),
            100,
            &cfg
        ));
        assert_eq!(b.plan, Some(Plan::Professional));
        assert!(
            !apply_subscription(&mut b, &sub("sub_1", "canceled", 1), 90, &cfg),
            "older state"
        );
        assert_eq!(b.status, SubscriptionStatus::Active);
        assert!(apply_subscription(
            &mut b,
            &sub("sub_1", "past_due", 1),
            110,
            &cfg
        ));
        assert_eq!(b.past_due_since, Some(110));
        assert!(apply_subscription(
            &mut b,
            &sub("sub_1", "past_due", 1),
            120,
            &cfg
        ));
        assert_eq!(
            b.past_due_since,
            Some(110),
            "grace starts at the first past_due"
        );
        assert!(
            apply_subscription(&mut b, &sub("sub_2", "active", 50), 130, &cfg),
            "a newer subscription replaces"
        );
        assert!(
            !apply_subscription(&mut b, &sub("sub_1", "canceled", 1), 140, &cfg),
            "the old one's cancellation does not"
        );
        assert_eq!(
            (b.subscription_id.as_deref(), b.status, b.past_due_since),
            (Some("sub_2"), SubscriptionStatus::Active, None)
        );
    }
}
