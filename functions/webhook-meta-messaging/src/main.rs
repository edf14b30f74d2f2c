//! Lambda entry point: wires [`webhook_meta_messaging::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(webhook_meta_messaging::FUNCTION, |app, req| async move {
        webhook_meta_messaging::handle(&app, req).await
    })
    .await
}
