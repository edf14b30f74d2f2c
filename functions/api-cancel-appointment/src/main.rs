//! Lambda entry point: wires [`api_cancel_appointment::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_cancel_appointment::FUNCTION, |app, req| async move {
        api_cancel_appointment::handle(&app, req).await
    })
    .await
}
