//! Lambda entry point: wires [`api_create_checkout::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_create_checkout::FUNCTION, |app, req| async move {
        api_create_checkout::handle(&app, req).await
    })
    .await
}
