//! Lambda entry point: wires [`api_list_webhook_endpoints::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(
        api_list_webhook_endpoints::FUNCTION,
        |app, req| async move { api_list_webhook_endpoints::handle(&app, req).await },
    )
    .await
}
