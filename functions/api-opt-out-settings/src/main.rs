//! Lambda entry point: wires [`api_opt_out_settings::handle`] to API Gateway.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::http(api_opt_out_settings::FUNCTION, |app, req| async move {
        api_opt_out_settings::handle(&app, req).await
    })
    .await
}
