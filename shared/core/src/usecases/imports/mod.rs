//! Contact imports: an admin uploads a CSV file of contacts; Switchboard stores it, then
//! upserts its rows by phone number in the background and reports progress.
//!
//! The shape is the webhook's store-then-enqueue ([`super::ingest`]), for the same
//! reasons: the request only stores the file (split into chunk items well under
//! DynamoDB's 400 KB item limit) and the import record, hands the first chunk to the
//! `import` queue and answers 202; the slow work happens in `worker-import`, where a
//! failure is retried rather than lost.
//!
//! **One chunk at a time, in order.** The queue is FIFO and each import is its own
//! message group, and only one chunk of an import is ever queued: the worker applies
//! chunk *k*, records it, then queues chunk *k + 1*. So an import's record (counters, the
//! first 100 errors) has one writer at a time and needs no counter contention; a phone
//! that appears on two rows ends as its later row says; the queue's oldest message is
//! never older than one chunk's work, so the age alarm still means "stuck"; and imports
//! of different orgs proceed side by side.
//!
//! **Each chunk counts once.** Applying a row is idempotent (the contact id derives from
//! org and wa_id; values already held write nothing), and a chunk's completion is
//! recorded in the same transaction that adds its counts to the import
//! (`chunks_done = k + 1`, optimistic concurrency) and deletes the chunk's rows. A
//! redelivered chunk finds `chunks_done > k` and only makes sure the next one is queued.
//!
//! Keys (partition `ORG#<org>#IMPORT#<id>`): the import at sort key `IMPORT`, its
//! unapplied chunks at `CHUNK#<000000>`. Both expire 30 days after the upload; chunk
//! items go as soon as they are applied, so the file's personal data lives only until
//! it is imported.

pub mod accept;
pub mod apply;
pub mod csv;
pub mod rows;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{ImportId, OrgId};
use crate::record::{Record, load};
use crate::services::Services;

pub use rows::RowError;

/// Errors kept on an import (the first ones, by row).
pub const MAX_ERRORS: usize = 100;
/// Rows per chunk: a chunk is one queue message's work (a few seconds on DynamoDB with
/// the worker's concurrency, well inside the 30-second function timeout).
pub const CHUNK_ROWS: usize = 500;
/// Largest chunk document (bytes of its rows as JSON): well under the 400 KB item limit.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// How long an import (and any chunk not applied) is kept.
pub const KEEP_DAYS: i64 = 30;

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Stored and queued; no chunk started yet.
    Queued,
    /// Chunks are being applied.
    Running,
    /// Every row was applied or refused.
    Completed,
    /// It could not be queued, or a chunk failed for good (see `failure`).
    Failed,
}

/// A contact import: the file's columns and the progress of its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactImport {
    /// Id.
    pub id: ImportId,
    /// Owner.
    pub org_id: OrgId,
    /// Status.
    pub status: ImportStatus,
    /// The header as uploaded.
    pub header: Vec<String>,
    /// What each header column means.
    pub columns: Vec<rows::Column>,
    /// Header columns that are not imported (as uploaded).
    pub ignored_columns: Vec<String>,
    /// Data rows in the file (blank lines are not rows).
    pub rows_total: u64,
    /// Rows applied or refused so far.
    pub rows_done: u64,
    /// Contacts created.
    pub created: u64,
    /// Contacts changed.
    pub updated: u64,
    /// Rows whose contact already held every value (nothing written).
    pub unchanged: u64,
    /// Rows refused (each has at least one entry in `errors`, up to the cap).
    pub failed: u64,
    /// The first [`MAX_ERRORS`] problems, by row.
    pub errors: Vec<RowError>,
    /// Chunks the file was stored in.
    pub chunks_total: u32,
    /// Chunks applied and counted (chunks apply in order: these are chunks `0..done`).
    pub chunks_done: u32,
    /// When the first attempt at chunk `chunks_done` began, while one is under way; a
    /// retry of that chunk uses it to count rows an interrupted attempt already applied.
    #[serde(default, with = "rfc3339_millis::option")]
    pub chunk_started_at: Option<DateTime<Utc>>,
    /// Why it failed.
    #[serde(default)]
    pub failure: Option<String>,
    /// SHA-256 of the uploaded bytes (an `Idempotency-Key` replay must carry the same).
    pub body_sha256: String,
    /// Whether the id derives from an `Idempotency-Key`.
    #[serde(default)]
    pub keyed: bool,
    /// Who uploaded it (the token's subject).
    #[serde(default)]
    pub created_by: Option<String>,
    /// The upload request, for following the import through the logs.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Uploaded.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
    /// Finished (completed or failed).
    #[serde(default, with = "rfc3339_millis::option")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

impl ContactImport {
    /// Partition of an import and its chunks.
    pub fn pk(org: &OrgId, id: &ImportId) -> String {
        format!("ORG#{org}#IMPORT#{id}")
    }

    /// Key of an import.
    pub fn key_of(org: &OrgId, id: &ImportId) -> (String, String) {
        (Self::pk(org, id), "IMPORT".to_owned())
    }

    /// The API path of an import (its `Location`).
    pub fn location(id: &ImportId) -> String {
        format!("/v1/contacts/imports/{id}")
    }

    /// The API view.
    pub fn view(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "status": self.status,
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "errors": self.errors,
            "ignored_columns": self.ignored_columns,
            "failure": self.failure,
            "created_by": self.created_by,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
            "finished_at": self.finished_at.map(fmt_time),
        })
    }
}

impl Record for ContactImport {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// A stored part of an import's file: up to [`CHUNK_ROWS`] records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportChunk {
    /// Owner.
    pub org_id: OrgId,
    /// The import.
    pub import_id: ImportId,
    /// Position (from 0).
    pub index: u32,
    /// The records: their numbers in the file and their fields.
    pub rows: Vec<(u32, Vec<String>)>,
    /// Expiry (Unix seconds), the import's.
    pub expires_at: i64,
}

impl ImportChunk {
    /// Key of a chunk.
    pub fn key_of(org: &OrgId, id: &ImportId, index: u32) -> (String, String) {
        (ContactImport::pk(org, id), format!("CHUNK#{index:06}"))
    }
}

impl Record for ImportChunk {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.import_id, self.index)
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// The body of an `import` queue message: which chunk to apply next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// Owner.
    pub org_id: OrgId,
    /// The import.
    pub import_id: ImportId,
    /// The chunk.
    pub chunk: u32,
    /// The upload request, for following the import through the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// One import of the caller's org (another org's id is not found, like a missing one).
pub async fn get(svc: &Services, org: &OrgId, id: &ImportId) -> Result<ContactImport> {
    let (pk, sk) = ContactImport::key_of(org, id);
    Ok(load::<ContactImport>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("import"))?
        .record)
}
