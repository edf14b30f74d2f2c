//! What the sender worker does with a queued message: pace it, send it through Graph
//! with the account's token, and record the outcome.
//!
//! - **Pacing.** Every send reserves a slot from two limiters shared through the item
//!   store (the recipient's pair rate, then the number's throughput). A slot within
//!   `max_inline_wait` is waited for here; a later one is stored on the message and the
//!   queue message is hidden until a second before it. A message the queue hands back
//!   late for its slot anyway gets a new one (sending it late would bunch it with
//!   on-time sends), at most [`MAX_LATE_REPACES`] times, then goes late: so a
//!   message's receives are bounded by [`QueueName::receive_budget`] however long the
//!   campaign, and pacing can never push it into the DLQ.
//! - **Errors.** A closed window, an invalid recipient or a bad template fail the
//!   message; a rejected token fails it and flags the account. Throughput limits, the
//!   pair rate and server errors are transient: the message shows `retrying` with its
//!   attempt count and next attempt time, and comes back after the retry policy's delay
//!   (seconds doubling up to an hour, for about a day, so a provider incident of hours
//!   loses nothing). When the policy's horizon is spent the message is `failed`
//!   (retryable) and moved to the DLQ explicitly; a redrive tries again.
//! - **Billing.** A sent message counts as usage of its period; a message that fails
//!   for good gives back the reservation it took when it was accepted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use crate::error::{Error, Result};
use crate::metrics::{Metric, incr};
use crate::model::{
    Account, AccountStatus, Conversation, EarlyStatus, Lane, Message, MessageError, MessageStatus,
    WamidRoute,
};
use crate::queue::{MAX_LANE_WAITS, MAX_LATE_REPACES, QueueName};
use crate::record::{Record, Versioned, decode_all, item, load, update};
use crate::retry::RetryPolicy;
use crate::services::Services;
use crate::store::{Condition, Query, SortKey, StoreError, Write};
use crate::usecases::billing;
use crate::usecases::inbound::{apply_status, publish_failed};
use crate::usecases::pacing::{self, Rate, Reservation};
use crate::whatsapp::{GraphError, OutboundMessage};

use super::{
    ErrorClass, MAX_ATTEMPTS, OutboundRef, TokenCache, classify, fail, graph_message_error,
    mark_reauth, switchboard_error,
};

/// Sender settings.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryConfig {
    /// Messages per second per number when the account sets none (Meta's default: 80).
    pub default_messages_per_second: u32,
    /// Fraction of the limit actually used (headroom for network jitter).
    pub margin: f64,
    /// Pacing per business number + recipient (Meta's pair rate: bursts, then about one
    /// message per 6 s).
    pub pair: Rate,
    /// How transient send failures are retried.
    pub retry: RetryPolicy,
    /// Longest wait for a pacing slot inside the handler; later slots go back to the
    /// queue with a delay.
    pub max_inline_wait: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            default_messages_per_second: 80,
            margin: 0.97,
            pair: Rate::every(6, 5),
            retry: RetryPolicy::DEFAULT,
            max_inline_wait: Duration::from_millis(1500),
        }
    }
}

/// What the sender did with a queue message.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// WhatsApp accepted it.
    Sent {
        /// WhatsApp's id.
        wamid: String,
    },
    /// Nothing to do (already sent, failed for good, or gone).
    Skipped,
    /// Failed for good; the message says why.
    Failed,
    /// Not yet: come back after the delay (pacing or a retryable error).
    Later(Duration),
    /// Out of retries: the message is failed (retryable) and the queue message belongs
    /// in the DLQ, from where a redrive tries again.
    DeadLetter,
}

/// How long a redelivered message whose last attempt never came back waits for Meta's
/// status of that attempt before sending again (Meta reports `sent` within seconds).
const RECONCILE_WINDOW: chrono::Duration = chrono::Duration::seconds(30);

/// How late for its slot a message may still be sent. Sends are spaced evenly at 97 % of
/// the limit, so the 3 % headroom absorbs a delay of about 18 ms in any one-second window;
/// a message later than this takes a new slot rather than bunch up with on-time ones (a
/// 2-second tolerance let late messages triple a window's count).
const LATE_US: i64 = 10_000;

/// A deferred message comes back this long before its slot and waits the rest inline, so
/// a queue that hands it back up to this late still makes the slot.
const LEAD_US: i64 = 1_000_000;

fn now_us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn waiting(m: &Message) -> bool {
    matches!(m.status, MessageStatus::Queued | MessageStatus::Retrying)
}

/// Sends the message a queue body points at. `receive_count` is the queue's count of
/// receives of this queue message, this one included.
pub async fn deliver(
    svc: &Services,
    cfg: &DeliveryConfig,
    tokens: &TokenCache,
    body: &str,
    receive_count: u32,
) -> Result<Delivery> {
    let r: OutboundRef = serde_json::from_str(body)
        .map_err(|e| Error::Internal(format!("queue body is not an outbound reference: {e}")))?;
    let (pk, sk) = Message::key_of(&r.org_id, &r.message_id);
    let Some(message) = load::<Message>(&*svc.store, &pk, &sk).await? else {
        return Err(Error::Internal(format!(
            "outbound message {} is not stored",
            r.message_id
        )));
    };
    let span = tracing::Span::current();
    span.record("org_id", r.org_id.as_str());
    span.record("message_id", r.message_id.as_str());
    let reserved = message.record.reserved_period;
    let from_campaign = matches!(
        message.record.origin,
        Some(crate::model::MessageOrigin::Campaign { .. })
    );
    let from_ai = matches!(
        message.record.origin,
        Some(crate::model::MessageOrigin::Ai { .. })
    );
    let delivery = deliver_message(svc, cfg, tokens, &r, message, receive_count).await?;
    if from_campaign
        && matches!(
            delivery,
            Delivery::Sent { .. } | Delivery::Failed | Delivery::DeadLetter
        )
        && let Some(m) = load::<Message>(&*svc.store, &pk, &sk).await?
    {
        crate::usecases::campaigns::follow(svc, &m.record).await?;
    }
    let outcome = match &delivery {
        Delivery::Sent { .. } => {
            billing::record_sent(svc, &r.org_id, svc.clock.now(), from_ai).await?;
            Some("sent")
        }
        Delivery::Failed => {
            if let Some(period) = reserved {
                billing::release_message(svc, &r.org_id, period).await?;
            }
            Some("failed")
        }
        Delivery::DeadLetter => Some("dead_lettered"),
        Delivery::Later(_) | Delivery::Skipped => None,
    };
    if let Some(outcome) = outcome {
        incr(&*svc.metrics, Metric::Sends, Some(outcome));
    }
    Ok(delivery)
}

async fn deliver_message(
    svc: &Services,
    cfg: &DeliveryConfig,
    tokens: &TokenCache,
    r: &OutboundRef,
    mut message: Versioned<Message>,
    receive_count: u32,
) -> Result<Delivery> {
    match (&message.record.status, &message.record.error) {
        (MessageStatus::Queued | MessageStatus::Retrying, _) => {}
        // Dead-lettered after retryable failures, then redriven: a fresh run of retries.
        (MessageStatus::Failed, Some(e)) if e.retryable => {
            let (pk, sk) = Message::key_of(&r.org_id, &r.message_id);
            let reset = update::<Message>(&*svc.store, &pk, &sk, |m| {
                if m.status != MessageStatus::Failed
                    || !m.error.as_ref().is_some_and(|e| e.retryable)
                {
                    return false;
                }
                m.status = MessageStatus::Queued;
                m.attempts = 0;
                m.first_failed_at = None;
                m.next_attempt_at = None;
                m.scheduled_at_us = None;
                m.late_repaces = 0;
                m.updated_at = svc.clock.now();
                true
            })
            .await?;
            match reset {
                Some(m) if waiting(&m) => message.record = m,
                _ => return Ok(Delivery::Skipped),
            }
        }
        // Failed for good by a run whose `message.failed` may not have got out (the
        // queue message came back): told again, the same event. An erased contact's
        // tombstone is no send failure.
        (MessageStatus::Failed, Some(e))
            if e.title.as_deref() != Some(crate::usecases::personal_data::erase::ERASED) =>
        {
            publish_failed(svc, &message.record).await?;
            return Ok(Delivery::Skipped);
        }
        _ => return Ok(Delivery::Skipped),
    }
    let (a_pk, a_sk) = Account::key_of(&r.org_id, &message.record.account_id);
    let Some(account) = load::<Account>(&*svc.store, &a_pk, &a_sk).await? else {
        return fail_for_good(
            svc,
            r,
            switchboard_error(
                "account_disconnected",
                "the business number was disconnected before the message was sent",
            ),
        )
        .await;
    };
    let account = account.record;
    if account.status == AccountStatus::ReauthRequired {
        return fail_for_good(
            svc,
            r,
            switchboard_error(
                "reauth_required",
                "the number's access token was rejected; reconnect it",
            ),
        )
        .await;
    }
    let (c_pk, c_sk) = Conversation::key_of(&r.org_id, &message.record.conversation_id);
    let conversation = load::<Conversation>(&*svc.store, &c_pk, &c_sk)
        .await?
        .ok_or_else(|| Error::Internal("outbound message without its conversation".into()))?
        .record;

    // An earlier attempt that called Graph and never came back may have been accepted
    // just before its process died: Meta's `sent` status (naming this message) tells, so
    // record it from that rather than send twice; wait for it a while; past the window,
    // send.
    let now = svc.clock.now();
    if message.record.sending_since.is_some() {
        let (w_pk, w_sk) = ReportedWamid::key_of(&r.org_id, &r.message_id);
        if let Some(reported) = load::<ReportedWamid>(&*svc.store, &w_pk, &w_sk).await? {
            record_sent(svc, r, &reported.record.wamid).await?;
            info!(org_id = %r.org_id, message_id = %r.message_id, "an interrupted send had been accepted; recorded from its status");
            return Ok(Delivery::Sent {
                wamid: reported.record.wamid,
            });
        }
    }
    if let Some(since) = message.record.sending_since
        && now - since < RECONCILE_WINDOW
    {
        let wait = (since + RECONCILE_WINDOW - now)
            .to_std()
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_secs(1));
        debug!(message_id = %r.message_id, "an interrupted attempt may have been accepted; waiting for its status");
        return hide(svc, r, receive_count, wait, |_| {}).await;
    }
    // Pacing: a reserved slot, the pair rate, then the number's throughput.
    let now = now_us(svc.clock.now());
    let inline = cfg.max_inline_wait.as_micros() as i64;
    let mut late_repaces = message.record.late_repaces;
    let slot = match message.record.scheduled_at_us {
        // Back before its slot (an early redelivery): hide it until then.
        Some(s) if s - now > inline => {
            return defer(svc, r, s, late_repaces, receive_count, inline).await;
        }
        Some(s) if now - s <= LATE_US => s,
        // Late too often: go now rather than defer again (the slot was reserved).
        Some(_) if late_repaces >= MAX_LATE_REPACES => now,
        reserved => {
            if reserved.is_some() {
                late_repaces += 1;
            }
            let pair_key = format!(
                "PACE#PAIR#{}#{}",
                account.phone_number_id, conversation.wa_id
            );
            let pair_slot = pacing::reserve(&*svc.store, &pair_key, cfg.pair, now).await?;
            let mps = account
                .messages_per_second
                .unwrap_or(cfg.default_messages_per_second);
            let rate_key = rate_key(&account.phone_number_id);
            let rate = Rate::per_second(mps, cfg.margin);
            let lane = message.record.lane;
            let horizon = lane_horizon(lane).filter(|_| message.record.lane_waits < MAX_LANE_WAITS);
            let slot = match pacing::reserve_within(
                &*svc.store,
                &rate_key,
                rate,
                pair_slot,
                horizon,
            )
            .await?
            {
                Reservation::Slot(slot) => slot,
                Reservation::Busy { free_at_us } => {
                    // The lanes above hold the number's throughput: wait, unreserved,
                    // until it comes within this lane's horizon.
                    debug!(message_id = %r.message_id, lane = lane.as_str(), "paced: a higher lane holds the number");
                    return wait_for_lane(svc, r, free_at_us, receive_count).await;
                }
            };
            if slot - now > inline {
                debug!(message_id = %r.message_id, wait_ms = (slot - now) / 1000, "paced: slot reserved");
                return defer(svc, r, slot, late_repaces, receive_count, inline).await;
            }
            slot
        }
    };
    // Marked before the wait, so the write's latency does not shift the send off its slot.
    let (pk, sk) = Message::key_of(&r.org_id, &r.message_id);
    let now = svc.clock.now();
    let claimed = update::<Message>(&*svc.store, &pk, &sk, |m| {
        if !waiting(m) {
            return false;
        }
        m.sending_since = Some(now);
        true
    })
    .await?;
    if !claimed.is_some_and(|m| waiting(&m) && m.sending_since == Some(now)) {
        return Ok(Delivery::Skipped);
    }
    let wait = slot - now_us(svc.clock.now());
    if wait > 0 {
        // Sub-second pacing inside the handler; anything longer went back to the queue.
        tokio::time::sleep(Duration::from_micros(wait as u64)).await;
    }

    let token = tokens.get(svc, &account).await?;
    let outbound = OutboundMessage {
        phone_number_id: &account.phone_number_id,
        to: &conversation.wa_id,
        content: &message.record.content,
        reply_to: message.record.reply_to.as_deref(),
        callback_data: Some(message.record.id.as_str()),
    };
    let sent = match conversation.channel {
        crate::model::Channel::Whatsapp => {
            let (client, _) = svc.whatsapp_for(account.provider);
            client.send_message(&token, &outbound).await
        }
        // Messenger and Instagram: Meta's Send API, with the messaging type the
        // conversation's window allows.
        _ => {
            crate::usecases::messaging::send(svc, &token, &account, &conversation, &message.record)
                .await
        }
    };
    match sent {
        Ok(wamid) => {
            record_sent(svc, r, &wamid).await?;
            info!(org_id = %r.org_id, message_id = %r.message_id, to = %conversation.wa_id.masked(), "sent");
            Ok(Delivery::Sent { wamid })
        }
        Err(e) => {
            let class = classify(&e);
            incr(&*svc.metrics, Metric::GraphErrors, Some(class.as_str()));
            warn!(org_id = %r.org_id, message_id = %r.message_id, error = %e, class = class.as_str(), "send failed");
            match class {
                ErrorClass::WindowClosed | ErrorClass::Permanent | ErrorClass::TokenInvalid => {
                    if class == ErrorClass::TokenInvalid {
                        tokens.invalidate(&account.id);
                        mark_reauth(svc, &account, &e).await?;
                    }
                    fail_for_good(svc, r, graph_message_error(&e)).await
                }
                ErrorClass::Throughput | ErrorClass::PairRate | ErrorClass::Transient => {
                    retry_later(svc, cfg, r, &e, class, receive_count).await
                }
            }
        }
    }
}

/// The pacing key of a number's throughput.
pub fn rate_key(number: &crate::ids::PhoneNumberId) -> String {
    format!("PACE#RATE#{number}")
}

/// How far ahead of now a lane may reserve its number's throughput (`None`: any slot).
///
/// The priority lane reserves like a single lane always did. A lower lane only takes
/// slots within its horizon, so the number's schedule is never promised further ahead
/// than that to notifications or marketing: an agent reply arriving during a broadcast
/// finds a slot at most the marketing horizon away, while the broadcast still fills
/// every slot the replies leave. Notifications look further ahead than marketing, so
/// when both wait for capacity the notification finds it first. A waiting message comes
/// back after a second or a little more (queues hide messages for whole seconds), so a
/// horizon shorter than that would leave slots unused: marketing looks 1.2 s ahead.
pub fn lane_horizon(lane: Lane) -> Option<i64> {
    match lane {
        Lane::Priority => None,
        Lane::Transactional => Some(2_000_000),
        Lane::Marketing => Some(1_200_000),
    }
}

/// Hides a lower-lane message until the number has capacity within its horizon (with
/// jitter, so the waiting messages do not all come back at once), counting the wait.
async fn wait_for_lane(
    svc: &Services,
    r: &OutboundRef,
    free_at_us: i64,
    receive_count: u32,
) -> Result<Delivery> {
    let now = svc.clock.now();
    // SQS hides a message for whole seconds (a shorter wait would be none at all and
    // spend the lane's waits at once); a campaign feeds about a second of the number's
    // throughput at a time, so a second is the lane's natural beat.
    let wait_us = (free_at_us - now_us(now)).max(1_000_000) as u64;
    let wait = crate::retry::jitter(Duration::from_secs(wait_us.div_ceil(1_000_000)));
    hide(svc, r, receive_count, wait, |m| {
        m.lane_waits += 1;
        m.scheduled_at_us = None;
    })
    .await
}

/// Hides a waiting message on the queue for `wait`, after `change` records why on the
/// message (a pacing slot, a lane wait); gives up instead once the queue's receives
/// are spent.
async fn hide(
    svc: &Services,
    r: &OutboundRef,
    receive_count: u32,
    wait: Duration,
    change: impl Fn(&mut Message),
) -> Result<Delivery> {
    if receives_spent(receive_count) {
        return give_up(
            svc,
            r,
            switchboard_error(
                "receives_spent",
                "the queue handed this message back more often than its retry budget allows",
            ),
        )
        .await;
    }
    let (pk, sk) = Message::key_of(&r.org_id, &r.message_id);
    let now = svc.clock.now();
    let stored = update::<Message>(&*svc.store, &pk, &sk, |m| {
        if !waiting(m) {
            return false;
        }
        change(m);
        m.awaiting_queue = false;
        m.updated_at = now;
        true
    })
    .await?;
    match stored {
        Some(m) if waiting(&m) => {
            incr(&*svc.metrics, Metric::PacingDeferrals, None);
            Ok(Delivery::Later(wait))
        }
        _ => Ok(Delivery::Skipped),
    }
}

/// Whether the queue's redrive policy would take the message on its next receive: the
/// sender then gives up itself, so the message is never dead-lettered while it still
/// reads `queued` or `retrying`.
fn receives_spent(receive_count: u32) -> bool {
    receive_count >= QueueName::Outbound.spec().max_receive_count
}

async fn fail_for_good(svc: &Services, r: &OutboundRef, error: MessageError) -> Result<Delivery> {
    match fail(svc, &r.org_id, &r.message_id, error, false).await? {
        Some(m) if m.status == MessageStatus::Failed => {
            publish_failed(svc, &m).await?;
            Ok(Delivery::Failed)
        }
        _ => Ok(Delivery::Skipped),
    }
}

async fn give_up(svc: &Services, r: &OutboundRef, error: MessageError) -> Result<Delivery> {
    warn!(org_id = %r.org_id, message_id = %r.message_id, "retries spent; moving the message to the DLQ");
    if let Some(m) = fail(svc, &r.org_id, &r.message_id, error, true).await?
        && m.status == MessageStatus::Failed
        && let Err(e) = publish_failed(svc, &m).await
    {
        // Logged, not returned: a retry would find the message failed with a retryable
        // error and start a fresh run of sends (what a redrive is for) instead of
        // dead-lettering it.
        warn!(org_id = %r.org_id, message_id = %r.message_id, error = %e, "could not publish message.failed");
    }
    Ok(Delivery::DeadLetter)
}

/// Stores the reserved pacing slot and hides the queue message until shortly before it
/// (the rest is waited inline).
async fn defer(
    svc: &Services,
    r: &OutboundRef,
    slot: i64,
    late_repaces: u32,
    receive_count: u32,
    inline_us: i64,
) -> Result<Delivery> {
    let wait = (slot - now_us(svc.clock.now()) - LEAD_US.min(inline_us)).max(0) as u64;
    hide(svc, r, receive_count, Duration::from_micros(wait), |m| {
        m.scheduled_at_us = Some(slot);
        m.late_repaces = late_repaces;
    })
    .await
}

/// Records a transient failure and schedules the next attempt, or gives up once the
/// retry policy's horizon (counted from the first failure of this run) is spent.
async fn retry_later(
    svc: &Services,
    cfg: &DeliveryConfig,
    r: &OutboundRef,
    e: &GraphError,
    class: ErrorClass,
    receive_count: u32,
) -> Result<Delivery> {
    let now = svc.clock.now();
    let mut error = graph_message_error(e);
    error.retryable = true;
    let (pk, sk) = Message::key_of(&r.org_id, &r.message_id);
    let mut decided: Option<Duration> = None;
    let stored = update::<Message>(&*svc.store, &pk, &sk, |m| {
        decided = None;
        if !waiting(m) || receives_spent(receive_count) {
            return false;
        }
        let attempts = m.attempts + 1;
        let first = m.first_failed_at.unwrap_or(now);
        let Some(mut delay) = cfg.retry.next(attempts, first, now) else {
            return false;
        };
        if class == ErrorClass::PairRate {
            // Meta's pair window is about 6 s; spread that recipient's retries beyond it.
            delay = crate::retry::jitter(Duration::from_secs(6 * u64::from(attempts.min(600))))
                .min(cfg.retry.max_delay);
        }
        m.status = MessageStatus::Retrying;
        // Graph answered: this attempt was not accepted. A timeout may have been.
        if !matches!(e, GraphError::Transport(_)) {
            m.sending_since = None;
        }
        m.attempts = attempts;
        m.first_failed_at = Some(first);
        m.next_attempt_at = chrono::Duration::from_std(delay).ok().map(|d| now + d);
        m.error = Some(error.clone());
        m.scheduled_at_us = None;
        m.awaiting_queue = false;
        m.updated_at = now;
        decided = Some(delay);
        true
    })
    .await?;
    match (decided, stored) {
        (Some(delay), _) => {
            incr(&*svc.metrics, Metric::Sends, Some("retrying"));
            Ok(Delivery::Later(delay))
        }
        (None, Some(m)) if waiting(&m) => give_up(svc, r, error).await,
        _ => Ok(Delivery::Skipped),
    }
}

async fn record_sent(svc: &Services, r: &OutboundRef, wamid: &str) -> Result<()> {
    let (pk, sk) = Message::key_of(&r.org_id, &r.message_id);
    for _ in 0..MAX_ATTEMPTS {
        let Some(mut m) = load::<Message>(&*svc.store, &pk, &sk).await? else {
            return Err(Error::Internal("message vanished while sending".into()));
        };
        let now = svc.clock.now();
        m.record.wamid = Some(wamid.to_owned());
        m.record.status = MessageStatus::Sent;
        m.record.status_times.record(MessageStatus::Sent, now);
        m.record.error = None;
        m.record.attempts += 1;
        m.record.sending_since = None;
        m.record.scheduled_at_us = None;
        m.record.next_attempt_at = None;
        m.record.awaiting_queue = false;
        m.record.updated_at = now;
        let route = WamidRoute {
            wamid: wamid.to_owned(),
            org_id: r.org_id.clone(),
            message_id: r.message_id.clone(),
        };
        match svc
            .store
            .transact(vec![
                Write::put(m.next_item()?, m.condition()),
                Write::put(item(&route, 1)?, Condition::Always),
            ])
            .await
        {
            Ok(()) => {
                apply_early_statuses(svc, &route).await?;
                return Ok(());
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// The wamid Meta reported for one of our messages before the sender stored it (a
/// status carrying the message's id in `biz_opaque_callback_data`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ReportedWamid {
    org_id: crate::ids::OrgId,
    message_id: crate::ids::MessageId,
    wamid: String,
    expires_at: i64,
}

impl ReportedWamid {
    fn key_of(org: &crate::ids::OrgId, message: &crate::ids::MessageId) -> (String, String) {
        let (pk, _) = Message::key_of(org, message);
        (pk, "REPORTED_WAMID".to_owned())
    }
}

impl Record for ReportedWamid {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.message_id)
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// Remembers the wamid a status reported for our message `message` (kept a week, like
/// early statuses).
pub async fn remember_wamid(
    svc: &Services,
    org: &crate::ids::OrgId,
    message: &crate::ids::MessageId,
    wamid: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let reported = ReportedWamid {
        org_id: org.clone(),
        message_id: message.clone(),
        wamid: wamid.to_owned(),
        expires_at: (now + chrono::Duration::days(EarlyStatus::KEEP_DAYS)).timestamp(),
    };
    svc.store
        .put(item(&reported, 1)?, Condition::Always)
        .await?;
    Ok(())
}

/// Applies statuses that arrived before the wamid was stored, then forgets them.
///
/// The read is strongly consistent: the inbound consumer stores an early status and
/// then looks for the wamid, the sender stores the wamid and then looks here; with an
/// eventually consistent read both could miss the other's write made a moment earlier.
pub async fn apply_early_statuses(svc: &Services, route: &WamidRoute) -> Result<()> {
    let (pk, _) = WamidRoute::key_of(&route.wamid);
    let page = svc
        .store
        .query(
            Query::table(pk.clone())
                .sort(SortKey::BeginsWith(EarlyStatus::SK_PREFIX.into()))
                .consistent(),
        )
        .await?;
    for early in decode_all::<EarlyStatus>(&page.items)? {
        if early.org_id != route.org_id {
            continue;
        }
        apply_status(svc, route, early.status, early.at, early.error.clone()).await?;
        let (_, sk) = early.key();
        svc.store.delete(&pk, &sk, Condition::Always).await?;
    }
    Ok(())
}
