//! Lambda entry point: wires [`api_mark_read::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_mark_read::FUNCTION, |app, req| async move {
        api_mark_read::handle(&app, req).await
    })
    .await
}
