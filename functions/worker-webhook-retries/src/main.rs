//! Lambda entry point: wires [`worker_webhook_retries::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_webhook_retries::FUNCTION,
        switchboard_core::queue::QueueName::WebhookRetries,
        |app, batch| async move { worker_webhook_retries::handle(&app, batch).await },
    )
    .await
}
