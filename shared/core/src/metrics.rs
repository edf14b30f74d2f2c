//! The metrics port: what Switchboard counts, named once.
//!
//! Use cases and handlers count through [`Metrics`]; the runtime decides where the
//! numbers go — CloudWatch embedded metric format in a Lambda's log, a Prometheus page on
//! the dev server. Names, units and dimensions are fixed here because alarms and the
//! dashboard in `template.yaml` refer to them.

use std::fmt;

/// Every metric Switchboard emits (namespace `Switchboard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Webhook deliveries accepted (signature verified, stored, queued). `Provider`.
    WebhookDeliveries,
    /// Events in accepted deliveries. `Provider`.
    WebhookEvents,
    /// Events seen before (provider redeliveries). `Provider`.
    WebhookDuplicates,
    /// Deliveries refused for a missing or wrong signature. `Provider`.
    SignatureFailures,
    /// What the sender did with a message. `Outcome`: sent, failed, retrying,
    /// dead_lettered.
    Sends,
    /// Graph errors on sends. `Class`: throughput, pair_rate, window_closed, permanent,
    /// token_invalid, transient.
    GraphErrors,
    /// Sends hidden on the queue until their pacing slot.
    PacingDeferrals,
    /// Age of a queue message when a consumer took it, milliseconds. `Queue`.
    QueueAge,
    /// Stripe events applied to an org's billing state.
    BillingEventsApplied,
    /// Usage reports sent to Stripe's meter.
    UsageReports,
    /// Usage reports that failed (retried on the next run).
    UsageReportFailures,
    /// Stored sends the sweep handed to the queue (a crash or queue outage stranded them).
    StrandedSendsRequeued,
    /// Numbers Meta reports as flagged or restricted (account sync and webhooks).
    AccountsImpaired,
    /// Emails a provider accepted.
    EmailsSent,
    /// Emails a provider refused for good (invalid address, a 4xx).
    EmailsFailed,
    /// Appointment reminders sent (WhatsApp or email).
    RemindersSent,
    /// Language-model calls, by result (`ok` or `error`; the error's code is logged).
    AiCalls,
    /// What AI jobs did (sent, drafted, handed off, failed, skipped).
    AiReplies,
    /// Conversations AI handed to a person.
    AiHandoffs,
    /// Attempts to deliver platform events to the orgs' webhook endpoints, by outcome
    /// (`delivered`, `failed`, `refused`).
    TenantWebhookAttempts,
}

/// How a metric's values add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count of events.
    Count,
    /// A distribution of values (in the unit given by [`Metric::unit`]).
    Distribution,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 20] = [
        Metric::WebhookDeliveries,
        Metric::WebhookEvents,
        Metric::WebhookDuplicates,
        Metric::SignatureFailures,
        Metric::Sends,
        Metric::GraphErrors,
        Metric::PacingDeferrals,
        Metric::QueueAge,
        Metric::BillingEventsApplied,
        Metric::UsageReports,
        Metric::UsageReportFailures,
        Metric::StrandedSendsRequeued,
        Metric::AccountsImpaired,
        Metric::EmailsSent,
        Metric::EmailsFailed,
        Metric::RemindersSent,
        Metric::AiCalls,
        Metric::AiReplies,
        Metric::AiHandoffs,
        Metric::TenantWebhookAttempts,
    ];

    /// The CloudWatch metric name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::WebhookDeliveries => "WebhookDeliveries",
            Metric::WebhookEvents => "WebhookEvents",
            Metric::WebhookDuplicates => "WebhookDuplicates",
            Metric::SignatureFailures => "SignatureFailures",
            Metric::Sends => "Sends",
            Metric::GraphErrors => "GraphErrors",
            Metric::PacingDeferrals => "PacingDeferrals",
            Metric::QueueAge => "QueueAge",
            Metric::BillingEventsApplied => "BillingEventsApplied",
            Metric::UsageReports => "UsageReports",
            Metric::UsageReportFailures => "UsageReportFailures",
            Metric::StrandedSendsRequeued => "StrandedSendsRequeued",
            Metric::AccountsImpaired => "AccountsImpaired",
            Metric::EmailsSent => "EmailsSent",
            Metric::EmailsFailed => "EmailsFailed",
            Metric::RemindersSent => "RemindersSent",
            Metric::AiCalls => "AiCalls",
            Metric::AiReplies => "AiReplies",
            Metric::AiHandoffs => "AiHandoffs",
            Metric::TenantWebhookAttempts => "TenantWebhookAttempts",
        }
    }

    /// The Prometheus name (snake case, `switchboard_` prefix, unit suffix).
    pub fn prometheus_name(self) -> &'static str {
        match self {
            Metric::WebhookDeliveries => "switchboard_webhook_deliveries_total",
            Metric::WebhookEvents => "switchboard_webhook_events_total",
            Metric::WebhookDuplicates => "switchboard_webhook_duplicates_total",
            Metric::SignatureFailures => "switchboard_signature_failures_total",
            Metric::Sends => "switchboard_sends_total",
            Metric::GraphErrors => "switchboard_graph_errors_total",
            Metric::PacingDeferrals => "switchboard_pacing_deferrals_total",
            Metric::QueueAge => "switchboard_queue_age_milliseconds",
            Metric::BillingEventsApplied => "switchboard_billing_events_applied_total",
            Metric::UsageReports => "switchboard_usage_reports_total",
            Metric::UsageReportFailures => "switchboard_usage_report_failures_total",
            Metric::StrandedSendsRequeued => "switchboard_stranded_sends_requeued_total",
            Metric::AccountsImpaired => "switchboard_accounts_impaired_total",
            Metric::EmailsSent => "switchboard_emails_sent_total",
            Metric::EmailsFailed => "switchboard_emails_failed_total",
            Metric::RemindersSent => "switchboard_reminders_sent_total",
            Metric::AiCalls => "switchboard_ai_calls_total",
            Metric::AiReplies => "switchboard_ai_replies_total",
            Metric::AiHandoffs => "switchboard_ai_handoffs_total",
            Metric::TenantWebhookAttempts => "switchboard_tenant_webhook_attempts_total",
        }
    }

    /// The dimension a metric is split by, if any.
    pub fn dimension(self) -> Option<&'static str> {
        match self {
            Metric::WebhookDeliveries
            | Metric::WebhookEvents
            | Metric::WebhookDuplicates
            | Metric::SignatureFailures => Some("Provider"),
            Metric::Sends => Some("Outcome"),
            Metric::GraphErrors => Some("Class"),
            Metric::QueueAge => Some("Queue"),
            Metric::AiCalls => Some("Result"),
            Metric::AiReplies => Some("AiOutcome"),
            Metric::TenantWebhookAttempts => Some("Delivery"),
            _ => None,
        }
    }

    /// Count or distribution.
    pub fn kind(self) -> Kind {
        match self {
            Metric::QueueAge => Kind::Distribution,
            _ => Kind::Count,
        }
    }

    /// The CloudWatch unit.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::QueueAge => "Milliseconds",
            _ => "Count",
        }
    }

    /// One line of help for the Prometheus page.
    pub fn help(self) -> &'static str {
        match self {
            Metric::WebhookDeliveries => "Webhook deliveries accepted (verified, stored, queued).",
            Metric::WebhookEvents => "Events in accepted webhook deliveries.",
            Metric::WebhookDuplicates => "Webhook events seen before (provider redeliveries).",
            Metric::SignatureFailures => {
                "Webhook deliveries refused for a missing or wrong signature."
            }
            Metric::Sends => "What the sender did with a message, by outcome.",
            Metric::GraphErrors => "Graph API errors on sends, by class.",
            Metric::PacingDeferrals => "Sends hidden on the queue until their pacing slot.",
            Metric::QueueAge => "Age of queue messages when a consumer took them.",
            Metric::BillingEventsApplied => "Stripe events applied to billing state.",
            Metric::UsageReports => "Usage reports sent to Stripe's meter.",
            Metric::UsageReportFailures => "Usage reports that failed (retried next run).",
            Metric::StrandedSendsRequeued => "Stored sends the sweep handed to the queue.",
            Metric::AccountsImpaired => "Numbers Meta reported as flagged or restricted.",
            Metric::EmailsSent => "Emails a provider accepted.",
            Metric::EmailsFailed => "Emails a provider refused for good.",
            Metric::RemindersSent => "Appointment reminders sent.",
            Metric::AiCalls => "Language-model calls, by outcome.",
            Metric::AiReplies => "What AI reply jobs did, by outcome.",
            Metric::AiHandoffs => "Conversations AI handed to a person.",
            Metric::TenantWebhookAttempts => {
                "Attempts to deliver events to the orgs' webhook endpoints, by result."
            }
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where metrics go. Recording never fails and never blocks on I/O: a backend buffers
/// and flushes on its own schedule.
pub trait Metrics: Send + Sync + fmt::Debug {
    /// Adds `n` to a count (`value` of the metric's dimension, if it has one).
    fn count(&self, metric: Metric, value: Option<&str>, n: u64);

    /// Records one value of a distribution.
    fn observe(&self, metric: Metric, value: Option<&str>, sample: f64);
}

/// Shorthand: counts one.
pub fn incr(metrics: &dyn Metrics, metric: Metric, value: Option<&str>) {
    metrics.count(metric, value, 1);
}

/// Metrics that go nowhere (tools that do not report).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl Metrics for Discard {
    fn count(&self, _: Metric, _: Option<&str>, _: u64) {}
    fn observe(&self, _: Metric, _: Option<&str>, _: f64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dimensions_fixed() {
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!(Metric::Sends.dimension(), Some("Outcome"));
        assert_eq!(Metric::QueueAge.unit(), "Milliseconds");
        assert!(
            Metric::ALL
                .iter()
                .all(|m| m.prometheus_name().starts_with("switchboard_"))
        );
    }
}
