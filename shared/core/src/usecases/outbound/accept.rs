//! What the send API does: validate the message, apply the customer-service window and
//! the plan's limits, honour the `Idempotency-Key`, store the message `queued` and hand
//! it to the outbound queue — and the sweep that hands over sends whose enqueue never
//! happened.
//!
//! Store-then-enqueue leaves a gap: the process can die, or the queue can fail, after
//! the message is stored and before the queue has it. So a message is stored with
//! `awaiting_queue` set (which indexes it on `gsi2`), and the flag is cleared once the
//! queue has it. Whatever is still flagged a while later is handed over again by
//! [`requeue_pending`] (the `switchboard messages pending --requeue` command and the
//! `cron-outbound-sweep` schedule). Handing a message over twice is harmless: the
//! queue's dedupe id is the message id, and the sender skips messages no longer
//! waiting.
//!
//! Idempotency keys are remembered for 24 hours, like Stripe's: a retry with the same
//! key and body within the window answers the first result (and hands the message to
//! the queue again if its enqueue failed); after the window the key is new again, and
//! names a new message.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};
use uuid::Uuid;

use crate::billing::BillingConfig;
use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{ConversationId, MessageId, OrgId};
use crate::metrics::Metric;
use crate::model::{Conversation, Direction, Message, MessageStatus, PhoneRoute};
use crate::record::{Record, decode_all, item, load, update};
use crate::services::Services;
use crate::store::{Condition, Index, Query, SortKey, StoreError, Write};
use crate::usecases::billing;
use crate::usecases::compose::{Composed, compose};

use super::{MAX_ATTEMPTS, enqueue, fail, switchboard_error};

/// Idempotency record of a send request (24 h).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

/// `gsi1` partition holding the idempotency record that names a message: the key is
/// only stored hashed, so erasing a message finds its record through this index.
fn idempotency_index_pk(org: &OrgId, message: &MessageId) -> String {
    format!("ORG#{org}#MSG#{message}#IDEM")
}

impl Record for IdempotencyRecord {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.key_hash)
    }

    fn gsi1(&self) -> Option<crate::store::IndexKey> {
        Some(crate::store::IndexKey::new(
            idempotency_index_pk(&self.org_id, &self.message_id),
            self.key_hash.clone(),
        ))
    }

    fn ttl(&self) -> Option<i64> {
        // Expiry is part of the store's meaning: once this passes, the record is
        // absent for reads and for the "must not exist" condition that claims a key.
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
    /// The API request (follows the message through the queue to the Graph call).
    pub correlation_id: Option<&'a str>,
    /// What sent it when not a person typing (an AI reply, auto or accepted).
    pub origin: Option<crate::model::MessageOrigin>,
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

/// Where a send request got to: what billing reserved, and whether the message was
/// stored (after which the reservation belongs to the message).
#[derive(Debug, Default)]
struct Progress {
    admitted: bool,
    reserved_period: Option<i64>,
    stored: bool,
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
    let mut progress = Progress::default();
    let result = accept(
        svc,
        &req,
        &composed,
        key_hash.as_deref(),
        &request_hash,
        &mut progress,
    )
    .await;
    if let Some(period) = progress.reserved_period
        && !progress.stored
    {
        // Nothing was stored (refused, or a concurrent retry with the same key won):
        // give back exactly what was reserved, into the period it was reserved in.
        if let Err(e) = billing::release_message(svc, req.org, period).await {
            warn!(org_id = %req.org, error = %e, "could not give back a message reservation");
        }
    }
    result
}

async fn accept(
    svc: &Services,
    req: &SendRequest<'_>,
    composed: &Composed,
    key_hash: Option<&str>,
    request_hash: &str,
    progress: &mut Progress,
) -> Result<Accepted> {
    let mut collided = false;
    for _ in 0..MAX_ATTEMPTS {
        let now = svc.clock.now();
        let (c_pk, c_sk) = Conversation::key_of(req.org, req.conversation);
        let mut conversation = load::<Conversation>(&*svc.store, &c_pk, &c_sk)
            .await?
            .ok_or(Error::not_found("conversation"))?;
        if conversation.record.channel != crate::model::Channel::Whatsapp {
            // Messenger and Instagram: their own content and window rules.
            crate::usecases::messaging::admit(&conversation.record, &composed.content, now)?;
        } else if !composed.is_template() && !conversation.record.window_open(now) {
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
        // A template Switchboard knows is sent only while Meta has it approved (the
        // routing entry names the number's business account).
        // Free-form messages are replies to a person writing: the priority lane. A
        // template's lane follows its category (unknown: a notification).
        let mut lane = crate::model::Lane::Priority;
        if composed.is_template() {
            let t = &composed.content["template"];
            let category = crate::usecases::templates::check_sendable(
                svc,
                req.org,
                route.waba_id.as_ref(),
                t["name"].as_str().unwrap_or_default(),
                t["language"]["code"].as_str().unwrap_or_default(),
            )
            .await?;
            lane = crate::model::Lane::of_category(category.as_deref());
        }
        // Plan limits and subscription status: checked where the work is accepted,
        // without a Stripe call.
        if !progress.admitted {
            progress.reserved_period =
                billing::admit_message(svc, req.billing, req.org, req.sender).await?;
            progress.admitted = true;
        }

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

        // With an idempotency key the id derives from it, so concurrent retries can only
        // name one message. A key reused after its 24-hour window finds its old message
        // in the way; the new one derives from the key and the day, which differs from
        // any earlier use's (the window is a day long).
        let id = match key_hash {
            Some(kh) if collided => MessageId::from_uuid(crate::ids::derived_uuid(&[
                "outbound",
                req.org.as_str(),
                kh,
                &(now.timestamp() / 86_400).to_string(),
            ])),
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
            channel: conversation.record.channel,
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
            awaiting_queue: true,
            reserved_period: progress.reserved_period,
            next_attempt_at: None,
            first_failed_at: None,
            late_repaces: 0,
            correlation_id: req.correlation_id.map(str::to_owned),
            lane,
            lane_waits: 0,
            origin: req.origin.clone(),
            media: None,
            sending_since: None,
        };
        // A person answering (typed, or an AI draft they accepted) pauses AI auto-replies.
        if req.sender.is_some() && req.origin.as_ref().is_none_or(|o| !o.is_automatic()) {
            conversation.record.last_agent_reply_at = Some(now);
        }
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
        if let Some(kh) = key_hash {
            let record = IdempotencyRecord {
                org_id: req.org.clone(),
                key_hash: kh.to_owned(),
                request_hash: request_hash.to_owned(),
                message_id: message.id.clone(),
                expires_at: (now + chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp(),
            };
            writes.push(Write::put(item(&record, 1)?, Condition::NotExists));
        }
        // The filtered inbox lists follow the conversation's activity (last, so the
        // positions of the conditional writes matched below stay as they are).
        writes.extend(crate::triage::entry_writes(None, &conversation.record)?);
        match svc.store.transact(writes).await {
            Ok(()) => progress.stored = true,
            Err(StoreError::ConditionFailed {
                index: index @ (0 | 2),
            }) if key_hash.is_some() => {
                // A concurrent request with the same key won...
                if let Some(kh) = key_hash
                    && let Some(accepted) = replay(svc, req.org, kh, request_hash).await?
                {
                    return Ok(accepted);
                }
                // ...or the key's previous use has expired and its message holds the id.
                collided |= index == 0;
                continue;
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
        return hand_over(svc, req, message, &conversation.record, key_hash.is_some()).await;
    }
    Err(Error::Store(StoreError::Conflict))
}

/// Hands a stored message to the queue. If the queue fails, a request with an
/// idempotency key answers 503 and leaves the message waiting: the retry with the same
/// key (or the sweep) hands it over. Without a key a retry would be a new message, so
/// this one is cancelled — unless the sender already has it, which means the queue
/// took it after all and the send stands.
async fn hand_over(
    svc: &Services,
    req: &SendRequest<'_>,
    message: Message,
    conversation: &Conversation,
    keyed: bool,
) -> Result<Accepted> {
    match enqueue(svc, &message, conversation).await {
        Ok(()) => {
            handed_over(svc, &message).await;
            info!(org_id = %req.org, message_id = %message.id, kind = message.kind(), "accepted an outbound message");
            Ok(Accepted {
                message: Message {
                    awaiting_queue: false,
                    ..message
                },
                replayed: false,
            })
        }
        Err(e) if keyed => {
            warn!(org_id = %req.org, message_id = %message.id, error = %e, "could not queue an outbound message; it waits for a retry or the sweep");
            Err(Error::Unavailable {
                code: "queue_unavailable",
                message: "the message is stored but could not be queued yet; retry with the same Idempotency-Key".into(),
            })
        }
        Err(e) => {
            warn!(org_id = %req.org, message_id = %message.id, error = %e, "could not queue an outbound message; cancelling it");
            let cancelled = fail(
                svc,
                &message.org_id,
                &message.id,
                switchboard_error(
                    "queue_unavailable",
                    "the message could not be queued; send it again",
                ),
                false,
            )
            .await;
            match cancelled {
                Ok(Some(m)) if m.status != MessageStatus::Failed => Ok(Accepted {
                    message: m,
                    replayed: false,
                }),
                Ok(_) => {
                    if let Some(period) = message.reserved_period
                        && let Err(e) = billing::release_message(svc, req.org, period).await
                    {
                        warn!(org_id = %req.org, error = %e, "could not give back a message reservation");
                    }
                    Err(Error::Unavailable {
                        code: "queue_unavailable",
                        message: "the message could not be queued and was not sent; send it again"
                            .into(),
                    })
                }
                // Neither the queue nor the store answers: the message stays waiting and
                // the sweep sends it.
                Err(_) => Err(e),
            }
        }
    }
}

/// Clears the waiting flag of a message the queue now holds. Best effort: a message
/// left flagged is only handed over again by the sweep, which the sender ignores.
pub(super) async fn handed_over(svc: &Services, message: &Message) {
    let (pk, sk) = Message::key_of(&message.org_id, &message.id);
    let result = update::<Message>(&*svc.store, &pk, &sk, |m| {
        if !m.awaiting_queue {
            return false;
        }
        m.awaiting_queue = false;
        true
    })
    .await;
    if let Err(e) = result {
        warn!(message_id = %message.id, error = %e, "could not clear the waiting flag; the sweep will hand the message over again");
    }
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
    let mut message = load::<Message>(&*svc.store, &m_pk, &m_sk)
        .await?
        .ok_or_else(|| Error::Internal("idempotency record points at a missing message".into()))?
        .record;
    if message.awaiting_queue
        && matches!(
            message.status,
            MessageStatus::Queued | MessageStatus::Retrying
        )
    {
        // The first request stored the message but the queue never took it: hand it
        // over now (a repeat is dropped by the queue's dedupe or skipped by the sender).
        let (c_pk, c_sk) = Conversation::key_of(org, &message.conversation_id);
        if let Some(c) = load::<Conversation>(&*svc.store, &c_pk, &c_sk).await? {
            enqueue(svc, &message, &c.record).await.map_err(|e| {
                warn!(message_id = %message.id, error = %e, "could not queue a replayed message");
                Error::Unavailable {
                    code: "queue_unavailable",
                    message: "the message is stored but could not be queued yet; retry with the same Idempotency-Key".into(),
                }
            })?;
            handed_over(svc, &message).await;
            message.awaiting_queue = false;
        }
    }
    Ok(Some(Accepted {
        message,
        replayed: true,
    }))
}

/// Deletes the idempotency records naming a message (an erased message must leave no
/// look-up behind); returns how many there were. A later request with the same key is
/// then new, as it would be after the key's 24 hours.
pub async fn forget_idempotency_keys(
    svc: &Services,
    org: &OrgId,
    message: &MessageId,
) -> Result<usize> {
    let page = svc
        .store
        .query(Query::index(
            Index::Gsi1,
            idempotency_index_pk(org, message),
        ))
        .await?;
    for item in &page.items {
        svc.store
            .delete(&item.pk, &item.sk, Condition::Always)
            .await?;
    }
    Ok(page.items.len())
}

// ---------------------------------------------------------------------- the sweep

/// A send stored but not handed to the queue (no content: operators see ids only).
#[derive(Debug, Clone, Serialize)]
pub struct PendingSend {
    /// Owner.
    pub org_id: OrgId,
    /// The message.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// When it was accepted.
    #[serde(with = "rfc3339_millis")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Sends stored at least `older_than` ago and still not handed to the queue, oldest
/// first per shard, up to `limit`. The index is eventually consistent; each is re-read
/// before anything acts on it.
pub async fn pending_sends(
    svc: &Services,
    older_than: Duration,
    limit: usize,
) -> Result<Vec<Message>> {
    let cutoff = svc.clock.now()
        - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::zero());
    let upto = format!("{}#~", fmt_time(cutoff));
    let mut out = Vec::new();
    for shard in 0..Message::PENDING_SHARDS {
        let mut after = None;
        while out.len() < limit {
            let page = svc
                .store
                .query(
                    Query::index(Index::Gsi2, Message::pending_pk(shard))
                        .sort(SortKey::AtMost(upto.clone()))
                        .limit((limit - out.len()).min(100))
                        .after(after),
                )
                .await?;
            for listed in decode_all::<Message>(&page.items)? {
                let (pk, sk) = Message::key_of(&listed.org_id, &listed.id);
                if let Some(m) = load::<Message>(&*svc.store, &pk, &sk).await?
                    && m.record.awaiting_queue
                    && matches!(
                        m.record.status,
                        MessageStatus::Queued | MessageStatus::Retrying
                    )
                {
                    out.push(m.record);
                }
            }
            match page.next {
                Some(p) => after = Some(p),
                None => break,
            }
        }
    }
    out.truncate(limit);
    Ok(out)
}

impl From<&Message> for PendingSend {
    fn from(m: &Message) -> Self {
        Self {
            org_id: m.org_id.clone(),
            message_id: m.id.clone(),
            conversation_id: m.conversation_id.clone(),
            created_at: m.created_at,
        }
    }
}

/// Hands every send stored at least `older_than` ago and still waiting to the queue;
/// returns how many were handed over.
pub async fn requeue_pending(svc: &Services, older_than: Duration, limit: usize) -> Result<usize> {
    let mut count = 0;
    for message in pending_sends(svc, older_than, limit).await? {
        let (c_pk, c_sk) = Conversation::key_of(&message.org_id, &message.conversation_id);
        let Some(conversation) = load::<Conversation>(&*svc.store, &c_pk, &c_sk).await? else {
            continue;
        };
        enqueue(svc, &message, &conversation.record).await?;
        handed_over(svc, &message).await;
        info!(org_id = %message.org_id, message_id = %message.id, "handed a stranded send to the queue");
        count += 1;
    }
    svc.metrics
        .count(Metric::StrandedSendsRequeued, None, count as u64);
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(validate_key("order-123_abc").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
    }
}
