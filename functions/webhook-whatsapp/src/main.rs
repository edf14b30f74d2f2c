//! Lambda entry point: wires [`webhook_whatsapp::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(webhook_whatsapp::FUNCTION, |app, req| async move {
        webhook_whatsapp::handle(&app, req).await
    })
    .await
}
