//! Lambda entry point: wires [`worker_email::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_email::FUNCTION,
        switchboard_core::queue::QueueName::Email,
        |app, batch| async move { worker_email::handle(&app, batch).await },
    )
    .await
}
