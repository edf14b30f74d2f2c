//! Lambda entry point: wires [`api_delete_note::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_delete_note::FUNCTION, |app, req| async move {
        api_delete_note::handle(&app, req).await
    })
    .await
}
