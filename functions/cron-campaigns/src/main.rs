//! Lambda entry point: wires [`cron_campaigns::handle`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron(cron_campaigns::FUNCTION, |app, now| async move {
        cron_campaigns::handle(&app, now).await
    })
    .await
}
