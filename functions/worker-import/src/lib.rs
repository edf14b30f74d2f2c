//! `worker-import`: applies contact imports one chunk at a time. Each message names one
//! chunk of one import (FIFO, one group per import); the worker upserts its rows by phone
//! number, records the chunk's counts once (a redelivered chunk changes and counts
//! nothing twice), then queues the next chunk. Transient failures retry on the configured
//! schedule; a chunk given up on goes to the DLQ and its import reads `failed` until a
//! redrive resumes it.

use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::imports::apply::{self, Outcome};
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-import";

/// Processes a batch of import-queue messages.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let svc = app.services();
    let now_ms = svc.clock.now().timestamp_millis();
    process_batch(&batch, |m| {
        observe_age(&*svc.metrics, QueueName::Import, m, now_ms);
        async move {
            match apply::process(svc, &m.body).await {
                Ok(outcome) => {
                    match &outcome {
                        Outcome::Applied { chunk, rows, last } => {
                            tracing::info!(chunk, rows, last, "import chunk applied")
                        }
                        other => tracing::info!(outcome = ?other, "import chunk settled"),
                    }
                    ItemOutcome::Done
                }
                Err(e) => {
                    let outcome = on_error(&app.config().retry, m, e.is_retryable());
                    if outcome == ItemOutcome::DeadLetter {
                        tracing::error!(error = %e, retryable = e.is_retryable(), "import chunk failed for good; moving it to the DLQ");
                        if let Err(e2) = apply::fail(
                            svc,
                            &m.body,
                            if e.is_retryable() { "its retries are spent" } else { "it cannot be applied (see the worker log)" },
                        ).await {
                            tracing::warn!(error = %e2, "could not mark the import failed");
                        }
                    } else {
                        tracing::warn!(error = %e, retryable = e.is_retryable(), "import chunk failed; will retry");
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(FUNCTION, m))
    })
    .await
}
