//! Lambda entry point: wires [`api_ai_settings::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_ai_settings::FUNCTION, |app, req| async move {
        api_ai_settings::handle(&app, req).await
    })
    .await
}
