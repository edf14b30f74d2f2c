//! Lambda entry point: wires [`cron_sequences::handle`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron(cron_sequences::FUNCTION, |app, now| async move {
        cron_sequences::handle(&app, now).await
    })
    .await
}
