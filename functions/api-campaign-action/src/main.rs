//! Lambda entry point: wires [`api_campaign_action::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_campaign_action::FUNCTION, |app, req| async move {
        api_campaign_action::handle(&app, req).await
    })
    .await
}
