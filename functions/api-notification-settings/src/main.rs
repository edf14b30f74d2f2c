//! Lambda entry point: wires [`api_notification_settings::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_notification_settings::FUNCTION, |app, req| async move {
        api_notification_settings::handle(&app, req).await
    })
    .await
}
