//! `cron-usage-report`: hourly, reports each org's billable usage not yet reported to
//! Stripe's meter (`/v1/billing/meter_events`), exactly once per amount: the identifier
//! is derived from the org, the period and what was already reported, so a retried run
//! never double-bills.

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchboard_core::usecases::billing;
use switchboard_runtime::App;

/// Function name (Lambda, logs, template).
pub const FUNCTION: &str = "cron-usage-report";

/// One scheduled run; returns a summary (orgs, events, messages, failures).
pub async fn handle(app: &App, now: DateTime<Utc>) -> Result<Value, switchboard_core::Error> {
    let summary = billing::report_usage(app.services(), &app.config().billing).await?;
    tracing::info!(function = FUNCTION, at = %now, orgs = summary.orgs, events = summary.events, messages = summary.messages, failures = summary.failures, "usage report");
    Ok(serde_json::to_value(summary).unwrap_or_default())
}
