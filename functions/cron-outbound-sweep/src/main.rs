//! Lambda entry point: wires [`cron_outbound_sweep::handle`] to its EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::cron(cron_outbound_sweep::FUNCTION, |app, now| async move {
        cron_outbound_sweep::handle(&app, now).await
    })
    .await
}
