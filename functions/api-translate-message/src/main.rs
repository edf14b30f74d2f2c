//! Lambda entry point: wires [`api_translate_message::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_translate_message::FUNCTION, |app, req| async move {
        api_translate_message::handle(&app, req).await
    })
    .await
}
