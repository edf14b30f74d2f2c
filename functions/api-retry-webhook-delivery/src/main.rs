//! Lambda entry point: wires [`api_retry_webhook_delivery::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(
        api_retry_webhook_delivery::FUNCTION,
        |app, req| async move { api_retry_webhook_delivery::handle(&app, req).await },
    )
    .await
}
