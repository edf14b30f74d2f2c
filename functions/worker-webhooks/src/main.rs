//! Lambda entry point: wires [`worker_webhooks::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_webhooks::FUNCTION,
        switchboard_core::queue::QueueName::Webhooks,
        |app, batch| async move { worker_webhooks::handle(&app, batch).await },
    )
    .await
}
