//! Lambda entry point: wires [`api_upload_media::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_upload_media::FUNCTION, |app, req| async move {
        api_upload_media::handle(&app, req).await
    })
    .await
}
