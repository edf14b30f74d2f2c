//! `worker-outbound`: sends queued messages through the WhatsApp Cloud API at the rate
//! Meta allows. Each number's throughput (default 80 messages/s) and each recipient's
//! pair rate are paced through the item store, so all concurrent instances share one
//! budget; a message whose slot is further away than a moment goes back to the queue
//! hidden until its slot. Graph errors are classified: throughput and pair-rate limits
//! and 5xx retry on the retry policy's schedule (about a day, up to an hour apart) with
//! the message shown as `retrying`; a closed window, an invalid recipient or a bad
//! template fail the message; a rejected token fails it and flags the account
//! `reauth_required`. When the schedule is spent the message is `failed` and the queue
//! message moves to the DLQ, from where a redrive tries again.

use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::outbound::{self, Delivery};
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-outbound";

/// Sends a batch of outbound-queue messages.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let cfg = app.config().delivery;
    let now_ms = app.services().clock.now().timestamp_millis();
    process_batch(&batch, |m| {
        observe_age(&*app.services().metrics, QueueName::Outbound, m, now_ms);
        async move {
            match outbound::deliver(app.services(), &cfg, app.tokens(), &m.body, m.receive_count).await {
                Ok(Delivery::Sent { .. } | Delivery::Skipped | Delivery::Failed) => ItemOutcome::Done,
                Ok(Delivery::Later(delay)) => ItemOutcome::Retry(Some(delay)),
                Ok(Delivery::DeadLetter) => ItemOutcome::DeadLetter,
                Err(e) => {
                    let outcome = on_error(&app.config().retry, m, e.is_retryable());
                    match outcome {
                        ItemOutcome::DeadLetter => tracing::error!(error = %e, retryable = e.is_retryable(), "send failed for good; moving it to the DLQ"),
                        _ => tracing::warn!(error = %e, retryable = e.is_retryable(), "send failed; will retry"),
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(FUNCTION, m))
    })
    .await
}
