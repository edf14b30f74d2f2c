//! Lambda entry point: wires [`webhook_email_sendgrid::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(webhook_email_sendgrid::FUNCTION, |app, req| async move {
        webhook_email_sendgrid::handle(&app, req).await
    })
    .await
}
