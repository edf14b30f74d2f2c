//! Lambda entry point: wires [`api_delete_webhook_endpoint::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(
        api_delete_webhook_endpoint::FUNCTION,
        |app, req| async move { api_delete_webhook_endpoint::handle(&app, req).await },
    )
    .await
}
