//! `worker-billing`: applies stored Stripe events to each org's subscription state, in
//! order per customer (FIFO group), re-fetching subscriptions from Stripe so late,
//! duplicate and reordered events all converge on Stripe's current state.

use switchboard_core::metrics::{Metric, incr};
use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::billing;
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-billing";

/// Processes a batch of billing-queue messages.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    let cfg = &app.config().billing;
    let now_ms = app.services().clock.now().timestamp_millis();
    process_batch(&batch, |m| {
        observe_age(&*app.services().metrics, QueueName::Billing, m, now_ms);
        async move {
            match billing::apply_event(app.services(), cfg, &m.body).await {
                Ok(outcome) => {
                    if matches!(outcome, billing::BillingOutcome::Applied(_)) {
                        incr(&*app.services().metrics, Metric::BillingEventsApplied, None);
                    }
                    tracing::info!(outcome = ?outcome, "billing event settled");
                    ItemOutcome::Done
                }
                Err(e) => {
                    let outcome = on_error(&app.config().retry, m, e.is_retryable());
                    match outcome {
                        ItemOutcome::DeadLetter => tracing::error!(error = %e, retryable = e.is_retryable(), "billing event failed for good; moving it to the DLQ"),
                        _ => tracing::warn!(error = %e, retryable = e.is_retryable(), "billing event failed; will retry"),
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(FUNCTION, m))
    })
    .await
}
