//! Lambda entry point: wires [`api_rotate_webhook_secret::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_rotate_webhook_secret::FUNCTION, |app, req| async move {
        api_rotate_webhook_secret::handle(&app, req).await
    })
    .await
}
