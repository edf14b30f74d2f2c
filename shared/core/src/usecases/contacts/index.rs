//! A contact's index items, and the one way to write a contact: the record and the
//! index items that change with it, in one transaction.
//!
//! **Why index items.** `GET /v1/contacts` filters by tag, opt-out and a prefix of the
//! name or number. DynamoDB has two GSIs here, one already listing contacts by creation
//! (`gsi1`) and one by status (`gsi2`); the other filters get small items of their own,
//! each a key pointing at a contact:
//!
//! | filter | pk | sk | order |
//! |---|---|---|---|
//! | `tag` | `ORG#<org>#CONTACTS#TAG#<tag>` | `<created>#<id>` | newest first |
//! | `opted_out=true` | `ORG#<org>#CONTACTS#OPTED_OUT` | `<created>#<id>` | newest first |
//! | `q` (name) | `ORG#<org>#CONTACTS#NAME#<first character>` | `<name key>#<id>` | by name |
//! | `q` (digits) | `ORG#<org>#CONTACTS#PHONE#<first digit>` | `<wa_id>` | by number |
//!
//! The name key is the name trimmed, lower-cased, with runs of white space made one
//! space, cut to 64 characters; name and number items are spread over one partition per
//! first character, which a prefix always names. Items hold only the org and contact ids.
//!
//! **Keeping them true.** The index items a contact should have derive from its record
//! ([`keys_of`]). A write computes the difference between the stored record's set and the
//! new one and puts or deletes exactly that, in the same transaction as the record,
//! conditioned on the record's version: after every committed write the items are what
//! the record says. A change that does not fit DynamoDB's 100 writes (all 50 tags
//! replaced at once) commits the record with its new items and as many removals as fit,
//! then removes the rest in a second transaction checked against the record's new
//! version. In between a stale item only yields a candidate that the list's check on the
//! record refuses; a missing item cannot happen. A new contact written on its own (an
//! import row, an opt-out of a customer not seen yet) is created in three steps instead
//! of a transaction ([`create`]); one created with an inbound message is part of that
//! message's transaction.
//!
//! A record written before index items existed (`indexed` 0) gets all of its items on
//! its next write; `reindex` does it for a whole org at once.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::error::{Error, Result};
use crate::ids::{ContactId, OrgId};
use crate::model::Contact;
use crate::record::{Versioned, decode_all, item};
use crate::services::Services;
use crate::store::{Condition, Index, Item, MAX_TRANSACTION_ITEMS, Query, StoreError, Write};

/// The index scheme written by this code; records below it are indexed on their next
/// write.
pub const INDEX_VERSION: u32 = 1;

/// Characters of a name kept in its index key (a longer prefix is checked on the record).
pub const NAME_KEY_CHARS: usize = 64;

/// What an index item holds: the contact it points at (and its org, so that every
/// tenant item says whose it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The org.
    pub org_id: OrgId,
    /// The contact.
    pub contact_id: ContactId,
}

/// The key prefix of every contact index partition of an org.
pub fn prefix(org: &OrgId) -> String {
    format!("ORG#{org}#CONTACTS#")
}

/// Partition of the contacts carrying a tag (normalised).
pub fn tag_pk(org: &OrgId, tag: &str) -> String {
    format!("{}TAG#{tag}", prefix(org))
}

/// Partition of the contacts who opted out of marketing.
pub fn opted_out_pk(org: &OrgId) -> String {
    format!("{}OPTED_OUT", prefix(org))
}

/// Partition of the names starting with `first`.
pub fn name_pk(org: &OrgId, first: char) -> String {
    format!("{}NAME#{first}", prefix(org))
}

/// Partition of the numbers starting with the digit `first`.
pub fn phone_pk(org: &OrgId, first: char) -> String {
    format!("{}PHONE#{first}", prefix(org))
}

/// The searchable form of a name or of a name prefix: trimmed, lower-cased, runs of
/// white space as one space.
pub fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `name_key` cut to what index keys hold.
pub fn name_key_prefix(name: &str) -> String {
    name_key(name).chars().take(NAME_KEY_CHARS).collect()
}

/// The keys of the index items a contact record should have.
pub fn keys_of(c: &Contact) -> BTreeSet<(String, String)> {
    let org = &c.org_id;
    let mut keys = BTreeSet::new();
    let at = c.list_sk();
    for tag in &c.tags {
        keys.insert((tag_pk(org, tag), at.clone()));
    }
    if c.opted_out {
        keys.insert((opted_out_pk(org), at.clone()));
    }
    if let Some(name) = &c.name {
        let key = name_key_prefix(name);
        if let Some(first) = key.chars().next() {
            keys.insert((name_pk(org, first), format!("{key}#{}", c.id)));
        }
    }
    let digits = c.wa_id.as_str();
    if let Some(first) = digits.chars().next() {
        keys.insert((phone_pk(org, first), digits.to_owned()));
    }
    keys
}

/// The index items of a stored contact document, for an erasure: derived from the
/// record as stored, whatever version wrote it. Empty if the document is not a contact.
pub fn keys_of_document(record: &serde_json::Value) -> Vec<(String, String)> {
    match serde_json::from_value::<Contact>(record.clone()) {
        Ok(c) => keys_of(&c).into_iter().collect(),
        Err(_) => Vec::new(),
    }
}

/// The writes of a contact change, split into what goes into the caller's transaction
/// and what does not fit it.
#[derive(Debug, Default)]
pub struct ContactWrites {
    /// The record (first) and its index changes.
    pub now: Vec<Write>,
    /// Removals of index items that did not fit: apply with [`finish`] once `now`
    /// committed.
    pub later: Vec<(String, String)>,
}

/// The writes that store `next` over `prev` (read at `version`; `None` and 0 for a new
/// contact), with at most `room` writes in the transaction. The record is the first
/// write, conditioned on `version`; then the new index items; then the removals that
/// fit. `next` is stored as indexed by this scheme.
pub fn writes(
    prev: Option<&Contact>,
    version: u64,
    next: &Contact,
    room: usize,
) -> Result<ContactWrites, StoreError> {
    let mut record = next.clone();
    record.indexed = INDEX_VERSION;
    let old = match prev {
        Some(p) if p.indexed >= INDEX_VERSION => keys_of(p),
        // Never indexed: nothing to remove, everything to add.
        _ => BTreeSet::new(),
    };
    let new = keys_of(&record);
    let condition = if version == 0 {
        Condition::NotExists
    } else {
        Condition::Version(version)
    };
    let mut out = ContactWrites::default();
    out.now
        .push(Write::put(item(&record, version + 1)?, condition));
    let entry = serde_json::to_value(IndexEntry {
        org_id: record.org_id.clone(),
        contact_id: record.id.clone(),
    })
    .map_err(|e| StoreError::Invalid(format!("index entry: {e}")))?;
    for (pk, sk) in new.difference(&old) {
        out.now.push(Write::put(
            Item::new(pk.clone(), sk.clone(), entry.clone()),
            Condition::Always,
        ));
    }
    for (pk, sk) in old.difference(&new) {
        if out.now.len() < room.min(MAX_TRANSACTION_ITEMS) {
            out.now
                .push(Write::delete(pk.clone(), sk.clone(), Condition::Always));
        } else {
            out.later.push((pk.clone(), sk.clone()));
        }
    }
    if out.now.len() > room.min(MAX_TRANSACTION_ITEMS) {
        // 50 tags, a name, an opt-out and a number: never more than 54 new items.
        return Err(StoreError::TooLarge(format!(
            "a contact change needs {} writes; {room} fit",
            out.now.len()
        )));
    }
    Ok(out)
}

/// Removes index items left over by a change too large for one transaction, checked
/// against the contact still being at `version` (what the change committed). If it
/// moved on, the items the current record names again are kept.
pub async fn finish(
    svc: &Services,
    contact: &Contact,
    version: u64,
    mut stale: Vec<(String, String)>,
) -> Result<(), StoreError> {
    let (pk, sk) = Contact::key_of(&contact.org_id, &contact.id);
    let mut version = version;
    for _ in 0..8 {
        if stale.is_empty() {
            return Ok(());
        }
        let mut tx = vec![Write::Check {
            pk: pk.clone(),
            sk: sk.clone(),
            condition: Condition::Version(version),
        }];
        tx.extend(
            stale
                .iter()
                .take(MAX_TRANSACTION_ITEMS - 1)
                .map(|(p, s)| Write::delete(p.clone(), s.clone(), Condition::Always)),
        );
        let n = tx.len() - 1;
        match svc.store.transact(tx).await {
            Ok(()) => {
                stale.drain(..n);
                continue;
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {
                let Some(current) = svc.store.get(&pk, &sk).await? else {
                    // Erased: the erasure removes what the record named; these go too.
                    for (p, s) in &stale {
                        svc.store.delete(p, s, Condition::Always).await?;
                    }
                    return Ok(());
                };
                let record: Contact = current.decode()?;
                let keep = keys_of(&record);
                stale.retain(|k| !keep.contains(k));
                version = current.version;
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}

/// Stores `next` over `prev` (read at `version`; `None`/0 for a new contact) with its
/// index changes; returns the version stored. `ConditionFailed { index: 0 }` means the
/// record changed since it was read (or exists, for a new one): read again and retry.
/// Imports and any other writer of whole contacts use this.
///
/// - No index change (a score, custom fields, `last_inbound_at`): one conditional put.
/// - A new contact: [`create`], without a transaction.
/// - Otherwise: one transaction, record and index changes together.
pub async fn save(
    svc: &Services,
    prev: Option<&Contact>,
    version: u64,
    next: &Contact,
) -> Result<u64, StoreError> {
    let mut w = writes(prev, version, next, MAX_TRANSACTION_ITEMS)?;
    if w.now.len() == 1 {
        if let Some(Write::Put { item, condition }) = w.now.pop() {
            svc.store.put(item, condition).await?;
        }
        return Ok(version + 1);
    }
    if version == 0 {
        return create(svc, next, w.now).await;
    }
    svc.store.transact(w.now).await?;
    if !w.later.is_empty()
        && let Err(e) = finish(svc, next, version + 1, w.later).await
    {
        // Stale items only cost a filtered-out candidate; the next write of the
        // contact does not see them again, so say so for the operator.
        warn!(error = %e, contact_id = %next.id, "could not remove stale contact index items");
    }
    Ok(version + 1)
}

/// Creates a contact with its index items in three steps rather than one transaction:
/// the record as not indexed yet (`indexed` 0, "must not exist"), its index items, then
/// the record as indexed (conditioned on still being the version just written). Bulk
/// writers (an import applies eight rows at once) create contacts this way: a
/// transaction costs twice the write units per item, and transactions of many writers
/// contend. Every state in between is safe: the record exists before any index item, so
/// an erasure finds and removes them; until the last step the contact is missing from
/// the filtered lists only; a writer that gets in between sees `indexed` 0 and writes
/// every item itself, and then the items this one wrote that the record no longer names
/// are removed ([`finish`]). Returns the version stored (2, or the other writer's).
pub async fn create(svc: &Services, next: &Contact, writes: Vec<Write>) -> Result<u64, StoreError> {
    let mut pending = next.clone();
    pending.indexed = 0;
    svc.store
        .put(item(&pending, 1)?, Condition::NotExists)
        .await?;
    let mut mine = Vec::new();
    let puts: Vec<_> = writes
        .into_iter()
        .skip(1)
        .filter_map(|w| match w {
            Write::Put { item, .. } => {
                mine.push((item.pk.clone(), item.sk.clone()));
                Some(svc.store.put(item, Condition::Always))
            }
            _ => None,
        })
        .collect();
    for r in futures::future::join_all(puts).await {
        r?;
    }
    let mut indexed = next.clone();
    indexed.indexed = INDEX_VERSION;
    match svc
        .store
        .put(item(&indexed, 2)?, Condition::Version(1))
        .await
    {
        Ok(()) => Ok(2),
        Err(StoreError::ConditionFailed { .. }) => {
            // Another writer changed it in between (and indexed it from scratch): keep
            // only what the record names now.
            let (pk, sk) = Contact::key_of(&next.org_id, &next.id);
            match svc.store.get(&pk, &sk).await? {
                Some(current) => {
                    let record: Contact = current.decode()?;
                    let keep = keys_of(&record);
                    mine.retain(|k| !keep.contains(k));
                    finish(svc, &record, current.version, mine).await?;
                    Ok(current.version)
                }
                None => {
                    // Erased meanwhile: what this writer added goes too.
                    for (pk, sk) in &mine {
                        svc.store.delete(pk, sk, Condition::Always).await?;
                    }
                    Ok(0)
                }
            }
        }
        Err(e) => Err(e),
    }
}

/// Writes the index items of every contact of an org stored before they existed
/// (`indexed` below the current scheme); returns how many contacts it indexed. Safe to
/// run while the org is in use: each contact is written conditioned on its version,
/// and one that changed meanwhile was indexed by that change.
pub async fn reindex(svc: &Services, org: &OrgId) -> Result<usize> {
    let mut after = None;
    let mut done = 0;
    loop {
        let page = svc
            .store
            .query(Query::index(Index::Gsi1, Contact::list_pk(org)).after(after))
            .await?;
        let contacts: Vec<Contact> = decode_all(&page.items)?;
        for (c, it) in contacts.iter().zip(&page.items) {
            if c.indexed >= INDEX_VERSION {
                continue;
            }
            let current = Versioned {
                record: c.clone(),
                version: it.version,
            };
            match save(svc, Some(&current.record), current.version, &current.record).await {
                Ok(_) => done += 1,
                Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(Error::Store(e)),
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => return Ok(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::WaId;

    fn contact() -> Contact {
        let org = OrgId::parse("acme").unwrap();
        let mut c = Contact::new(
            &org,
            &WaId::parse("16505551234").unwrap(),
            chrono::Utc::now(),
        );
        c.indexed = INDEX_VERSION;
        c
    }

    #[test]
    fn keys_follow_the_record() {
        let mut c = contact();
        c.see_profile_name("  Sheena   NELSON ");
        c.tags = vec!["vip".into(), "b2b".into()];
        c.opted_out = true;
        let keys = keys_of(&c);
        let pks: Vec<&str> = keys.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pks,
            [
                "ORG#acme#CONTACTS#NAME#s",
                "ORG#acme#CONTACTS#OPTED_OUT",
                "ORG#acme#CONTACTS#PHONE#1",
                "ORG#acme#CONTACTS#TAG#b2b",
                "ORG#acme#CONTACTS#TAG#vip",
            ]
        );
        assert!(keys.contains(&(
            "ORG#acme#CONTACTS#NAME#s".into(),
            format!("sheena nelson#{}", c.id)
        )));
        assert_eq!(
            keys_of_document(&serde_json::to_value(&c).unwrap()).len(),
            5
        );
    }

    #[test]
    fn a_change_writes_only_the_difference() {
        let mut prev = contact();
        prev.tags = vec!["a".into(), "b".into()];
        let mut next = prev.clone();
        next.tags = vec!["b".into(), "c".into()];
        let w = writes(Some(&prev), 3, &next, 100).unwrap();
        assert!(w.later.is_empty());
        assert_eq!(w.now.len(), 3, "the record, put c, delete a");
        match &w.now[0] {
            Write::Put { item, condition } => {
                assert_eq!(*condition, Condition::Version(3));
                assert_eq!(item.version, 4);
                assert_eq!(item.sk, "CONTACT");
            }
            other => panic!("{other:?}"),
        }
        // A record written before index items existed gets all of them, removes none.
        prev.indexed = 0;
        let w = writes(Some(&prev), 3, &next, 100).unwrap();
        assert_eq!(w.now.len(), 4, "the record, b, c and the number");
    }

    #[test]
    fn replacing_every_tag_spills_removals_into_a_second_transaction() {
        let mut prev = contact();
        prev.tags = (0..50).map(|i| format!("old{i}")).collect();
        prev.see_profile_name("a");
        let mut next = prev.clone();
        next.tags = (0..50).map(|i| format!("new{i}")).collect();
        next.set_name(Some("b".into()));
        next.opted_out = true;
        let w = writes(Some(&prev), 1, &next, 100).unwrap();
        assert_eq!(w.now.len(), 100);
        assert_eq!(w.later.len(), 4, "1 + 52 puts + 51 deletes = 104 writes");
    }
}
