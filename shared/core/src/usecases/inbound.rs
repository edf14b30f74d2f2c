//! The inbound consumer's work: apply one stored WhatsApp event.
//!
//! Each inbound message is applied in one transaction — message, wamid look-up,
//! conversation and contact together — conditioned on the message not existing yet.
//! A redelivered event therefore changes nothing, and a crash between two messages of
//! an event leaves no half-applied message: the retry applies the rest.

use chrono::{DateTime, TimeZone, Utc};
use switchboard_webhooks::meta::{self, MessagesValue};
use tracing::{debug, info, warn};

use crate::clock::fmt_time;
use crate::error::{Error, Result};
use crate::ids::{ContactId, ConversationId, MessageId, OrgId, WaId};
use crate::model::{
    Channel, Contact, Conversation, Direction, EarlyStatus, EventRef, EventStatus, Message,
    MessageError, MessageStatus, PhoneRoute, Provider, WamidRoute, WebhookEvent,
};
use crate::record::{Versioned, item, load, update};
use crate::services::Services;
use crate::store::{Condition, StoreError, Write};
use crate::usecases::platform_events::{self, EventType};
use serde_json::json;

/// Attempts at an optimistic update before giving the message back to the queue.
const MAX_ATTEMPTS: usize = 8;

/// What processing an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied: how many messages were new and how many statuses were recorded.
    Applied {
        /// Messages stored by this run.
        messages: usize,
        /// Duplicate messages skipped.
        duplicates: usize,
        /// Statuses applied or kept for later.
        statuses: usize,
    },
    /// The event was processed before.
    AlreadyProcessed,
    /// No org owns the receiving number; the event is kept as unroutable.
    Unroutable,
    /// A field Switchboard records but does not act on yet.
    Ignored,
}

/// Parses a queue body into an event reference. A body that does not parse is poison.
pub fn parse_ref(body: &str) -> Result<EventRef> {
    serde_json::from_str(body)
        .map_err(|e| Error::Internal(format!("queue body is not an event reference: {e}")))
}

/// Applies the event a queue message points at.
pub async fn process(svc: &Services, body: &str) -> Result<Outcome> {
    let Some(mut event) = unsettled_event(svc, body).await? else {
        return Ok(Outcome::AlreadyProcessed);
    };
    if event.provider != Provider::Whatsapp {
        return Err(Error::Internal(format!(
            "event {} is not a WhatsApp event",
            event.key
        )));
    }
    if crate::usecases::opt_out::PREFERENCE_FIELDS.contains(&event.kind.as_str()) {
        return apply_preferences(svc, &mut event).await;
    }
    if crate::usecases::messaging::channel_of_field(&event.kind).is_some() {
        return crate::usecases::messaging::apply(svc, &mut event).await;
    }
    if crate::usecases::templates::TEMPLATE_FIELDS.contains(&event.kind.as_str()) {
        return apply_template_event(svc, &mut event).await;
    }
    if crate::usecases::accounts::ACCOUNT_FIELDS.contains(&event.kind.as_str()) {
        return apply_account_event(svc, &mut event).await;
    }
    if event.kind != "messages" {
        // Template status, quality and account updates are stored and acknowledged;
        // acting on them comes with the features that need them.
        debug!(field = %event.kind, "recording a WhatsApp event Switchboard does not act on");
        let note = format!("field {} is recorded only", event.kind);
        finish(svc, &mut event, EventStatus::Ignored, None, Some(note)).await?;
        return Ok(Outcome::Ignored);
    }
    let value: MessagesValue = serde_json::from_str(&event.payload).map_err(|e| {
        Error::Internal(format!(
            "messages value of event {} does not parse: {e}",
            event.key
        ))
    })?;
    let phone = crate::ids::PhoneNumberId::parse(&value.metadata.phone_number_id)
        .map_err(|e| Error::Internal(format!("event {}: {e}", event.key)))?;
    let (route_pk, route_sk) = PhoneRoute::key_of(&phone);
    let Some(route) = load::<PhoneRoute>(&*svc.store, &route_pk, &route_sk).await? else {
        info!(phone_number_id = %phone, event = %event.key, "no org owns this number; keeping the event as unroutable");
        finish(
            svc,
            &mut event,
            EventStatus::Unroutable,
            None,
            Some(format!("phone_number_id {phone} is not connected")),
        )
        .await?;
        return Ok(Outcome::Unroutable);
    };
    let route = route.record;
    // Data-subject requests: an event naming someone being erased waits for the erasure
    // to finish; any other is linked to the people it names, so an erasure finds it.
    crate::usecases::personal_data::admit_event(svc, &route.org_id, &event, &value).await?;
    let mut messages = 0;
    let mut duplicates = 0;
    for msg in &value.messages {
        match apply_message(svc, &route, &value, msg).await? {
            Applied::New => messages += 1,
            Applied::Duplicate => duplicates += 1,
        }
    }
    for status in &value.statuses {
        apply_meta_status(svc, &route.org_id, status).await?;
    }
    for err in &value.errors {
        warn!(org_id = %route.org_id, code = err.code, title = ?err.title, "WhatsApp reported an error for this number");
    }
    finish(
        svc,
        &mut event,
        EventStatus::Processed,
        Some(route.org_id.clone()),
        None,
    )
    .await?;
    Ok(Outcome::Applied {
        messages,
        duplicates,
        statuses: value.statuses.len(),
    })
}

/// The stored event a queue message points at, or `None` when it was settled already
/// (processed or ignored: a redelivered queue message). An event the queue names but the
/// store lacks is a broken invariant.
pub(crate) async fn unsettled_event(svc: &Services, body: &str) -> Result<Option<WebhookEvent>> {
    let r = parse_ref(body)?;
    let (pk, sk) = WebhookEvent::key_of(r.provider, &r.event);
    let Some(stored) = load::<WebhookEvent>(&*svc.store, &pk, &sk).await? else {
        return Err(Error::Internal(format!(
            "event {} referenced by the queue is not stored",
            r.event
        )));
    };
    Ok(match stored.record.status {
        EventStatus::Processed | EventStatus::Ignored => None,
        EventStatus::Pending | EventStatus::Unroutable => Some(stored.record),
    })
}

/// Records how a stored webhook event was settled.
pub(crate) async fn finish(
    svc: &Services,
    event: &mut WebhookEvent,
    status: EventStatus,
    org: Option<OrgId>,
    note: Option<String>,
) -> Result<()> {
    event.status = status;
    event.org_id = org.or(event.org_id.take());
    event.note = note;
    event.updated_at = svc.clock.now();
    // Settled: the raw payload is kept only for the retention period. Its personal data
    // lives on in the records built from it, which an erasure reaches; an unroutable
    // event (a number no org owns) gets the same period, long enough to connect the
    // number and redrive it, and no longer, since no customer relationship stands behind it.
    event.expires_at = Some((event.updated_at + svc.retention.webhook_events).timestamp());
    // Status moves are idempotent and the payload never changes, so the last writer
    // may win.
    svc.store.put(item(event, 1)?, Condition::Always).await?;
    Ok(())
}

/// A marketing-preferences event: routed like messages, applied to the contacts it
/// names (the customer stopped or resumed marketing messages in WhatsApp itself).
async fn apply_preferences(svc: &Services, event: &mut WebhookEvent) -> Result<Outcome> {
    let value: crate::usecases::opt_out::PreferencesValue = serde_json::from_str(&event.payload)
        .map_err(|e| {
            Error::Internal(format!(
                "preferences value of event {} does not parse: {e}",
                event.key
            ))
        })?;
    let phone = crate::ids::PhoneNumberId::parse(&value.metadata.phone_number_id)
        .map_err(|e| Error::Internal(format!("event {}: {e}", event.key)))?;
    let (route_pk, route_sk) = PhoneRoute::key_of(&phone);
    let Some(route) = load::<PhoneRoute>(&*svc.store, &route_pk, &route_sk).await? else {
        info!(phone_number_id = %phone, event = %event.key, "no org owns this number; keeping the event as unroutable");
        let note = format!("phone_number_id {phone} is not connected");
        finish(svc, event, EventStatus::Unroutable, None, Some(note)).await?;
        return Ok(Outcome::Unroutable);
    };
    let org = route.record.org_id;
    // The event names a person: linked to them like a messages event, so an erasure
    // finds it (the value has the same metadata and contacts).
    if let Ok(people) = serde_json::from_str::<MessagesValue>(&event.payload) {
        crate::usecases::personal_data::admit_event(svc, &org, event, &people).await?;
    }
    let changed = crate::usecases::opt_out::apply_preferences(svc, &org, &value).await?;
    finish(svc, event, EventStatus::Processed, Some(org), None).await?;
    Ok(Outcome::Applied {
        messages: 0,
        duplicates: 0,
        statuses: changed,
    })
}

/// Template webhooks (status, quality, category) update the business account's template.
async fn apply_template_event(svc: &Services, event: &mut WebhookEvent) -> Result<Outcome> {
    let value = business_value(event)?;
    let applied =
        crate::usecases::templates::apply_webhook(svc, &event.kind, &event.source_id, &value)
            .await?;
    settle_business_event(
        svc,
        event,
        applied,
        "no org connected this business account",
    )
    .await
}

/// Account webhooks (quality, tier, name, account and review updates) update the
/// numbers of the business account they name.
async fn apply_account_event(svc: &Services, event: &mut WebhookEvent) -> Result<Outcome> {
    let value = business_value(event)?;
    let applied = crate::usecases::accounts::apply_account_webhook(
        svc,
        &event.kind,
        &event.source_id,
        &value,
    )
    .await?;
    settle_business_event(
        svc,
        event,
        applied,
        "no connected number of this business account matches",
    )
    .await
}

/// The `value` of a business-account webhook (templates, account updates).
fn business_value(event: &WebhookEvent) -> Result<serde_json::Value> {
    serde_json::from_str(&event.payload)
        .map_err(|e| Error::Internal(format!("value of event {} does not parse: {e}", event.key)))
}

/// Settles a business-account webhook: processed for the org it changed, or kept as
/// unroutable (with `why`) when it changed nothing Switchboard holds.
async fn settle_business_event(
    svc: &Services,
    event: &mut WebhookEvent,
    (changed, org): (usize, Option<OrgId>),
    why: &str,
) -> Result<Outcome> {
    if changed == 0 {
        info!(field = %event.kind, event = %event.key, "{why}; keeping the event as unroutable");
        let note = format!("{}: {why}", event.kind);
        finish(svc, event, EventStatus::Unroutable, None, Some(note)).await?;
        return Ok(Outcome::Unroutable);
    }
    finish(svc, event, EventStatus::Processed, org, None).await?;
    Ok(Outcome::Applied {
        messages: 0,
        duplicates: 0,
        statuses: changed,
    })
}

pub(crate) enum Applied {
    New,
    Duplicate,
}

fn provider_time(unix: Option<i64>, fallback: DateTime<Utc>) -> DateTime<Utc> {
    unix.and_then(|s| Utc.timestamp_opt(s, 0).single())
        .unwrap_or(fallback)
}

async fn apply_message(
    svc: &Services,
    route: &PhoneRoute,
    value: &MessagesValue,
    msg: &meta::InboundMessage,
) -> Result<Applied> {
    let org = &route.org_id;
    let wa_id = WaId::parse(&msg.from)
        .map_err(|e| Error::Internal(format!("message {}: sender {e}", msg.id)))?;
    let profile_name = value
        .contacts
        .iter()
        .find(|c| c.wa_id == msg.from)
        .and_then(|c| c.profile.as_ref())
        .and_then(|p| p.name.clone());
    // STOP / START (or WhatsApp's own preference message): applied with the message, in
    // its transaction, so a redelivery changes nothing and a crash loses nothing.
    let opt_out = crate::usecases::opt_out::instruction_in(svc, org, msg).await?;
    let applied = store_inbound(
        svc,
        route,
        Incoming {
            channel: Channel::Whatsapp,
            sender: wa_id,
            profile_name,
            external_id: &msg.id,
            sent_at: msg
                .unix_seconds()
                .and_then(|s| Utc.timestamp_opt(s, 0).single()),
            content: msg.content(),
            preview: msg.preview(),
            reply_to: msg.reply_to(),
            opt_out,
            kind: &msg.kind,
            direction: Direction::Inbound,
        },
    )
    .await?;
    // The file goes to storage while Meta's media id is fresh (a redelivery finds it
    // archived, or archives what the first delivery could not).
    if meta::MEDIA_TYPES.contains(&msg.kind.as_str()) {
        crate::usecases::media::archive_on_arrival(svc, org, &MessageId::for_wamid(org, &msg.id))
            .await;
    }
    Ok(applied)
}

/// A customer's message on any channel, as the inbound path stores it.
pub(crate) struct Incoming<'a> {
    /// The channel.
    pub channel: Channel,
    /// The customer: WhatsApp id or page-scoped id.
    pub sender: WaId,
    /// The name the channel shows for them, when it says.
    pub profile_name: Option<String>,
    /// The provider's message id (wamid, mid).
    pub external_id: &'a str,
    /// When the customer sent it (provider time), if known.
    pub sent_at: Option<DateTime<Utc>>,
    /// The content in Switchboard's (Meta's) shape.
    pub content: serde_json::Value,
    /// The conversation list's preview.
    pub preview: String,
    /// The provider id of the message replied to.
    pub reply_to: Option<String>,
    /// A marketing opt-out or opt-in the message carries.
    pub opt_out: Option<(bool, crate::model::OptOutSource)>,
    /// The message's type, for logs.
    pub kind: &'a str,
    /// Inbound, or outbound for an echo of the business's own message sent elsewhere
    /// (stored as sent; it opens no window and reopens nothing).
    pub direction: Direction,
}

/// Stores a customer's message with its conversation and contact in one transaction
/// (created when new); a message stored before is a duplicate.
pub(crate) async fn store_inbound(
    svc: &Services,
    route: &PhoneRoute,
    incoming: Incoming<'_>,
) -> Result<Applied> {
    let org = &route.org_id;
    let wa_id = incoming.sender.clone();
    let profile_name = incoming.profile_name.clone();
    let opt_out = incoming.opt_out;
    let channel = incoming.channel;
    let inbound = incoming.direction == Direction::Inbound;
    let message_id = MessageId::for_wamid(org, incoming.external_id);
    let (msg_pk, msg_sk) = Message::key_of(org, &message_id);
    let contact_id = ContactId::for_user(org, channel.as_str(), &wa_id);
    let conversation_id = ConversationId::for_thread(org, &route.phone_number_id, &wa_id);
    // A customer's message may get an AI reply; an opt-out or opt-in instruction never
    // does (its own confirmation is the answer).
    let ai_answers = inbound && opt_out.is_none();

    for attempt in 0..MAX_ATTEMPTS {
        // Cheap check first: most redeliveries stop here without a transaction.
        if let Some(stored) = svc.store.get(&msg_pk, &msg_sk).await? {
            debug!(message_id = %message_id, "message already stored");
            // Queued again: the first delivery's enqueue may be what failed (the job
            // is idempotent, and the FIFO queue drops a repeat within 5 minutes).
            if ai_answers {
                crate::usecases::ai::reply::enqueue(svc, org, &conversation_id, &message_id)
                    .await?;
            }
            // Published again for the same reason: the same facts are the same events.
            if inbound {
                publish_received(svc, &stored.decode::<Message>()?).await?;
            }
            if let (Some((opted_out, _)), Some(at)) = (opt_out, incoming.sent_at) {
                crate::usecases::opt_out::republish_consent(svc, org, &contact_id, opted_out, at)
                    .await?;
            }
            return Ok(Applied::Duplicate);
        }
        let now = svc.clock.now();
        let at = incoming.sent_at.unwrap_or(now);

        let (c_pk, c_sk) = Contact::key_of(org, &contact_id);
        let mut contact = load::<Contact>(&*svc.store, &c_pk, &c_sk)
            .await?
            .unwrap_or_else(|| Versioned::new(Contact::on(channel, org, &wa_id, now)));
        // As read: the contact's index items are changed by the difference.
        let stored_contact = (contact.version > 0).then(|| contact.record.clone());
        if let Some(profile) = &profile_name {
            contact.record.see_profile_name(profile);
        }
        let consent_changed = opt_out
            .is_some_and(|(opted_out, source)| contact.record.set_opted_out(opted_out, source, at));
        if inbound && contact.record.last_inbound_at.is_none_or(|t| at > t) {
            contact.record.last_inbound_at = Some(at);
        }
        contact.record.updated_at = now;

        let (v_pk, v_sk) = Conversation::key_of(org, &conversation_id);
        let mut conversation = load::<Conversation>(&*svc.store, &v_pk, &v_sk)
            .await?
            .unwrap_or_else(|| {
                Versioned::new(Conversation::open_on(
                    channel,
                    org,
                    &route.account_id,
                    &route.phone_number_id,
                    &wa_id,
                    now,
                ))
            });
        // As read, for the `conversation.updated` event of a reopening.
        let stored_conversation = (conversation.version > 0).then(|| conversation.record.clone());
        conversation.record.account_id = route.account_id.clone();
        conversation.record.contact_name = contact.record.name.clone();
        conversation.record.record_message(
            &message_id,
            at,
            incoming.direction,
            incoming.preview.clone(),
            now,
        );
        // The customer wrote again: a resolved or snoozed conversation needs the
        // business's attention again, decided in the transaction that stores the message.
        if inbound {
            conversation.record.reopen(now);
        }

        let message = Message {
            id: message_id.clone(),
            org_id: org.clone(),
            conversation_id: conversation_id.clone(),
            account_id: route.account_id.clone(),
            channel,
            contact_id: contact_id.clone(),
            direction: incoming.direction,
            wamid: Some(incoming.external_id.to_owned()),
            content: incoming.content.clone(),
            status: if inbound {
                MessageStatus::Received
            } else {
                MessageStatus::Sent
            },
            status_times: Default::default(),
            error: None,
            reply_to: incoming.reply_to.clone(),
            timestamp: at,
            created_at: now,
            updated_at: now,
            attempts: 0,
            scheduled_at_us: None,
            sent_by: None,
            awaiting_queue: false,
            reserved_period: None,
            next_attempt_at: None,
            first_failed_at: None,
            late_repaces: 0,
            correlation_id: None,
            lane: Default::default(),
            lane_waits: 0,
            origin: None,
            media: None,
            sending_since: None,
        };
        let wamid_route = WamidRoute {
            wamid: incoming.external_id.to_owned(),
            org_id: org.clone(),
            message_id: message_id.clone(),
        };
        let mut writes = vec![
            Write::put(item(&message, 1)?, Condition::NotExists),
            Write::put(item(&wamid_route, 1)?, Condition::Always),
            Write::put(conversation.next_item()?, conversation.condition()),
        ];
        // The contact goes fourth; its index items (a new name, the opt-out, a new
        // contact's number) go last, once the room they have is known.
        let contact_at = writes.len();
        if conversation.version == 0 {
            // A new conversation is linked from its contact in the same transaction, so
            // an export or erasure of the contact always finds it.
            writes.push(Write::put(
                crate::usecases::personal_data::conversation_link(&conversation.record)?,
                Condition::Always,
            ));
        }
        // The filtered inbox lists follow the conversation's activity and status (last,
        // so the positions of the conditional writes above stay as they are).
        writes.extend(crate::triage::entry_writes(None, &conversation.record)?);
        let room = crate::store::MAX_TRANSACTION_ITEMS - writes.len();
        let contact_writes = crate::usecases::contacts::index::writes(
            stored_contact.as_ref(),
            contact.version,
            &contact.record,
            room,
        )?;
        let mut contact_writes_now = contact_writes.now.into_iter();
        if let Some(record) = contact_writes_now.next() {
            writes.insert(contact_at, record);
        }
        writes.extend(contact_writes_now);
        match svc.store.transact(writes).await {
            Ok(()) => {
                debug!(org_id = %org, message_id = %message_id, from = %wa_id.masked(), kind = %incoming.kind, channel = channel.as_str(), "stored inbound message");
                if !contact_writes.later.is_empty()
                    && let Err(e) = crate::usecases::contacts::index::finish(
                        svc,
                        &contact.record,
                        contact.version + 1,
                        contact_writes.later,
                    )
                    .await
                {
                    // The message is stored; a stale index item only costs a
                    // filtered-out candidate in a contact list.
                    warn!(error = %e, "could not remove stale contact index items");
                }
                if inbound && let Some(campaign) = &conversation.record.last_campaign {
                    crate::usecases::campaigns::replied(svc, org, campaign, &contact_id).await?;
                }
                if ai_answers {
                    crate::usecases::ai::reply::enqueue(svc, org, &conversation_id, &message_id)
                        .await?;
                }
                // Platform events last, after the work above: a failed publish retries
                // the event, whose redelivery publishes the message again (same id).
                if inbound {
                    publish_received(svc, &message).await?;
                }
                if let Some(before) = &stored_conversation {
                    crate::usecases::triage::publish_updated(
                        svc,
                        before,
                        &conversation.record,
                        conversation.version + 1,
                    )
                    .await?;
                }
                if consent_changed {
                    crate::usecases::opt_out::publish_consent(svc, &contact.record).await?;
                }
                return Ok(Applied::New);
            }
            Err(StoreError::ConditionFailed { index: 0 }) => return Ok(Applied::Duplicate),
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {
                debug!(
                    attempt,
                    "conversation or contact changed concurrently; retrying"
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// Applies a Meta delivery status to the message with that wamid, or keeps it until the
/// wamid is known.
pub async fn apply_meta_status(svc: &Services, org: &OrgId, status: &meta::Status) -> Result<()> {
    let Some(next) = MessageStatus::from_meta(&status.status) else {
        debug!(status = %status.status, "ignoring a status Switchboard does not know");
        return Ok(());
    };
    let now = svc.clock.now();
    let at = provider_time(status.unix_seconds(), now);
    let error = status.errors.first().map(|e| MessageError {
        code: e.code,
        title: e.title.clone(),
        message: e.message.clone(),
        details: e
            .error_data
            .as_ref()
            .and_then(|d| d.get("details"))
            .and_then(|d| d.as_str())
            .map(str::to_owned),
        retryable: false,
    });
    let (r_pk, r_sk) = WamidRoute::key_of(&status.id);
    let route = load::<WamidRoute>(&*svc.store, &r_pk, &r_sk).await?;
    // A status for a wamid not stored yet that names one of our messages: remember which
    // wamid Meta gave it, so that a send whose process died after Graph accepted it is
    // recorded from this rather than sent again.
    if route.is_none()
        && let Some(id) = status
            .biz_opaque_callback_data
            .as_deref()
            .and_then(|d| MessageId::parse(d).ok())
    {
        crate::usecases::outbound::deliver::remember_wamid(svc, org, &id, &status.id, now).await?;
    }
    match route {
        Some(route) if &route.record.org_id == org => {
            apply_status(svc, &route.record, next, at, error).await
        }
        Some(_) => {
            warn!(org_id = %org, "status for a wamid owned by another org; ignored");
            Ok(())
        }
        None => {
            let early = EarlyStatus {
                wamid: status.id.clone(),
                org_id: org.clone(),
                status: next,
                at,
                error,
                expires_at: (now + chrono::Duration::days(EarlyStatus::KEEP_DAYS)).timestamp(),
            };
            svc.store.put(item(&early, 1)?, Condition::Always).await?;
            // The sender may have stored the wamid between our look-up and our write:
            // look again, so that one of the two sides always applies the status.
            if let Some(route) = load::<WamidRoute>(&*svc.store, &r_pk, &r_sk).await?
                && &route.record.org_id == org
            {
                crate::usecases::outbound::apply_early_statuses(svc, &route.record).await?;
            }
            Ok(())
        }
    }
}

/// Applies a status to a known message, monotonically (optimistic concurrency).
pub async fn apply_status(
    svc: &Services,
    route: &WamidRoute,
    next: MessageStatus,
    at: DateTime<Utc>,
    error: Option<MessageError>,
) -> Result<()> {
    let (pk, sk) = Message::key_of(&route.org_id, &route.message_id);
    let found = update::<Message>(&*svc.store, &pk, &sk, |m| {
        let before = (m.status, m.status_times.clone());
        m.apply_status(next, at, error.clone(), svc.clock.now());
        (m.status, &m.status_times) != (before.0, &before.1)
    })
    .await?;
    let Some(m) = found else {
        return Err(Error::Internal(format!(
            "wamid look-up points at missing message {}",
            route.message_id
        )));
    };
    crate::usecases::campaigns::follow(svc, &m).await?;
    // Told when the message is (now) in the reported state: a status that came late and
    // was ignored tells nothing, a redelivered one tells the same event again.
    if m.direction == Direction::Outbound && m.status == next {
        publish_delivery_state(svc, &m).await?;
    }
    Ok(())
}

/// Publishes `message.received` for a customer's stored message (ids and states only).
async fn publish_received(svc: &Services, m: &Message) -> Result<()> {
    let data = json!({
        "message_id": m.id,
        "conversation_id": m.conversation_id,
        "contact_id": m.contact_id,
        "channel": m.channel.as_str(),
        "kind": m.kind(),
        "received_at": fmt_time(m.timestamp),
    });
    platform_events::publish(
        svc,
        &m.org_id,
        EventType::MessageReceived,
        &[m.id.as_str()],
        data,
    )
    .await?;
    Ok(())
}

/// Publishes an outbound message's delivery state: `message.failed` when it failed,
/// else `message.status_updated` (one event per message and state).
async fn publish_delivery_state(svc: &Services, m: &Message) -> Result<()> {
    if m.status == MessageStatus::Failed {
        return publish_failed(svc, m).await;
    }
    let data = json!({
        "message_id": m.id,
        "conversation_id": m.conversation_id,
        "status": m.status.as_str(),
    });
    platform_events::publish(
        svc,
        &m.org_id,
        EventType::MessageStatusUpdated,
        &[m.id.as_str(), m.status.as_str()],
        data,
    )
    .await?;
    Ok(())
}

/// Publishes `message.failed` for a failed message, with the error's code: the
/// provider's number (`131047`), or Switchboard's own snake_case code
/// (`account_disconnected`); never the provider's wording.
pub(crate) async fn publish_failed(svc: &Services, m: &Message) -> Result<()> {
    let code = failure_code(m.error.as_ref());
    let data = json!({
        "message_id": m.id,
        "conversation_id": m.conversation_id,
        "error_code": code,
    });
    platform_events::publish(
        svc,
        &m.org_id,
        EventType::MessageFailed,
        &[m.id.as_str(), &code],
        data,
    )
    .await?;
    Ok(())
}

/// The code of a message's error as events tell it.
fn failure_code(e: Option<&MessageError>) -> String {
    match e {
        Some(e) if e.code != 0 => e.code.to_string(),
        Some(MessageError { title: Some(t), .. })
            if !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            t.clone()
        }
        _ => "unknown".to_owned(),
    }
}
