//! Platform events: what happened in an org, told to its own systems (webhooks to tenants,
//! `worker-webhooks`) and to its open inboxes (realtime, `worker-realtime`).
//!
//! Every feature publishes through [`publish`]: the event is stored in the org's event log
//! (`ORG#<org>#EVENTS`, kept [`EVENT_RETENTION_DAYS`] for replays) and queued once on the
//! `webhooks` queue and once on the `realtime` queue, each in the org's FIFO group so the
//! consumers see an org's events in the order they were published. An event carries ids
//! and states, never message text, phone numbers or provider tokens: a receiver reads
//! the rest through the API with its own key.
//!
//! An event's id derives from the org and a key naming the fact (`message.received` of
//! message `m_…`), so a consumer that publishes again after a retry publishes the same
//! event: the FIFO dedupe id drops the repeat within five minutes, and after that the
//! delivery records (one per endpoint and event) make a second fan-out a no-op.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::rfc3339_millis;
use crate::error::{Error, Result};
use crate::ids::{OrgId, derived_uuid};
use crate::queue::{OutgoingMessage, QueueName};
use crate::record::{Record, decode_all, item};
use crate::services::Services;
use crate::store::{Condition, Position, Query, SortKey};

/// How long an org's events are kept for replays.
pub const EVENT_RETENTION_DAYS: i64 = 30;

/// The events Switchboard publishes (the catalogue in `docs/api.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// A customer's message arrived.
    #[serde(rename = "message.received")]
    MessageReceived,
    /// A sent message's delivery state changed (sent, delivered, read).
    #[serde(rename = "message.status_updated")]
    MessageStatusUpdated,
    /// A message could not be sent or delivered.
    #[serde(rename = "message.failed")]
    MessageFailed,
    /// A conversation's status, assignee, labels or snooze changed.
    #[serde(rename = "conversation.updated")]
    ConversationUpdated,
    /// A contact's fields, tags or consent changed.
    #[serde(rename = "contact.updated")]
    ContactUpdated,
    /// A contact's personal data was erased.
    #[serde(rename = "contact.erased")]
    ContactErased,
    /// A broadcast campaign finished.
    #[serde(rename = "campaign.completed")]
    CampaignCompleted,
    /// An appointment reminder went out.
    #[serde(rename = "appointment.reminder_sent")]
    AppointmentReminderSent,
    /// An AI reply draft is waiting for a person.
    #[serde(rename = "ai.suggestion_created")]
    AiSuggestionCreated,
    /// The org's subscription changed (plan, status).
    #[serde(rename = "billing.subscription_updated")]
    BillingSubscriptionUpdated,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 10] = [
        EventType::MessageReceived,
        EventType::MessageStatusUpdated,
        EventType::MessageFailed,
        EventType::ConversationUpdated,
        EventType::ContactUpdated,
        EventType::ContactErased,
        EventType::CampaignCompleted,
        EventType::AppointmentReminderSent,
        EventType::AiSuggestionCreated,
        EventType::BillingSubscriptionUpdated,
    ];

    /// The wire name (`message.received`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageReceived => "message.received",
            EventType::MessageStatusUpdated => "message.status_updated",
            EventType::MessageFailed => "message.failed",
            EventType::ConversationUpdated => "conversation.updated",
            EventType::ContactUpdated => "contact.updated",
            EventType::ContactErased => "contact.erased",
            EventType::CampaignCompleted => "campaign.completed",
            EventType::AppointmentReminderSent => "appointment.reminder_sent",
            EventType::AiSuggestionCreated => "ai.suggestion_created",
            EventType::BillingSubscriptionUpdated => "billing.subscription_updated",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event, as stored, queued and delivered (`{id, type, timestamp, data}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformEvent {
    /// `evt_` + 32 hex, derived from the org and the fact.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it was published.
    #[serde(with = "rfc3339_millis")]
    pub timestamp: DateTime<Utc>,
    /// Ids and states (never message text, phone numbers or tokens).
    pub data: Value,
}

/// An event in the org's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Owner.
    pub org_id: OrgId,
    /// The event.
    pub event: PlatformEvent,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

fn events_pk(org: &OrgId) -> String {
    format!("ORG#{org}#EVENTS")
}

/// Sort key: creation time (milliseconds, zero-padded) then id, so the log reads in
/// publishing order.
fn event_sk(at: DateTime<Utc>, id: &str) -> String {
    format!("EV#{:015}#{id}", at.timestamp_millis().max(0))
}

impl StoredEvent {
    /// The key of `event` in `org`'s log.
    pub fn key_of(org: &OrgId, event: &PlatformEvent) -> (String, String) {
        (events_pk(org), event_sk(event.timestamp, &event.id))
    }
}

impl Record for StoredEvent {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.event)
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// What the `webhooks` and `realtime` queues carry for a published event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Owner.
    pub org_id: OrgId,
    /// The event itself (small: ids and states).
    pub event: PlatformEvent,
}

/// The id of the event that tells `fact` (e.g. `["message.received", message_id]`).
pub fn event_id(org: &OrgId, fact: &[&str]) -> String {
    let mut parts = vec!["platform-event", org.as_str()];
    parts.extend_from_slice(fact);
    format!("evt_{}", derived_uuid(&parts).simple())
}

/// Publishes an event: stores it in the org's log and queues it for webhooks and realtime.
/// `fact` names what happened uniquely (an id, and a state or time where one thing can
/// happen several times), so publishing again after a retry is the same event.
///
/// Fails when the store or a queue does; a consumer retries (the event id is stable), a
/// request handler whose own change is already written logs it instead of failing.
pub async fn publish(
    svc: &Services,
    org: &OrgId,
    kind: EventType,
    fact: &[&str],
    data: Value,
) -> Result<PlatformEvent> {
    let mut key = vec![kind.as_str()];
    key.extend_from_slice(fact);
    let event = PlatformEvent {
        id: event_id(org, &key),
        kind,
        timestamp: svc.clock.now(),
        data,
    };
    let stored = StoredEvent {
        org_id: org.clone(),
        event: event.clone(),
        expires_at: event.timestamp.timestamp() + EVENT_RETENTION_DAYS * 86_400,
    };
    svc.store.put(item(&stored, 1)?, Condition::Always).await?;
    let body = serde_json::to_string(&EventMessage {
        org_id: org.clone(),
        event: event.clone(),
    })
    .map_err(|e| Error::Internal(format!("event does not serialise: {e}")))?;
    for queue in [QueueName::Webhooks, QueueName::Realtime] {
        svc.queue
            .send(
                queue,
                vec![OutgoingMessage::fifo(
                    body.clone(),
                    format!("org-{org}"),
                    event.id.clone(),
                )],
            )
            .await?;
    }
    tracing::debug!(org_id = %org, event_id = %event.id, event_type = %kind, "event published");
    Ok(event)
}

/// Publishes and logs a failure instead of returning it: for request handlers whose own
/// change is already written (the caller's answer should not say it failed).
pub async fn publish_logged(
    svc: &Services,
    org: &OrgId,
    kind: EventType,
    fact: &[&str],
    data: Value,
) {
    if let Err(e) = publish(svc, org, kind, fact, data).await {
        tracing::warn!(org_id = %org, event_type = %kind, error = %e, "could not publish an event");
    }
}

/// A page of the org's events published at or after `since`, oldest first.
pub async fn since(
    svc: &Services,
    org: &OrgId,
    since: DateTime<Utc>,
    after: Option<Position>,
    limit: usize,
) -> Result<(Vec<PlatformEvent>, Option<Position>)> {
    let page = svc
        .store
        .query(
            Query::table(events_pk(org))
                .sort(SortKey::Between(
                    format!("EV#{:015}", since.timestamp_millis().max(0)),
                    "EV#~".to_owned(),
                ))
                .limit(limit)
                .after(after),
        )
        .await?;
    let events = decode_all::<StoredEvent>(&page.items)?
        .into_iter()
        .map(|s| s.event)
        .collect();
    Ok((events, page.next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                Value::String(t.as_str().to_owned())
            );
        }
        assert_eq!(EventType::parse("message.sent"), None);
    }

    #[test]
    fn event_ids_are_stable_per_fact() {
        let org = OrgId::parse("org_1").unwrap();
        let a = event_id(&org, &["message.received", "m_1"]);
        assert_eq!(a, event_id(&org, &["message.received", "m_1"]));
        assert_ne!(a, event_id(&org, &["message.received", "m_2"]));
        let other = OrgId::parse("org_2").unwrap();
        assert_ne!(a, event_id(&other, &["message.received", "m_1"]));
        assert!(a.starts_with("evt_") && a.len() == 36);
    }
}
