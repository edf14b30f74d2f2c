//! `cron-account-sync`: once a day, reads every connected Meta number's verified name,
//! quality rating, messaging limit tier, name status and number status from Graph, and
//! its token's validity, expiry and scopes from `debug_token`. A token that is invalid or
//! expires within a week turns its account `reauth_required` before sends fail; a number
//! Meta flagged or restricted is logged and counted (`AccountsImpaired`). Meta's account
//! webhooks update the same fields as they happen; this run catches what they missed.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard_core::usecases::accounts;
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "cron-account-sync";

/// One scheduled run; returns the run's totals.
pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Value, switchboard_core::Error> {
    let run = accounts::sync_all(app.services()).await?;
    tracing::info!(function = FUNCTION, at = %now, updated = run.updated, reauth_required = run.reauth_required, failed = run.failed, "accounts synced");
    Ok(json!({
        "updated": run.updated,
        "reauth_required": run.reauth_required,
        "skipped": run.skipped,
        "failed": run.failed,
    }))
}
