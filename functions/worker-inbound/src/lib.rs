//! `worker-inbound`: applies stored WhatsApp events — inbound messages become contacts,
//! conversations and messages; statuses update outbound messages — one SQS batch at a
//! time, reporting partial failures so only failed messages (and the rest of their
//! FIFO group) come back. A poison event fails every receive and ends in the DLQ.

use switchboard_core::queue::ReceivedMessage;
use switchboard_core::usecases::inbound::{self, Outcome};
use switchboard_runtime::App;
use switchboard_runtime::queue::{BatchOutcome, ItemOutcome, process_batch};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-inbound";

/// Processes a batch of inbound-queue messages.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    process_batch(&batch, |m| {
        let span = tracing::info_span!("event", function = FUNCTION, message_id = %m.id, group = ?m.group_id, receive_count = m.receive_count);
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
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "event failed; will retry");
                    ItemOutcome::Retry(None)
                }
                Err(e) => {
                    // Not retryable: fails every receive until the redrive policy moves it
                    // to the DLQ, where `switchboard dlq` can inspect and redrive it.
                    tracing::error!(error = %e, "poison event; it will reach the DLQ");
                    ItemOutcome::Retry(None)
                }
            }
        }
        .instrument(span)
    })
    .await
}
