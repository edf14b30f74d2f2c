//! Lambda entry point: wires [`worker_campaigns::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_campaigns::FUNCTION,
        switchboard_core::queue::QueueName::Campaign,
        |app, batch| async move { worker_campaigns::handle(&app, batch).await },
    )
    .await
}
