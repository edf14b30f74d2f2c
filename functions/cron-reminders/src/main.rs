//! Lambda entry point: wires [`cron_reminders::handle`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron(cron_reminders::FUNCTION, |app, now| async move {
        cron_reminders::handle(&app, now).await
    })
    .await
}
