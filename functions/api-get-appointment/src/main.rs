//! Lambda entry point: wires [`api_get_appointment::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_get_appointment::FUNCTION, |app, req| async move {
        api_get_appointment::handle(&app, req).await
    })
    .await
}
