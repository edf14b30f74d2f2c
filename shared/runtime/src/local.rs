//! Running handlers in-process: queue pollers and cron tickers for the dev server (on
//! either backend), with graceful shutdown — a poller finishes the batch it holds, then
//! stops; queued work waits for the next start.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchboard_core::queue::{QueueName, ReceivedMessage};
use tokio::sync::watch;

use crate::app::App;
use crate::http::{Request, Response};
use crate::queue::{BatchOutcome, settle};

/// A boxed future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// An HTTP handler, boxed for a route table.
pub type HttpFn = Arc<dyn Fn(App, Request) -> BoxFuture<Response> + Send + Sync>;
/// A queue handler, boxed.
pub type QueueFn = Arc<dyn Fn(App, Vec<ReceivedMessage>) -> BoxFuture<BatchOutcome> + Send + Sync>;
/// A scheduled handler, boxed.
pub type CronFn = Arc<
    dyn Fn(App, DateTime<Utc>) -> BoxFuture<Result<Value, switchboard_core::Error>> + Send + Sync,
>;

/// Boxes an HTTP handler.
pub fn http_fn<F, Fut>(f: F) -> HttpFn
where
    F: Fn(App, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Arc::new(move |app, req| Box::pin(f(app, req)))
}

/// Boxes a queue handler.
pub fn queue_fn<F, Fut>(f: F) -> QueueFn
where
    F: Fn(App, Vec<ReceivedMessage>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = BatchOutcome> + Send + 'static,
{
    Arc::new(move |app, batch| Box::pin(f(app, batch)))
}

/// Boxes a scheduled handler.
pub fn cron_fn<F, Fut>(f: F) -> CronFn
where
    F: Fn(App, DateTime<Utc>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, switchboard_core::Error>> + Send + 'static,
{
    Arc::new(move |app, now| Box::pin(f(app, now)))
}

/// How long a received message stays hidden while the dev server works on it.
pub const POLL_VISIBILITY: Duration = Duration::from_secs(60);
/// Long-poll wait per receive.
pub const POLL_WAIT: Duration = Duration::from_secs(2);

/// Polls `queue` and feeds batches to `handler` until `shutdown` turns true.
pub async fn run_poller(
    app: App,
    queue: QueueName,
    handler: QueueFn,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!(queue = %queue, "poller started");
    let mut failures_in_a_row = 0u32;
    while !*shutdown.borrow() {
        let received = tokio::select! {
            r = app.services().queue.receive(queue, 10, POLL_VISIBILITY, POLL_WAIT) => r,
            _ = shutdown.changed() => break,
        };
        let batch = match received {
            Ok(b) => {
                failures_in_a_row = 0;
                b
            }
            Err(e) => {
                failures_in_a_row += 1;
                tracing::warn!(queue = %queue, error = %e, "receive failed");
                tokio::time::sleep(Duration::from_millis(
                    200 * u64::from(failures_in_a_row.min(25)),
                ))
                .await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        // The batch is finished even if shutdown is requested meanwhile.
        crate::error_reporting::isolated(async {
            let trace = crate::error_reporting::start_trace(queue.as_str(), "queue.process");
            let outcome = handler(app.clone(), batch.clone()).await;
            if !outcome.failures.is_empty() {
                tracing::warn!(queue = %queue, failed = outcome.failures.len(), of = batch.len(), "batch had failures; they will be retried");
            }
            settle(&*app.services().queue, queue, &batch, &outcome, true).await;
            trace.finish_batch(outcome.failures.len() + outcome.dead_letters.len());
        })
        .await;
    }
    tracing::info!(queue = %queue, "poller stopped");
}

/// Runs `handler` every `every` until `shutdown` turns true.
pub async fn run_ticker(
    app: App,
    name: &'static str,
    every: Duration,
    handler: CronFn,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        match handler(app.clone(), app.services().clock.now()).await {
            Ok(summary) => tracing::info!(cron = name, summary = %summary, "scheduled run done"),
            Err(e) => tracing::error!(cron = name, error = %e, "scheduled run failed"),
        }
    }
}
