//! `worker-campaigns`: fans broadcast campaigns out, one chunk per `campaign`-queue
//! message. A chunk acts only while it is its campaign's current one and the campaign is
//! running: it collects audience contacts into recipients, or sends about a second's
//! worth of the number's throughput, then queues the next chunk with a matching delay.
//! Transient failures retry on the configured schedule (a repeated chunk finds its work
//! done); a chunk given up on goes to the DLQ and the schedule re-queues the campaign's
//! current chunk, so a redrive or the next minute continues it.

use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::campaigns::fanout;
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-campaigns";

/// Processes a batch of campaign-queue messages.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let svc = app.services();
    let now_ms = svc.clock.now().timestamp_millis();
    process_batch(&batch, |m| {
        observe_age(&*svc.metrics, QueueName::Campaign, m, now_ms);
        async move {
            match fanout::process(svc, &app.config().billing, &m.body).await {
                Ok(outcome) => {
                    tracing::info!(outcome = ?outcome, "campaign chunk done");
                    ItemOutcome::Done
                }
                Err(e) => {
                    let outcome = on_error(&app.config().retry, m, e.is_retryable());
                    if outcome == ItemOutcome::DeadLetter {
                        tracing::error!(error = %e, retryable = e.is_retryable(), "campaign chunk failed for good; moving it to the DLQ");
                    } else {
                        tracing::warn!(error = %e, retryable = e.is_retryable(), "campaign chunk failed; will retry");
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(FUNCTION, m))
    })
    .await
}
