//! Lambda entry point: wires [`api_sync_templates::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_sync_templates::FUNCTION, |app, req| async move {
        api_sync_templates::handle(&app, req).await
    })
    .await
}
