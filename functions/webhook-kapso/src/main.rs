//! Lambda entry point: wires [`webhook_kapso::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(webhook_kapso::FUNCTION, |app, req| async move {
        webhook_kapso::handle(&app, req).await
    })
    .await
}
