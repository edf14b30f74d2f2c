//! Lambda entry point: wires [`api_delete_email_suppression::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(
        api_delete_email_suppression::FUNCTION,
        |app, req| async move { api_delete_email_suppression::handle(&app, req).await },
    )
    .await
}
