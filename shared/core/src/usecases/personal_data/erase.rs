//! Erasing a person: the contact, their conversations and messages with every look-up
//! holding their number, their notes and other per-contact records, sends still waiting
//! to reach them, and the raw webhook events that name them.
//!
//! **A job, in chunks.** A person with a long history has thousands of items, more than
//! one API request should touch, so an erasure is a job record
//! (`ORG#<org>#ERASURE#<contact>`) that remembers where it got to. `DELETE
//! /v1/contacts/{id}` creates it and runs the first chunk: a short history is gone before
//! the answer (204); a long one is answered 202 and `cron-erasure` continues it every
//! minute, chunk after chunk, until it is done (`GET /v1/contacts/{id}/erasure` shows the
//! progress). A schedule rather than a queue: a job that is stored is never lost (a failed
//! run is simply continued by the next one, with no hand-off that could fail between
//! chunks and no dead letters), running jobs are found through a small index
//! (`ERASURES#RUNNING` on `gsi1`), and the minute between runs costs nothing that matters
//! for a request the law gives a month to answer. Every step is idempotent and progress is
//! saved with optimistic concurrency, so two runners on one job (a retried DELETE during a
//! scheduled run) only repeat harmless work.
//!
//! **Order.** The first step removes what the API shows — the contact (with its look-up
//! items) and the conversations — so the person is gone from every view and no send can
//! be accepted for them; then each conversation's messages, each with its wamid look-up,
//! early statuses and idempotency record; then the contact's partition: notes and other
//! per-contact records, and the linked raw events. While the job runs the inbound
//! consumer holds back events naming the person (they come back from the queue later),
//! so nothing new is attached to someone half-erased. A last step checks that nothing is
//! left — an item written in a race with the job (a message stored a moment before the
//! erasure began, a send accepted just before its conversation went) sends the job
//! through its steps again.
//!
//! **What is kept.** Usage counters (per org and period) and audit entries hold no
//! person. Sends still waiting are failed and their content dropped, leaving a
//! content-free tombstone (no index keys, expiring after the queues' longest retention)
//! so the sender skips their queue messages instead of dead-lettering them; their plan
//! reservations are given back. Raw events younger than Meta's redelivery window become
//! content-free tombstones for the rest of it, so a redelivery is a duplicate rather than
//! a new message. The finished job itself (ids and counts) is kept 30 days so a repeated
//! DELETE answers the same way. After that the person's number is a stranger's: a new
//! message from it starts a new contact with nothing of the old one.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::{LINK_CONV, LINK_EVENT, contact_pk, conversations_of};
use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{ContactId, ConversationId, OrgId, WaId};
use crate::model::{
    Contact, Conversation, Direction, EventStatus, Message, MessageError, MessageStatus, Provider,
    WamidRoute, WebhookEvent,
};
use crate::record::{Record, Versioned, item, load};
use crate::services::Services;
use crate::store::{Condition, Index, IndexKey, Item, Position, Query, StoreError};
use crate::usecases::{billing, outbound};

/// Work units (items erased) of one chunk: a few seconds of DynamoDB calls, well inside
/// an API request's 10 seconds.
pub const CHUNK_ITEMS: usize = 500;
/// How long a finished erasure is remembered (a repeated DELETE answers 204 meanwhile).
pub const KEEP_DAYS: i64 = 30;
/// How long the tombstone of an unsent message stays: past the longest time a queue
/// keeps a message (14 days, the dead-letter queues').
pub const TOMBSTONE_DAYS: i64 = 15;
/// How long a raw event is kept as a tombstone after it was received: past Meta's
/// redelivery window (7 days).
pub const REDELIVERY_DAYS: i64 = 8;
/// Store calls in flight at once within a chunk.
const CONCURRENCY: usize = 16;
/// Attempts at a write that races another writer.
const ATTEMPTS: usize = 8;
/// `gsi1` partition listing running erasures (across orgs: there are few at any time).
const RUNNING_PK: &str = "ERASURES#RUNNING";
/// Error code of the tombstone of an unsent message.
pub const ERASED: &str = "contact_erased";

/// Where an erasure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    /// Chunks remain; `cron-erasure` continues it.
    Running,
    /// Nothing of the person is left.
    Completed,
}

/// The step an erasure is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Step {
    /// The contact (and its look-ups) and the conversations.
    Records,
    /// The messages of the conversation at this index of `conversations`.
    Messages {
        /// Index into the job's conversations.
        conversation: usize,
    },
    /// The contact's partition: notes, other per-contact records, linked raw events.
    Contact,
    /// Checking that nothing is left.
    Verify,
}

/// What an erasure has removed so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureCounts {
    /// Conversations.
    pub conversations: u64,
    /// Messages (sent, received and unsent).
    pub messages: u64,
    /// Of those, sends still waiting to go out, which were cancelled.
    pub pending_sends_cancelled: u64,
    /// Raw webhook events naming the person.
    pub webhook_events: u64,
    /// Look-ups holding their number or pointing at their messages: wamid look-ups,
    /// early statuses, idempotency records, pacing state, the contact's index items.
    pub lookups: u64,
    /// The contact record and the records kept per contact (notes, …).
    pub contact_records: u64,
}

/// An erasure job: ids, progress and counts — never the person's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    /// Owner.
    pub org_id: OrgId,
    /// The person erased.
    pub contact_id: ContactId,
    /// Where it is.
    pub status: ErasureStatus,
    /// Who asked (the token's subject).
    #[serde(default)]
    pub requested_by: Option<String>,
    /// When it was asked for.
    #[serde(with = "rfc3339_millis")]
    pub requested_at: DateTime<Utc>,
    /// Last progress.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
    /// When it finished.
    #[serde(default, with = "rfc3339_millis::option")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The person's conversations (found when it started, and on later passes).
    pub conversations: Vec<ConversationId>,
    /// The current step.
    pub step: Step,
    /// Where the current step's listing got to.
    #[serde(default)]
    pub position: Option<Position>,
    /// What has been removed.
    pub counts: ErasureCounts,
    /// Chunks run so far.
    pub chunks: u32,
    /// Extra passes made because something appeared in a race with the job.
    pub passes: u32,
    /// When the finished job is forgotten (Unix seconds).
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl Erasure {
    /// Key of the erasure of a contact (one at a time per contact; a later one replaces
    /// a finished one).
    pub fn key_of(org: &OrgId, contact: &ContactId) -> (String, String) {
        (format!("ORG#{org}#ERASURE#{contact}"), "ERASURE".to_owned())
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "contact_id": self.contact_id,
            "status": self.status,
            "requested_by": self.requested_by,
            "requested_at": fmt_time(self.requested_at),
            "updated_at": fmt_time(self.updated_at),
            "completed_at": self.completed_at.map(fmt_time),
            "progress": self.counts,
            "chunks": self.chunks,
        })
    }
}

impl Record for Erasure {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.contact_id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        (self.status == ErasureStatus::Running).then(|| {
            IndexKey::new(
                RUNNING_PK,
                format!(
                    "{}#{}#{}",
                    fmt_time(self.requested_at),
                    self.org_id,
                    self.contact_id
                ),
            )
        })
    }

    fn ttl(&self) -> Option<i64> {
        self.expires_at
    }
}

/// Whether an erasure of the contact is running (the inbound consumer holds back events
/// naming them meanwhile).
pub async fn is_running(svc: &Services, org: &OrgId, contact: &ContactId) -> Result<bool> {
    let (pk, sk) = Erasure::key_of(org, contact);
    Ok(load::<Erasure>(&*svc.store, &pk, &sk)
        .await?
        .is_some_and(|e| e.record.status == ErasureStatus::Running))
}

/// The erasure of a contact, running or finished (404 when there is none).
pub async fn status(svc: &Services, org: &OrgId, contact: &ContactId) -> Result<Erasure> {
    let (pk, sk) = Erasure::key_of(org, contact);
    Ok(load::<Erasure>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("erasure"))?
        .record)
}

/// How an erasure request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Requested {
    /// Nothing of the person is left (now, or since an earlier request).
    Done(Erasure),
    /// Chunks remain; `cron-erasure` continues the job.
    Continuing(Erasure),
}

/// How much of a job one call may do.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Chunks at most.
    pub chunks: usize,
    /// Work units per chunk.
    pub chunk_items: usize,
    /// No new chunk starts after this.
    pub deadline: Option<Instant>,
}

impl Budget {
    /// One chunk of `chunk_items` (what an API request does).
    pub fn one_chunk(chunk_items: usize) -> Self {
        Self {
            chunks: 1,
            chunk_items,
            deadline: None,
        }
    }
}

/// Asks for the erasure of a contact (`DELETE /v1/contacts/{id}`): starts it (or a new
/// one, when the contact exists again since an earlier erasure) and runs its first
/// chunk. Idempotent: a repeat while it runs answers the same job untouched, and `Done`
/// once the person is gone. An unknown contact (or another org's) is a 404.
pub async fn request(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    requested_by: Option<&str>,
    budget: Budget,
) -> Result<Requested> {
    let (pk, sk) = Erasure::key_of(org, contact);
    let (c_pk, c_sk) = Contact::key_of(org, contact);
    let mut started = false;
    for _ in 0..ATTEMPTS {
        let job = load::<Erasure>(&*svc.store, &pk, &sk).await?;
        let existing = svc.store.get(&c_pk, &c_sk).await?;
        match (job, existing) {
            // Asked again while it runs: the same job, as it is. `cron-erasure` alone
            // carries it on, so a client polling with DELETE adds no second runner.
            (Some(j), _) if j.record.status == ErasureStatus::Running => {
                return Ok(Requested::Continuing(j.record));
            }
            (Some(j), None) => return Ok(Requested::Done(j.record)),
            (None, None) => return Err(Error::not_found("contact")),
            (previous, Some(record)) => {
                let wa = wa_id_of(&record.data);
                let conversations = conversations_of(svc, org, contact, wa.as_ref()).await?;
                let now = svc.clock.now();
                let job = Erasure {
                    org_id: org.clone(),
                    contact_id: contact.clone(),
                    status: ErasureStatus::Running,
                    requested_by: requested_by.map(str::to_owned),
                    requested_at: now,
                    updated_at: now,
                    completed_at: None,
                    conversations,
                    step: Step::Records,
                    position: None,
                    counts: ErasureCounts::default(),
                    chunks: 0,
                    passes: 0,
                    expires_at: None,
                };
                let (version, condition) = match &previous {
                    Some(p) => (p.version + 1, Condition::Version(p.version)),
                    None => (1, Condition::NotExists),
                };
                match svc.store.put(item(&job, version)?, condition).await {
                    Ok(()) => {
                        info!(org_id = %org, contact_id = %contact, conversations = job.conversations.len(), "contact erasure started");
                        started = true;
                        break;
                    }
                    // A concurrent request started it: continue theirs.
                    Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    if !started {
        return Err(Error::Store(StoreError::Conflict));
    }
    let job = run(svc, org, contact, budget).await?;
    Ok(match job.status {
        ErasureStatus::Completed => Requested::Done(job),
        ErasureStatus::Running => Requested::Continuing(job),
    })
}

/// What a scheduled run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Running erasures found.
    pub found: usize,
    /// Of those, finished by this run.
    pub completed: usize,
    /// Chunks run.
    pub chunks: u32,
    /// Erasures that failed this time (retried by the next run).
    pub failures: usize,
}

/// Continues every running erasure, oldest first, chunk after chunk until `deadline`
/// (`cron-erasure`). A job that fails is logged and left for the next run; the others go
/// on. Returns an error after trying them all if any failed, so the schedule's alarm
/// tells someone an erasure is stuck.
pub async fn continue_running(
    svc: &Services,
    chunk_items: usize,
    deadline: Instant,
) -> Result<RunSummary> {
    let mut summary = RunSummary::default();
    let mut after = None;
    let mut last_error = None;
    loop {
        let page = svc
            .store
            .query(Query::index(Index::Gsi1, RUNNING_PK).after(after))
            .await?;
        for listed in &page.items {
            if Instant::now() >= deadline {
                return finish_run(summary, last_error);
            }
            let Ok(job) = listed.decode::<Erasure>() else {
                warn!(pk = %listed.pk, "an item in the running-erasures index does not decode");
                continue;
            };
            summary.found += 1;
            let budget = Budget {
                chunks: usize::MAX,
                chunk_items,
                deadline: Some(deadline),
            };
            let chunks_before = job.chunks;
            match run(svc, &job.org_id, &job.contact_id, budget).await {
                Ok(done) => {
                    summary.chunks += done.chunks.saturating_sub(chunks_before);
                    if done.status == ErasureStatus::Completed {
                        summary.completed += 1;
                    }
                }
                Err(e) => {
                    tracing::error!(org_id = %job.org_id, contact_id = %job.contact_id, error = %e, "a contact erasure failed; the next run continues it");
                    summary.failures += 1;
                    last_error = Some(e);
                }
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => return finish_run(summary, last_error),
        }
    }
}

fn finish_run(summary: RunSummary, last_error: Option<Error>) -> Result<RunSummary> {
    match last_error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Runs chunks of a job within `budget`, saving progress after each; returns the job as
/// it then is.
pub async fn run(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    budget: Budget,
) -> Result<Erasure> {
    let (pk, sk) = Erasure::key_of(org, contact);
    let mut done = 0;
    let mut conflicts = 0;
    let mut job = load_job(svc, &pk, &sk).await?;
    loop {
        if job.record.status == ErasureStatus::Completed
            || done >= budget.chunks
            || budget.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return Ok(job.record);
        }
        chunk(svc, &mut job.record, budget.chunk_items).await?;
        job.record.chunks += 1;
        job.record.updated_at = svc.clock.now();
        match svc.store.put(job.next_item()?, job.condition()).await {
            Ok(()) => {
                job.version += 1;
                done += 1;
                if job.record.status == ErasureStatus::Completed {
                    info!(org_id = %org, contact_id = %contact, chunks = job.record.chunks, passes = job.record.passes, counts = ?job.record.counts, "contact erased");
                    // Done and saved: no later run comes back to it, so a failure to
                    // publish is logged rather than failing a finished erasure.
                    crate::usecases::platform_events::publish_logged(
                        svc,
                        org,
                        crate::usecases::platform_events::EventType::ContactErased,
                        &[contact.as_str(), &fmt_time(job.record.requested_at)],
                        json!({"contact_id": contact}),
                    )
                    .await;
                }
            }
            // Another runner saved progress first; ours repeated idempotent work. Carry
            // on from theirs, unless it keeps happening (then theirs finishes the job).
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {
                conflicts += 1;
                job = load_job(svc, &pk, &sk).await?;
                if conflicts >= ATTEMPTS {
                    return Ok(job.record);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn load_job(svc: &Services, pk: &str, sk: &str) -> Result<Versioned<Erasure>> {
    load::<Erasure>(&*svc.store, pk, sk)
        .await?
        .ok_or_else(|| Error::Internal(format!("erasure {pk} is not stored")))
}

/// One chunk: steps in order until `items` work units are spent or the job is done.
/// Every step counts at least one unit, so a chunk always ends.
async fn chunk(svc: &Services, job: &mut Erasure, items: usize) -> Result<()> {
    let mut left = items.max(1);
    while left > 0 && job.status == ErasureStatus::Running {
        match job.step {
            Step::Records => {
                let n = records(svc, job).await?;
                left = left.saturating_sub(n.max(1));
                job.step = Step::Messages { conversation: 0 };
                job.position = None;
            }
            Step::Messages { conversation } => {
                let Some(id) = job.conversations.get(conversation).cloned() else {
                    job.step = Step::Contact;
                    job.position = None;
                    continue;
                };
                let (n, next) = messages(svc, job, &id, left.min(100)).await?;
                left = left.saturating_sub(n.max(1));
                job.position = next;
                if job.position.is_none() {
                    job.step = Step::Messages {
                        conversation: conversation + 1,
                    };
                }
            }
            Step::Contact => {
                let (n, more) = contact_partition(svc, job, left.min(100)).await?;
                left = left.saturating_sub(n.max(1));
                if !more {
                    job.step = Step::Verify;
                }
            }
            Step::Verify => {
                left = left.saturating_sub(1);
                match leftover(svc, job).await? {
                    None => {
                        let now = svc.clock.now();
                        job.status = ErasureStatus::Completed;
                        job.completed_at = Some(now);
                        job.expires_at = Some((now + Duration::days(KEEP_DAYS)).timestamp());
                        job.position = None;
                    }
                    Some(what) => {
                        warn!(org_id = %job.org_id, contact_id = %job.contact_id, found = what, passes = job.passes, "something of an erased contact appeared during the erasure; going through it again");
                        job.passes += 1;
                        job.step = Step::Records;
                        job.position = None;
                    }
                }
            }
        }
    }
    Ok(())
}

fn wa_id_of(contact: &Value) -> Option<WaId> {
    contact
        .get("wa_id")
        .and_then(Value::as_str)
        .and_then(|s| WaId::parse(s).ok())
}

/// The look-up items a contact record keeps outside its partition, which go with it.
fn contact_lookups(org: &OrgId, contact: &ContactId, record: &Value) -> Vec<(String, String)> {
    super::lookup_keys(org, contact, record)
}

/// The contact (with its look-ups) and the conversations. Returns the work done.
async fn records(svc: &Services, job: &mut Erasure) -> Result<usize> {
    let org = job.org_id.clone();
    let contact = job.contact_id.clone();
    let mut n = 0;
    let (c_pk, c_sk) = Contact::key_of(&org, &contact);
    let existing = svc.store.get(&c_pk, &c_sk).await?;
    let wa = existing.as_ref().and_then(|c| wa_id_of(&c.data));
    for id in conversations_of(svc, &org, &contact, wa.as_ref()).await? {
        if !job.conversations.contains(&id) {
            job.conversations.push(id);
        }
    }
    if let Some(record) = existing {
        // Look-ups first: once the record is gone nothing says where they are.
        for (pk, sk) in contact_lookups(&org, &contact, &record.data) {
            svc.store.delete(&pk, &sk, Condition::Always).await?;
            job.counts.lookups += 1;
            n += 1;
        }
        svc.store.delete(&c_pk, &c_sk, Condition::Always).await?;
        job.counts.contact_records += 1;
        n += 1;
    }
    for id in job.conversations.clone() {
        let (pk, sk) = Conversation::key_of(&org, &id);
        if let Some(c) = load::<Conversation>(&*svc.store, &pk, &sk).await? {
            // The pair's pacing state is keyed by the customer's number.
            let pair = format!("PACE#PAIR#{}#{}", c.record.phone_number_id, c.record.wa_id);
            if svc.store.get(&pair, "GCRA").await?.is_some() {
                svc.store.delete(&pair, "GCRA", Condition::Always).await?;
                job.counts.lookups += 1;
            }
            job.counts.conversations += 1;
        }
        // The conversation and whatever else is kept in its partition.
        n += delete_partition(svc, &pk).await?;
    }
    Ok(n)
}

/// Deletes every item of a table partition; returns how many there were.
async fn delete_partition(svc: &Services, pk: &str) -> Result<usize> {
    let mut n = 0;
    loop {
        let page = svc.store.query(Query::table(pk).consistent()).await?;
        if page.items.is_empty() {
            return Ok(n);
        }
        for item in &page.items {
            svc.store
                .delete(&item.pk, &item.sk, Condition::Always)
                .await?;
            n += 1;
        }
    }
}

/// One page of a conversation's messages. Returns the work done and where to go on.
async fn messages(
    svc: &Services,
    job: &mut Erasure,
    conversation: &ConversationId,
    limit: usize,
) -> Result<(usize, Option<Position>)> {
    let org = job.org_id.clone();
    let page = svc
        .store
        .query(
            Query::index(Index::Gsi1, Message::list_pk(&org, conversation))
                .limit(limit.max(1))
                .after(job.position.clone()),
        )
        .await?;
    // Futures built in a plain loop (not a closure) stay `Send` for any borrow, which
    // Lambda's runtime requires.
    let mut work = Vec::with_capacity(page.items.len());
    for listed in &page.items {
        work.push(erase_message(svc, &org, &listed.pk, &listed.sk));
    }
    let erased: Vec<Erased> = stream::iter(work)
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    for e in &erased {
        job.counts.messages += e.messages;
        job.counts.pending_sends_cancelled += e.cancelled;
        job.counts.lookups += e.lookups;
    }
    Ok((page.items.len(), page.next))
}

#[derive(Debug, Default)]
struct Erased {
    messages: u64,
    cancelled: u64,
    lookups: u64,
}

/// Erases one message: its look-ups first (once the message is gone nothing says where
/// they are), then the message — deleted, or for a send that may still be in a queue,
/// replaced by a content-free tombstone the sender skips.
async fn erase_message(svc: &Services, org: &OrgId, pk: &str, sk: &str) -> Result<Erased> {
    for _ in 0..ATTEMPTS {
        // The index may lag: what it lists is read back before anything is done.
        let Some(m) = load::<Message>(&*svc.store, pk, sk).await? else {
            return Ok(Erased::default());
        };
        let msg = &m.record;
        let mut lookups = 0;
        if let Some(wamid) = &msg.wamid {
            lookups += erase_wamid(svc, org, wamid).await?;
        }
        if msg.direction == Direction::Outbound {
            lookups += outbound::forget_idempotency_keys(svc, org, &msg.id).await? as u64;
        }
        let waiting = matches!(msg.status, MessageStatus::Queued | MessageStatus::Retrying);
        let maybe_queued = msg.direction == Direction::Outbound
            && (waiting || msg.status == MessageStatus::Failed);
        let written = if maybe_queued {
            svc.store
                .put(
                    tombstone(svc, msg, m.version + 1)?,
                    Condition::Version(m.version),
                )
                .await
        } else {
            svc.store
                .delete(pk, sk, Condition::Version(m.version))
                .await
        };
        match written {
            Ok(()) => {
                // A send that never went out gives back its plan reservation (a failed
                // one did so when it failed, unless it failed retryably and waits in
                // the DLQ for a redrive).
                let reserved = waiting
                    || (msg.status == MessageStatus::Failed
                        && msg.error.as_ref().is_some_and(|e| e.retryable));
                if let Some(period) = msg.reserved_period
                    && reserved
                    && maybe_queued
                {
                    billing::release_message(svc, org, period).await?;
                }
                return Ok(Erased {
                    messages: 1,
                    cancelled: u64::from(waiting && maybe_queued),
                    lookups,
                });
            }
            // The sender changed it meanwhile (it may have a wamid now): again.
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// The tombstone of a send that may still be in a queue: failed for good, no content,
/// no index keys (it is in no list), expiring once no queue can hold it any more.
fn tombstone(svc: &Services, msg: &Message, version: u64) -> Result<Item> {
    let now = svc.clock.now();
    let mut t = msg.clone();
    t.content = json!({"type": "erased"});
    t.status = MessageStatus::Failed;
    t.status_times.record(MessageStatus::Failed, now);
    t.error = Some(MessageError {
        code: 0,
        title: Some(ERASED.into()),
        message: Some("the contact was erased before the message was sent".into()),
        details: None,
        retryable: false,
    });
    t.wamid = None;
    t.reply_to = None;
    t.sent_by = None;
    t.scheduled_at_us = None;
    t.next_attempt_at = None;
    t.awaiting_queue = false;
    t.reserved_period = None;
    t.updated_at = now;
    let mut it = item(&t, version)?;
    it.gsi1 = None;
    it.gsi2 = None;
    it.ttl = Some((now + Duration::days(TOMBSTONE_DAYS)).timestamp());
    Ok(it)
}

/// Deletes a wamid's look-up and early statuses (the org's only: wamids are global).
async fn erase_wamid(svc: &Services, org: &OrgId, wamid: &str) -> Result<u64> {
    let (pk, _) = WamidRoute::key_of(wamid);
    let page = svc
        .store
        .query(Query::table(pk.clone()).consistent())
        .await?;
    let mut n = 0;
    for item in &page.items {
        if item.data.get("org_id").and_then(Value::as_str) == Some(org.as_str()) {
            svc.store
                .delete(&item.pk, &item.sk, Condition::Always)
                .await?;
            n += 1;
        }
    }
    Ok(n)
}

/// One page of the contact's partition: per-contact records (notes, …), links and the
/// raw events they point at. Deleted items leave the (consistent) listing, so each page
/// starts from the top. Returns the work done and whether more may remain.
async fn contact_partition(
    svc: &Services,
    job: &mut Erasure,
    limit: usize,
) -> Result<(usize, bool)> {
    let org = job.org_id.clone();
    let page = svc
        .store
        .query(
            Query::table(contact_pk(&org, &job.contact_id))
                .limit(limit.max(1))
                .consistent(),
        )
        .await?;
    let now = svc.clock.now();
    let mut work = Vec::with_capacity(page.items.len());
    for it in &page.items {
        work.push(remove_from_contact(svc, &org, it, now));
    }
    let done: Vec<Removed> = stream::iter(work)
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    for r in done {
        match r {
            Removed::Event(true) => job.counts.webhook_events += 1,
            Removed::Record => job.counts.contact_records += 1,
            Removed::Event(false) | Removed::Link => {}
            Removed::Contact(lookups) => {
                job.counts.contact_records += 1;
                job.counts.lookups += lookups;
            }
        }
    }
    Ok((page.items.len(), page.next.is_some()))
}

enum Removed {
    /// A raw event (and its link); whether the event was still stored.
    Event(bool),
    /// A conversation link.
    Link,
    /// The contact record (stored again since the first step), with its look-ups.
    Contact(u64),
    /// Another per-contact record.
    Record,
}

async fn remove_from_contact(
    svc: &Services,
    org: &OrgId,
    it: &Item,
    now: DateTime<Utc>,
) -> Result<Removed> {
    let removed = if let Some(rest) = it.sk.strip_prefix(LINK_EVENT) {
        let existed = match rest.split_once('#') {
            Some((provider, key)) => match Provider::parse(provider) {
                Some(p) => erase_event(svc, p, key, now).await?,
                None => false,
            },
            None => false,
        };
        Removed::Event(existed)
    } else if it.sk.starts_with(LINK_CONV) {
        Removed::Link
    } else if it
        .sk
        .starts_with(crate::usecases::appointments::Appointment::SK_PREFIX)
    {
        // An appointment: its pointer, and the reminder emails it sent (they hold the
        // address and the appointment's details until they expire).
        if let Ok(a) = it.decode::<crate::usecases::appointments::Appointment>() {
            let (ppk, psk) = crate::usecases::appointments::Appointment::pointer_key(org, &a.id);
            svc.store.delete(&ppk, &psk, Condition::Always).await?;
            for email in a
                .reminders
                .iter()
                .filter_map(|r| r.email.as_ref()?.email_id.as_ref())
            {
                let (epk, esk) = crate::usecases::email::Email::key_of(org, email);
                svc.store.delete(&epk, &esk, Condition::Always).await?;
            }
        }
        Removed::Record
    } else if it.sk == "CONTACT" {
        let contact = it
            .data
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| ContactId::parse(s).ok());
        let mut n = 0;
        if let Some(contact) = contact {
            for (pk, sk) in contact_lookups(org, &contact, &it.data) {
                svc.store.delete(&pk, &sk, Condition::Always).await?;
                n += 1;
            }
        }
        Removed::Contact(n)
    } else {
        Removed::Record
    };
    svc.store.delete(&it.pk, &it.sk, Condition::Always).await?;
    Ok(removed)
}

/// Erases a raw event: within Meta's redelivery window it becomes a content-free
/// tombstone (a redelivery then reads as a duplicate instead of bringing the message
/// back), after it it is deleted. Returns whether it was stored.
async fn erase_event(
    svc: &Services,
    provider: Provider,
    key: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (pk, sk) = WebhookEvent::key_of(provider, key);
    let Some(event) = load::<WebhookEvent>(&*svc.store, &pk, &sk).await? else {
        return Ok(false);
    };
    let until = event.record.received_at + Duration::days(REDELIVERY_DAYS);
    if until > now {
        let mut t = event.record;
        t.payload = String::new();
        t.group_id = "erased".into();
        t.status = EventStatus::Processed;
        t.note = Some("erased with the contact it named".into());
        t.updated_at = now;
        t.expires_at = Some(until.timestamp());
        svc.store
            .put(item(&t, event.version + 1)?, Condition::Always)
            .await?;
    } else {
        svc.store.delete(&pk, &sk, Condition::Always).await?;
    }
    Ok(true)
}

/// What is left of the person, if anything (a name for the log, never data).
async fn leftover(svc: &Services, job: &Erasure) -> Result<Option<&'static str>> {
    let org = &job.org_id;
    let (c_pk, c_sk) = Contact::key_of(org, &job.contact_id);
    if svc.store.get(&c_pk, &c_sk).await?.is_some() {
        return Ok(Some("contact"));
    }
    let rest = svc
        .store
        .query(Query::table(c_pk).limit(1).consistent())
        .await?;
    if !rest.items.is_empty() {
        return Ok(Some("contact partition item"));
    }
    for id in &job.conversations {
        let (pk, sk) = Conversation::key_of(org, id);
        if svc.store.get(&pk, &sk).await?.is_some() {
            return Ok(Some("conversation"));
        }
        // The index may still list deleted messages for a moment: read each back.
        let listed = svc
            .store
            .query(Query::index(Index::Gsi1, Message::list_pk(org, id)).limit(25))
            .await?;
        for it in &listed.items {
            if svc.store.get(&it.pk, &it.sk).await?.is_some() {
                return Ok(Some("message"));
            }
        }
    }
    Ok(None)
}
