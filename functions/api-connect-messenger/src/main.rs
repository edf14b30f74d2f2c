//! Lambda entry point: wires [`api_connect_messenger::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_connect_messenger::FUNCTION, |app, req| async move {
        api_connect_messenger::handle(&app, req).await
    })
    .await
}
