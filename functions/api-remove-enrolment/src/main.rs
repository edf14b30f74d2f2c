//! Lambda entry point: wires [`api_remove_enrolment::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_remove_enrolment::FUNCTION, |app, req| async move {
        api_remove_enrolment::handle(&app, req).await
    })
    .await
}
