//! Lambda entry point: wires [`api_summarize_conversation::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(
        api_summarize_conversation::FUNCTION,
        |app, req| async move { api_summarize_conversation::handle(&app, req).await },
    )
    .await
}
