//! `worker-outbound`: sends queued messages through the WhatsApp Cloud API at the rate
//! Meta allows. Each number's throughput (default 80 messages/s) and each recipient's
//! pair rate are paced through the item store, so all concurrent instances share one
//! budget; a message whose slot is further away than a moment goes back to the queue
//! with a delay. Graph errors are classified: throughput and pair-rate limits and 5xx
//! retry with backoff through the queue; a closed window, an invalid recipient or a bad
//! template fail the message; a rejected token fails it and flags the account
//! `reauth_required`. After the last attempt the message is `failed` and the queue
//! message moves to the DLQ, from where a redrive tries again.

use switchboard_core::queue::ReceivedMessage;
use switchboard_core::usecases::outbound::{self, Delivery};
use switchboard_runtime::App;
use switchboard_runtime::queue::{BatchOutcome, ItemOutcome, process_batch};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-outbound";

/// Sends a batch of outbound-queue messages.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let cfg = app.config().delivery;
    let billing = &app.config().billing;
    process_batch(&batch, |m| {
        let span = tracing::info_span!("send", function = FUNCTION, message_id = %m.id, group = ?m.group_id, receive_count = m.receive_count);
        async move {
            match outbound::deliver(app.services(), &cfg, billing, app.tokens(), &m.body).await {
                Ok(Delivery::Sent { .. } | Delivery::Skipped | Delivery::Failed) => ItemOutcome::Done,
                Ok(Delivery::Later(delay)) => ItemOutcome::Retry(Some(delay)),
                Ok(Delivery::DeadLetter) => ItemOutcome::DeadLetter,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "send failed; will retry");
                    ItemOutcome::Retry(None)
                }
                Err(e) => {
                    tracing::error!(error = %e, "poison message; it will reach the DLQ");
                    ItemOutcome::Retry(None)
                }
            }
        }
        .instrument(span)
    })
    .await
}
