//! Lambda entry point: wires [`api_connect_instagram::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_connect_instagram::FUNCTION, |app, req| async move {
        api_connect_instagram::handle(&app, req).await
    })
    .await
}
