//! Lambda entry point: wires [`api_list_suggestions::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_list_suggestions::FUNCTION, |app, req| async move {
        api_list_suggestions::handle(&app, req).await
    })
    .await
}
