//! Lambda entry point: wires [`worker_outbound::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_outbound::FUNCTION,
        switchboard_core::queue::QueueName::Outbound,
        |app, batch| async move { worker_outbound::handle(&app, batch).await },
    )
    .await
}
