//! Lambda entry point: wires [`api_erase_contact::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_erase_contact::FUNCTION, |app, req| async move {
        api_erase_contact::handle(&app, req).await
    })
    .await
}
