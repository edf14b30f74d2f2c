//! Lambda entry point: wires [`cron_usage_report::handle`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron(cron_usage_report::FUNCTION, |app, now| async move {
        cron_usage_report::handle(&app, now).await
    })
    .await
}
