//! `worker-webhooks`: the `webhooks` queue's consumer — the fan-out of each platform
//! event to the org's endpoints (first attempts at once, in the org's event order) and
//! replays (retries are `worker-webhook-retries`'); see
//! `switchboard_core::usecases::webhooks_out::delivery`. An endpoint's failure is never
//! this function's failure (it is recorded and retried on the delivery's schedule);
//! store and queue failures retry on the shared schedule and then wait in the DLQ.

use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::usecases::webhooks_out::delivery::{self, Outcome};
use switchboard_runtime::App;
use switchboard_runtime::queue::{
    BatchOutcome, ItemOutcome, message_span, observe_age, on_error, process_batch,
};
use tracing::Instrument;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-webhooks";

/// Processes a batch of events and replays.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    consume(app, FUNCTION, QueueName::Webhooks, batch).await
}

/// Runs a batch of `queue` through the delivery use case (also `worker-webhook-retries`').
pub async fn consume(
    app: &App,
    function: &'static str,
    queue: QueueName,
    batch: Vec<ReceivedMessage>,
) -> BatchOutcome {
    let svc = app.services();
    let policy = &app.config().retry;
    let now_ms = svc.clock.now().timestamp_millis();
    for m in &batch {
        observe_age(&*svc.metrics, queue, m, now_ms);
    }
    process_batch(&batch, |m| {
        async move {
            match delivery::process(svc, &m.body, m.receive_count > 1).await {
                Ok(Outcome::Done) => ItemOutcome::Done,
                Ok(Outcome::Later(wait)) => ItemOutcome::Retry(Some(wait)),
                Err(e) => {
                    let outcome = on_error(policy, m, e.is_retryable());
                    if outcome == ItemOutcome::DeadLetter {
                        tracing::error!(error = %e, "webhooks message failed for good; moving it to the DLQ");
                    } else {
                        tracing::warn!(error = %e, "webhooks message failed; will retry");
                    }
                    outcome
                }
            }
        }
        .instrument(message_span(function, m))
    })
    .await
}
