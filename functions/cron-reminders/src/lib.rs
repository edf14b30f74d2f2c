//! `cron-reminders`: every 15 minutes, sends the appointment reminders that are due —
//! a WhatsApp template and/or an email per reminder, each claimed with a versioned write
//! of the appointment in the transaction that stores the message or email, so it goes
//! exactly once across overlapping runs, retries, redeploys and restarts. Reminders of an
//! appointment that has started are marked `missed`; opted-out contacts and suppressed
//! addresses are skipped with a reason. The run also re-queues emails whose enqueue was
//! lost.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard_core::usecases::reminders;
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "cron-reminders";

/// One scheduled run; returns the run's totals.
pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Value, switchboard_core::Error> {
    let run = reminders::tick(app.services(), &app.config().billing).await?;
    tracing::info!(function = FUNCTION, at = %now, sent = run.sent, skipped = run.skipped, missed = run.missed, failed = run.failed, deferred = run.deferred, requeued = run.requeued, "reminder schedule ran");
    Ok(json!(run))
}
