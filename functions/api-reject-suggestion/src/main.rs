//! Lambda entry point: wires [`api_reject_suggestion::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_reject_suggestion::FUNCTION, |app, req| async move {
        api_reject_suggestion::handle(&app, req).await
    })
    .await
}
