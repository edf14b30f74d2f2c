//! Lambda entry point: wires [`api_delete_template::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_delete_template::FUNCTION, |app, req| async move {
        api_delete_template::handle(&app, req).await
    })
    .await
}
