//! Lambda entry point: wires [`api_create_upload::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_create_upload::FUNCTION, |app, req| async move {
        api_create_upload::handle(&app, req).await
    })
    .await
}
