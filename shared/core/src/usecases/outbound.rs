//! Sending WhatsApp messages: the send API's use case (validate, window rule,
//! idempotency, store `queued`, enqueue), the sender worker's delivery (pacing, Graph
//! call, error classes, retries through the queue), marking read, and media download.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::billing::BillingConfig;
use crate::clock::fmt_time;
use crate::error::{Error, Result};
use crate::ids::{AccountId, ConversationId, MessageId, OrgId};
use crate::model::{
    Account, AccountStatus, Conversation, Direction, EarlyStatus, Message, MessageError,
    MessageStatus, PhoneRoute, WamidRoute,
};
use crate::queue::{OutgoingMessage, QueueName};
use crate::record::{Record, Versioned, decode_all, item, load, update};
use crate::secrets::SecretString;
use crate::services::Services;
use crate::store::{Condition, Index, Query, SortKey, StoreError, Write};
use crate::usecases::billing;
use crate::usecases::compose::{Composed, compose};
use crate::usecases::inbound::apply_status;
use crate::usecases::pacing::{self, Rate};
use crate::whatsapp::{GraphError, OutboundMessage};

const MAX_ATTEMPTS: usize = 8;

/// The queue body pointing at an outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundRef {
    /// Owner.
    pub org_id: OrgId,
    /// The message.
    pub message_id: MessageId,
}

/// Idempotency record of a send request (24 h).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdempotencyRecord {
    org_id: OrgId,
    key_hash: String,
    request_hash: String,
    message_id: MessageId,
    expires_at: i64,
}

impl IdempotencyRecord {
    fn key_of(org: &OrgId, key_hash: &str) -> (String, String) {
        (format!("ORG#{org}#IDEM#{key_hash}"), "IDEM".to_owned())
    }
}

impl Record for IdempotencyRecord {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.key_hash)
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// A send request from the API.
#[derive(Debug)]
pub struct SendRequest<'a> {
    /// Caller's org.
    pub org: &'a OrgId,
    /// Conversation to send in.
    pub conversation: &'a ConversationId,
    /// The body, in Graph's message shape.
    pub body: &'a Value,
    /// `Idempotency-Key` header, if any.
    pub idempotency_key: Option<&'a str>,
    /// Who sends (token subject), for the audit trail and seat counting.
    pub sender: Option<&'a str>,
    /// Plan limits and subscription rules.
    pub billing: &'a BillingConfig,
}

/// The outcome of a send request.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The stored message.
    pub message: Message,
    /// Whether this answers a retry of an earlier request (same idempotency key).
    pub replayed: bool,
}

fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::validation(
            "Idempotency-Key",
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ));
    }
    Ok(())
}

fn outbound_group(account: &AccountId, conversation: &Conversation) -> String {
    format!("{account}:{}", conversation.wa_id)
}

async fn enqueue(svc: &Services, message: &Message, conversation: &Conversation) -> Result<()> {
    let body = serde_json::to_string(&OutboundRef {
        org_id: message.org_id.clone(),
        message_id: message.id.clone(),
    })
    .unwrap_or_default();
    svc.queue
        .send(
            QueueName::Outbound,
            vec![OutgoingMessage::fifo(
                body,
                outbound_group(&message.account_id, conversation),
                message.id.to_string(),
            )],
        )
        .await?;
    Ok(())
}

/// Resolves a Switchboard message id in `conversation` to its wamid (for replies and
/// reactions).
async fn wamid_of(
    svc: &Services,
    org: &OrgId,
    conversation: &ConversationId,
    id: &str,
    field: &str,
) -> Result<String> {
    let not_found = || {
        Error::validation(
            field,
            "unknown_message",
            format!("{field} must be the id of a message in this conversation"),
        )
    };
    let id = MessageId::parse(id).map_err(|_| not_found())?;
    let (pk, sk) = Message::key_of(org, &id);
    let m = load::<Message>(&*svc.store, &pk, &sk)
        .await?
        .ok_or_else(not_found)?
        .record;
    if &m.conversation_id != conversation {
        return Err(not_found());
    }
    m.wamid.ok_or_else(|| {
        Error::validation(
            field,
            "message_not_sent",
            format!("{field} points at a message WhatsApp has not accepted yet"),
        )
    })
}

/// Accepts a message for sending: validates it, checks the customer-service window,
/// honours the idempotency key, stores it `queued` and enqueues it.
pub async fn send(svc: &Services, req: SendRequest<'_>) -> Result<Accepted> {
    if let Some(key) = req.idempotency_key {
        validate_key(key)?;
    }
    let composed = compose(req.body)?;
    let request_hash = switchboard_webhooks::sha256_hex(&[
        req.conversation.as_str().as_bytes(),
        b"\n",
        req.body.to_string().as_bytes(),
    ]);
    let key_hash = req
        .idempotency_key
        .map(|k| switchboard_webhooks::sha256_hex(&[k.as_bytes()]));
    if let Some(kh) = &key_hash
        && let Some(accepted) = replay(svc, req.org, kh, &request_hash).await?
    {
        return Ok(accepted);
    }
    let mut admitted = false;
    let result = accept(
        svc,
        &req,
        &composed,
        key_hash.as_deref(),
        &request_hash,
        &mut admitted,
    )
    .await;
    if admitted && result.as_ref().map_or(true, |a| a.replayed) {
        // Not accepted after all (or a concurrent retry won): give the reservation back.
        let _ = billing::release_message(svc, req.billing, req.org, svc.clock.now()).await;
    }
    result
}

async fn accept(
    svc: &Services,
    req: &SendRequest<'_>,
    composed: &Composed,
    key_hash: Option<&str>,
    request_hash: &str,
    admitted: &mut bool,
) -> Result<Accepted> {
    let key_hash = key_hash.map(str::to_owned);
    let request_hash = request_hash.to_owned();
    for _ in 0..MAX_ATTEMPTS {
        let now = svc.clock.now();
        let (c_pk, c_sk) = Conversation::key_of(req.org, req.conversation);
        let mut conversation = load::<Conversation>(&*svc.store, &c_pk, &c_sk)
            .await?
            .ok_or(Error::not_found("conversation"))?;
        if !composed.is_template() && !conversation.record.window_open(now) {
            let closed = conversation
                .record
                .window_expires_at()
                .map(|t| format!("closed at {}", fmt_time(t)))
                .unwrap_or_else(|| "was never opened (the customer has not written)".into());
            return Err(Error::validation(
                "type",
                "outside_customer_service_window",
                format!(
                    "the 24-hour customer-service window {closed}; outside it only template messages can be sent"
                ),
            ));
        }
        // Plan limits and subscription status: checked where the work is accepted,
        // without a Stripe call.
        if !*admitted {
            billing::admit_message(svc, req.billing, req.org, req.sender).await?;
            *admitted = true;
        }
        // Send through the number's current account.
        let (r_pk, r_sk) = PhoneRoute::key_of(&conversation.record.phone_number_id);
        let route = load::<PhoneRoute>(&*svc.store, &r_pk, &r_sk)
            .await?
            .filter(|r| &r.record.org_id == req.org)
            .ok_or_else(|| Error::Conflict {
                code: "number_not_connected",
                message: format!(
                    "the business number {} of this conversation is not connected",
                    conversation.record.phone_number_id
                ),
            })?
            .record;

        let Composed {
            mut content,
            reply_to,
            reaction_target,
        } = composed.clone();
        let reply_wamid = match &reply_to {
            Some(id) => Some(wamid_of(svc, req.org, req.conversation, id, "reply_to").await?),
            None => None,
        };
        if let Some(target) = &reaction_target {
            let wamid = wamid_of(
                svc,
                req.org,
                req.conversation,
                target,
                "reaction.message_id",
            )
            .await?;
            content["reaction"]["message_id"] = Value::String(wamid);
        }

        // With an idempotency key the id derives from it: a retry can only ever name the
        // same message.
        let id = match &key_hash {
            Some(kh) => MessageId::from_uuid(crate::ids::derived_uuid(&[
                "outbound",
                req.org.as_str(),
                kh,
            ])),
            None => MessageId::from_uuid(Uuid::now_v7()),
        };
        let message = Message {
            id,
            org_id: req.org.clone(),
            conversation_id: req.conversation.clone(),
            account_id: route.account_id.clone(),
            contact_id: conversation.record.contact_id.clone(),
            direction: Direction::Outbound,
            wamid: None,
            content,
            status: MessageStatus::Queued,
            status_times: Default::default(),
            error: None,
            reply_to: reply_wamid,
            timestamp: now,
            created_at: now,
            updated_at: now,
            attempts: 0,
            scheduled_at_us: None,
            sent_by: req.sender.map(str::to_owned),
        };
        conversation.record.record_message(
            &message.id,
            now,
            Direction::Outbound,
            switchboard_webhooks::meta::preview(&message.content),
            now,
        );
        conversation.record.account_id = route.account_id.clone();
        let mut writes = vec![
            Write::put(item(&message, 1)?, Condition::NotExists),
            Write::put(conversation.next_item()?, conversation.condition()),
        ];
        if let Some(kh) = &key_hash {
            let record = IdempotencyRecord {
                org_id: req.org.clone(),
                key_hash: kh.clone(),
                request_hash: request_hash.clone(),
                message_id: message.id.clone(),
                expires_at: (now + chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp(),
            };
            writes.push(Write::put(item(&record, 1)?, Condition::NotExists));
        }
        match svc.store.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { index: 0 | 2 }) if key_hash.is_some() => {
                // A concurrent request with the same key won.
                if let Some(kh) = &key_hash
                    && let Some(accepted) = replay(svc, req.org, kh, &request_hash).await?
                {
                    return Ok(accepted);
                }
                continue;
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = enqueue(svc, &message, &conversation.record).await {
            // Not accepted after all: say so on the message rather than leave it queued.
            warn!(message_id = %message.id, error = %e, "could not queue an outbound message");
            let _ = fail(
                svc,
                &message.org_id,
                &message.id,
                switchboard_error(
                    "queue_unavailable",
                    "the message could not be queued; send it again",
                ),
                true,
            )
            .await;
            return Err(e);
        }
        info!(org_id = %req.org, message_id = %message.id, kind = composed.kind(), "accepted an outbound message");
        return Ok(Accepted {
            message,
            replayed: false,
        });
    }
    Err(Error::Store(StoreError::Conflict))
}

async fn replay(
    svc: &Services,
    org: &OrgId,
    key_hash: &str,
    request_hash: &str,
) -> Result<Option<Accepted>> {
    let (pk, sk) = IdempotencyRecord::key_of(org, key_hash);
    let Some(record) = load::<IdempotencyRecord>(&*svc.store, &pk, &sk).await? else {
        return Ok(None);
    };
    if record.record.request_hash != request_hash {
        return Err(Error::validation(
            "Idempotency-Key",
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        ));
    }
    let (m_pk, m_sk) = Message::key_of(org, &record.record.message_id);
    let message = load::<Message>(&*svc.store, &m_pk, &m_sk)
        .await?
        .ok_or_else(|| Error::Internal("idempotency record points at a missing message".into()))?
        .record;
    if message.status == MessageStatus::Queued {
        // The first request may have stopped between storing and queueing; queueing again
        // is harmless (the sender skips messages that are no longer queued).
        let (c_pk, c_sk) = Conversation::key_of(org, &message.conversation_id);
        if let Some(c) = load::<Conversation>(&*svc.store, &c_pk, &c_sk).await? {
            enqueue(svc, &message, &c.record).await?;
        }
    }
    Ok(Some(Accepted {
        message,
        replayed: true,
    }))
}

fn switchboard_error(title: &str, message: &str) -> MessageError {
    MessageError {
        code: 0,
        title: Some(title.to_owned()),
        message: Some(message.to_owned()),
        details: None,
        retryable: false,
    }
}

fn graph_message_error(e: &GraphError) -> MessageError {
    match e {
        GraphError::Api {
            code,
            message,
            details,
            ..
        } => MessageError {
            code: *code,
            title: Some(message.clone()),
            message: Some(message.clone()),
            details: details.clone(),
            retryable: false,
        },
        GraphError::Transport(t) => MessageError {
            code: 0,
            title: Some("whatsapp_unreachable".into()),
            message: Some(t.clone()),
            details: None,
            retryable: true,
        },
    }
}

/// Marks a message failed (optimistic concurrency). `retryable` failures are tried again
/// when the DLQ is redriven.
async fn fail(
    svc: &Services,
    org: &OrgId,
    id: &MessageId,
    mut error: MessageError,
    retryable: bool,
) -> Result<()> {
    error.retryable = retryable;
    let (pk, sk) = Message::key_of(org, id);
    update::<Message>(&*svc.store, &pk, &sk, |m| {
        if !matches!(m.status, MessageStatus::Queued | MessageStatus::Failed) {
            return false;
        }
        let now = svc.clock.now();
        m.status = MessageStatus::Failed;
        m.status_times.record(MessageStatus::Failed, now);
        m.error = Some(error.clone());
        m.scheduled_at_us = None;
        m.updated_at = now;
        true
    })
    .await?;
    Ok(())
}

/// How Graph errors are handled by the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throughput limits (130429, 80007, 4, 613, 131048): back off with jitter.
    Throughput,
    /// Pair rate to one recipient (131056): retry that recipient later.
    PairRate,
    /// The customer-service window closed (131047): failed, no retry.
    WindowClosed,
    /// Invalid recipient, undeliverable, bad parameters or template (131026, 131030, …):
    /// failed, no retry.
    Permanent,
    /// The access token expired or was revoked (190): failed, account needs reauth.
    TokenInvalid,
    /// 5xx, timeouts, Graph's generic errors (131000, 1, 2, 131016): retry.
    Transient,
}

/// Classifies a Graph error (codes from Meta's Cloud API error reference).
pub fn classify(e: &GraphError) -> ErrorClass {
    match e {
        GraphError::Transport(_) => ErrorClass::Transient,
        GraphError::Api {
            http_status, code, ..
        } => match code {
            130429 | 80007 | 4 | 613 | 131048 => ErrorClass::Throughput,
            131056 => ErrorClass::PairRate,
            131047 => ErrorClass::WindowClosed,
            190 => ErrorClass::TokenInvalid,
            131000 | 1 | 2 | 131016 | 133004 => ErrorClass::Transient,
            _ if *http_status == 401 => ErrorClass::TokenInvalid,
            _ if *http_status == 429 => ErrorClass::Throughput,
            _ if *http_status >= 500 => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        },
    }
}

/// Decrypted access tokens, cached briefly per account so a burst of sends costs one
/// KMS call. Entries are keyed by account and envelope, so a reconnected account never
/// sees a stale token.
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<AccountId, (Instant, String, SecretString)>>,
}

impl TokenCache {
    /// A cache keeping tokens for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The account's token, decrypting on a miss.
    pub async fn get(&self, svc: &Services, account: &Account) -> Result<SecretString> {
        if let Some((at, envelope, token)) = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account.id)
            && at.elapsed() < self.ttl
            && envelope == &account.token_envelope
        {
            return Ok(token.clone());
        }
        let token = crate::usecases::integrations::access_token(svc, account).await?;
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                account.id.clone(),
                (
                    Instant::now(),
                    account.token_envelope.clone(),
                    token.clone(),
                ),
            );
        Ok(token)
    }

    /// Forgets an account's token (after Graph rejected it).
    pub fn invalidate(&self, account: &AccountId) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account);
    }
}

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
    /// Send attempts before a message is failed and dead-lettered.
    pub max_attempts: u32,
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
            max_attempts: 5,
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
    /// Out of attempts: the message is failed (retryable) and the queue message belongs
    /// in the DLQ, from where a redrive tries again.
    DeadLetter,
}

fn now_us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn backoff(attempt: u32) -> Duration {
    crate::retry::exponential(Duration::from_secs(1), attempt, Duration::from_secs(300))
}

/// Sends the message a queue body points at.
pub async fn deliver(
    svc: &Services,
    cfg: &DeliveryConfig,
    billing_cfg: &BillingConfig,
    tokens: &TokenCache,
    body: &str,
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
    let accepted_at = message.record.created_at;
    let delivery = deliver_message(svc, cfg, tokens, &r, message).await?;
    match &delivery {
        Delivery::Sent { .. } => billing::record_sent(svc, &r.org_id, svc.clock.now()).await?,
        Delivery::Failed => {
            billing::release_message(svc, billing_cfg, &r.org_id, accepted_at).await?
        }
        _ => {}
    }
    Ok(delivery)
}

async fn deliver_message(
    svc: &Services,
    cfg: &DeliveryConfig,
    tokens: &TokenCache,
    r: &OutboundRef,
    mut message: Versioned<Message>,
) -> Result<Delivery> {
    match (&message.record.status, &message.record.error) {
        (MessageStatus::Queued, _) => {}
        // Dead-lettered after retryable failures, then redriven: try again.
        (MessageStatus::Failed, Some(e)) if e.retryable => {
            message.record.status = MessageStatus::Queued;
            message.record.attempts = 0;
        }
        _ => return Ok(Delivery::Skipped),
    }
    let (a_pk, a_sk) = Account::key_of(&r.org_id, &message.record.account_id);
    let Some(account) = load::<Account>(&*svc.store, &a_pk, &a_sk).await? else {
        fail(
            svc,
            &r.org_id,
            &r.message_id,
            switchboard_error(
                "account_disconnected",
                "the business number was disconnected before the message was sent",
            ),
            false,
        )
        .await?;
        return Ok(Delivery::Failed);
    };
    let account = account.record;
    if account.status == AccountStatus::ReauthRequired {
        fail(
            svc,
            &r.org_id,
            &r.message_id,
            switchboard_error(
                "reauth_required",
                "the number's access token was rejected; reconnect it",
            ),
            false,
        )
        .await?;
        return Ok(Delivery::Failed);
    }
    let (c_pk, c_sk) = Conversation::key_of(&r.org_id, &message.record.conversation_id);
    let conversation = load::<Conversation>(&*svc.store, &c_pk, &c_sk)
        .await?
        .ok_or_else(|| Error::Internal("outbound message without its conversation".into()))?
        .record;

    // Pacing: a reserved slot, the pair rate, then the number's throughput.
    let now = now_us(svc.clock.now());
    let inline = cfg.max_inline_wait.as_micros() as i64;
    const LATE_US: i64 = 2_000_000;
    let slot = match message.record.scheduled_at_us {
        Some(s) if s - now > inline => {
            return Ok(Delivery::Later(Duration::from_micros((s - now) as u64)));
        }
        Some(s) if now - s <= LATE_US => s,
        _ => {
            let pair_key = format!(
                "PACE#PAIR#{}#{}",
                account.phone_number_id, conversation.wa_id
            );
            let pair_slot = pacing::reserve(&*svc.store, &pair_key, cfg.pair, now).await?;
            let mps = account
                .messages_per_second
                .unwrap_or(cfg.default_messages_per_second);
            let rate_key = format!("PACE#RATE#{}", account.phone_number_id);
            let slot = pacing::reserve(
                &*svc.store,
                &rate_key,
                Rate::per_second(mps, cfg.margin),
                pair_slot,
            )
            .await?;
            if slot - now > inline {
                message.record.scheduled_at_us = Some(slot);
                message.record.updated_at = svc.clock.now();
                svc.store
                    .put(message.next_item()?, message.condition())
                    .await?;
                debug!(message_id = %r.message_id, wait_ms = (slot - now) / 1000, "paced: slot reserved");
                return Ok(Delivery::Later(Duration::from_micros((slot - now) as u64)));
            }
            slot
        }
    };
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
    let result = svc.whatsapp.send_message(&token, &outbound).await;
    match result {
        Ok(wamid) => {
            record_sent(svc, r, &wamid).await?;
            info!(org_id = %r.org_id, message_id = %r.message_id, to = %conversation.wa_id.masked(), "sent");
            Ok(Delivery::Sent { wamid })
        }
        Err(e) => {
            let class = classify(&e);
            warn!(org_id = %r.org_id, message_id = %r.message_id, error = %e, class = ?class, "send failed");
            match class {
                ErrorClass::WindowClosed | ErrorClass::Permanent | ErrorClass::TokenInvalid => {
                    if class == ErrorClass::TokenInvalid {
                        tokens.invalidate(&account.id);
                        mark_reauth(svc, &account, &e).await?;
                    }
                    fail(
                        svc,
                        &r.org_id,
                        &r.message_id,
                        graph_message_error(&e),
                        false,
                    )
                    .await?;
                    Ok(Delivery::Failed)
                }
                ErrorClass::Throughput | ErrorClass::PairRate | ErrorClass::Transient => {
                    let attempts = message.record.attempts + 1;
                    if attempts >= cfg.max_attempts {
                        fail(svc, &r.org_id, &r.message_id, graph_message_error(&e), true).await?;
                        return Ok(Delivery::DeadLetter);
                    }
                    message.record.attempts = attempts;
                    message.record.scheduled_at_us = None;
                    message.record.error = Some(graph_message_error(&e));
                    message.record.updated_at = svc.clock.now();
                    let _ = svc
                        .store
                        .put(message.next_item()?, message.condition())
                        .await;
                    let delay = match class {
                        // Meta's pair window is about 6 s; spread retries beyond it.
                        ErrorClass::PairRate => {
                            crate::retry::jitter(Duration::from_secs(6 * u64::from(attempts)))
                        }
                        _ => backoff(attempts),
                    };
                    Ok(Delivery::Later(delay))
                }
            }
        }
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
        m.record.scheduled_at_us = None;
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

/// Applies statuses that arrived before the wamid was stored, then forgets them.
pub async fn apply_early_statuses(svc: &Services, route: &WamidRoute) -> Result<()> {
    let (pk, _) = WamidRoute::key_of(&route.wamid);
    let page = svc
        .store
        .query(Query::table(pk.clone()).sort(SortKey::BeginsWith(EarlyStatus::SK_PREFIX.into())))
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

async fn mark_reauth(svc: &Services, account: &Account, e: &GraphError) -> Result<()> {
    let (pk, sk) = Account::key_of(&account.org_id, &account.id);
    let mut wrote = false;
    let result = update::<Account>(&*svc.store, &pk, &sk, |a| {
        wrote = a.status != AccountStatus::ReauthRequired;
        if wrote {
            a.status = AccountStatus::ReauthRequired;
            a.status_reason = Some(match e {
                GraphError::Api { code, message, .. } => {
                    format!("WhatsApp rejected the access token ({code}): {message}")
                }
                GraphError::Transport(_) => "WhatsApp rejected the access token".into(),
            });
            a.updated_at = svc.clock.now();
        }
        wrote
    })
    .await;
    match result {
        Ok(Some(_)) if wrote => {
            warn!(org_id = %account.org_id, account_id = %account.id, "account needs to be reconnected");
            Ok(())
        }
        // Under lasting contention another writer is updating the account anyway.
        Ok(_) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn provider_error(e: &GraphError) -> Error {
    match classify(e) {
        ErrorClass::TokenInvalid => Error::Provider {
            code: "whatsapp_reauth_required",
            message: "WhatsApp rejected the number's access token; reconnect the number".into(),
            retryable: false,
        },
        ErrorClass::Transient | ErrorClass::Throughput => Error::Provider {
            code: "whatsapp_unavailable",
            message: "WhatsApp did not answer; try again".into(),
            retryable: true,
        },
        _ => Error::Provider {
            code: "whatsapp_error",
            message: match e {
                GraphError::Api { code, message, .. } => {
                    format!("WhatsApp refused the request ({code}): {message}")
                }
                GraphError::Transport(t) => t.clone(),
            },
            retryable: false,
        },
    }
}

async fn current_account(
    svc: &Services,
    org: &OrgId,
    conversation: &Conversation,
) -> Result<Option<Account>> {
    let (r_pk, r_sk) = PhoneRoute::key_of(&conversation.phone_number_id);
    let Some(route) = load::<PhoneRoute>(&*svc.store, &r_pk, &r_sk).await? else {
        return Ok(None);
    };
    if &route.record.org_id != org {
        return Ok(None);
    }
    let (pk, sk) = Account::key_of(org, &route.record.account_id);
    Ok(load::<Account>(&*svc.store, &pk, &sk)
        .await?
        .map(|a| a.record))
}

/// Marks the conversation's latest inbound message read on WhatsApp and resets unread.
pub async fn mark_read(
    svc: &Services,
    tokens: &TokenCache,
    org: &OrgId,
    id: &ConversationId,
) -> Result<Conversation> {
    let (c_pk, c_sk) = Conversation::key_of(org, id);
    let conversation = load::<Conversation>(&*svc.store, &c_pk, &c_sk)
        .await?
        .ok_or(Error::not_found("conversation"))?
        .record;
    // The latest inbound message: newest first until one is inbound.
    let mut latest: Option<Message> = None;
    let mut after = None;
    'pages: for _ in 0..10 {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi1, Message::list_pk(org, id))
                    .descending()
                    .limit(25)
                    .after(after),
            )
            .await?;
        for m in decode_all::<Message>(&page.items)? {
            if m.direction == Direction::Inbound {
                latest = Some(m);
                break 'pages;
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => break,
        }
    }
    if let Some(m) = &latest
        && let Some(wamid) = &m.wamid
        && m.status != MessageStatus::Read
        && let Some(account) = current_account(svc, org, &conversation).await?
    {
        let token = tokens.get(svc, &account).await?;
        if let Err(e) = svc
            .whatsapp
            .mark_read(&token, &account.phone_number_id, wamid)
            .await
        {
            if classify(&e) == ErrorClass::TokenInvalid {
                tokens.invalidate(&account.id);
                mark_reauth(svc, &account, &e).await?;
            }
            return Err(provider_error(&e));
        }
        let route = WamidRoute {
            wamid: wamid.clone(),
            org_id: org.clone(),
            message_id: m.id.clone(),
        };
        apply_status(svc, &route, MessageStatus::Read, svc.clock.now(), None).await?;
    }
    update::<Conversation>(&*svc.store, &c_pk, &c_sk, |c| {
        if c.unread_count == 0 {
            return false;
        }
        c.unread_count = 0;
        c.updated_at = svc.clock.now();
        true
    })
    .await?
    .ok_or(Error::not_found("conversation"))
}

/// A downloaded media file.
#[derive(Debug, Clone)]
pub struct Media {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// MIME type Meta reported.
    pub mime_type: String,
    /// File name, for documents.
    pub filename: Option<String>,
}

/// Downloads a message's media through Graph with the account's token, so the frontend
/// never holds provider tokens.
pub async fn media(
    svc: &Services,
    tokens: &TokenCache,
    org: &OrgId,
    id: &MessageId,
    max_bytes: usize,
) -> Result<Media> {
    let (pk, sk) = Message::key_of(org, id);
    let message = load::<Message>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("message"))?
        .record;
    let kind = message.kind().to_owned();
    let media_id = switchboard_webhooks::meta::MEDIA_TYPES
        .contains(&kind.as_str())
        .then(|| {
            message
                .content
                .get(&kind)
                .and_then(|o| o.get("id"))
                .and_then(Value::as_str)
        })
        .flatten()
        .ok_or(Error::not_found("media"))?
        .to_owned();
    let (c_pk, c_sk) = Conversation::key_of(org, &message.conversation_id);
    let conversation = load::<Conversation>(&*svc.store, &c_pk, &c_sk)
        .await?
        .ok_or(Error::not_found("message"))?
        .record;
    let account = current_account(svc, org, &conversation)
        .await?
        .ok_or_else(|| Error::Conflict {
            code: "number_not_connected",
            message: "the business number of this message is not connected".into(),
        })?;
    let token = tokens.get(svc, &account).await?;
    let info = svc
        .whatsapp
        .media_info(&token, &media_id)
        .await
        .map_err(|e| match &e {
            GraphError::Api {
                http_status: 400 | 404,
                ..
            } => Error::not_found("media"),
            _ => provider_error(&e),
        })?;
    if info.file_size.is_some_and(|s| s as usize > max_bytes) {
        return Err(Error::Provider {
            code: "media_too_large",
            message: format!(
                "the file is larger than {max_bytes} bytes, the most this endpoint serves"
            ),
            retryable: false,
        });
    }
    let bytes = svc
        .whatsapp
        .download(&token, &info.url, max_bytes)
        .await
        .map_err(|e| provider_error(&e))?;
    Ok(Media {
        bytes,
        mime_type: info
            .mime_type
            .unwrap_or_else(|| "application/octet-stream".into()),
        filename: message
            .content
            .get(&kind)
            .and_then(|o| o.get("filename"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(http_status: u16, code: i64) -> GraphError {
        GraphError::Api {
            http_status,
            code,
            subcode: None,
            message: "x".into(),
            details: None,
        }
    }

    #[test]
    fn error_classes() {
        for code in [130429, 80007, 4, 613] {
            assert_eq!(classify(&api(400, code)), ErrorClass::Throughput, "{code}");
        }
        assert_eq!(classify(&api(400, 131056)), ErrorClass::PairRate);
        assert_eq!(classify(&api(400, 131047)), ErrorClass::WindowClosed);
        for code in [131026, 131030, 131051, 132000, 132001, 100] {
            assert_eq!(classify(&api(400, code)), ErrorClass::Permanent, "{code}");
        }
        assert_eq!(classify(&api(401, 190)), ErrorClass::TokenInvalid);
        assert_eq!(classify(&api(500, 131000)), ErrorClass::Transient);
        assert_eq!(classify(&api(503, 0)), ErrorClass::Transient);
        assert_eq!(
            classify(&GraphError::Transport("timeout".into())),
            ErrorClass::Transient
        );
    }

    #[test]
    fn keys() {
        assert!(validate_key("order-123_abc").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
    }
}
