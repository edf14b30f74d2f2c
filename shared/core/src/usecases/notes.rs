//! Notes agents keep about a contact: written by an agent (the token's subject is the
//! author), listed newest first, deleted by their author or an admin.
//!
//! A note lives in its contact's partition (`ORG#<org>#CONTACT#<id>` / `NOTE#<note id>`),
//! so listing a contact's notes is one query, and a data-subject export or erasure of the
//! contact finds them with everything else kept per contact. Note ids are UUIDv7 made
//! from the clock, so the sort key orders notes by creation. A note is created in a
//! transaction that checks the contact exists: a note can never outlive an erasure that
//! ran a moment before.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{ContactId, NoteId, OrgId, Role};
use crate::model::{Contact, org_scope};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Record, decode_all, item, load};
use crate::services::Services;
use crate::store::{Condition, Query, SortKey, StoreError, Write};

/// Longest note, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;

/// Sort-key prefix of notes in a contact's partition.
pub const SK_PREFIX: &str = "NOTE#";

/// A note about a contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Id.
    pub id: NoteId,
    /// Owner.
    pub org_id: OrgId,
    /// The contact it is about.
    pub contact_id: ContactId,
    /// The text.
    pub body: String,
    /// Who wrote it: the token's subject (`None` for a token without one, whose notes
    /// only admins may delete).
    pub author: Option<String>,
    /// Written.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
}

impl Note {
    /// Key of a note.
    pub fn key_of(org: &OrgId, contact: &ContactId, id: &NoteId) -> (String, String) {
        (Contact::key_of(org, contact).0, format!("{SK_PREFIX}{id}"))
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "contact_id": self.contact_id,
            "body": self.body,
            "author": self.author,
            "created_at": fmt_time(self.created_at),
        })
    }
}

impl Record for Note {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.contact_id, &self.id)
    }
}

/// A note id made at `at`: UUIDv7 with the clock's milliseconds, so ids sort by time
/// (also under a test's fixed clock).
fn new_id(at: DateTime<Utc>) -> NoteId {
    let random = uuid::Uuid::new_v4();
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&random.as_bytes()[..10]);
    let millis = at.timestamp_millis().max(0) as u64;
    NoteId::from_uuid(uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid())
}

/// Checks a note's text: not blank, at most 10,000 characters.
pub fn check_body(body: &str) -> Result<()> {
    if body.trim().is_empty() {
        return Err(Error::validation(
            "body",
            "invalid_body",
            "body must not be empty",
        ));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(Error::validation(
            "body",
            "body_too_long",
            format!("body is at most {MAX_BODY_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Writes a note about a contact of the org; 404 if the contact is not there.
pub async fn create(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    body: String,
    author: Option<String>,
) -> Result<Note> {
    check_body(&body)?;
    let now = svc.clock.now();
    let note = Note {
        id: new_id(now),
        org_id: org.clone(),
        contact_id: contact.clone(),
        body,
        author,
        created_at: now,
    };
    let (c_pk, c_sk) = Contact::key_of(org, contact);
    let writes = vec![
        Write::Check {
            pk: c_pk,
            sk: c_sk,
            condition: Condition::Exists,
        },
        Write::put(item(&note, 1)?, Condition::NotExists),
    ];
    match svc.store.transact(writes).await {
        Ok(()) => Ok(note),
        Err(StoreError::ConditionFailed { index: 0 }) => Err(Error::not_found("contact")),
        Err(e) => Err(e.into()),
    }
}

/// A contact's notes, newest first; 404 if the contact is not in the org.
pub async fn list(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    page: PageRequest,
) -> Result<Paged<Value>> {
    let (pk, sk) = Contact::key_of(org, contact);
    if svc.store.get(&pk, &sk).await?.is_none() {
        return Err(Error::not_found("contact"));
    }
    let query = page.apply_to(
        Query::table(pk)
            .sort(SortKey::BeginsWith(SK_PREFIX.into()))
            .descending(),
        &org_scope(org),
    )?;
    let result = svc.store.query(query).await?;
    let notes: Vec<Note> = decode_all(&result.items)?;
    Ok(Paged {
        items: notes.iter().map(Note::view).collect(),
        next_cursor: result.next.as_ref().map(encode_cursor),
    })
}

/// Deletes a note: its author may, and admins (and owners) may delete anyone's; another
/// agent gets 403. 404 for a note that is not there (or not in the org).
pub async fn delete(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    id: &NoteId,
    caller: Option<&str>,
    role: Role,
) -> Result<()> {
    let (pk, sk) = Note::key_of(org, contact, id);
    let Some(note) = load::<Note>(&*svc.store, &pk, &sk).await? else {
        return Err(Error::not_found("note"));
    };
    let own = caller.is_some() && note.record.author.as_deref() == caller;
    if !own && role < Role::Admin {
        return Err(Error::Forbidden {
            message: "only the note's author or an admin may delete it".into(),
        });
    }
    svc.store.delete(&pk, &sk, Condition::Always).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time() {
        let t = chrono::Utc::now();
        let a = new_id(t);
        let b = new_id(t + chrono::Duration::milliseconds(1));
        let c = new_id(t + chrono::Duration::days(400));
        assert!(a < b && b < c);
        assert!(NoteId::parse(a.as_str()).is_ok());
    }

    #[test]
    fn bodies() {
        assert!(check_body("Called, wants the blue one").is_ok());
        assert!(check_body(&"x".repeat(MAX_BODY_CHARS)).is_ok());
        for (bad, code) in [("", "invalid_body"), ("  \n", "invalid_body")] {
            assert!(matches!(check_body(bad), Err(Error::Validation { code: c, .. }) if c == code));
        }
        assert!(matches!(
            check_body(&"é".repeat(MAX_BODY_CHARS + 1)),
            Err(Error::Validation {
                code: "body_too_long",
                ..
            })
        ));
    }
}
