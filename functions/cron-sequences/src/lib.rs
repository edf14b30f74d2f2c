//! `cron-sequences`: every minute, sends every due step of the drip sequences. Each step
//! is claimed with a versioned update in the transaction that stores its message, so it
//! reaches each contact once across overlapping runs and retries; a reply, an opt-out or
//! a removal stops the contact's sequence first.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard_core::usecases::sequences;
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "cron-sequences";

/// One scheduled run; returns the run's totals.
pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Value, switchboard_core::Error> {
    let run = sequences::tick(app.services(), &app.config().billing).await?;
    tracing::info!(function = FUNCTION, at = %now, sent = run.sent, skipped = run.skipped, stopped = run.stopped, deferred = run.deferred, "sequence schedule ran");
    Ok(json!(run))
}
