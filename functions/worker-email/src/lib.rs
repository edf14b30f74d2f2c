//! `worker-email`: the `email` queue's consumer. Two kinds of message share the queue,
//! one FIFO group per email:
//!
//! - `{"send": <email id>, "org_id": …}` — a stored email to send. The batch's sends go to
//!   the provider together, in as few requests as it allows (Resend: 100 per batch call);
//!   an email no longer `queued` is skipped, so a redelivery sends nothing twice.
//! - a reference to a stored delivery event (Resend, SendGrid) — applied to its email's
//!   status, suppressing the address on a hard bounce or complaint.
//!
//! Transient failures retry on the shared schedule (a send's failure also holds back the
//! events of its group in this batch); what still fails moves to the DLQ for a redrive.

use std::collections::HashSet;

use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::email::{deliver, events};
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, Failure, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-email";

/// Processes a batch of email-queue messages.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let svc = app.services();
    let policy = &app.config().retry;
    let now_ms = svc.clock.now().timestamp_millis();
    let mut sends: Vec<(&ReceivedMessage, deliver::SendRef)> = Vec::new();
    let mut rest: Vec<ReceivedMessage> = Vec::new();
    for m in &batch {
        observe_age(&*svc.metrics, QueueName::Email, m, now_ms);
        match serde_json::from_str::<deliver::SendRef>(&m.body) {
            Ok(r) => sends.push((m, r)),
            Err(_) => rest.push(m.clone()),
        }
    }

    let mut outcome = BatchOutcome::default();
    let mut held: HashSet<String> = HashSet::new();
    let refs: Vec<deliver::SendRef> = sends.iter().map(|(_, r)| r.clone()).collect();
    let results = deliver::send_all(svc, &refs)
        .instrument(tracing::info_span!(
            "sends",
            function = FUNCTION,
            emails = refs.len()
        ))
        .await;
    for ((m, r), result) in sends.iter().zip(results) {
        let Err(e) = result else { continue };
        let item = on_error(policy, m, e.is_retryable());
        if let Some(g) = &m.group_id {
            held.insert(g.clone());
        }
        match item {
            ItemOutcome::DeadLetter => {
                tracing::error!(email_id = %r.send, error = %e, "email failed for good; moving it to the DLQ");
                outcome.dead_letters.push(m.id.clone());
            }
            ItemOutcome::Retry(after) => {
                tracing::warn!(email_id = %r.send, error = %e, "email not sent; will retry");
                outcome.failures.push(Failure {
                    id: m.id.clone(),
                    retry_after: after,
                });
            }
            ItemOutcome::Done => {}
        }
    }

    let held = &held;
    let events_outcome = process_batch(&rest, |m| {
        async move {
            if m.group_id.as_ref().is_some_and(|g| held.contains(g)) {
                // Its email's send failed in this batch: keep the group's order.
                return ItemOutcome::Retry(None);
            }
            match events::apply(svc, &m.body).await {
                Ok(applied) => {
                    tracing::info!(outcome = ?applied, "email event done");
                    ItemOutcome::Done
                }
                Err(e) => {
                    let outcome = on_error(policy, m, e.is_retryable());
                    if outcome == ItemOutcome::DeadLetter {
                        tracing::error!(error = %e, "email event failed for good; moving it to the DLQ");
                    } else {
                        tracing::warn!(error = %e, "email event failed; will retry");
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(FUNCTION, m))
    })
    .await;
    outcome.failures.extend(events_outcome.failures);
    outcome.dead_letters.extend(events_outcome.dead_letters);
    outcome
}
