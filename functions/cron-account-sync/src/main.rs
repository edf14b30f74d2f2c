//! Lambda entry point: wires [`cron_account_sync::handle`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron(cron_account_sync::FUNCTION, |app, now| async move {
        cron_account_sync::handle(&app, now).await
    })
    .await
}
