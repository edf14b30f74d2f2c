//! Webhook ingest: store each verified event durably under its idempotency key, then
//! queue a reference to it. This is all a webhook function does before answering 200.
//!
//! Store-then-enqueue is safe to repeat. If the store write succeeds and the enqueue
//! fails, the function answers 5xx; the provider retries; the second attempt finds the
//! event stored but still pending and enqueues it again. An event already processed is
//! not enqueued again, so a late redelivery changes nothing.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use switchboard_webhooks::meta;

use crate::error::Result;
use crate::metrics::{Metric, Metrics};
use crate::model::{EventRef, EventStatus, Provider, WebhookEvent};
use crate::privacy::Pseudonyms;
use crate::queue::Queue;
use crate::queue::{OutgoingMessage, QueueName};
use crate::record::{Versioned, item, load};
use crate::services::Services;
use crate::store::{Condition, ItemStore, StoreError};

/// How many store writes one delivery issues at once (DynamoDB handles far more; this
/// bounds a single Lambda's connection use).
const STORE_CONCURRENCY: usize = 32;

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestSummary {
    /// Events in the delivery (after de-duplicating within it).
    pub events: usize,
    /// Events stored for the first time.
    pub stored: usize,
    /// Events seen before (redeliveries).
    pub duplicates: usize,
    /// Events queued by this call.
    pub enqueued: usize,
}

/// Where a delivery came from: what every event of it records.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The request that delivered it (the Lambda or dev-server request id): follows the
    /// event through the queue into the consumer's logs.
    pub correlation_id: Option<&'a str>,
    /// Keyed pseudonyms for customer identities in FIFO group ids.
    pub pseudonyms: &'a Pseudonyms,
}

/// Builds the stored events of a Meta delivery.
pub fn whatsapp_events(changes: Vec<meta::Change>, origin: &Origin<'_>) -> Vec<WebhookEvent> {
    changes
        .into_iter()
        .map(|c| {
            // One FIFO group per business number and customer keeps each conversation
            // in order while different conversations proceed in parallel. The customer
            // appears as a keyed pseudonym: group ids are queue metadata and log fields.
            let group_id = match (&c.phone_number_id, &c.subject) {
                (Some(pn), Some(who)) => format!("wa:{pn}:{}", origin.pseudonyms.of(who)),
                (Some(pn), None) => format!("wa:{pn}"),
                (None, _) => format!("wa:waba:{}", c.entry_id),
            };
            WebhookEvent {
                provider: Provider::Whatsapp,
                key: c.key,
                kind: c.field,
                source_id: c.entry_id,
                phone_number_id: c.phone_number_id,
                group_id,
                payload: c.value,
                status: EventStatus::Pending,
                org_id: None,
                note: None,
                received_at: origin.received_at,
                updated_at: origin.received_at,
                correlation_id: origin.correlation_id.map(str::to_owned),
                expires_at: None,
            }
        })
        .collect()
}

/// Stores and queues the changes of a verified Meta delivery: what the webhook does once
/// the signature holds. `correlation_id` is the request that delivered it.
pub async fn accept_whatsapp(
    svc: &Services,
    changes: Vec<meta::Change>,
    correlation_id: Option<&str>,
) -> Result<IngestSummary> {
    let pseudonyms = crate::privacy::pseudonyms(svc).await?;
    let origin = Origin {
        received_at: svc.clock.now(),
        correlation_id,
        pseudonyms: &pseudonyms,
    };
    let events = whatsapp_events(changes, &origin);
    store_and_enqueue(&*svc.store, &*svc.queue, events).await
}

/// Stores events idempotently and queues those not yet processed, in delivery order.
pub async fn store_and_enqueue(
    store: &dyn ItemStore,
    queue: &dyn Queue,
    events: Vec<WebhookEvent>,
) -> Result<IngestSummary> {
    let mut seen = std::collections::HashSet::new();
    let events: Vec<WebhookEvent> = events
        .into_iter()
        .filter(|e| seen.insert(e.key.clone()))
        .collect();

    // Futures built in a plain loop (not a closure) keep the future `Send` for any
    // borrow lifetime, which Lambda's runtime requires.
    let mut writes = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        writes.push(async move { store_one(store, event).await.map(|o| (i, o)) });
    }
    let outcomes: Vec<(usize, Store)> = stream::iter(writes)
        .buffer_unordered(STORE_CONCURRENCY)
        .try_collect()
        .await?;

    let mut summary = IngestSummary {
        events: events.len(),
        ..IngestSummary::default()
    };
    let mut to_queue = vec![false; events.len()];
    for (i, outcome) in outcomes {
        match outcome {
            Store::New => {
                summary.stored += 1;
                to_queue[i] = true;
            }
            Store::SeenPending => {
                summary.duplicates += 1;
                to_queue[i] = true;
            }
            Store::SeenDone => summary.duplicates += 1,
        }
    }
    let messages: Vec<OutgoingMessage> = events
        .iter()
        .zip(&to_queue)
        .filter(|(_, q)| **q)
        .map(|(e, _)| queue_message(e, e.key.clone()))
        .collect();
    summary.enqueued = messages.len();
    if let Some(first) = events.first()
        && !messages.is_empty()
    {
        // One delivery comes from one provider, so one queue takes it.
        queue.send(queue_of(first.provider), messages).await?;
    }
    Ok(summary)
}

/// Counts an accepted delivery: the delivery, its events and the duplicates among them.
pub fn count_delivery(metrics: &dyn Metrics, provider: &str, summary: &IngestSummary) {
    metrics.count(Metric::WebhookDeliveries, Some(provider), 1);
    metrics.count(Metric::WebhookEvents, Some(provider), summary.events as u64);
    if summary.duplicates > 0 {
        metrics.count(
            Metric::WebhookDuplicates,
            Some(provider),
            summary.duplicates as u64,
        );
    }
}

/// The queue a provider's events go to.
pub fn queue_of(provider: Provider) -> QueueName {
    match provider {
        Provider::Whatsapp => QueueName::Inbound,
        Provider::Stripe => QueueName::Billing,
        Provider::Resend | Provider::Sendgrid => QueueName::Email,
    }
}

/// The queue message pointing at a stored event (FIFO group of the event; `dedupe_id`
/// is the event key on first delivery, a fresh id when queueing it again).
pub fn queue_message(event: &WebhookEvent, dedupe_id: String) -> OutgoingMessage {
    let body = serde_json::to_string(&EventRef {
        provider: event.provider,
        event: event.key.clone(),
        correlation_id: event.correlation_id.clone(),
    })
    .unwrap_or_default();
    OutgoingMessage::fifo(body, event.group_id.clone(), dedupe_id)
}

enum Store {
    New,
    SeenPending,
    SeenDone,
}

async fn store_one(store: &dyn ItemStore, event: &WebhookEvent) -> Result<Store> {
    let item = item(event, 1)?;
    match store.put(item, Condition::NotExists).await {
        Ok(()) => Ok(Store::New),
        Err(StoreError::ConditionFailed { .. }) => {
            let (pk, sk) = WebhookEvent::key_of(event.provider, &event.key);
            let existing: Option<Versioned<WebhookEvent>> = load(store, &pk, &sk).await?;
            Ok(match existing.map(|e| e.record.status) {
                Some(EventStatus::Pending) | None => Store::SeenPending,
                Some(_) => Store::SeenDone,
            })
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn groups_by_number_and_customer() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"555","changes":[
            {"field":"messages","value":{"metadata":{"phone_number_id":"10654"},"messages":[{"from":"16505551234","id":"w","timestamp":"1","type":"text","text":{"body":"x"}}]}},
            {"field":"messages","value":{"metadata":{"phone_number_id":"10654"}}},
            {"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}]}]}"#;
        let now = Utc.timestamp_opt(1_750_000_000, 0).unwrap();
        let pseudonyms = Pseudonyms::new(crate::secrets::SecretString::new("k"));
        let origin = Origin {
            received_at: now,
            correlation_id: Some("req-1"),
            pseudonyms: &pseudonyms,
        };
        let events = whatsapp_events(meta::split(body).unwrap(), &origin);
        assert_eq!(
            events[0].group_id,
            format!("wa:10654:{}", pseudonyms.of("16505551234")),
            "the customer's number never appears in the group id"
        );
        assert_eq!(events[0].correlation_id.as_deref(), Some("req-1"));
        assert_eq!(events[1].group_id, "wa:10654");
        assert_eq!(events[2].group_id, "wa:waba:555");
        assert!(events.iter().all(|e| e.status == EventStatus::Pending));
    }
}
