//! Lambda entry point: wires [`worker_billing::handle`] to its SQS event source.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::queue(
        worker_billing::FUNCTION,
        switchboard_core::queue::QueueName::Billing,
        |app, batch| async move { worker_billing::handle(&app, batch).await },
    )
    .await
}
