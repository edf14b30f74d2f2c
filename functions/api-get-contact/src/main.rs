//! Lambda entry point: wires [`api_get_contact::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_get_contact::FUNCTION, |app, req| async move {
        api_get_contact::handle(&app, req).await
    })
    .await
}
