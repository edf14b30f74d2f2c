//! Lambda entry point: wires [`api_list_campaign_recipients::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(
        api_list_campaign_recipients::FUNCTION,
        |app, req| async move { api_list_campaign_recipients::handle(&app, req).await },
    )
    .await
}
