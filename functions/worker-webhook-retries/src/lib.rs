//! `worker-webhook-retries`: the `webhook-retries` queue's consumer — each message one
//! delivery's next attempt, hidden on the queue until due (5 s to 10 h after the previous
//! one), or a manual retry made at once; see
//! `switchboard_core::usecases::webhooks_out::delivery`. The same use case as
//! `worker-webhooks`, on its own queue so that queue's age speaks of fan-outs only.

use switchboard_core::queue::ReceivedMessage;
use switchboard_runtime::App;
use switchboard_runtime::queue::BatchOutcome;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "worker-webhook-retries";

/// Processes a batch of retries.
pub async fn handle(app: &App, batch: Vec<ReceivedMessage>) -> BatchOutcome {
    worker_webhooks::consume(
        app,
        FUNCTION,
        switchboard_core::queue::QueueName::WebhookRetries,
        batch,
    )
    .await
}
