//! Lambda entry point: wires [`cron_erasure::handle`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron(cron_erasure::FUNCTION, |app, now| async move {
        cron_erasure::handle(&app, now).await
    })
    .await
}
