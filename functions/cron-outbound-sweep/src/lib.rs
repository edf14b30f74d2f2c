//! `cron-outbound-sweep`: every five minutes, hands to the outbound queue the sends that
//! were stored but never reached it — the send API stores a message before it enqueues
//! it, and a crash or a queue outage in between would otherwise leave it `queued`
//! forever. A send is swept once it has waited [`GRACE`], long enough that the request
//! which stored it has finished; handing one over twice is harmless (the queue drops
//! the repeat, the sender skips what is no longer waiting).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard_core::usecases::outbound;
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "cron-outbound-sweep";

/// How long a send may wait for its enqueue before the sweep hands it over.
pub const GRACE: Duration = Duration::from_secs(120);

/// Most sends handed over in one run (the next run continues).
pub const BATCH: usize = 1000;

/// One scheduled run; returns how many sends were handed to the queue.
pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Value, switchboard_core::Error> {
    let requeued = outbound::requeue_pending(app.services(), GRACE, BATCH).await?;
    if requeued > 0 {
        tracing::warn!(function = FUNCTION, at = %now, requeued, "handed stranded sends to the queue");
    } else {
        tracing::info!(function = FUNCTION, at = %now, "no stranded sends");
    }
    Ok(json!({"requeued": requeued}))
}
