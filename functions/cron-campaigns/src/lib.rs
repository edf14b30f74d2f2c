//! `cron-campaigns`: every minute, starts scheduled campaigns whose `send_at` has come,
//! resumes campaigns paused at their number's messaging limit tier once it has room
//! again, and queues again the current chunk of a running campaign that is overdue by
//! minutes (lost between a campaign update and its enqueue, or dead-lettered).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard_core::usecases::campaigns::fanout;
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "cron-campaigns";

/// One scheduled run; returns the run's totals.
pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Value, switchboard_core::Error> {
    let run = fanout::tick(app.services()).await?;
    tracing::info!(function = FUNCTION, at = %now, started = run.started, resumed = run.resumed, requeued = run.requeued, "campaign schedule ran");
    Ok(json!(run))
}
