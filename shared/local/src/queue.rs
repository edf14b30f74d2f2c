//! Queues on SQLite with SQS semantics: visibility timeouts, receive counts, a
//! dead-letter state after `max_receive_count` receives, FIFO groups (one in-flight
//! batch per group, order kept) and five-minute deduplication.
//!
//! A `Notify` wakes long-polling receivers as soon as something is sent, so the dev
//! server reacts to a webhook within milliseconds rather than a poll interval.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use switchboard_core::clock::Clock;
use switchboard_core::queue::{
    DeadLetter, MAX_BODY_BYTES, OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::sqlite::{self, blocking};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT NOT NULL,
    id            TEXT NOT NULL UNIQUE,
    body          TEXT NOT NULL,
    group_id      TEXT,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT,
    dead          INTEGER NOT NULL DEFAULT 0,
    sent_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, dead, seq);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, dead, visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_by_group ON messages (queue, group_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_receipt ON messages (receipt) WHERE receipt IS NOT NULL;
CREATE TABLE IF NOT EXISTS dedupe (
    queue      TEXT NOT NULL,
    dedupe_id  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (queue, dedupe_id)
) WITHOUT ROWID;
";

/// SQS keeps deduplication ids for five minutes.
const DEDUPE_WINDOW_MS: i64 = 5 * 60 * 1000;

/// Deliverable candidates examined per receive (some may be dead-lettered instead).
const SCAN_CHUNK: i64 = 64;

/// The SQLite queue backend.
#[derive(Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteQueue")
    }
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

impl SqliteQueue {
    /// Opens (creating if needed) the queue database at `path`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, QueueError> {
        let conn = sqlite::open(path).map_err(unavailable)?;
        Self::init(conn, clock)
    }

    /// An in-memory queue database (tests).
    pub fn in_memory(clock: Arc<dyn Clock>) -> Result<Self, QueueError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?, clock)
    }

    fn init(conn: Connection, clock: Arc<dyn Clock>) -> Result<Self, QueueError> {
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock,
            notify: Arc::new(Notify::new()),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        blocking(self.conn.clone(), f)
            .await
            .unwrap_or_else(|e| Err(unavailable(e)))
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}

struct Candidate {
    seq: i64,
    id: String,
    body: String,
    group_id: Option<String>,
    receive_count: u32,
    sent_at: i64,
}

fn receive_now(
    conn: &mut Connection,
    queue: QueueName,
    max: usize,
    visibility_ms: i64,
    now: i64,
) -> Result<Vec<ReceivedMessage>, QueueError> {
    let spec = queue.spec();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let mut taken = Vec::new();
    // Deliverable: visible now and, in a FIFO queue, with no earlier message of its group
    // in flight or delayed (which keeps each group in order, one batch at a time). The
    // hidden messages (few: those in flight or waiting for a retry) are gathered first,
    // each group's earliest, and joined: a per-row subquery over the group's earlier
    // messages made a receive quadratic in a long group (10,000 events of one org took
    // seconds a receive). The main scan walks the queue in order and stops at the chunk.
    let sql = if spec.fifo {
        "WITH hidden AS (
             SELECT group_id, MIN(seq) AS first_hidden FROM messages
             WHERE queue = ?1 AND dead = 0 AND visible_at > ?2 AND group_id IS NOT NULL
             GROUP BY group_id)
         SELECT m.seq, m.id, m.body, m.group_id, m.receive_count, m.sent_at
         FROM messages m LEFT JOIN hidden h ON h.group_id = m.group_id
         WHERE m.queue = ?1 AND m.dead = 0 AND m.visible_at <= ?2
           AND (h.first_hidden IS NULL OR h.first_hidden > m.seq)
         ORDER BY m.seq LIMIT ?3"
    } else {
        "SELECT m.seq, m.id, m.body, m.group_id, m.receive_count, m.sent_at
         FROM messages m WHERE m.queue = ?1 AND m.dead = 0 AND m.visible_at <= ?2
         ORDER BY m.seq LIMIT ?3"
    };
    let candidates: Vec<Candidate> = {
        let mut stmt = tx.prepare_cached(sql).map_err(unavailable)?;
        stmt.query_map(rusqlite::params![queue.as_str(), now, SCAN_CHUNK], |r| {
            Ok(Candidate {
                seq: r.get(0)?,
                id: r.get(1)?,
                body: r.get(2)?,
                group_id: r.get(3)?,
                receive_count: r.get::<_, i64>(4)? as u32,
                sent_at: r.get(5)?,
            })
        })
        .map_err(unavailable)?
        .collect::<Result<_, _>>()
        .map_err(unavailable)?
    };
    for c in candidates {
        if c.receive_count >= spec.max_receive_count {
            // Exceeded the redrive policy: dead-letter it, as SQS does on receive. (For
            // FIFO, its group's next message becomes deliverable on the next receive.)
            tx.execute(
                "UPDATE messages SET dead = 1, receipt = NULL WHERE seq = ?1",
                [c.seq],
            )
            .map_err(unavailable)?;
            tracing::warn!(queue = %queue, message_id = %c.id, receives = c.receive_count, "moved a message to the dead-letter queue");
            continue;
        }
        let receipt = Uuid::new_v4().simple().to_string();
        tx.execute(
            "UPDATE messages SET receive_count = receive_count + 1, receipt = ?1, visible_at = ?2
             WHERE seq = ?3",
            rusqlite::params![receipt, now + visibility_ms, c.seq],
        )
        .map_err(unavailable)?;
        taken.push(ReceivedMessage {
            id: c.id,
            receipt,
            body: c.body,
            group_id: c.group_id,
            receive_count: c.receive_count + 1,
            sent_at_ms: Some(c.sent_at),
        });
        if taken.len() >= max {
            break;
        }
    }
    tx.commit().map_err(unavailable)?;
    Ok(taken)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> Result<(), QueueError> {
        let spec = queue.spec();
        for m in &messages {
            if m.body.len() > MAX_BODY_BYTES {
                return Err(QueueError::Invalid(format!(
                    "message body is {} bytes; the limit is {MAX_BODY_BYTES}",
                    m.body.len()
                )));
            }
            if spec.fifo && (m.group_id.is_none() || m.dedupe_id.is_none()) {
                return Err(QueueError::Invalid(
                    "FIFO messages need a group id and a deduplication id".into(),
                ));
            }
            if spec.fifo && m.delay.is_some() {
                return Err(QueueError::Invalid(
                    "FIFO queues do not support per-message delays".into(),
                ));
            }
        }
        let now = self.now_ms();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            tx.execute("DELETE FROM dedupe WHERE expires_at <= ?1", [now])
                .map_err(unavailable)?;
            for m in messages {
                if let Some(dedupe) = &m.dedupe_id {
                    let seen = tx
                        .query_row(
                            "SELECT 1 FROM dedupe WHERE queue = ?1 AND dedupe_id = ?2",
                            [queue.as_str(), dedupe.as_str()],
                            |_| Ok(()),
                        )
                        .optional()
                        .map_err(unavailable)?;
                    if seen.is_some() {
                        continue;
                    }
                    tx.execute(
                        "INSERT INTO dedupe (queue, dedupe_id, expires_at) VALUES (?1, ?2, ?3)",
                        rusqlite::params![queue.as_str(), dedupe, now + DEDUPE_WINDOW_MS],
                    )
                    .map_err(unavailable)?;
                }
                let delay = m.delay.map_or(0, |d| d.as_millis() as i64);
                tx.execute(
                    "INSERT INTO messages (queue, id, body, group_id, visible_at, sent_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![
                        queue.as_str(),
                        Uuid::now_v7().to_string(),
                        m.body,
                        m.group_id,
                        now + delay,
                        now
                    ],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let max = max.clamp(1, switchboard_core::queue::MAX_BATCH);
        let visibility_ms = visibility.as_millis() as i64;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before looking, so a send in between is not missed.
            let notified = self.notify.notified();
            let now = self.now_ms();
            let got = self
                .run(move |conn| receive_now(conn, queue, max, visibility_ms, now))
                .await?;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            // Wake on a send, or re-check periodically for messages whose visibility
            // timeout or delay ran out.
            let nap = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_millis(250));
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn delete(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let deleted = self
            .run(move |conn| {
                conn.execute(
                    "DELETE FROM messages WHERE queue = ?1 AND receipt = ?2 AND dead = 0",
                    [queue.as_str(), receipt.as_str()],
                )
                .map_err(unavailable)
            })
            .await?;
        if deleted == 0 {
            return Err(QueueError::StaleReceipt);
        }
        // Deleting the head of a FIFO group unblocks the rest of the group.
        self.notify.notify_waiters();
        Ok(())
    }

    async fn retry_later(
        &self,
        queue: QueueName,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let at = self.now_ms() + delay.as_millis() as i64;
        let updated = self
            .run(move |conn| {
                conn.execute(
                    "UPDATE messages SET visible_at = ?3 WHERE queue = ?1 AND receipt = ?2 AND dead = 0",
                    rusqlite::params![queue.as_str(), receipt, at],
                )
                .map_err(unavailable)
            })
            .await?;
        if updated == 0 {
            return Err(QueueError::StaleReceipt);
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        queue: QueueName,
        message: &ReceivedMessage,
    ) -> Result<(), QueueError> {
        let receipt = message.receipt.clone();
        let moved = self
            .run(move |conn| {
                conn.execute(
                    "UPDATE messages SET dead = 1, receipt = NULL WHERE queue = ?1 AND receipt = ?2 AND dead = 0",
                    [queue.as_str(), receipt.as_str()],
                )
                .map_err(unavailable)
            })
            .await?;
        if moved == 0 {
            return Err(QueueError::StaleReceipt);
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn dead_letters(
        &self,
        queue: QueueName,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, body, group_id, receive_count FROM messages
                     WHERE queue = ?1 AND dead = 1 ORDER BY seq LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(rusqlite::params![queue.as_str(), limit as i64], |r| {
                    Ok(DeadLetter {
                        id: r.get(0)?,
                        body: r.get(1)?,
                        group_id: r.get(2)?,
                        receive_count: r.get::<_, i64>(3)? as u32,
                    })
                })
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            Ok(rows)
        })
        .await
    }

    async fn redrive(&self, queue: QueueName, limit: usize) -> Result<usize, QueueError> {
        let now = self.now_ms();
        let moved = self
            .run(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(unavailable)?;
                let dead: Vec<(i64, String, Option<String>)> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT seq, body, group_id FROM messages
                             WHERE queue = ?1 AND dead = 1 ORDER BY seq LIMIT ?2",
                        )
                        .map_err(unavailable)?;
                    stmt.query_map(rusqlite::params![queue.as_str(), limit as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(unavailable)?
                    .collect::<Result<_, _>>()
                    .map_err(unavailable)?
                };
                // Like an SQS redrive, each message goes back as a new message at the tail
                // of its queue, with a fresh receive count.
                for (seq, body, group) in &dead {
                    tx.execute("DELETE FROM messages WHERE seq = ?1", [seq])
                        .map_err(unavailable)?;
                    tx.execute(
                        "INSERT INTO messages (queue, id, body, group_id, visible_at, sent_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                        rusqlite::params![
                            queue.as_str(),
                            Uuid::now_v7().to_string(),
                            body,
                            group,
                            now
                        ],
                    )
                    .map_err(unavailable)?;
                }
                tx.commit().map_err(unavailable)?;
                Ok(dead.len())
            })
            .await?;
        if moved > 0 {
            self.notify.notify_waiters();
        }
        Ok(moved)
    }
}
