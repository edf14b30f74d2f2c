//! Lambda entry point: wires [`worker_import::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_import::FUNCTION,
        switchboard_core::queue::QueueName::Import,
        |app, batch| async move { worker_import::handle(&app, batch).await },
    )
    .await
}
