//! Consuming a batch: FIFO-aware partial failures, and settling a batch's outcome on
//! the queue (delete what succeeded, re-hide what failed for a backoff).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use switchboard_core::metrics::{Metric, Metrics};
use switchboard_core::queue::{Queue, QueueName, ReceivedMessage};
use switchboard_core::retry::RetryPolicy;

/// A message that failed and should be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Message id.
    pub id: String,
    /// When to retry (`None`: the default backoff for its receive count).
    pub retry_after: Option<Duration>,
}

/// What a queue handler did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The failed messages, to be retried; every other message of the batch is done.
    pub failures: Vec<Failure>,
    /// Messages the handler gave up on: moved to the dead-letter queue now.
    pub dead_letters: Vec<String>,
}

/// What a handler did with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Processed (or nothing to do): delete it.
    Done,
    /// Try again after the delay (`None`: the default backoff). Stops its FIFO group.
    Retry(Option<Duration>),
    /// Give up: move it to the dead-letter queue now.
    DeadLetter,
}

/// Processes a batch: messages of one FIFO group in order, groups concurrently. After
/// the first retry in a group the rest of that group is reported failed without being
/// processed, so SQS redelivers the group in order.
pub async fn process_batch<'a, F, Fut>(batch: &'a [ReceivedMessage], f: F) -> BatchOutcome
where
    F: Fn(&'a ReceivedMessage) -> Fut,
    Fut: Future<Output = ItemOutcome>,
{
    let mut groups: Vec<Vec<&ReceivedMessage>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for m in batch {
        let key = m.group_id.as_deref().unwrap_or(m.id.as_str());
        match index.get(key) {
            Some(&i) => groups[i].push(m),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![m]);
            }
        }
    }
    let f = &f;
    let results = futures::future::join_all(groups.into_iter().map(|group| async move {
        let mut failures = Vec::new();
        let mut dead = Vec::new();
        let mut failed: Option<Option<Duration>> = None;
        for m in group {
            if let Some(retry) = failed {
                failures.push(Failure {
                    id: m.id.clone(),
                    retry_after: retry,
                });
                continue;
            }
            match f(m).await {
                ItemOutcome::Done => {}
                ItemOutcome::DeadLetter => dead.push(m.id.clone()),
                ItemOutcome::Retry(retry) => {
                    failures.push(Failure {
                        id: m.id.clone(),
                        retry_after: retry,
                    });
                    failed = Some(retry);
                }
            }
        }
        (failures, dead)
    }))
    .await;
    let mut outcome = BatchOutcome::default();
    for (failures, dead) in results {
        outcome.failures.extend(failures);
        outcome.dead_letters.extend(dead);
    }
    outcome
}

/// The span a consumer handles one queue message in: the function, the message's ids,
/// its receive count, and the correlation id its body carries (the webhook delivery or
/// API request that started the work), so the consumer's logs — and the provider calls
/// made inside — join the request's.
pub fn message_span(function: &'static str, m: &ReceivedMessage) -> tracing::Span {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(default)]
        correlation_id: Option<String>,
    }
    let correlation_id = serde_json::from_str::<Peek>(&m.body)
        .ok()
        .and_then(|p| p.correlation_id);
    tracing::info_span!(
        "message",
        function,
        queue_message_id = %m.id,
        group = m.group_id.as_deref().unwrap_or(""),
        receive_count = m.receive_count,
        correlation_id = correlation_id.as_deref().unwrap_or(""),
        org_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
    )
}

/// Records how long a message waited in its queue (from its first send to this
/// receive): a growing age means a consumer falls behind or a FIFO group is stuck.
pub fn observe_age(metrics: &dyn Metrics, queue: QueueName, m: &ReceivedMessage, now_ms: i64) {
    if let Some(sent) = m.sent_at_ms {
        metrics.observe(
            Metric::QueueAge,
            Some(queue.as_str()),
            (now_ms - sent).max(0) as f64,
        );
    }
}

/// Receives after which a message that fails with a non-retryable error is given up on.
/// More than one, because a misclassified transient error should get a second chance;
/// far fewer than a retryable failure's budget, because retrying poison only delays
/// the operator who has to look at it.
pub const POISON_RECEIVES: u32 = 3;

/// What to do with a message whose processing failed: retry on the policy's schedule
/// while the failure is transient and the schedule lasts (the receive count is the
/// attempt number: each retry is one receive), dead-letter poison after a few
/// receives, and dead-letter explicitly once the schedule is spent — so a message never
/// reaches the DLQ through SQS's redrive policy with work half-recorded.
pub fn on_error(policy: &RetryPolicy, m: &ReceivedMessage, retryable: bool) -> ItemOutcome {
    let limit = if retryable {
        policy.max_retries()
    } else {
        POISON_RECEIVES - 1
    };
    if m.receive_count > limit {
        crate::error_reporting::note_given_up(&m.id, !retryable);
        ItemOutcome::DeadLetter
    } else {
        ItemOutcome::Retry(Some(policy.delay(m.receive_count)))
    }
}

/// Applies an outcome to the queue. Failed messages are re-hidden for their retry delay
/// (so a retry waits for the backoff rather than the whole visibility timeout);
/// given-up ones move to the dead-letter queue (each one reported to error tracking);
/// succeeded ones are deleted when `delete_succeeded` (the local poller; on Lambda the
/// event source deletes them).
///
/// Returns the ids of messages that should have been dead-lettered but could not be:
/// they must not be deleted (on Lambda: they are reported as failed, so SQS keeps them
/// and its redrive policy still applies).
pub async fn settle(
    queue: &dyn Queue,
    name: QueueName,
    batch: &[ReceivedMessage],
    outcome: &BatchOutcome,
    delete_succeeded: bool,
) -> Vec<String> {
    let failed: HashMap<&str, &Failure> = outcome
        .failures
        .iter()
        .map(|f| (f.id.as_str(), f))
        .collect();
    let mut kept = Vec::new();
    for m in batch {
        if outcome.dead_letters.contains(&m.id) {
            match queue.dead_letter(name, m).await {
                Ok(()) => crate::error_reporting::report_dead_letter(name, m),
                Err(e) => {
                    tracing::error!(queue = %name, message_id = %m.id, error = %e, "could not dead-letter a message; it stays on the queue");
                    kept.push(m.id.clone());
                }
            }
            continue;
        }
        match failed.get(m.id.as_str()) {
            Some(f) => {
                let delay = f
                    .retry_after
                    .unwrap_or_else(|| RetryPolicy::DEFAULT.delay(m.receive_count));
                if let Err(e) = queue.retry_later(name, &m.receipt, delay).await {
                    tracing::warn!(queue = %name, message_id = %m.id, error = %e, "could not set the retry delay; the visibility timeout applies");
                }
            }
            None if delete_succeeded => {
                if let Err(e) = queue.delete(name, &m.receipt).await {
                    tracing::warn!(queue = %name, message_id = %m.id, error = %e, "could not delete a processed message; it will be redelivered and skipped");
                }
            }
            None => {}
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn m(id: &str, group: &str) -> ReceivedMessage {
        ReceivedMessage {
            id: id.into(),
            receipt: format!("r-{id}"),
            body: id.into(),
            group_id: Some(group.into()),
            receive_count: 1,
            sent_at_ms: None,
        }
    }

    #[tokio::test]
    async fn a_failure_fails_the_rest_of_its_group_only() {
        let batch = vec![
            m("a1", "a"),
            m("b1", "b"),
            m("a2", "a"),
            m("a3", "a"),
            m("b2", "b"),
        ];
        let seen = Mutex::new(Vec::new());
        let outcome = process_batch(&batch, |msg| {
            seen.lock().unwrap().push(msg.id.clone());
            let result = match msg.id.as_str() {
                "a2" => ItemOutcome::Retry(Some(Duration::from_secs(7))),
                "b1" => ItemOutcome::DeadLetter,
                _ => ItemOutcome::Done,
            };
            async move { result }
        })
        .await;
        assert_eq!(outcome.dead_letters, ["b1"]);
        let ids: Vec<&str> = outcome.failures.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["a2", "a3"]);
        assert!(
            outcome
                .failures
                .iter()
                .all(|f| f.retry_after == Some(Duration::from_secs(7)))
        );
        let seen = seen.into_inner().unwrap();
        assert!(
            !seen.contains(&"a3".to_string()),
            "a3 was not processed after a2 failed"
        );
        assert!(seen.contains(&"b2".to_string()));
    }

    #[test]
    fn transient_failures_follow_the_schedule_then_dead_letter() {
        let policy = RetryPolicy::DEFAULT;
        let mut msg = m("a", "g");
        msg.receive_count = 1;
        match on_error(&policy, &msg, true) {
            ItemOutcome::Retry(Some(d)) => assert!(d >= Duration::from_secs(5), "{d:?}"),
            other => panic!("{other:?}"),
        }
        msg.receive_count = 20;
        match on_error(&policy, &msg, true) {
            ItemOutcome::Retry(Some(d)) => assert!(d >= Duration::from_secs(3600), "{d:?}"),
            other => panic!("{other:?}"),
        }
        msg.receive_count = policy.max_retries();
        assert!(matches!(
            on_error(&policy, &msg, true),
            ItemOutcome::Retry(_)
        ));
        msg.receive_count = policy.max_retries() + 1;
        assert_eq!(on_error(&policy, &msg, true), ItemOutcome::DeadLetter);
        // Poison gets a couple of receives, not a day.
        msg.receive_count = 2;
        assert!(matches!(
            on_error(&policy, &msg, false),
            ItemOutcome::Retry(_)
        ));
        msg.receive_count = 3;
        assert_eq!(on_error(&policy, &msg, false), ItemOutcome::DeadLetter);
    }
}
