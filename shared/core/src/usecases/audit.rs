//! The audit log: one append-only entry for every change made through the API — who
//! (actor and role), what (the action and the resource's path), when, under which
//! request id, and how it ended. Entries are written only with a "must not exist"
//! condition and no route updates or deletes them; they expire after a year.
//!
//! Layout: one partition per org, newest first by time; `gsi1` lists one actor's entries
//! and `gsi2` one action's, so both filters are queries rather than scans.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::model::org_scope;
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Record, decode_all, item};
use crate::services::Services;
use crate::store::{Condition, Index, IndexKey, Query};

/// How long entries are kept.
pub const RETENTION_DAYS: i64 = 366;

/// One audited change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The org it happened in.
    pub org_id: OrgId,
    /// Unique id (UUIDv7, so entries of one millisecond stay ordered and distinct).
    pub id: String,
    /// When.
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    /// Who: the token's subject.
    pub actor: String,
    /// The caller's role.
    pub role: String,
    /// What: the API action (the function's name without `api-`, e.g. `send-message`).
    pub action: String,
    /// The resource: the request's method and path (ids, never query strings or bodies).
    pub resource: String,
    /// The request id (also in the response and the logs).
    pub request_id: String,
    /// `succeeded`, `refused` (4xx) or `failed` (5xx).
    pub outcome: String,
    /// The HTTP status answered.
    pub status: u16,
}

impl AuditEntry {
    fn pk(org: &OrgId) -> String {
        format!("ORG#{org}#AUDIT")
    }

    fn actor_pk(org: &OrgId, actor: &str) -> String {
        format!("ORG#{org}#AUDIT#ACTOR#{actor}")
    }

    fn action_pk(org: &OrgId, action: &str) -> String {
        format!("ORG#{org}#AUDIT#ACTION#{action}")
    }

    fn sort_key(&self) -> String {
        format!("{}#{}", fmt_time(self.at), self.id)
    }

    /// The outcome name of an HTTP status.
    pub fn outcome_of(status: u16) -> &'static str {
        match status {
            0..=399 => "succeeded",
            400..=499 => "refused",
            _ => "failed",
        }
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "at": fmt_time(self.at),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "resource": self.resource,
            "request_id": self.request_id,
            "outcome": self.outcome,
            "status": self.status,
        })
    }
}

impl Record for AuditEntry {
    fn key(&self) -> (String, String) {
        (Self::pk(&self.org_id), self.sort_key())
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(
            Self::actor_pk(&self.org_id, &self.actor),
            self.sort_key(),
        ))
    }

    fn gsi2(&self) -> Option<IndexKey> {
        Some(IndexKey::new(
            Self::action_pk(&self.org_id, &self.action),
            self.sort_key(),
        ))
    }

    fn ttl(&self) -> Option<i64> {
        Some((self.at + chrono::Duration::days(RETENTION_DAYS)).timestamp())
    }
}

/// Appends an entry (never overwrites one).
pub async fn append(svc: &Services, entry: &AuditEntry) -> Result<()> {
    svc.store
        .put(item(entry, 1)?, Condition::NotExists)
        .await
        .map_err(Error::from)
}

/// Filters of `GET /v1/audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
}

fn check_filter(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 256
        && value.chars().all(|c| !c.is_control() && c != '#');
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            "invalid_filter",
            format!("{field} must be 1-256 printable characters without '#'"),
        ))
    }
}

/// The org's entries, newest first, optionally of one action and/or one actor.
pub async fn list(
    svc: &Services,
    org: &OrgId,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Paged<Value>> {
    if let Some(a) = &filter.action {
        check_filter("action", a)?;
    }
    if let Some(a) = &filter.actor {
        check_filter("actor", a)?;
    }
    // The narrower index when both are given is unknowable; actors act less often than
    // actions happen, so prefer the actor's partition and filter by action.
    let query = match (&filter.actor, &filter.action) {
        (Some(actor), _) => Query::index(Index::Gsi1, AuditEntry::actor_pk(org, actor)),
        (None, Some(action)) => Query::index(Index::Gsi2, AuditEntry::action_pk(org, action)),
        (None, None) => Query::table(AuditEntry::pk(org)),
    }
    .descending();
    let query = page.apply_to(query, &org_scope(org))?;
    let result = svc.store.query(query).await?;
    let entries: Vec<AuditEntry> = decode_all(&result.items)?;
    Ok(Paged {
        items: entries
            .iter()
            .filter(|e| filter.action.as_ref().is_none_or(|a| &e.action == a))
            .map(AuditEntry::view)
            .collect(),
        next_cursor: result.next.as_ref().map(encode_cursor),
    })
}
