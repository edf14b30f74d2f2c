//! Lambda entry point: wires [`webhook_stripe::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(webhook_stripe::FUNCTION, |app, req| async move {
        webhook_stripe::handle(&app, req).await
    })
    .await
}
