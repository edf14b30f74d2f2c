//! Queues on SQS. Producers send in batches of ten, in order; the dev server's
//! `--backend aws` pollers receive with long polling; operators list and redrive
//! dead letters by moving messages from the DLQ back to the source queue (which works on
//! FIFO queues and on emulators, unlike a server-side move task).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use switchboard_core::queue::{
    DeadLetter, MAX_BATCH, MAX_BODY_BYTES, OutgoingMessage, Queue, QueueError, QueueName,
    ReceivedMessage,
};

use crate::lazy::SdkClient;

/// URLs of one logical queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    /// The queue.
    pub url: String,
    /// Its dead-letter queue.
    pub dlq_url: String,
}

/// The SQS queue backend.
#[derive(Clone)]
pub struct SqsQueue {
    client: SdkClient<Client>,
    urls: Arc<HashMap<QueueName, QueueUrls>>,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue")
            .field("queues", &self.urls.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn unavailable<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> QueueError {
    QueueError::Unavailable(format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&err)))
}

impl SqsQueue {
    /// A backend for the given queues.
    pub fn new(client: impl Into<SdkClient<Client>>, urls: HashMap<QueueName, QueueUrls>) -> Self {
        Self {
            client: client.into(),
            urls: Arc::new(urls),
        }
    }

    fn urls(&self, queue: QueueName) -> Result<&QueueUrls, QueueError> {
        self.urls
            .get(&queue)
            .ok_or(QueueError::NotConfigured(queue))
    }

    async fn send_to(&self, url: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        // Batches go one after another so that a FIFO group's messages keep their order
        // across batches.
        for chunk in messages.chunks(MAX_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .set_message_group_id(m.group_id.clone())
                    .set_message_deduplication_id(m.dedupe_id.clone())
                    .set_delay_seconds(m.delay.map(|d| d.as_secs().min(900) as i32))
                    .build()
                    .map_err(|e| QueueError::Invalid(e.to_string()))?;
                entries.push(entry);
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(unavailable)?;
            if let Some(f) = out.failed().first() {
                return Err(QueueError::Unavailable(format!(
                    "SQS refused {} of {} messages (first: {} {})",
                    out.failed().len(),
                    chunk.len(),
                    f.code(),
                    f.message().unwrap_or("")
                )));
            }
        }
        Ok(())
    }

    /// A long poll legitimately holds the response for up to `wait`, so this call's
    /// attempt and operation timeouts are the client's plus `wait`: the configured
    /// timeouts still bound how long SQS may take beyond the wait it was asked for.
    fn long_poll_timeouts(&self, wait: Duration) -> aws_sdk_sqs::config::Builder {
        let base = self.client.config().timeout_config();
        let mut timeouts = aws_sdk_sqs::config::timeout::TimeoutConfig::builder();
        if let Some(t) = base.and_then(|t| t.operation_attempt_timeout()) {
            timeouts = timeouts.operation_attempt_timeout(t + wait);
        }
        if let Some(t) = base.and_then(|t| t.operation_timeout()) {
            timeouts = timeouts.operation_timeout(t + wait);
        }
        aws_sdk_sqs::config::Builder::default().timeout_config(timeouts.build())
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let wait_secs = wait.as_secs().min(20);
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .visibility_timeout(visibility.as_secs().min(43_200) as i32)
            .wait_time_seconds(wait_secs as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .customize()
            .config_override(self.long_poll_timeouts(Duration::from_secs(wait_secs)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .messages()
            .iter()
            .map(|m| {
                let attrs = m.attributes();
                let attr =
                    |name: MessageSystemAttributeName| attrs.and_then(|a| a.get(&name)).cloned();
                ReceivedMessage {
                    id: m.message_id().unwrap_or_default().to_owned(),
                    receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    group_id: attr(MessageSystemAttributeName::MessageGroupId),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                    sent_at_ms: attr(MessageSystemAttributeName::SentTimestamp)
                        .and_then(|t| t.parse().ok()),
                }
            })
            .collect())
    }
}

/// A copy of a message for another queue (DLQ or source): FIFO queues need its group and
/// a fresh deduplication id (the original may still be inside SQS's five-minute window).
fn copy_for(url: &str, body: String, group_id: Option<String>, why: &str) -> OutgoingMessage {
    let fifo = url.ends_with(".fifo");
    OutgoingMessage {
        body,
        group_id: if fifo {
            group_id.or(Some(why.to_owned()))
        } else {
            None
        },
        dedupe_id: fifo.then(|| format!("{why}-{}", uuid::Uuid::now_v7().simple())),
        delay: None,
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> Result<(), QueueError> {
        if let Some(m) = messages.iter().find(|m| m.body.len() > MAX_BODY_BYTES) {
            return Err(QueueError::Invalid(format!(
                "message body is {} bytes; the limit is {MAX_BODY_BYTES}",
                m.body.len()
            )));
        }
        let url = self.urls(queue)?.url.clone();
        self.send_to(&url, messages).await
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let url = self.urls(queue)?.url.clone();
        self.receive_from(&url, max, visibility, wait).await
    }

    async fn delete(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        let url = &self.urls(queue)?.url;
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("ReceiptHandleIsInvalid") | Some("InvalidParameterValue") => {
                    QueueError::StaleReceipt
                }
                _ => unavailable(e),
            })?;
        Ok(())
    }

    async fn retry_later(
        &self,
        queue: QueueName,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let url = &self.urls(queue)?.url;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(delay.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("ReceiptHandleIsInvalid") | Some("MessageNotInflight") => {
                    QueueError::StaleReceipt
                }
                _ => unavailable(e),
            })?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        queue: QueueName,
        message: &ReceivedMessage,
    ) -> Result<(), QueueError> {
        let QueueUrls { url, dlq_url } = self.urls(queue)?.clone();
        let out = copy_for(
            &dlq_url,
            message.body.clone(),
            message.group_id.clone(),
            "dead",
        );
        // Copy first, delete second: a crash in between leaves a duplicate, never a loss.
        self.send_to(&dlq_url, vec![out]).await?;
        self.client
            .delete_message()
            .queue_url(&url)
            .receipt_handle(&message.receipt)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        queue: QueueName,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let dlq = self.urls(queue)?.dlq_url.clone();
        let mut seen = Vec::new();
        let mut receipts = Vec::new();
        // Peek: receive with a short hide, then make everything visible again.
        while seen.len() < limit {
            let batch = self
                .receive_from(
                    &dlq,
                    (limit - seen.len()).min(MAX_BATCH),
                    Duration::from_secs(30),
                    Duration::ZERO,
                )
                .await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                receipts.push(m.receipt.clone());
                seen.push(DeadLetter {
                    id: m.id,
                    body: m.body,
                    group_id: m.group_id,
                    receive_count: m.receive_count,
                });
            }
        }
        for r in receipts {
            let _ = self
                .client
                .change_message_visibility()
                .queue_url(&dlq)
                .receipt_handle(r)
                .visibility_timeout(0)
                .send()
                .await;
        }
        Ok(seen)
    }

    async fn redrive(&self, queue: QueueName, limit: usize) -> Result<usize, QueueError> {
        let QueueUrls { url, dlq_url } = self.urls(queue)?.clone();
        let mut moved = 0;
        while moved < limit {
            let batch = self
                .receive_from(
                    &dlq_url,
                    (limit - moved).min(MAX_BATCH),
                    Duration::from_secs(60),
                    Duration::ZERO,
                )
                .await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                // Send first, delete second: a crash in between leaves a duplicate, which
                // consumers absorb; the reverse order could lose the message.
                let out = copy_for(&url, m.body, m.group_id, "redrive");
                self.send_to(&url, vec![out]).await?;
                self.client
                    .delete_message()
                    .queue_url(&dlq_url)
                    .receipt_handle(&m.receipt)
                    .send()
                    .await
                    .map_err(unavailable)?;
                moved += 1;
            }
        }
        Ok(moved)
    }
}
