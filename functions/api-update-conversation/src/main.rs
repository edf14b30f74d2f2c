//! Lambda entry point: wires [`api_update_conversation::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_update_conversation::FUNCTION, |app, req| async move {
        api_update_conversation::handle(&app, req).await
    })
    .await
}
