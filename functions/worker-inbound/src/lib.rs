//! `worker-inbound`: applies stored WhatsApp events — inbound messages become contacts,
//! conversations and messages; statuses update outbound messages — one SQS batch at a
//! time, reporting partial failures so only failed messages (and the rest of their
//! FIFO group) come back. Transient failures retry on the configured schedule (about a
//! day); a poison event is moved to the DLQ after a few receives.

use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::inbound::{self, Outcome};
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-inbound";

/// Processes a batch of inbound-queue messages.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let now_ms = app.services().clock.now().timestamp_millis();
    process_batch(&batch, |m| {
        observe_age(&*app.services().metrics, QueueName::Inbound, m, now_ms);
        async move {
            match inbound::process(app.services(), &m.body).await {
                Ok(outcome) => {
                    match &outcome {
                        Outcome::Applied { messages, duplicates, statuses } => {
                            tracing::info!(messages, duplicates, statuses, "event applied")
                        }
                        other => tracing::info!(outcome = ?other, "event settled"),
                    }
                    ItemOutcome::Done
                }
                Err(e) => {
                    let outcome = on_error(&app.config().retry, m, e.is_retryable());
                    match outcome {
                        ItemOutcome::DeadLetter => tracing::error!(error = %e, retryable = e.is_retryable(), "event failed for good; moving it to the DLQ"),
                        _ => tracing::warn!(error = %e, retryable = e.is_retryable(), "event failed; will retry"),
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(FUNCTION, m))
    })
    .await
}
