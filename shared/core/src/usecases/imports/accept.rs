//! What the API does with an uploaded file: check its shape, store it in chunks, store
//! the import, queue its first chunk.
//!
//! The import record is written after its chunks, so an import that exists always has
//! its whole file. An `Idempotency-Key` names the import (its id derives from org and
//! key), so a retried upload — after a timeout, or a 503 because the queue was down —
//! returns the same import and queues nothing twice; the same key with another file is
//! a 422. Without a key, an import whose first chunk could not be queued is marked
//! `failed` (its retry would be another import) and the answer is 503.

use futures::StreamExt;
use tracing::{info, warn};

use super::rows::{self, Column};
use super::{
    CHUNK_BYTES, CHUNK_ROWS, ChunkRef, ContactImport, ImportChunk, ImportStatus, KEEP_DAYS, csv,
};
use crate::error::{Error, Result};
use crate::ids::{ImportId, OrgId, derived_uuid};
use crate::queue::{OutgoingMessage, QueueName};
use crate::record::{Versioned, item, load};
use crate::services::Services;
use crate::store::{Condition, StoreError};

/// Chunk writes in flight at once while storing a file.
const STORE_CONCURRENCY: usize = 16;

/// An upload.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    /// The caller's org.
    pub org: &'a OrgId,
    /// The file.
    pub body: &'a [u8],
    /// `Idempotency-Key`, if sent.
    pub idempotency_key: Option<&'a str>,
    /// Who uploads (the token's subject).
    pub uploader: Option<&'a str>,
    /// The request id.
    pub correlation_id: Option<&'a str>,
}

/// An accepted import.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The import.
    pub import: ContactImport,
    /// Whether this was a replay of an earlier upload with the same key.
    pub replayed: bool,
}

/// Accepts a CSV file of contacts (see the module doc).
pub async fn accept(svc: &Services, upload: Upload<'_>) -> Result<Accepted> {
    let body_sha256 = switchboard_webhooks::sha256_hex(&[upload.body]);
    let id = match upload.idempotency_key {
        Some(key) => {
            if key.is_empty() || key.len() > 255 {
                return Err(Error::validation(
                    "Idempotency-Key",
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1-255 characters",
                ));
            }
            let hashed = switchboard_webhooks::sha256_hex(&[key.as_bytes()]);
            ImportId::from_uuid(derived_uuid(&["import", upload.org.as_str(), &hashed]))
        }
        None => ImportId::from_uuid(uuid::Uuid::now_v7()),
    };
    let (pk, sk) = ContactImport::key_of(upload.org, &id);
    if upload.idempotency_key.is_some()
        && let Some(found) = load::<ContactImport>(&*svc.store, &pk, &sk).await?
    {
        return replay(svc, found.record, &body_sha256).await;
    }

    let records = csv::parse(upload.body).map_err(|e| {
        let code = match e {
            csv::CsvError::NotUtf8(_) => "invalid_encoding",
            _ => "invalid_csv",
        };
        Error::validation("file", code, e.to_string())
    })?;
    let Some((header, data)) = records.split_first() else {
        return Err(Error::validation("file", "no_rows", "the file is empty"));
    };
    let columns = rows::columns(&header.fields)?;
    if data.is_empty() {
        return Err(Error::validation(
            "file",
            "no_rows",
            "the file has a header and no rows",
        ));
    }
    let ignored_columns: Vec<String> = header
        .fields
        .iter()
        .zip(&columns)
        .filter(|(_, c)| **c == Column::Ignored)
        .map(|(h, _)| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect();

    let now = svc.clock.now();
    let expires_at = (now + chrono::Duration::days(KEEP_DAYS)).timestamp();
    let chunks = split(upload.org, &id, data, expires_at);
    let chunks_total = chunks.len() as u32;
    // Chunks first: an import record that exists always has its whole file.
    let mut writes = futures::stream::iter(
        chunks
            .into_iter()
            .map(|chunk| async move { svc.store.put(item(&chunk, 1)?, Condition::Always).await }),
    )
    .buffer_unordered(STORE_CONCURRENCY);
    while let Some(result) = writes.next().await {
        result?;
    }
    let import = ContactImport {
        id: id.clone(),
        org_id: upload.org.clone(),
        status: ImportStatus::Queued,
        header: header.fields.clone(),
        columns,
        ignored_columns,
        rows_total: data.len() as u64,
        rows_done: 0,
        created: 0,
        updated: 0,
        unchanged: 0,
        failed: 0,
        errors: Vec::new(),
        chunks_total,
        chunks_done: 0,
        chunk_started_at: None,
        failure: None,
        body_sha256: body_sha256.clone(),
        keyed: upload.idempotency_key.is_some(),
        created_by: upload.uploader.map(str::to_owned),
        correlation_id: upload.correlation_id.map(str::to_owned),
        created_at: now,
        updated_at: now,
        finished_at: None,
        expires_at,
    };
    match svc.store.put(item(&import, 1)?, Condition::NotExists).await {
        Ok(()) => {}
        // The same key uploaded concurrently: whichever stored its record first wins.
        Err(StoreError::ConditionFailed { .. }) => {
            let found = load::<ContactImport>(&*svc.store, &pk, &sk)
                .await?
                .ok_or(Error::Store(StoreError::Conflict))?;
            return replay(svc, found.record, &body_sha256).await;
        }
        Err(e) => return Err(e.into()),
    }
    info!(org_id = %import.org_id, import_id = %import.id, rows = import.rows_total, chunks = chunks_total, "import stored");
    match enqueue(svc, &import, 0).await {
        Ok(()) => Ok(Accepted {
            import,
            replayed: false,
        }),
        Err(e) => Err(queue_failed(svc, import, e).await),
    }
}

/// Splits the data records into chunks of at most [`CHUNK_ROWS`] rows and about
/// [`CHUNK_BYTES`] bytes.
fn split(org: &OrgId, id: &ImportId, data: &[csv::Record], expires_at: i64) -> Vec<ImportChunk> {
    let mut chunks = Vec::new();
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    for record in data {
        // JSON of the fields: their text plus quotes, commas and escapes (generously).
        let size: usize = record.fields.iter().map(|f| f.len() * 2 + 3).sum::<usize>() + 12;
        if !rows.is_empty() && (rows.len() == CHUNK_ROWS || bytes + size > CHUNK_BYTES) {
            chunks.push(chunk(
                org,
                id,
                chunks.len(),
                std::mem::take(&mut rows),
                expires_at,
            ));
            bytes = 0;
        }
        bytes += size;
        rows.push((record.number, record.fields.clone()));
    }
    if !rows.is_empty() {
        chunks.push(chunk(org, id, chunks.len(), rows, expires_at));
    }
    chunks
}

fn chunk(
    org: &OrgId,
    id: &ImportId,
    index: usize,
    rows: Vec<(u32, Vec<String>)>,
    expires_at: i64,
) -> ImportChunk {
    ImportChunk {
        org_id: org.clone(),
        import_id: id.clone(),
        index: index as u32,
        rows,
        expires_at,
    }
}

/// Queues chunk `index` of an import: its FIFO group is the import, its dedupe id the
/// chunk, so a repeat within SQS's five minutes is dropped (and a later one is skipped
/// by the worker).
pub async fn enqueue(svc: &Services, import: &ContactImport, index: u32) -> Result<()> {
    let body = ChunkRef {
        org_id: import.org_id.clone(),
        import_id: import.id.clone(),
        chunk: index,
        correlation_id: import.correlation_id.clone(),
    };
    let body = serde_json::to_string(&body)
        .map_err(|e| Error::Internal(format!("chunk reference does not serialise: {e}")))?;
    svc.queue
        .send(
            QueueName::Import,
            vec![OutgoingMessage::fifo(
                body,
                import.id.to_string(),
                format!("{}:{index}", import.id),
            )],
        )
        .await?;
    Ok(())
}

/// An upload whose key names an import already stored.
async fn replay(svc: &Services, import: ContactImport, body_sha256: &str) -> Result<Accepted> {
    if import.body_sha256 != body_sha256 {
        return Err(Error::validation(
            "Idempotency-Key",
            "idempotency_key_reused",
            "this Idempotency-Key was used for another file",
        ));
    }
    // Never started: its first chunk may never have reached the queue (the reason for
    // the retry). Queueing it again is harmless: the dedupe id and the worker's own
    // record both make a second copy a no-op.
    if import.status == ImportStatus::Queued
        && let Err(e) = enqueue(svc, &import, 0).await
    {
        warn!(import_id = %import.id, error = %e, "could not queue an import's first chunk again");
        return Err(unavailable());
    }
    Ok(Accepted {
        import,
        replayed: true,
    })
}

fn unavailable() -> Error {
    Error::Unavailable {
        code: "queue_unavailable",
        message: "the file is stored but could not be queued; send the same request with the same Idempotency-Key again".into(),
    }
}

/// The first chunk could not be queued.
async fn queue_failed(svc: &Services, import: ContactImport, cause: Error) -> Error {
    warn!(import_id = %import.id, error = %cause, keyed = import.keyed, "could not queue an import");
    if import.keyed {
        // The keyed retry replays this import and queues it then.
        return unavailable();
    }
    // Nothing can resume it: a retry without a key is a new import. Say so on the record.
    let mut v = Versioned {
        record: import,
        version: 1,
    };
    let now = svc.clock.now();
    v.record.status = ImportStatus::Failed;
    v.record.failure = Some("the import could not be queued; upload the file again".into());
    v.record.finished_at = Some(now);
    v.record.updated_at = now;
    if let Ok(next) = v.next_item()
        && let Err(e) = svc.store.put(next, v.condition()).await
    {
        warn!(import_id = %v.record.id, error = %e, "could not mark an unqueued import failed");
    }
    Error::Unavailable {
        code: "queue_unavailable",
        message: "the import could not be queued; upload the file again (send an Idempotency-Key to make retries safe)".into(),
    }
}
