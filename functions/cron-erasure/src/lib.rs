//! `cron-erasure`: every minute, continues the contact erasures too large to finish
//! within their `DELETE /v1/contacts/{id}` request, chunk after chunk, oldest first, for
//! up to [`RUN_BUDGET`] — short of the next run, so runs do not overlap. A schedule rather
//! than a queue: a stored job cannot be lost between chunks, and a run that fails is
//! simply continued by the next (see `personal_data::erase`). A failed erasure fails the
//! run, so the function's errors alarm says an erasure is stuck.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard_core::usecases::personal_data::erase::{self, CHUNK_ITEMS};
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "cron-erasure";

/// How long one run starts new chunks (the function's timeout leaves room for the last).
pub const RUN_BUDGET: Duration = Duration::from_secs(50);

/// One scheduled run; returns what it did.
pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Value, switchboard_core::Error> {
    let summary =
        erase::continue_running(app.services(), CHUNK_ITEMS, Instant::now() + RUN_BUDGET).await?;
    if summary.found > 0 {
        tracing::info!(function = FUNCTION, at = %now, found = summary.found, completed = summary.completed, chunks = summary.chunks, "continued contact erasures");
    }
    Ok(json!(summary))
}
