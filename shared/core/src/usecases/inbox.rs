//! Reading the inbox: conversations (newest activity first), their messages (in
//! conversation order) and contacts. Every read is scoped by the caller's org: the
//! org is part of every key, so another org's id simply is not found.
//!
//! Each list hands its query to [`PageRequest::apply_to`], which checks the cursor's
//! position against that query: a cursor tampered into one the store would refuse is
//! the caller's 422, not a store error.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::{ContactId, ConversationId, OrgId};
use crate::model::{Contact, Conversation, Message, org_scope};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Versioned, decode_all, load};
use crate::services::Services;
use crate::store::{Index, Query};

fn paged<T>(items: Vec<T>, next: Option<crate::store::Position>) -> Paged<T> {
    Paged {
        items,
        next_cursor: next.as_ref().map(encode_cursor),
    }
}

async fn list<T: serde::de::DeserializeOwned>(
    svc: &Services,
    query: Query,
    view: impl Fn(&T) -> Value,
) -> Result<Paged<Value>> {
    let page = svc.store.query(query).await?;
    let records: Vec<T> = decode_all(&page.items)?;
    Ok(paged(records.iter().map(view).collect(), page.next))
}

/// Conversations, newest activity first.
pub async fn list_conversations(
    svc: &Services,
    org: &OrgId,
    page: PageRequest,
) -> Result<Paged<Value>> {
    let now = svc.clock.now();
    let query = page.apply_to(
        Query::index(Index::Gsi1, Conversation::list_pk(org)).descending(),
        &org_scope(org),
    )?;
    let page = svc.store.query(query).await?;
    // Each view shows its item's version (what a client names in `If-Match`).
    let items = page
        .items
        .iter()
        .map(|it| Ok(it.decode::<Conversation>()?.view_versioned(now, it.version)))
        .collect::<Result<Vec<_>>>()?;
    Ok(paged(items, page.next))
}

/// One conversation.
pub async fn get_conversation(
    svc: &Services,
    org: &OrgId,
    id: &ConversationId,
) -> Result<Conversation> {
    Ok(get_conversation_versioned(svc, org, id).await?.record)
}

/// One conversation with its version.
pub async fn get_conversation_versioned(
    svc: &Services,
    org: &OrgId,
    id: &ConversationId,
) -> Result<Versioned<Conversation>> {
    let (pk, sk) = Conversation::key_of(org, id);
    load::<Conversation>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("conversation"))
}

/// A conversation's messages in conversation order (oldest first).
pub async fn list_messages(
    svc: &Services,
    org: &OrgId,
    id: &ConversationId,
    page: PageRequest,
) -> Result<Paged<Value>> {
    get_conversation(svc, org, id).await?;
    let query = page.apply_to(
        Query::index(Index::Gsi1, Message::list_pk(org, id)),
        &org_scope(org),
    )?;
    list::<Message>(svc, query, Message::view).await
}

/// Contacts, newest first (unfiltered: [`crate::usecases::contacts::list`] takes
/// filters).
pub async fn list_contacts(svc: &Services, org: &OrgId, page: PageRequest) -> Result<Paged<Value>> {
    let all = crate::usecases::contacts::ContactFilter::default();
    crate::usecases::contacts::list::list(svc, org, &all, page).await
}

/// One contact.
pub async fn get_contact(svc: &Services, org: &OrgId, id: &ContactId) -> Result<Contact> {
    let (pk, sk) = Contact::key_of(org, id);
    Ok(load::<Contact>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("contact"))?
        .record)
}
