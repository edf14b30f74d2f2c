//! Operator views of stored webhook events: the unroutable ones (numbers no org owns)
//! and the pending ones, with commands to queue them again.

use crate::error::Result;
use crate::model::{EventStatus, Provider, WebhookEvent};
use crate::record::{decode_all, item};
use crate::services::Services;
use crate::store::{Condition, Index, Query};
use crate::usecases::ingest::{queue_message, queue_of};

async fn list(svc: &Services, index: Index, pk: String, limit: usize) -> Result<Vec<WebhookEvent>> {
    let mut out = Vec::new();
    let mut after = None;
    while out.len() < limit {
        let page = svc
            .store
            .query(
                Query::index(index, pk.clone())
                    .limit((limit - out.len()).min(100))
                    .after(after),
            )
            .await?;
        out.extend(decode_all::<WebhookEvent>(&page.items)?);
        match page.next {
            Some(p) => after = Some(p),
            None => break,
        }
    }
    Ok(out)
}

/// Unroutable events of a provider, oldest first.
pub async fn unroutable(
    svc: &Services,
    provider: Provider,
    limit: usize,
) -> Result<Vec<WebhookEvent>> {
    list(
        svc,
        Index::Gsi1,
        WebhookEvent::unroutable_pk(provider),
        limit,
    )
    .await
}

/// Pending events of a provider, oldest first.
pub async fn pending(
    svc: &Services,
    provider: Provider,
    limit: usize,
) -> Result<Vec<WebhookEvent>> {
    list(svc, Index::Gsi2, WebhookEvent::pending_pk(provider), limit).await
}

/// Marks unroutable events pending again and queues them (after the number has been
/// connected, say). Returns how many were queued.
pub async fn redrive_unroutable(svc: &Services, provider: Provider, limit: usize) -> Result<usize> {
    let events = unroutable(svc, provider, limit).await?;
    requeue(svc, events).await
}

/// Queues pending events again (their first enqueue may never have happened).
pub async fn requeue_pending(svc: &Services, provider: Provider, limit: usize) -> Result<usize> {
    let events = pending(svc, provider, limit).await?;
    requeue(svc, events).await
}

async fn requeue(svc: &Services, events: Vec<WebhookEvent>) -> Result<usize> {
    let mut count = 0;
    for mut event in events {
        if event.status == EventStatus::Unroutable {
            event.status = EventStatus::Pending;
            event.note = None;
            // Pending again: kept until it is settled, whatever its retention was.
            event.expires_at = None;
            event.updated_at = svc.clock.now();
            svc.store.put(item(&event, 1)?, Condition::Always).await?;
        }
        // A fresh dedupe id: the original may still be inside SQS's five-minute window.
        let dedupe = format!(
            "{}-{}",
            event.key.get(..40).unwrap_or(&event.key),
            uuid::Uuid::now_v7().simple()
        );
        svc.queue
            .send(
                queue_of(event.provider),
                vec![queue_message(&event, dedupe)],
            )
            .await?;
        count += 1;
    }
    Ok(count)
}
