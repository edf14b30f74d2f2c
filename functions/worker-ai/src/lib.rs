//! `worker-ai`: the `ai` queue's consumer — one job per customer message, one FIFO group
//! per conversation. Each job analyses the message and answers it (a draft or an
//! auto-reply), hands the conversation to a person, or skips with a reason; see
//! `switchboard_core::usecases::ai::reply`. A failed model call is not a failed job (the
//! fallback model answers, or the reply record says why none could); store and queue
//! failures retry on the shared schedule and then wait in the DLQ for a redrive.

use switchboard_core::metrics::Metric;
use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::ai::reply::{self, JobOutcome};
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-ai";

/// Processes a batch of AI jobs.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let svc = app.services();
    let policy = &app.config().retry;
    let billing = &app.config().billing;
    let now_ms = svc.clock.now().timestamp_millis();
    for m in &batch {
        observe_age(&*svc.metrics, QueueName::Ai, m, now_ms);
    }
    process_batch(&batch, |m| {
        async move {
            match reply::process(svc, billing, &m.body).await {
                Ok(outcome) => {
                    let name = match &outcome {
                        JobOutcome::Skipped(_) => "skipped",
                        JobOutcome::Sent => "sent",
                        JobOutcome::Drafted => "drafted",
                        JobOutcome::HandedOff => "handed_off",
                        JobOutcome::Failed(_) => "failed",
                    };
                    svc.metrics.count(Metric::AiReplies, Some(name), 1);
                    tracing::info!(outcome = ?outcome, "AI job done");
                    ItemOutcome::Done
                }
                Err(e) => {
                    let outcome = on_error(policy, m, e.is_retryable());
                    if outcome == ItemOutcome::DeadLetter {
                        tracing::error!(error = %e, "AI job failed for good; moving it to the DLQ");
                    } else {
                        tracing::warn!(error = %e, "AI job failed; will retry");
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(FUNCTION, m))
    })
    .await
}
