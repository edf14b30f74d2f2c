//! Lambda entry point: wires [`ws_connect::handle`] to its API Gateway WebSocket route.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::websocket(ws_connect::FUNCTION, |app, event| async move {
        ws_connect::handle(&app, event).await
    })
    .await
}
