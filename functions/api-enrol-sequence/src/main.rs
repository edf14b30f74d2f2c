//! Lambda entry point: wires [`api_enrol_sequence::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_enrol_sequence::FUNCTION, |app, req| async move {
        api_enrol_sequence::handle(&app, req).await
    })
    .await
}
