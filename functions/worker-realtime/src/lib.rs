//! `worker-realtime`: the `realtime` queue's consumer — one platform event per message,
//! one FIFO group per org. Each event is pushed to every open realtime connection of its
//! org (API Gateway's `PostToConnection` on AWS, the dev server's sockets locally);
//! connections that are gone are dropped. See `switchboard_core::usecases::realtime`.
//!
//! Only a store failure fails a message (retried on the shared schedule, then the DLQ):
//! a push that fails to one connection is logged and skipped, so that a retry never
//! repeats the event to every connection that already has it. A message that is not an
//! event goes straight to the DLQ.

use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::realtime;
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-realtime";

/// Pushes a batch of events to the orgs' connections.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let svc = app.services();
    let policy = &app.config().retry;
    let now_ms = svc.clock.now().timestamp_millis();
    for m in &batch {
        observe_age(&*svc.metrics, QueueName::Realtime, m, now_ms);
    }
    process_batch(&batch, |m| {
        async move {
            match realtime::deliver(svc, &m.body).await {
                Ok(d) => {
                    tracing::info!(
                        delivered = d.delivered,
                        gone = d.gone,
                        failed = d.failed,
                        "event pushed"
                    );
                    ItemOutcome::Done
                }
                Err(e) => {
                    let outcome = on_error(policy, m, e.is_retryable());
                    if outcome == ItemOutcome::DeadLetter {
                        tracing::error!(error = %e, "realtime event failed for good; moving it to the DLQ");
                    } else {
                        tracing::warn!(error = %e, "realtime event failed; will retry");
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(FUNCTION, m))
    })
    .await
}
