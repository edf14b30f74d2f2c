//! Lambda entry point: wires [`worker_inbound::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_inbound::FUNCTION,
        switchboard_core::queue::QueueName::Inbound,
        |app, batch| async move { worker_inbound::handle(&app, batch).await },
    )
    .await
}
