//! Lambda entry point: wires [`worker_realtime::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_realtime::FUNCTION,
        switchboard_core::queue::QueueName::Realtime,
        |app, batch| async move { worker_realtime::handle(&app, batch).await },
    )
    .await
}
