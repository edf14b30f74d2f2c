//! Working the inbox: a conversation is the ticket. Agents change its status, assignee,
//! labels and priority (`PATCH /v1/conversations/{id}`), list conversations narrowed by
//! them, and a scheduled sweep reopens snoozed conversations when their time comes.
//!
//! Every change to those fields is one transaction: the conversation, under its version
//! (optimistic concurrency, and the client's `If-Match`), with the list entries that keep
//! the filtered lists a query (see [`crate::triage`]). A filtered list queries the most
//! selective of its filters' lists and checks the other filters on the records, so a
//! page may come back short, even empty, with a cursor: the client keeps paging until
//! the cursor is `null`.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures::future::try_join_all;
use serde_json::{Map, Value};
use tracing::{debug, info};

use crate::clock::fmt_time;
use crate::error::{Error, Result};
use crate::ids::{ConversationId, OrgId};
use crate::model::{Conversation, org_scope};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Versioned, load};
use crate::services::Services;
use crate::store::{Index, Position, Query, SortKey, StoreError, Write};
use crate::triage::{
    ConversationStatus, ListEntry, ListFilter, MAX_LABELS, Priority, SNOOZE_SHARDS, entry_writes,
    normalise_label, snoozed_pk, valid_assignee,
};
use crate::usecases::platform_events::{self, EventType};

/// Furthest ahead a snooze may be set.
pub const MAX_SNOOZE_DAYS: i64 = 365;

/// Attempts at a write that lost a race with another writer (without `If-Match`).
const ATTEMPTS: usize = 8;

/// Most index entries one filtered page reads, as a multiple of its `limit`: bounds the
/// records read for a page whose other filters match little.
const EXAMINE_ROUNDS: usize = 5;

// ------------------------------------------------------------------ preconditions

/// The version an `If-Match` header names: `None` when absent or `*` (any current
/// version); a 422 naming `If-Match` when it is not a version this API handed out
/// (`"7"`, `7` or the weak `W/"7"`).
pub fn parse_if_match(header: Option<&str>) -> Result<Option<u64>> {
    let Some(raw) = header.map(str::trim) else {
        return Ok(None);
    };
    if raw == "*" {
        return Ok(None);
    }
    let tag = raw.strip_prefix("W/").unwrap_or(raw);
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    match tag.parse::<u64>() {
        Ok(v) if v > 0 => Ok(Some(v)),
        _ => Err(Error::validation(
            "If-Match",
            "invalid_if_match",
            "If-Match must be the version of the resource, as its `version` and ETag show it",
        )),
    }
}

/// The `ETag` of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The outcome of a change made under a precondition.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed<T> {
    /// Done (or nothing to change): the record with its version now.
    Done(Versioned<T>),
    /// `If-Match` named another version than the current one (412).
    VersionMismatch {
        /// The current version.
        current: u64,
    },
}

// ------------------------------------------------------------------ the patch

/// A validated `PATCH /v1/conversations/{id}` body: `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationPatch {
    /// New status, with `snoozed_until` when snoozed.
    pub status: Option<ConversationStatus>,
    /// When a snooze ends (only with `status: snoozed`).
    pub snoozed_until: Option<DateTime<Utc>>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<String>>,
    /// Replaces the labels.
    pub labels: Option<Vec<String>>,
    /// New priority.
    pub priority: Option<Priority>,
}

const PATCH_FIELDS: [&str; 5] = ["status", "snoozed_until", "assignee", "labels", "priority"];

fn string<'a>(v: &'a Value, field: &str, code: &'static str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| Error::validation(field, code, format!("{field} must be a string")))
}

/// Refuses any key of `body` that is not in `known`, naming it.
pub fn refuse_unknown_fields(body: &Map<String, Value>, known: &[&str]) -> Result<()> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(Error::validation(
            k.clone(),
            "unknown_field",
            format!(
                "`{k}` is not a field of this request; it takes {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// A request body that must be a JSON object of `known` fields only: 422 `invalid_body`
/// for anything else, [`refuse_unknown_fields`] for a key it does not take.
pub fn object_of_fields<'a>(body: &'a Value, known: &[&str]) -> Result<&'a Map<String, Value>> {
    let map = body.as_object().ok_or_else(|| {
        Error::validation("body", "invalid_body", "the body must be a JSON object")
    })?;
    refuse_unknown_fields(map, known)?;
    Ok(map)
}

/// Validates a patch body at `now` (a snooze must end in the future). Every problem is a
/// 422 naming its field.
pub fn parse_patch(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<ConversationPatch> {
    refuse_unknown_fields(body, &PATCH_FIELDS)?;
    let mut patch = ConversationPatch::default();
    if let Some(v) = body.get("status") {
        let s = string(v, "status", "invalid_status")?;
        patch.status = Some(ConversationStatus::parse(s).ok_or_else(|| {
            Error::validation(
                "status",
                "invalid_status",
                "status must be open, pending, resolved or snoozed",
            )
        })?);
    }
    match (patch.status, body.get("snoozed_until")) {
        (Some(ConversationStatus::Snoozed), None | Some(Value::Null)) => {
            return Err(Error::validation(
                "snoozed_until",
                "required",
                "snoozed_until (an RFC 3339 time in the future) is required with status snoozed",
            ));
        }
        (Some(ConversationStatus::Snoozed), Some(v)) => {
            let text = string(v, "snoozed_until", "invalid_snoozed_until")?;
            let until = DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    Error::validation(
                        "snoozed_until",
                        "invalid_snoozed_until",
                        "snoozed_until must be an RFC 3339 time, e.g. 2026-01-31T09:00:00Z",
                    )
                })?;
            if until <= now {
                return Err(Error::validation(
                    "snoozed_until",
                    "invalid_snoozed_until",
                    "snoozed_until must be in the future",
                ));
            }
            if until > now + Duration::days(MAX_SNOOZE_DAYS) {
                return Err(Error::validation(
                    "snoozed_until",
                    "invalid_snoozed_until",
                    format!("snoozed_until may be at most {MAX_SNOOZE_DAYS} days ahead"),
                ));
            }
            // Stored, compared and shown at the API's precision.
            patch.snoozed_until = Some(until.trunc_subsecs(3));
        }
        (_, Some(_)) => {
            return Err(Error::validation(
                "snoozed_until",
                "not_allowed",
                "snoozed_until goes only with status snoozed",
            ));
        }
        (_, None) => {}
    }
    if let Some(v) = body.get("assignee") {
        patch.assignee = Some(match v {
            Value::Null => None,
            Value::String(s) if valid_assignee(s) => Some(s.clone()),
            _ => {
                return Err(Error::validation(
                    "assignee",
                    "invalid_assignee",
                    "assignee must be a user id (1-256 characters, no spaces or `#`) or null",
                ));
            }
        });
    }
    if let Some(v) = body.get("labels") {
        let Value::Array(list) = v else {
            return Err(Error::validation(
                "labels",
                "invalid_labels",
                "labels must be an array of strings",
            ));
        };
        let mut labels: Vec<String> = Vec::with_capacity(list.len());
        for (i, l) in list.iter().enumerate() {
            let field = format!("labels[{i}]");
            let label = l.as_str().and_then(normalise_label).ok_or_else(|| {
                Error::validation(
                    field.clone(),
                    "invalid_label",
                    format!("{field} must be 1-64 characters of letters, digits, '-', '_' and ':'"),
                )
            })?;
            // Labels that normalise alike are one label.
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        if labels.len() > MAX_LABELS {
            return Err(Error::validation(
                "labels",
                "too_many_labels",
                format!("a conversation carries at most {MAX_LABELS} labels"),
            ));
        }
        patch.labels = Some(labels);
    }
    if let Some(v) = body.get("priority") {
        let s = string(v, "priority", "invalid_priority")?;
        patch.priority = Some(Priority::parse(s).ok_or_else(|| {
            Error::validation(
                "priority",
                "invalid_priority",
                "priority must be low, normal, high or urgent",
            )
        })?);
    }
    Ok(patch)
}

/// Applies a patch to a record; returns whether anything changed.
fn apply(c: &mut Conversation, patch: &ConversationPatch, now: DateTime<Utc>) -> bool {
    let before = (
        c.status,
        c.snoozed_until,
        c.assignee.clone(),
        c.labels.clone(),
        c.priority,
    );
    if let Some(status) = patch.status {
        c.status = status;
        // A snooze time belongs to the snooze: any other status drops it.
        c.snoozed_until = patch
            .snoozed_until
            .filter(|_| status == ConversationStatus::Snoozed);
    }
    if let Some(assignee) = &patch.assignee {
        c.assignee = assignee.clone();
    }
    if let Some(labels) = &patch.labels {
        c.labels = labels.clone();
    }
    if let Some(priority) = patch.priority {
        c.priority = priority;
    }
    let changed = before
        != (
            c.status,
            c.snoozed_until,
            c.assignee.clone(),
            c.labels.clone(),
            c.priority,
        );
    if changed {
        c.updated_at = now;
    }
    changed
}

/// The transaction that writes a changed conversation with its list entries; the
/// conversation's version condition is write 0.
fn conversation_writes(
    before: &Conversation,
    after: &Versioned<Conversation>,
) -> Result<Vec<Write>, StoreError> {
    let mut writes = vec![Write::put(after.next_item()?, after.condition())];
    writes.extend(entry_writes(Some(before), &after.record)?);
    Ok(writes)
}

/// Changes a conversation with `change` (which says whether it changed anything) and
/// writes it with its list entries, retrying on the fresh record when another writer
/// came first. `None` when the conversation is gone; the record as read when `change`
/// changed nothing. The record after comes with the version it now has.
pub(crate) async fn modify_conversation<F>(
    svc: &Services,
    org: &OrgId,
    id: &ConversationId,
    change: F,
) -> Result<Option<(Conversation, Versioned<Conversation>)>>
where
    F: Fn(&mut Conversation) -> bool + Send + Sync,
{
    let (pk, sk) = Conversation::key_of(org, id);
    for _ in 0..ATTEMPTS {
        let Some(mut current) = load::<Conversation>(&*svc.store, &pk, &sk).await? else {
            return Ok(None);
        };
        let before = current.record.clone();
        if !change(&mut current.record) {
            return Ok(Some((before, current)));
        }
        current.record.updated_at = svc.clock.now();
        match svc
            .store
            .transact(conversation_writes(&before, &current)?)
            .await
        {
            Ok(()) => {
                current.version += 1;
                return Ok(Some((before, current)));
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// Changes a conversation's workflow fields. With `if_match`, a conversation at another
/// version is a [`Changed::VersionMismatch`] (and so is losing a race to another writer,
/// whose change the client has not seen); without it, a lost race is retried on the
/// fresh record.
pub async fn update_conversation(
    svc: &Services,
    org: &OrgId,
    id: &ConversationId,
    patch: &ConversationPatch,
    if_match: Option<u64>,
    by: Option<&str>,
) -> Result<Changed<Conversation>> {
    let (pk, sk) = Conversation::key_of(org, id);
    for _ in 0..ATTEMPTS {
        let mut current = load::<Conversation>(&*svc.store, &pk, &sk)
            .await?
            .ok_or(Error::not_found("conversation"))?;
        if if_match.is_some_and(|v| v != current.version) {
            return Ok(Changed::VersionMismatch {
                current: current.version,
            });
        }
        let before = current.record.clone();
        if !apply(&mut current.record, patch, svc.clock.now()) {
            return Ok(Changed::Done(current));
        }
        match svc
            .store
            .transact(conversation_writes(&before, &current)?)
            .await
        {
            Ok(()) => {
                info!(org_id = %org, conversation_id = %id, status = current.record.status.as_str(), priority = current.record.priority.as_str(), labels = current.record.labels.len(), assigned = current.record.assignee.is_some(), "conversation updated");
                current.version += 1;
                // Written: a failed publish is logged, the caller's answer stands.
                publish_updated_logged(svc, &before, &current.record, current.version).await;
                if let Some(assignee) = current.record.assignee.as_deref()
                    && before.assignee.as_deref() != Some(assignee)
                {
                    crate::usecases::notifications::on_assigned(svc, &current.record, assignee, by)
                        .await;
                }
                return Ok(Changed::Done(current));
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {
                if if_match.is_some() {
                    let now = load::<Conversation>(&*svc.store, &pk, &sk).await?;
                    return match now {
                        Some(v) => Ok(Changed::VersionMismatch { current: v.version }),
                        None => Err(Error::not_found("conversation")),
                    };
                }
                debug!(conversation_id = %id, "conversation changed concurrently; retrying");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

// ------------------------------------------------------------------ events

/// The workflow fields a change moved, as the API names them.
pub(crate) fn changed_fields(before: &Conversation, after: &Conversation) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.status != after.status {
        changed.push("status");
    }
    if before.snoozed_until != after.snoozed_until {
        changed.push("snoozed_until");
    }
    if before.assignee != after.assignee {
        changed.push("assignee");
    }
    if before.labels != after.labels {
        changed.push("labels");
    }
    if before.priority != after.priority {
        changed.push("priority");
    }
    changed
}

/// The `conversation.updated` event of a change (its fact: the conversation at the
/// version the change wrote), or `None` when no workflow field moved.
fn updated_event(
    before: &Conversation,
    after: &Conversation,
    version: u64,
) -> Option<(String, Value)> {
    let changed = changed_fields(before, after);
    if changed.is_empty() {
        return None;
    }
    let data = serde_json::json!({
        "conversation_id": after.id,
        "status": after.status.as_str(),
        "assignee": after.assignee,
        "labels": after.labels,
        "priority": after.priority.as_str(),
        "snoozed_until": after.snoozed_until.map(fmt_time),
        "version": version,
        "changed": changed,
    });
    Some((version.to_string(), data))
}

/// Publishes `conversation.updated` for a written change that moved a workflow field
/// (status, snooze, assignee, labels, priority); nothing for any other change. For queue
/// consumers: the error goes back to the caller.
pub(crate) async fn publish_updated(
    svc: &Services,
    before: &Conversation,
    after: &Conversation,
    version: u64,
) -> Result<()> {
    if let Some((v, data)) = updated_event(before, after, version) {
        platform_events::publish(
            svc,
            &after.org_id,
            EventType::ConversationUpdated,
            &[after.id.as_str(), &v],
            data,
        )
        .await?;
    }
    Ok(())
}

/// [`publish_updated`] for callers whose change stands whatever happens to the event
/// (a request already written, a sweep that will not find it again): a failure is logged.
async fn publish_updated_logged(
    svc: &Services,
    before: &Conversation,
    after: &Conversation,
    version: u64,
) {
    if let Some((v, data)) = updated_event(before, after, version) {
        platform_events::publish_logged(
            svc,
            &after.org_id,
            EventType::ConversationUpdated,
            &[after.id.as_str(), &v],
            data,
        )
        .await;
    }
}

// ------------------------------------------------------------------ filtered lists

/// The filters of `GET /v1/conversations`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilters {
    /// Each filter narrows the list; all must hold.
    pub filters: Vec<ListFilter>,
}

impl ConversationFilters {
    /// Parses the query values. `assignee` takes `me` (the caller, `me` naming the
    /// token's subject), `none` or a user id; `label` is normalised like stored labels.
    pub fn parse(
        status: Option<&str>,
        assignee: Option<&str>,
        label: Option<&str>,
        priority: Option<&str>,
        me: Option<&str>,
    ) -> Result<Self> {
        let mut filters = Vec::new();
        if let Some(s) = status {
            let status = ConversationStatus::parse(s).ok_or_else(|| {
                Error::validation(
                    "status",
                    "invalid_status",
                    "status must be open, pending, resolved or snoozed",
                )
            })?;
            filters.push(ListFilter::Status(status));
        }
        if let Some(a) = assignee {
            filters.push(match a {
                "none" => ListFilter::Unassigned,
                "me" => ListFilter::Assignee(
                    me.filter(|u| valid_assignee(u))
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            Error::validation(
                                "assignee",
                                "invalid_assignee",
                                "assignee=me needs a token that names its user",
                            )
                        })?,
                ),
                user if valid_assignee(user) => ListFilter::Assignee(user.to_owned()),
                _ => {
                    return Err(Error::validation(
                        "assignee",
                        "invalid_assignee",
                        "assignee must be me, none or a user id",
                    ));
                }
            });
        }
        if let Some(l) = label {
            let label = normalise_label(l).ok_or_else(|| {
                Error::validation(
                    "label",
                    "invalid_label",
                    "label must be 1-64 characters of letters, digits, '-', '_' and ':'",
                )
            })?;
            filters.push(ListFilter::Label(label));
        }
        if let Some(p) = priority {
            let priority = Priority::parse(p).ok_or_else(|| {
                Error::validation(
                    "priority",
                    "invalid_priority",
                    "priority must be low, normal, high or urgent",
                )
            })?;
            filters.push(ListFilter::Priority(priority));
        }
        Ok(Self { filters })
    }

    /// Adds the `sentiment` filter (`positive`, `neutral`, `negative`).
    pub fn with_sentiment(mut self, sentiment: Option<&str>) -> Result<Self> {
        if let Some(s) = sentiment {
            let s = crate::usecases::ai::Sentiment::parse(s).ok_or_else(|| {
                Error::validation(
                    "sentiment",
                    "invalid_sentiment",
                    "sentiment must be positive, neutral or negative",
                )
            })?;
            self.filters.push(ListFilter::Sentiment(s));
        }
        Ok(self)
    }

    /// Whether no filter is set (the plain inbox).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// The filter whose list is queried: the one expected to be smallest.
    pub fn driver(&self) -> Option<&ListFilter> {
        self.filters.iter().min_by_key(|f| f.expected_size())
    }
}

/// Reads the conversation a list entry names (`None` if it is gone).
async fn read_listed(
    svc: &Services,
    org: &OrgId,
    it: &crate::store::Item,
) -> Result<Option<Versioned<Conversation>>> {
    let entry: ListEntry = it.decode()?;
    let (pk, sk) = Conversation::key_of(org, &entry.conversation_id);
    Ok(load::<Conversation>(&*svc.store, &pk, &sk).await?)
}

fn entry_position(item: &crate::store::Item) -> Position {
    Position {
        pk: item.pk.clone(),
        sk: item.sk.clone(),
        index_sk: item.gsi1.as_ref().map(|k| k.sk.clone()),
    }
}

/// Conversations, newest activity first, narrowed by `filters` (without filters: the
/// plain inbox, [`crate::usecases::inbox::list_conversations`]). The most selective
/// filter's list is queried; each listed conversation is read and kept when every filter
/// holds on the record itself, which also drops what the index shows a moment late. A
/// page holds at most `limit` conversations after reading at most
/// `limit × EXAMINE_ROUNDS` entries, so it may be short, even empty, with a cursor.
pub async fn list_conversations(
    svc: &Services,
    org: &OrgId,
    filters: &ConversationFilters,
    page: PageRequest,
) -> Result<Paged<Value>> {
    let Some(driver) = filters.driver() else {
        return crate::usecases::inbox::list_conversations(svc, org, page).await;
    };
    let now = svc.clock.now();
    let query = page.apply_to(
        Query::index(Index::Gsi1, driver.list_pk(org)).descending(),
        &org_scope(org),
    )?;
    let limit = query.limit;
    let mut after = query.after.clone();
    let mut items = Vec::new();
    for _ in 0..EXAMINE_ROUNDS {
        let listed = svc
            .store
            .query(query.clone().after(after.clone()).limit(limit))
            .await?;
        // Futures from a named `async fn` in a plain loop stay `Send` for any borrow (a
        // closure's would not, and the Lambda runtime needs `Send`).
        let mut reads = Vec::with_capacity(listed.items.len());
        for it in &listed.items {
            reads.push(read_listed(svc, org, it));
        }
        let records = try_join_all(reads).await?;
        for (it, found) in listed.items.iter().zip(records) {
            after = Some(entry_position(it));
            if let Some(c) = found
                && filters.filters.iter().all(|f| f.matches(&c.record))
            {
                items.push(c.record.view_versioned(now, c.version));
                if items.len() == limit {
                    // Full: continue after the last entry read (more may follow).
                    return Ok(Paged {
                        items,
                        next_cursor: after.as_ref().map(encode_cursor),
                    });
                }
            }
        }
        if listed.next.is_none() {
            return Ok(Paged {
                items,
                next_cursor: None,
            });
        }
        after = listed.next;
    }
    Ok(Paged {
        items,
        next_cursor: after.as_ref().map(encode_cursor),
    })
}

/// Writes the list entries of every conversation of `org` (conversations stored before
/// the entries existed have none, so the filtered lists miss them until their next
/// message or patch). Each conversation's entries are written in a transaction that
/// checks the version it was read at, so a conversation changed meanwhile (whose writer
/// wrote its entries) is left to that writer. Returns how many were indexed.
pub async fn reindex_conversations(svc: &Services, org: &OrgId) -> Result<usize> {
    let mut done = 0;
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi1, Conversation::list_pk(org))
                    .limit(100)
                    .after(after),
            )
            .await?;
        for it in &page.items {
            let (pk, sk) = (it.pk.clone(), it.sk.clone());
            let Some(current) = load::<Conversation>(&*svc.store, &pk, &sk).await? else {
                continue;
            };
            let mut writes = vec![Write::Check {
                pk,
                sk,
                condition: crate::store::Condition::Version(current.version),
            }];
            writes.extend(entry_writes(None, &current.record)?);
            match svc.store.transact(writes).await {
                Ok(()) => done += 1,
                Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => return Ok(done),
        }
    }
}

// ------------------------------------------------------------------ the snooze sweep

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Conversations reopened.
    pub reopened: usize,
    /// Listed as due but changed since (reopened by a message, snoozed again, resolved).
    pub skipped: usize,
}

/// Reopens snoozed conversations whose `snoozed_until` has passed, at most `limit` per
/// run (the next run continues). Each is re-read and reopened under its version, so a
/// conversation that changed since the index listed it (a customer's message reopened
/// it, an agent snoozed it again) is left as it is.
pub async fn reopen_due_snoozes(svc: &Services, limit: usize) -> Result<Swept> {
    let now = svc.clock.now();
    // `<until>#<id>` sort keys: every snooze due at `now`, inclusive.
    let upto = format!("{}#~", fmt_time(now));
    let mut swept = Swept::default();
    for shard in 0..SNOOZE_SHARDS {
        let mut after = None;
        loop {
            let budget = limit.saturating_sub(swept.reopened + swept.skipped);
            if budget == 0 {
                return Ok(swept);
            }
            let page = svc
                .store
                .query(
                    Query::index(Index::Gsi2, snoozed_pk(shard))
                        .sort(SortKey::AtMost(upto.clone()))
                        .limit(budget.min(100))
                        .after(after),
                )
                .await?;
            for it in &page.items {
                let listed: Conversation = it.decode()?;
                if reopen_if_due(svc, &listed.org_id, &listed.id, now).await? {
                    swept.reopened += 1;
                } else {
                    swept.skipped += 1;
                }
            }
            match page.next {
                Some(p) => after = Some(p),
                None => break,
            }
        }
    }
    Ok(swept)
}

/// Reopens one conversation if it is still snoozed and due at `now`.
async fn reopen_if_due(
    svc: &Services,
    org: &OrgId,
    id: &ConversationId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (pk, sk) = Conversation::key_of(org, id);
    for _ in 0..ATTEMPTS {
        let Some(mut current) = load::<Conversation>(&*svc.store, &pk, &sk).await? else {
            return Ok(false);
        };
        let due = current.record.status == ConversationStatus::Snoozed
            && current.record.snoozed_until.is_none_or(|t| t <= now);
        if !due {
            return Ok(false);
        }
        let before = current.record.clone();
        current.record.reopen(now);
        match svc
            .store
            .transact(conversation_writes(&before, &current)?)
            .await
        {
            Ok(()) => {
                info!(org_id = %org, conversation_id = %id, "snooze over; conversation reopened");
                // Written, and the next run will not find it again: logged if it fails.
                publish_updated_logged(svc, &before, &current.record, current.version + 1).await;
                return Ok(true);
            }
            // Changed meanwhile: look again (a message may have reopened it already).
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn field_of(body: Value) -> String {
        let Value::Object(m) = body else { panic!() };
        match parse_patch(&m, now()) {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn patches_validate_naming_the_field() {
        assert_eq!(field_of(json!({"colour": "red"})), "colour");
        assert_eq!(field_of(json!({"status": "closed"})), "status");
        assert_eq!(field_of(json!({"status": "snoozed"})), "snoozed_until");
        assert_eq!(
            field_of(json!({"status": "snoozed", "snoozed_until": "2026-03-01T11:00:00Z"})),
            "snoozed_until"
        );
        assert_eq!(
            field_of(json!({"status": "snoozed", "snoozed_until": "tomorrow"})),
            "snoozed_until"
        );
        assert_eq!(
            field_of(json!({"status": "open", "snoozed_until": "2026-03-02T11:00:00Z"})),
            "snoozed_until"
        );
        assert_eq!(
            field_of(json!({"snoozed_until": "2026-03-02T11:00:00Z"})),
            "snoozed_until"
        );
        assert_eq!(field_of(json!({"assignee": 5})), "assignee");
        assert_eq!(field_of(json!({"assignee": "a#b"})), "assignee");
        assert_eq!(field_of(json!({"labels": "vip"})), "labels");
        assert_eq!(field_of(json!({"labels": ["ok", "not ok"]})), "labels[1]");
        let many: Vec<String> = (0..21).map(|i| format!("l{i}")).collect();
        assert_eq!(field_of(json!({ "labels": many })), "labels");
        assert_eq!(field_of(json!({"priority": "critical"})), "priority");
    }

    #[test]
    fn a_valid_patch_normalises() {
        let Value::Object(m) = json!({
            "status": "snoozed",
            "snoozed_until": "2026-03-01T14:00:00.123456+01:00",
            "assignee": null,
            "labels": ["VIP", "vip", "order:late"],
            "priority": "urgent",
        }) else {
            panic!()
        };
        let p = parse_patch(&m, now()).unwrap();
        assert_eq!(p.status, Some(ConversationStatus::Snoozed));
        assert_eq!(
            p.snoozed_until.map(fmt_time).as_deref(),
            Some("2026-03-01T13:00:00.123Z")
        );
        assert_eq!(p.assignee, Some(None));
        assert_eq!(p.labels.unwrap(), ["vip", "order:late"]);
        assert_eq!(p.priority, Some(Priority::Urgent));
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(parse_if_match(None).unwrap(), None);
        assert_eq!(parse_if_match(Some("*")).unwrap(), None);
        assert_eq!(parse_if_match(Some("\"3\"")).unwrap(), Some(3));
        assert_eq!(parse_if_match(Some("W/\"3\"")).unwrap(), Some(3));
        assert_eq!(parse_if_match(Some("3")).unwrap(), Some(3));
        for bad in ["", "\"x\"", "0", "-1", "\"3"] {
            assert!(parse_if_match(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_parse_and_pick_the_smallest_list() {
        let f = ConversationFilters::parse(
            Some("open"),
            Some("me"),
            Some("VIP"),
            Some("normal"),
            Some("user_1"),
        )
        .unwrap();
        assert_eq!(f.driver(), Some(&ListFilter::Assignee("user_1".into())));
        let f =
            ConversationFilters::parse(Some("resolved"), None, None, Some("urgent"), None).unwrap();
        assert_eq!(f.driver(), Some(&ListFilter::Priority(Priority::Urgent)));
        assert!(
            ConversationFilters::parse(None, None, None, None, None)
                .unwrap()
                .is_empty()
        );
        let field = |r: Result<ConversationFilters>| match r {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(ConversationFilters::parse(
                Some("x"),
                None,
                None,
                None,
                None
            )),
            "status"
        );
        assert_eq!(
            field(ConversationFilters::parse(
                None,
                Some("me"),
                None,
                None,
                None
            )),
            "assignee"
        );
        assert_eq!(
            field(ConversationFilters::parse(
                None,
                Some("a#b"),
                None,
                None,
                None
            )),
            "assignee"
        );
        assert_eq!(
            field(ConversationFilters::parse(
                None,
                None,
                Some("a b"),
                None,
                None
            )),
            "label"
        );
        assert_eq!(
            field(ConversationFilters::parse(
                None,
                None,
                None,
                Some("x"),
                None
            )),
            "priority"
        );
    }
}
