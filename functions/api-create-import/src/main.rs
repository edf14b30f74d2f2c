//! Lambda entry point: wires [`api_create_import::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_create_import::FUNCTION, |app, req| async move {
        api_create_import::handle(&app, req).await
    })
    .await
}
