//! Lambda entry point: wires [`api_create_api_key::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_create_api_key::FUNCTION, |app, req| async move {
        api_create_api_key::handle(&app, req).await
    })
    .await
}
