//! `cron-snooze-sweep`: every minute, reopens the snoozed conversations whose
//! `snoozed_until` has come. Snoozed conversations sit on a `gsi2` list ordered by the
//! time they reopen, so a run reads only the due ones; each is re-read and reopened under
//! its version, so one that a customer's message reopened (or an agent changed) since the
//! index listed it is left alone. A snooze reopens at most a minute late.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard_core::usecases::triage;
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "cron-snooze-sweep";

/// Most conversations looked at in one run (the next run continues).
pub const BATCH: usize = 1000;

/// One scheduled run; returns how many conversations were reopened.
pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Value, switchboard_core::Error> {
    let swept = triage::reopen_due_snoozes(app.services(), BATCH).await?;
    tracing::info!(
        function = FUNCTION,
        at = %now,
        reopened = swept.reopened,
        skipped = swept.skipped,
        "snooze sweep done"
    );
    Ok(json!({"reopened": swept.reopened, "skipped": swept.skipped}))
}
