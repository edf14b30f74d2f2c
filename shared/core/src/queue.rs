//! The queue port: SQS semantics (FIFO groups, dedupe ids, visibility timeouts,
//! receive counts, dead-letter queues) that the embedded backend reproduces.
//!
//! Producers only `send`. Consumers on Lambda get messages from the SQS event source;
//! the dev server and `--backend aws` runs poll with `receive`/`delete`/`retry_later`.
//! Operators list and redrive dead letters through the same port, so the `dlq`
//! commands work on both backends.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::retry::RetryPolicy;

/// The queues Switchboard uses. Their settings live in `template.yaml`; [`QueueName::spec`]
/// mirrors them for the embedded backend and a test keeps the two in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueName {
    /// Verified provider webhook events waiting to be applied (FIFO).
    Inbound,
    /// Outbound WhatsApp messages waiting to be sent (FIFO).
    Outbound,
    /// Stripe events waiting to be applied (FIFO).
    Billing,
    /// Chunks of contact imports waiting to be applied (FIFO, one group per import: its
    /// chunks apply one after another, so each import's counters and error list are
    /// written by one worker at a time and a phone that appears twice ends as its last
    /// row says).
    Import,
    /// Chunks of broadcast campaigns waiting to be fanned out (standard: a chunk is
    /// queued with a delay that feeds the number at its rate; the campaign record says
    /// which chunk is current, so a duplicate delivery changes nothing).
    Campaign,
    /// Emails waiting to be sent and email delivery events waiting to be applied (FIFO:
    /// one group per email, so an email's events apply in the order they came and never
    /// beside its own send).
    Email,
    /// AI jobs: a customer's message waiting for its analysis and reply (FIFO, one group
    /// per conversation, so a burst of messages is answered once, in order).
    Ai,
    /// Platform events waiting for their fan-out to the orgs' webhook endpoints, and
    /// replays (FIFO: one group per org for events, so first attempts keep the events'
    /// order; one group per endpoint for replays).
    Webhooks,
    /// Webhook delivery retries, each hidden until due (up to 10 hours): standard, and
    /// apart from `webhooks`, so that queue's age says how late fan-outs are, not how long
    /// a failing endpoint's retries wait.
    WebhookRetries,
    /// Platform events waiting to be pushed to the orgs' open realtime connections (FIFO,
    /// one group per org).
    Realtime,
}

/// Settings of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSpec {
    /// FIFO (ordered per group, deduplicated) or standard.
    pub fifo: bool,
    /// Seconds a received message stays hidden before it is delivered again.
    pub visibility_timeout_secs: u32,
    /// Receives after which a message moves to the dead-letter queue.
    pub max_receive_count: u32,
}

impl QueueName {
    /// Every queue.
    pub const ALL: [QueueName; 10] = [
        QueueName::Inbound,
        QueueName::Outbound,
        QueueName::Billing,
        QueueName::Import,
        QueueName::Campaign,
        QueueName::Email,
        QueueName::Ai,
        QueueName::Webhooks,
        QueueName::WebhookRetries,
        QueueName::Realtime,
    ];

    /// The logical name used in config, CLI arguments and the embedded backend.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Inbound => "inbound",
            QueueName::Outbound => "outbound",
            QueueName::Billing => "billing",
            QueueName::Import => "import",
            QueueName::Campaign => "campaign",
            QueueName::Email => "email",
            QueueName::Ai => "ai",
            QueueName::Webhooks => "webhooks",
            QueueName::WebhookRetries => "webhook-retries",
            QueueName::Realtime => "realtime",
        }
    }

    /// Parses a logical name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == s)
    }

    /// The environment variable holding the queue URL on AWS.
    pub fn url_env(self) -> &'static str {
        match self {
            QueueName::Inbound => "INBOUND_QUEUE_URL",
            QueueName::Outbound => "OUTBOUND_QUEUE_URL",
            QueueName::Billing => "BILLING_QUEUE_URL",
            QueueName::Import => "IMPORT_QUEUE_URL",
            QueueName::Campaign => "CAMPAIGN_QUEUE_URL",
            QueueName::Email => "EMAIL_QUEUE_URL",
            QueueName::Ai => "AI_QUEUE_URL",
            QueueName::Webhooks => "WEBHOOKS_QUEUE_URL",
            QueueName::WebhookRetries => "WEBHOOK_RETRIES_QUEUE_URL",
            QueueName::Realtime => "REALTIME_QUEUE_URL",
        }
    }

    /// The environment variable holding the dead-letter queue URL on AWS.
    pub fn dlq_url_env(self) -> &'static str {
        match self {
            QueueName::Inbound => "INBOUND_DLQ_URL",
            QueueName::Outbound => "OUTBOUND_DLQ_URL",
            QueueName::Billing => "BILLING_DLQ_URL",
            QueueName::Import => "IMPORT_DLQ_URL",
            QueueName::Campaign => "CAMPAIGN_DLQ_URL",
            QueueName::Email => "EMAIL_DLQ_URL",
            QueueName::Ai => "AI_DLQ_URL",
            QueueName::Webhooks => "WEBHOOKS_DLQ_URL",
            QueueName::WebhookRetries => "WEBHOOK_RETRIES_DLQ_URL",
            QueueName::Realtime => "REALTIME_DLQ_URL",
        }
    }

    /// The queue's logical id in `template.yaml`.
    pub fn template_id(self) -> &'static str {
        match self {
            QueueName::Inbound => "InboundQueue",
            QueueName::Outbound => "OutboundQueue",
            QueueName::Billing => "BillingQueue",
            QueueName::Import => "ImportQueue",
            QueueName::Campaign => "CampaignQueue",
            QueueName::Email => "EmailQueue",
            QueueName::Ai => "AiQueue",
            QueueName::Webhooks => "WebhooksQueue",
            QueueName::WebhookRetries => "WebhookRetriesQueue",
            QueueName::Realtime => "RealtimeQueue",
        }
    }

    /// The settings (identical to `template.yaml`; see the template consistency test).
    ///
    /// Consumers dead-letter explicitly when their retry schedule is spent, so the
    /// redrive policy's `maxReceiveCount` is only the safety net for crashes and
    /// timeouts. It sits above [`QueueName::receive_budget`] of the default schedule,
    /// and the configuration refuses a schedule whose budget would reach it.
    pub fn spec(self) -> QueueSpec {
        match self {
            // Consumers time out at 30 s; SQS wants visibility >= 6x the timeout.
            QueueName::Inbound | QueueName::Billing | QueueName::Import | QueueName::Email => {
                QueueSpec {
                    fifo: true,
                    visibility_timeout_secs: 180,
                    max_receive_count: 40,
                }
            }
            // `worker-ai` runs up to 120 s (the analysis, a model call and its fallback).
            QueueName::Ai => QueueSpec {
                fifo: true,
                visibility_timeout_secs: 720,
                max_receive_count: 40,
            },
            // `worker-webhooks` runs up to 180 s: a batch of ten events of one org, each
            // one round of first attempts to every endpoint at once (at most 15 s).
            QueueName::Webhooks => QueueSpec {
                fifo: true,
                visibility_timeout_secs: 1080,
                max_receive_count: 40,
            },
            // `worker-webhook-retries` runs up to 180 s (a batch of ten attempts, 15 s each).
            QueueName::WebhookRetries => QueueSpec {
                fifo: false,
                visibility_timeout_secs: 1080,
                max_receive_count: 40,
            },
            QueueName::Realtime => QueueSpec {
                fifo: true,
                visibility_timeout_secs: 180,
                max_receive_count: 40,
            },
            QueueName::Outbound => QueueSpec {
                fifo: true,
                visibility_timeout_secs: 180,
                max_receive_count: 130,
            },
            QueueName::Campaign => QueueSpec {
                fifo: false,
                visibility_timeout_secs: 180,
                max_receive_count: 40,
            },
        }
    }

    /// The most receives a message of this queue can take before its consumer gives
    /// up on it under `policy` (every receive counts on SQS, whatever its reason).
    ///
    /// Inbound and billing consumers retry once per receive. The sender may need two
    /// receives per attempt — one that reserves a pacing slot too far ahead to wait for
    /// and hides the message until then, one at the slot — plus at most
    /// [`MAX_LATE_REPACES`] new reservations when the queue hands a message back late
    /// for its slot, plus at most [`MAX_LANE_WAITS`] waits of a lower lane for the
    /// number's throughput. So pacing deferrals, however long a campaign, can never exhaust
    /// the redrive policy.
    pub fn receive_budget(self, policy: &RetryPolicy) -> u32 {
        let attempts = policy.max_retries() + 1;
        match self {
            QueueName::Inbound
            | QueueName::Billing
            | QueueName::Import
            | QueueName::Campaign
            | QueueName::Email
            | QueueName::Ai
            | QueueName::Webhooks
            | QueueName::WebhookRetries
            | QueueName::Realtime => attempts,
            QueueName::Outbound => 2 * attempts + MAX_LATE_REPACES + MAX_LANE_WAITS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_fits_every_redrive_policy() {
        for q in QueueName::ALL {
            assert!(
                q.receive_budget(&RetryPolicy::DEFAULT) < q.spec().max_receive_count,
                "{q}"
            );
        }
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many times the sender reserves a new pacing slot for a message that came back
/// from the queue too late for its slot; after that it is sent late rather than
/// deferred again (see [`QueueName::receive_budget`]).
pub const MAX_LATE_REPACES: u32 = 20;

/// How many times the sender lets a message of a lower pacing lane wait because the
/// lanes above it hold the number's throughput; after that it reserves a slot like a
/// priority message (see [`QueueName::receive_budget`]).
pub const MAX_LANE_WAITS: u32 = 20;

/// SQS's maximum batch size for send and receive.
pub const MAX_BATCH: usize = 10;

/// The size a message body may have. SQS accepts 1 MiB since 2025, but emulators and
/// older regions enforce 256 KiB, so Switchboard designs for 256 KiB: bodies carry
/// references to stored records, never the records themselves.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Body (JSON text).
    pub body: String,
    /// FIFO message group: order is kept within a group.
    pub group_id: Option<String>,
    /// FIFO deduplication id: a second send with the same id within five minutes is
    /// dropped.
    pub dedupe_id: Option<String>,
    /// Delivery delay (standard queues only: SQS FIFO queues refuse per-message delays,
    /// so FIFO retries use the visibility timeout instead).
    pub delay: Option<Duration>,
}

impl OutgoingMessage {
    /// A FIFO message.
    pub fn fifo(body: String, group_id: String, dedupe_id: String) -> Self {
        Self {
            body,
            group_id: Some(group_id),
            dedupe_id: Some(dedupe_id),
            delay: None,
        }
    }
}

/// A received message, as a consumer sees it (from SQS or the embedded queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    /// The message id (reported back for partial batch failures).
    pub id: String,
    /// Handle to delete or re-hide this receipt.
    pub receipt: String,
    /// Body.
    pub body: String,
    /// FIFO group.
    pub group_id: Option<String>,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
    /// When it was first sent to the queue (Unix milliseconds), if the backend says.
    #[serde(default)]
    pub sent_at_ms: Option<i64>,
}

/// A message in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The message id.
    pub id: String,
    /// Body.
    pub body: String,
    /// FIFO group.
    pub group_id: Option<String>,
    /// Receives before it was dead-lettered.
    pub receive_count: u32,
}

/// Errors of the queue port.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue is not configured (no URL).
    #[error("queue {0} is not configured")]
    NotConfigured(QueueName),
    /// The message is over [`MAX_BODY_BYTES`] or otherwise refused.
    #[error("message refused: {0}")]
    Invalid(String),
    /// The receipt is no longer valid (the message was received again since).
    #[error("receipt is stale")]
    StaleReceipt,
    /// The backend failed or could not be reached.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// The queue port.
#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Sends messages, in order (split into batches of [`MAX_BATCH`] internally). Fails
    /// as a whole if any message could not be sent; a retry is safe because consumers
    /// are idempotent and FIFO dedupe ids drop repeats.
    async fn send(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> Result<(), QueueError>;

    /// Receives up to `max` messages, hiding them for `visibility`; when none is ready,
    /// waits up to `wait` for one (SQS long polling). Messages whose receive count would
    /// exceed the queue's maximum move to its dead-letter queue instead. FIFO: a group
    /// with a message in flight yields nothing more until that message is deleted or
    /// visible again.
    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Deletes a received message (it was processed).
    async fn delete(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError>;

    /// Makes a received message visible again after `delay` (backoff before a retry).
    async fn retry_later(
        &self,
        queue: QueueName,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), QueueError>;

    /// Moves a received message to the dead-letter queue now (the consumer gave up on it
    /// after its own retry budget).
    async fn dead_letter(
        &self,
        queue: QueueName,
        message: &ReceivedMessage,
    ) -> Result<(), QueueError>;

    /// Lists up to `limit` dead letters without removing them.
    async fn dead_letters(
        &self,
        queue: QueueName,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, QueueError>;

    /// Moves up to `limit` dead letters back to the queue (in their original order per
    /// group); returns how many moved.
    async fn redrive(&self, queue: QueueName, limit: usize) -> Result<usize, QueueError>;
}
