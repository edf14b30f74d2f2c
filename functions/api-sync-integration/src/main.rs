//! Lambda entry point: wires [`api_sync_integration::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_sync_integration::FUNCTION, |app, req| async move {
        api_sync_integration::handle(&app, req).await
    })
    .await
}
