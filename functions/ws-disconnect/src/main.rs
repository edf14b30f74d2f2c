//! Lambda entry point: wires [`ws_disconnect::handle`] to its API Gateway WebSocket route.

#[tokio::main]
async fn main() -> Result<(), switchboard_runtime::lambda::Error> {
    switchboard_runtime::lambda::websocket(ws_disconnect::FUNCTION, |app, event| async move {
        ws_disconnect::handle(&app, event).await
    })
    .await
}
