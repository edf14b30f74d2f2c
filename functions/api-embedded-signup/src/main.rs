//! Lambda entry point: wires [`api_embedded_signup::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_embedded_signup::FUNCTION, |app, req| async move {
        api_embedded_signup::handle(&app, req).await
    })
    .await
}
