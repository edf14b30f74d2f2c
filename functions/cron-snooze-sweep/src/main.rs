//! Lambda entry point: wires [`cron_snooze_sweep::handle`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron(cron_snooze_sweep::FUNCTION, |app, now| async move {
        cron_snooze_sweep::handle(&app, now).await
    })
    .await
}
