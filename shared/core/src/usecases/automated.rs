//! Messages Switchboard sends on its own — campaign recipients, sequence steps — stored
//! the one way that makes them exactly once: a message id derived from its cause, written
//! only if absent, in the transaction that also records the send on its tracking record
//! (a recipient, an enrolment) and in the conversation (opened if the customer never
//! wrote). The message then goes to the sender like any other, in its pacing lane.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::{ConversationId, MessageId};
use crate::model::{
    Account, Channel, Contact, Conversation, Direction, Lane, Message, MessageOrigin, MessageStatus,
};
use crate::record::{Versioned, item, load};
use crate::services::Services;
use crate::store::{Condition, StoreError, Write};

/// Attempts at the transaction under contention.
const MAX_ATTEMPTS: usize = 8;

/// The tracking record of an automated message.
#[async_trait::async_trait]
pub trait Claim: Send + Sync {
    /// The versioned write that records `message` as sent on the tracking record, or
    /// `None` when the record no longer wants it (already sent, stopped, gone).
    async fn claim(
        &self,
        svc: &Services,
        message: &MessageId,
        now: DateTime<Utc>,
    ) -> Result<Option<Write>>;
}

/// One automated message.
#[derive(Debug)]
pub struct Automated<'a> {
    /// The number it goes from.
    pub account: &'a Account,
    /// The customer.
    pub contact: &'a Contact,
    /// Its id, derived from its cause.
    pub id: &'a MessageId,
    /// Content in Graph's shape (already validated).
    pub content: Value,
    /// The usage period billing reserved it in.
    pub reserved: Option<i64>,
    /// Its pacing lane.
    pub lane: Lane,
    /// What sent it.
    pub origin: MessageOrigin,
}

/// What [`send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Stored and handed to the sender.
    Queued,
    /// Not sent: the message exists already or its claim declined.
    Declined,
    /// The org's plan has no room for it.
    PlanLimit,
}

/// The whole send of an automated message: the plan's admission, the transaction of
/// [`store`], the queue (a message the queue did not take waits for the outbound sweep);
/// a reservation that came to nothing is given back.
pub async fn send(
    svc: &Services,
    billing: &crate::billing::BillingConfig,
    mut m: Automated<'_>,
    claim: &dyn Claim,
) -> Result<Sent> {
    let org = m.contact.org_id.clone();
    m.reserved = match crate::usecases::billing::admit_message(svc, billing, &org, None).await {
        Ok(p) => p,
        Err(Error::PaymentRequired { .. }) => return Ok(Sent::PlanLimit),
        Err(e) => return Err(e),
    };
    let reserved = m.reserved;
    match store(svc, m, claim).await {
        Ok(Some((message, conversation))) => {
            if let Err(e) =
                crate::usecases::outbound::hand_to_queue(svc, &message, &conversation).await
            {
                tracing::warn!(message_id = %message.id, error = %e, "could not queue an automated message; the sweep will");
            }
            Ok(Sent::Queued)
        }
        other => {
            if let Some(period) = reserved
                && let Err(e) = crate::usecases::billing::release_message(svc, &org, period).await
            {
                tracing::warn!(org_id = %org, error = %e, "could not give back a message reservation");
            }
            other.map(|_| Sent::Declined)
        }
    }
}

/// A template message for `contact`: its variables filled and the whole checked as a
/// send; `Err` with the skip reason (`missing_variable:<name>`, `invalid_variables`).
pub fn template_content(
    t: &crate::usecases::campaigns::CampaignTemplate,
    contact: &Contact,
) -> std::result::Result<Value, String> {
    let components = crate::usecases::campaigns::variables::fill(&t.components, contact)?;
    template_message(t, components)
}

/// A template message of `t` with `components` taken as they are (no placeholders filled),
/// checked as a send; `Err("invalid_variables")` when it is not one.
pub fn template_message(
    t: &crate::usecases::campaigns::CampaignTemplate,
    components: Value,
) -> std::result::Result<Value, String> {
    let mut template = serde_json::json!({
        "name": t.name,
        "language": {"code": t.language},
    });
    if components.as_array().is_some_and(|a| !a.is_empty()) {
        template["components"] = components;
    }
    crate::usecases::compose::compose(&serde_json::json!({
        "type": "template",
        "template": template,
    }))
    .map(|c| c.content)
    .map_err(|_| "invalid_variables".to_owned())
}

/// Stores the message with its claim and conversation; `None` when the message exists
/// already or the claim declined. The caller hands a stored message to the queue.
pub async fn store(
    svc: &Services,
    m: Automated<'_>,
    claim: &dyn Claim,
) -> Result<Option<(Message, Conversation)>> {
    let org = &m.contact.org_id;
    let conversation_id =
        ConversationId::for_thread(org, &m.account.phone_number_id, &m.contact.wa_id);
    for _ in 0..MAX_ATTEMPTS {
        let now = svc.clock.now();
        let Some(claimed) = claim.claim(svc, m.id, now).await? else {
            return Ok(None);
        };
        let (v_pk, v_sk) = Conversation::key_of(org, &conversation_id);
        let mut conversation = load::<Conversation>(&*svc.store, &v_pk, &v_sk)
            .await?
            .unwrap_or_else(|| {
                Versioned::new(Conversation::open(
                    org,
                    &m.account.id,
                    &m.account.phone_number_id,
                    &m.contact.wa_id,
                    now,
                ))
            });
        let message = Message {
            id: m.id.clone(),
            org_id: org.clone(),
            conversation_id: conversation_id.clone(),
            account_id: m.account.id.clone(),
            channel: Channel::Whatsapp,
            contact_id: m.contact.id.clone(),
            direction: Direction::Outbound,
            wamid: None,
            content: m.content.clone(),
            status: MessageStatus::Queued,
            status_times: Default::default(),
            error: None,
            reply_to: None,
            timestamp: now,
            created_at: now,
            updated_at: now,
            attempts: 0,
            scheduled_at_us: None,
            sent_by: None,
            awaiting_queue: true,
            reserved_period: m.reserved,
            next_attempt_at: None,
            first_failed_at: None,
            late_repaces: 0,
            correlation_id: None,
            lane: m.lane,
            lane_waits: 0,
            origin: Some(m.origin.clone()),
            media: None,
            sending_since: None,
        };
        conversation.record.contact_name = m.contact.name.clone();
        conversation.record.account_id = m.account.id.clone();
        if let MessageOrigin::Campaign { campaign_id } = &m.origin {
            conversation.record.last_campaign = Some(campaign_id.clone());
        }
        conversation.record.record_message(
            &message.id,
            now,
            Direction::Outbound,
            switchboard_webhooks::meta::preview(&message.content),
            now,
        );
        let mut writes = vec![
            Write::put(item(&message, 1)?, Condition::NotExists),
            claimed,
            Write::put(conversation.next_item()?, conversation.condition()),
        ];
        if conversation.version == 0 {
            // A new conversation is linked from its contact in the same transaction, so
            // an export or erasure of the contact always finds it.
            writes.push(Write::put(
                crate::usecases::personal_data::conversation_link(&conversation.record)?,
                Condition::Always,
            ));
        }
        writes.extend(crate::triage::entry_writes(None, &conversation.record)?);
        match svc.store.transact(writes).await {
            Ok(()) => return Ok(Some((message, conversation.record))),
            Err(StoreError::ConditionFailed { index: 0 }) => return Ok(None),
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}
