//! Lambda entry point: wires [`api_list_api_keys::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_list_api_keys::FUNCTION, |app, req| async move {
        api_list_api_keys::handle(&app, req).await
    })
    .await
}
