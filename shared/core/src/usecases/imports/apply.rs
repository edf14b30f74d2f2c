//! What `worker-import` does with one queue message: apply one chunk of an import, record
//! it, queue the next (see the module doc of [`super`] for why one at a time).
//!
//! A chunk is applied row by row; rows of different phone numbers run concurrently (a
//! chunk is seconds of DynamoDB round trips otherwise), rows of the same number in file
//! order. A row that does not validate becomes errors and the rest go on; a store
//! failure fails the chunk, which the queue delivers again — every row already applied
//! is then found holding its values and writes nothing.
//!
//! Counting a retried chunk: rows an interrupted attempt applied read as unchanged on
//! the retry. The first attempt stamps the import with its start time, so the retry
//! counts a contact created since then as created and one changed since then as
//! updated, and the totals stay those of one clean run.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::{debug, info, warn};

use super::rows::{self, Applied, RowError};
use super::{ChunkRef, ContactImport, ImportChunk, ImportStatus, MAX_ERRORS, accept};
use crate::error::{Error, Result};
use crate::record::{Versioned, load};
use crate::services::Services;
use crate::store::{StoreError, Write};

/// Phone numbers of a chunk applied at once.
const ROW_CONCURRENCY: usize = 8;
/// Attempts at recording a chunk against concurrent writers of the import.
const RECORD_ATTEMPTS: usize = 8;

/// What handling a queue message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The chunk was applied and counted.
    Applied {
        /// Chunk index.
        chunk: u32,
        /// Rows in it.
        rows: usize,
        /// Whether it was the import's last.
        last: bool,
    },
    /// The chunk was counted before (a redelivery): nothing applied twice.
    AlreadyApplied,
    /// The import is gone (expired) or finished.
    Nothing,
}

/// Parses a queue body. A body that does not parse is poison.
pub fn parse_ref(body: &str) -> Result<ChunkRef> {
    serde_json::from_str(body)
        .map_err(|e| Error::Internal(format!("queue body is not a chunk reference: {e}")))
}

/// Applies the chunk a queue message names.
pub async fn process(svc: &Services, body: &str) -> Result<Outcome> {
    let r = parse_ref(body)?;
    let (pk, sk) = ContactImport::key_of(&r.org_id, &r.import_id);
    let Some(mut import) = load::<ContactImport>(&*svc.store, &pk, &sk).await? else {
        warn!(import_id = %r.import_id, "the import of a queued chunk is gone (expired or erased)");
        return Ok(Outcome::Nothing);
    };
    if import.record.status == ImportStatus::Completed {
        return Ok(Outcome::Nothing);
    }
    if r.chunk < import.record.chunks_done {
        // Counted already. The worker that counted it may have died before queueing the
        // next one: queue it (a duplicate is dropped or skipped).
        debug!(chunk = r.chunk, "chunk already applied");
        queue_next(svc, &import.record, r.chunk).await?;
        return Ok(Outcome::AlreadyApplied);
    }
    if r.chunk > import.record.chunks_done {
        // Chunks are queued one after another, so this is a copy from a redrive that
        // overtook its predecessor; its turn comes when the predecessor is applied.
        return Err(Error::Unavailable {
            code: "chunk_out_of_order",
            message: format!(
                "chunk {} of import {} is ahead of chunk {}",
                r.chunk, r.import_id, import.record.chunks_done
            ),
        });
    }

    // Stamp the attempt's start (only the first attempt's counts: see the module doc).
    let retry_since = match import.record.chunk_started_at {
        Some(at) => Some(at),
        None => {
            let now = svc.clock.now();
            import.record.chunk_started_at = Some(now);
            import.record.status = ImportStatus::Running;
            import.record.updated_at = now;
            // Another attempt stamped it a moment ago: retry (and then find its stamp).
            svc.store
                .put(import.next_item()?, import.condition())
                .await
                .map_err(|e| match e {
                    StoreError::ConditionFailed { .. } => StoreError::Conflict,
                    e => e,
                })?;
            import.version += 1;
            None
        }
    };

    let (c_pk, c_sk) = ImportChunk::key_of(&r.org_id, &r.import_id, r.chunk);
    let Some(chunk) = load::<ImportChunk>(&*svc.store, &c_pk, &c_sk).await? else {
        return Err(Error::Internal(format!(
            "chunk {} of import {} is not stored",
            r.chunk, r.import_id
        )));
    };
    let tally = apply_rows(svc, &import.record, &chunk.record, retry_since).await?;
    let rows = chunk.record.rows.len();
    let import = record(svc, import, r.chunk, tally, (c_pk, c_sk)).await?;
    let Some(import) = import else {
        return Ok(Outcome::AlreadyApplied);
    };
    let last = import.chunks_done == import.chunks_total;
    if last {
        info!(org_id = %import.org_id, import_id = %import.id, created = import.created, updated = import.updated, unchanged = import.unchanged, failed = import.failed, "import completed");
    }
    queue_next(svc, &import, r.chunk).await?;
    Ok(Outcome::Applied {
        chunk: r.chunk,
        rows,
        last,
    })
}

async fn queue_next(svc: &Services, import: &ContactImport, chunk: u32) -> Result<()> {
    if chunk + 1 < import.chunks_total && import.status != ImportStatus::Completed {
        accept::enqueue(svc, import, chunk + 1).await?;
    }
    Ok(())
}

/// What a chunk's rows did.
#[derive(Debug, Default)]
struct Tally {
    created: u64,
    updated: u64,
    unchanged: u64,
    failed: u64,
    errors: Vec<RowError>,
}

async fn apply_rows(
    svc: &Services,
    import: &ContactImport,
    chunk: &ImportChunk,
    retry_since: Option<DateTime<Utc>>,
) -> Result<Tally> {
    let mut tally = Tally::default();
    // Validate every row; group the valid ones by number, in file order.
    let mut groups: Vec<Vec<rows::ContactRow>> = Vec::new();
    let mut by_phone: HashMap<String, usize> = HashMap::new();
    for (number, fields) in &chunk.rows {
        match rows::validate(*number, &import.columns, fields) {
            Ok(row) => {
                let phone = row
                    .wa_id
                    .as_ref()
                    .map(|w| w.to_string())
                    .unwrap_or_default();
                match by_phone.get(&phone) {
                    Some(&i) => groups[i].push(row),
                    None => {
                        by_phone.insert(phone, groups.len());
                        groups.push(vec![row]);
                    }
                }
            }
            Err(errors) => {
                tally.failed += 1;
                tally.errors.extend(errors);
            }
        }
    }
    let now = svc.clock.now();
    let org = &import.org_id;
    let mut results = futures::stream::iter(groups.into_iter().map(|group| async move {
        let mut outcomes = Vec::with_capacity(group.len());
        for row in &group {
            let (applied, contact) = rows::upsert_contact(svc, org, row, now).await?;
            // A retry: what an interrupted attempt applied reads as unchanged now.
            let applied = match (applied, retry_since) {
                (Applied::Unchanged, Some(since)) if contact.created_at >= since => {
                    Applied::Created
                }
                (Applied::Unchanged, Some(since)) if contact.updated_at >= since => {
                    Applied::Updated
                }
                (a, _) => a,
            };
            outcomes.push(applied);
        }
        Ok::<_, Error>(outcomes)
    }))
    .buffer_unordered(ROW_CONCURRENCY);
    while let Some(outcomes) = results.next().await {
        for applied in outcomes? {
            match applied {
                Applied::Created => tally.created += 1,
                Applied::Updated => tally.updated += 1,
                Applied::Unchanged => tally.unchanged += 1,
            }
        }
    }
    tally.errors.sort_by_key(|e| e.row);
    Ok(tally)
}

/// Adds a chunk's counts to the import, marks the chunk done and deletes its rows, in one
/// transaction conditioned on the import's version. `None` when another worker counted
/// the chunk first.
async fn record(
    svc: &Services,
    mut import: Versioned<ContactImport>,
    chunk: u32,
    tally: Tally,
    (c_pk, c_sk): (String, String),
) -> Result<Option<ContactImport>> {
    for _ in 0..RECORD_ATTEMPTS {
        if import.record.chunks_done > chunk {
            return Ok(None);
        }
        let now = svc.clock.now();
        let r = &mut import.record;
        r.created += tally.created;
        r.updated += tally.updated;
        r.unchanged += tally.unchanged;
        r.failed += tally.failed;
        r.rows_done += tally.created + tally.updated + tally.unchanged + tally.failed;
        let room = MAX_ERRORS.saturating_sub(r.errors.len());
        r.errors.extend(tally.errors.iter().take(room).cloned());
        r.chunks_done = chunk + 1;
        r.chunk_started_at = None;
        r.updated_at = now;
        r.failure = None;
        if r.chunks_done >= r.chunks_total {
            r.status = ImportStatus::Completed;
            r.finished_at = Some(now);
        } else {
            r.status = ImportStatus::Running;
        }
        let writes = vec![
            Write::put(import.next_item()?, import.condition()),
            Write::delete(c_pk.clone(), c_sk.clone(), crate::store::Condition::Always),
        ];
        match svc.store.transact(writes).await {
            Ok(()) => return Ok(Some(import.record)),
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {
                let (pk, sk) = ContactImport::key_of(&import.record.org_id, &import.record.id);
                import = load::<ContactImport>(&*svc.store, &pk, &sk)
                    .await?
                    .ok_or_else(|| Error::Internal("the import disappeared".into()))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// Marks an import failed because a chunk was given up on (moved to the DLQ): the status
/// says so instead of reading `running` for ever. A redrive of the chunk resumes it.
pub async fn fail(svc: &Services, body: &str, reason: &str) -> Result<()> {
    let r = parse_ref(body)?;
    let (pk, sk) = ContactImport::key_of(&r.org_id, &r.import_id);
    let now = svc.clock.now();
    crate::record::update::<ContactImport>(&*svc.store, &pk, &sk, |i| {
        if i.status == ImportStatus::Completed || i.chunks_done > r.chunk {
            return false;
        }
        i.status = ImportStatus::Failed;
        i.failure = Some(format!("chunk {} could not be applied: {reason}", r.chunk));
        i.finished_at = Some(now);
        i.updated_at = now;
        true
    })
    .await?;
    Ok(())
}
