//! Contacts as a CRM keeps them: name, e-mail, tags, status, score, custom fields and
//! the marketing opt-out, edited through `PATCH /v1/contacts/{id}` and filtered in
//! `GET /v1/contacts`.
//!
//! - [`fields`]: the rules of each field and the patch as a typed change;
//! - [`index`]: the index items that make each filter a query, and [`index::save`], the
//!   one way to write a contact (record and index items together);
//! - [`list`]: the filtered list.
//!
//! Updates use optimistic concurrency on the record's `version`, which the API shows as
//! the contact's `ETag`: with `If-Match` an update applies only to the version the caller
//! read (else 412); without it, a concurrent change (an inbound message moving
//! `last_inbound_at`) is read again and the patch applied on top.

pub mod fields;
pub mod index;
pub mod list;

use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::ids::{ContactId, OrgId};
use crate::model::{Contact, Conversation};
use crate::record::{Versioned, load, update as update_record};
use crate::services::Services;
use crate::store::StoreError;

pub use fields::ContactPatch;
pub use list::{ContactFilter, view};

/// Attempts at an update against concurrent writers before answering 503.
const UPDATE_ATTEMPTS: usize = 8;

/// One contact with its version; 404 when it is not in the org.
pub async fn get(svc: &Services, org: &OrgId, id: &ContactId) -> Result<Versioned<Contact>> {
    let (pk, sk) = Contact::key_of(org, id);
    load::<Contact>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("contact"))
}

/// The `ETag` of a version: the version number, quoted.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// An `If-Match` header: `*`, or versions (`"3"` or `3`, comma-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: the contact must exist (it must anyway).
    Any,
    /// One of these versions. A tag that is not a version never matches.
    Versions(Vec<Option<u64>>),
}

impl IfMatch {
    /// Parses the header value.
    pub fn parse(header: &str) -> Self {
        if header.trim() == "*" {
            return IfMatch::Any;
        }
        IfMatch::Versions(
            header
                .split(',')
                .map(|t| {
                    // A weak tag never matches in If-Match's strong comparison
                    // (RFC 9110 §13.1.1).
                    let t = t.trim();
                    let t = t
                        .strip_prefix('"')
                        .and_then(|t| t.strip_suffix('"'))
                        .unwrap_or(t);
                    t.parse::<u64>().ok()
                })
                .collect(),
        )
    }

    fn matches(&self, version: u64) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Versions(v) => v.contains(&Some(version)),
        }
    }
}

fn precondition_failed(version: u64) -> Error {
    Error::PreconditionFailed {
        message: format!(
            "the contact has changed since it was read (it is at version {version}); read it again and reapply the change"
        ),
    }
}

/// Applies a patch. With `if_match`, only to the version the caller read (412 on a
/// mismatch, also when another writer gets in between); without, on top of whatever is
/// stored. Returns the contact as stored.
pub async fn update(
    svc: &Services,
    org: &OrgId,
    id: &ContactId,
    patch: &ContactPatch,
    if_match: Option<&IfMatch>,
) -> Result<Versioned<Contact>> {
    for attempt in 0..UPDATE_ATTEMPTS {
        let current = get(svc, org, id).await?;
        if let Some(m) = if_match
            && !m.matches(current.version)
        {
            return Err(precondition_failed(current.version));
        }
        let mut next = current.record.clone();
        if !patch.apply(&mut next, svc.clock.now())? {
            return Ok(current);
        }
        match index::save(svc, Some(&current.record), current.version, &next).await {
            Ok(version) => {
                let saved = Versioned {
                    record: next,
                    version,
                };
                if saved.record.name != current.record.name {
                    rename_in_conversations(svc, &saved.record).await;
                }
                publish_updated(svc, &current.record, &saved).await;
                return Ok(saved);
            }
            Err(StoreError::ConditionFailed { index: 0 }) | Err(StoreError::Conflict) => {
                if let Some(IfMatch::Versions(_)) = if_match {
                    let now_at = get(svc, org, id).await?.version;
                    return Err(precondition_failed(now_at));
                }
                debug!(
                    attempt,
                    "contact changed concurrently; applying the patch again"
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// The fields a patch changed, as the API names them (names only: an event never carries
/// a contact's personal values).
fn changed_fields(before: &Contact, after: &Contact) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.name != after.name {
        changed.push("name");
    }
    if before.email != after.email {
        changed.push("email");
    }
    if before.tags != after.tags {
        changed.push("tags");
    }
    if before.status != after.status {
        changed.push("status");
    }
    if before.score != after.score {
        changed.push("score");
    }
    if before.custom_fields != after.custom_fields {
        changed.push("custom_fields");
    }
    if before.opted_out != after.opted_out {
        changed.push("opted_out");
    }
    changed
}

/// Publishes `contact.updated` for a written patch (the contact at the version it wrote).
/// The change stands whatever happens to the event: a failure is logged.
async fn publish_updated(svc: &Services, before: &Contact, after: &Versioned<Contact>) {
    let changed = changed_fields(before, &after.record);
    if changed.is_empty() {
        return;
    }
    crate::usecases::platform_events::publish_logged(
        svc,
        &after.record.org_id,
        crate::usecases::platform_events::EventType::ContactUpdated,
        &[after.record.id.as_str(), &after.version.to_string()],
        serde_json::json!({"contact_id": after.record.id, "changed": changed}),
    )
    .await;
}

/// Conversations show their contact's name (denormalised for lists); after a rename they
/// are brought up to date. Best effort: the next inbound message sets it too.
async fn rename_in_conversations(svc: &Services, c: &Contact) {
    let ids = match crate::usecases::personal_data::conversations_of(
        svc,
        &c.org_id,
        &c.id,
        Some(&c.wa_id),
    )
    .await
    {
        Ok(ids) => ids,
        Err(e) => {
            warn!(error = %e, contact_id = %c.id, "could not find the contact's conversations to rename");
            return;
        }
    };
    for id in ids {
        let (pk, sk) = Conversation::key_of(&c.org_id, &id);
        let name = c.name.clone();
        let now = svc.clock.now();
        let result = update_record::<Conversation>(&*svc.store, &pk, &sk, |conv| {
            if conv.contact_name == name {
                return false;
            }
            conv.contact_name = name.clone();
            conv.updated_at = now;
            true
        })
        .await;
        if let Err(e) = result {
            warn!(error = %e, conversation_id = %id, "could not rename the contact in a conversation");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        assert!(IfMatch::parse("*").matches(7));
        assert!(IfMatch::parse("\"7\"").matches(7));
        assert!(IfMatch::parse("7").matches(7));
        assert!(IfMatch::parse("\"3\", \"7\"").matches(7));
        assert!(!IfMatch::parse("\"6\"").matches(7));
        assert!(!IfMatch::parse("W/\"7\"").matches(7));
        assert!(!IfMatch::parse("abc").matches(7));
        assert!(!IfMatch::parse("").matches(7));
        assert_eq!(etag(7), "\"7\"");
    }
}
