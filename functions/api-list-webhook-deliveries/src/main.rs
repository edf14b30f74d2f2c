//! Lambda entry point: wires [`api_list_webhook_deliveries::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(
        api_list_webhook_deliveries::FUNCTION,
        |app, req| async move { api_list_webhook_deliveries::handle(&app, req).await },
    )
    .await
}
