//! Set-up shared by the benchmarks: customers who have written once, through the real
//! inbound path (webhook events accepted, then `worker-inbound`), and a queue drained by
//! hand.

use std::time::Duration;

use switchboard_core::queue::{QueueName, ReceivedMessage};
use switchboard_core::services::Services;
use switchboard_runtime::App;

/// `n` customers (`1555` and seven digits) write `text` to `phone` once each; their
/// messages are applied (conversations, contacts, and whatever the inbound path queues).
pub async fn customers_write(app: &App, phone: &str, n: usize, text: &str) {
    let svc = app.services();
    let now = chrono::Utc::now().timestamp();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let changes: Vec<_> = chunk
            .iter()
            .map(|i| {
                switchboard_testkit::fixtures::text_change(
                    phone,
                    &format!("1555{i:07}"),
                    "Customer",
                    &format!("wamid.bench.in.{i}"),
                    now,
                    text,
                )
            })
            .collect();
        let body = switchboard_testkit::fixtures::delivery(changes);
        switchboard_core::usecases::ingest::accept_whatsapp(
            svc,
            switchboard_webhooks::meta::split(&body).unwrap(),
            None,
        )
        .await
        .unwrap();
    }
    while let Some(batch) = next_batch(svc, QueueName::Inbound).await {
        let outcome = worker_inbound::handle(app, batch.clone()).await;
        switchboard_runtime::queue::settle(&*svc.queue, QueueName::Inbound, &batch, &outcome, true)
            .await;
    }
}

/// The next batch of up to 10 messages of `queue`, or `None` when it is empty.
pub async fn next_batch(svc: &Services, queue: QueueName) -> Option<Vec<ReceivedMessage>> {
    let batch = svc
        .queue
        .receive(queue, 10, Duration::from_secs(60), Duration::ZERO)
        .await
        .unwrap();
    (!batch.is_empty()).then_some(batch)
}
