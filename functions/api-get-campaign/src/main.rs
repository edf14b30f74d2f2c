//! Lambda entry point: wires [`api_get_campaign::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_get_campaign::FUNCTION, |app, req| async move {
        api_get_campaign::handle(&app, req).await
    })
    .await
}
