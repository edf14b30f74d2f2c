//! The queue contract. Every case runs on the SQLite queue and on SQS (moto).

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::queue::{OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage};

const Q: QueueName = QueueName::Inbound;
const VIS: Duration = Duration::from_secs(30);

fn msg(body: &str, group: &str) -> OutgoingMessage {
    OutgoingMessage::fifo(
        body.into(),
        group.into(),
        format!("{body}-{}", uuid::Uuid::new_v4().simple()),
    )
}

async fn receive_all(q: &dyn Queue, max: usize) -> Vec<ReceivedMessage> {
    q.receive(Q, max, VIS, Duration::from_millis(200))
        .await
        .unwrap()
}

fn bodies(ms: &[ReceivedMessage]) -> Vec<&str> {
    ms.iter().map(|m| m.body.as_str()).collect()
}

/// A sent message is received once with its group, then deleted for good.
pub async fn send_receive_delete(q: Arc<dyn Queue>) {
    q.send(Q, vec![msg("hello", "g1")]).await.unwrap();
    let got = receive_all(&*q, 10).await;
    assert_eq!(bodies(&got), ["hello"]);
    assert_eq!(got[0].group_id.as_deref(), Some("g1"));
    assert_eq!(got[0].receive_count, 1);
    assert!(!got[0].id.is_empty() && !got[0].receipt.is_empty());
    // Hidden while in flight.
    assert!(receive_all(&*q, 10).await.is_empty());
    q.delete(Q, &got[0].receipt).await.unwrap();
    q.retry_later(Q, &got[0].receipt, Duration::ZERO).await.ok();
    assert!(receive_all(&*q, 10).await.is_empty());
}

/// FIFO: order within a group; a group with a message in flight yields nothing more,
/// other groups proceed.
pub async fn fifo_groups(q: Arc<dyn Queue>) {
    q.send(
        Q,
        vec![
            msg("a1", "a"),
            msg("a2", "a"),
            msg("b1", "b"),
            msg("a3", "a"),
        ],
    )
    .await
    .unwrap();
    let first = q
        .receive(Q, 1, VIS, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(bodies(&first), ["a1"]);
    let second = receive_all(&*q, 10).await;
    assert_eq!(
        bodies(&second),
        ["b1"],
        "group a is blocked while a1 is in flight"
    );
    q.delete(Q, &first[0].receipt).await.unwrap();
    let third = receive_all(&*q, 10).await;
    assert_eq!(bodies(&third), ["a2", "a3"]);
}

/// An unacknowledged message comes back after its visibility timeout, counted.
pub async fn redelivery_after_visibility(q: Arc<dyn Queue>) {
    q.send(Q, vec![msg("again", "g")]).await.unwrap();
    let first = q
        .receive(Q, 10, Duration::from_secs(1), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = q.receive(Q, 10, VIS, Duration::from_secs(2)).await.unwrap();
    assert_eq!(bodies(&second), ["again"]);
    assert_eq!(second[0].receive_count, 2);
}

/// `retry_later` re-hides a message for the given delay; zero makes it visible now.
pub async fn retry_later(q: Arc<dyn Queue>) {
    q.send(Q, vec![msg("later", "g")]).await.unwrap();
    let got = receive_all(&*q, 10).await;
    q.retry_later(Q, &got[0].receipt, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(receive_all(&*q, 10).await.is_empty());
    // Still in flight, so the same receipt may shorten the delay to zero.
    q.retry_later(Q, &got[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let again = receive_all(&*q, 10).await;
    assert_eq!(bodies(&again), ["later"]);
}

/// After `max_receive_count` receives a message moves to the DLQ, can be listed, and a
/// redrive brings it back once.
pub async fn dead_letters_and_redrive(q: Arc<dyn Queue>) {
    let max = Q.spec().max_receive_count;
    q.send(Q, vec![msg("poison", "p"), msg("fine", "f")])
        .await
        .unwrap();
    let mut fine_done = false;
    for round in 0..max {
        let got = receive_all(&*q, 10).await;
        for m in &got {
            if m.body == "fine" {
                q.delete(Q, &m.receipt).await.unwrap();
                fine_done = true;
            } else {
                assert_eq!(m.receive_count, round + 1);
                q.retry_later(Q, &m.receipt, Duration::ZERO).await.unwrap();
            }
        }
    }
    assert!(fine_done);
    // The next receive finds it over the limit and dead-letters it.
    assert!(receive_all(&*q, 10).await.is_empty());
    let dead = q.dead_letters(Q, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].group_id.as_deref(), Some("p"));
    // Listing does not consume.
    assert_eq!(q.dead_letters(Q, 10).await.unwrap().len(), 1);
    assert_eq!(q.redrive(Q, 10).await.unwrap(), 1);
    assert!(q.dead_letters(Q, 10).await.unwrap().is_empty());
    let back = receive_all(&*q, 10).await;
    assert_eq!(bodies(&back), ["poison"]);
    assert_eq!(back[0].receive_count, 1);
    q.delete(Q, &back[0].receipt).await.unwrap();
    assert_eq!(q.redrive(Q, 10).await.unwrap(), 0);
}

/// A consumer can dead-letter a message at once (after its own retry budget); it is
/// listed, the rest of its group proceeds, and a redrive brings it back.
pub async fn explicit_dead_letter(q: Arc<dyn Queue>) {
    q.send(Q, vec![msg("give-up", "g"), msg("next", "g")])
        .await
        .unwrap();
    let first = q
        .receive(Q, 1, VIS, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(bodies(&first), ["give-up"]);
    q.dead_letter(Q, &first[0]).await.unwrap();
    let next = receive_all(&*q, 10).await;
    assert_eq!(bodies(&next), ["next"], "the group moves on");
    q.delete(Q, &next[0].receipt).await.unwrap();
    let dead = q.dead_letters(Q, 10).await.unwrap();
    assert_eq!(
        dead.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
        ["give-up"]
    );
    assert_eq!(q.redrive(Q, 10).await.unwrap(), 1);
    assert_eq!(bodies(&receive_all(&*q, 10).await), ["give-up"]);
}

/// More than one batch of messages goes out in order.
pub async fn large_sends_keep_order(q: Arc<dyn Queue>) {
    let msgs: Vec<OutgoingMessage> = (0..25).map(|i| msg(&format!("m{i:02}"), "one")).collect();
    q.send(Q, msgs).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let got = receive_all(&*q, 10).await;
        if got.is_empty() {
            break;
        }
        for m in &got {
            seen.push(m.body.clone());
            q.delete(Q, &m.receipt).await.unwrap();
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("m{i:02}")).collect();
    assert_eq!(seen, expected);
}

/// Bodies over 256 KiB are refused with a clear error.
pub async fn oversized_body(q: Arc<dyn Queue>) {
    let err = q
        .send(Q, vec![msg(&"x".repeat(256 * 1024 + 1), "g")])
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Invalid(_)), "{err:?}");
}

/// A repeated deduplication id within five minutes delivers once (embedded backend;
/// moto's FIFO dedupe is not faithful, see REFERENCES).
pub async fn dedupe(q: Arc<dyn Queue>) {
    let m = OutgoingMessage::fifo("once".into(), "g".into(), "same-id".into());
    q.send(Q, vec![m.clone()]).await.unwrap();
    q.send(Q, vec![m]).await.unwrap();
    let got = receive_all(&*q, 10).await;
    assert_eq!(bodies(&got), ["once"]);
    q.delete(Q, &got[0].receipt).await.unwrap();
    assert!(receive_all(&*q, 10).await.is_empty());
}

/// Stamps one test per queue contract case for a factory (`async fn() -> Arc<dyn Queue>`).
#[macro_export]
macro_rules! queue_contract {
    ($factory:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn send_receive_delete() {
            $crate::contract::queue::send_receive_delete($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn fifo_groups() {
            $crate::contract::queue::fifo_groups($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn redelivery_after_visibility() {
            $crate::contract::queue::redelivery_after_visibility($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn retry_later() {
            $crate::contract::queue::retry_later($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn dead_letters_and_redrive() {
            $crate::contract::queue::dead_letters_and_redrive($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn explicit_dead_letter() {
            $crate::contract::queue::explicit_dead_letter($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn large_sends_keep_order() {
            $crate::contract::queue::large_sends_keep_order($factory().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn oversized_body() {
            $crate::contract::queue::oversized_body($factory().await).await;
        }
    };
}
