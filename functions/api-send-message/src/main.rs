//! Lambda entry point: wires [`api_send_message::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_send_message::FUNCTION, |app, req| async move {
        api_send_message::handle(&app, req).await
    })
    .await
}
