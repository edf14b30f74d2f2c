//! Lambda entry point: wires [`worker_ai::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_ai::FUNCTION,
        switchboard_core::queue::QueueName::Ai,
        |app, batch| async move { worker_ai::handle(&app, batch).await },
    )
    .await
}
