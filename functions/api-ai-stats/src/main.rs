//! Lambda entry point: wires [`api_ai_stats::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_ai_stats::FUNCTION, |app, req| async move {
        api_ai_stats::handle(&app, req).await
    })
    .await
}
