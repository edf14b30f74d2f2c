//! Data-subject requests: everything Switchboard holds about one person (a contact),
//! exported as one document ([`export`]) or erased ([`erase`]).
//!
//! **Finding it all without a scan.** What Switchboard holds about a person is spread over
//! many partitions; each is reached from the contact by a key, never by scanning:
//!
//! - the contact's own partition, `ORG#<org>#CONTACT#<id>`: the contact record, the items
//!   of any record type kept per contact (notes, appointments; later campaign
//!   enrolments), and two kinds of link written by the inbound consumer —
//!   `LINK#CONV#<conversation>` with each new conversation, and
//!   `LINK#EVENT#<provider>#<key>` for each raw webhook event naming the person's number
//!   (senders, status recipients, profiles), written before the event is applied;
//! - conversations: through their links, and for conversations older than the links
//!   through their derived ids (org, connected number, wa_id);
//! - messages: each conversation's message index (`gsi1`);
//! - from each message: its wamid look-up and early statuses (`WAMID#<wamid>`, which
//!   hold the wamid, and wamids encode the customer's number), and the idempotency
//!   record of a keyed send (found through its own `gsi1` key);
//! - from each conversation: the pacing state of the number and customer pair, whose
//!   key holds the customer's number.
//!
//! A record type added later joins by keeping its items in the contact's partition (the
//! export shows them under a section named after their sort-key prefix, the erasure
//! deletes the partition) or by linking them from there.
//!
//! What stays after an erasure holds no person: usage counters (per org and period),
//! audit entries (who did what to which id), and for a while content-free tombstones —
//! of unsent messages, so the sender skips their queue messages, and of recent raw
//! events, so a provider's redelivery is not taken for a new message.

pub mod erase;
pub mod export;

use serde::{Deserialize, Serialize};
use switchboard_webhooks::meta::MessagesValue;

use crate::error::{Error, Result};
use crate::ids::{ContactId, ConversationId, OrgId, WaId};
use crate::model::{Account, Contact, Conversation, Provider, WebhookEvent, org_pk};
use crate::record::{Record, item};
use crate::services::Services;
use crate::store::{Condition, Item, Query, SortKey};

/// Sort-key prefix of conversation links in a contact's partition.
pub const LINK_CONV: &str = "LINK#CONV#";
/// Sort-key prefix of raw-event links in a contact's partition.
pub const LINK_EVENT: &str = "LINK#EVENT#";

/// The partition of a contact: its record and everything kept per contact.
pub fn contact_pk(org: &OrgId, contact: &ContactId) -> String {
    Contact::key_of(org, contact).0
}

/// Links a contact to one of their conversations (ids only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationLink {
    /// Owner.
    pub org_id: OrgId,
    /// The person.
    pub contact_id: ContactId,
    /// The conversation.
    pub conversation_id: ConversationId,
}

impl Record for ConversationLink {
    fn key(&self) -> (String, String) {
        (
            contact_pk(&self.org_id, &self.contact_id),
            format!("{LINK_CONV}{}", self.conversation_id),
        )
    }
}

/// Links a contact to a raw webhook event whose payload names them (the event's key
/// only: the payload stays in the event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLink {
    /// Owner.
    pub org_id: OrgId,
    /// The person.
    pub contact_id: ContactId,
    /// The event's provider.
    pub provider: Provider,
    /// The event's idempotency key.
    pub event: String,
    /// When the link goes: a day after the event itself expires at the latest.
    pub expires_at: i64,
}

impl Record for EventLink {
    fn key(&self) -> (String, String) {
        (
            contact_pk(&self.org_id, &self.contact_id),
            format!("{LINK_EVENT}{}#{}", self.provider.as_str(), self.event),
        )
    }

    fn ttl(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// The link item the inbound consumer writes with a new conversation (in the same
/// transaction, so a conversation never exists unlinked).
pub fn conversation_link(conversation: &Conversation) -> Result<Item> {
    Ok(item(
        &ConversationLink {
            org_id: conversation.org_id.clone(),
            contact_id: conversation.contact_id.clone(),
            conversation_id: conversation.id.clone(),
        },
        1,
    )?)
}

/// The people a WhatsApp `messages` value names: senders, profiles and status
/// recipients, each once.
pub fn people_in(value: &MessagesValue) -> Vec<WaId> {
    let mut out: Vec<WaId> = Vec::new();
    let named = value
        .messages
        .iter()
        .map(|m| m.from.as_str())
        .chain(value.contacts.iter().map(|c| c.wa_id.as_str()))
        .chain(
            value
                .statuses
                .iter()
                .filter_map(|s| s.recipient_id.as_deref()),
        );
    for raw in named {
        if let Ok(wa) = WaId::parse(raw)
            && !out.contains(&wa)
        {
            out.push(wa);
        }
    }
    out
}

/// What the inbound consumer does before applying a routed `messages` event: an event
/// naming someone whose erasure is running waits (a retryable error: the queue brings it
/// back), so nothing new is attached to a person half-erased; any other event is linked
/// to each person it names, so that their erasure finds it.
pub async fn admit_event(
    svc: &Services,
    org: &OrgId,
    event: &WebhookEvent,
    value: &MessagesValue,
) -> Result<()> {
    let people = people_in(value);
    for wa in &people {
        let contact = ContactId::for_wa_id(org, wa);
        if erase::is_running(svc, org, &contact).await? {
            return Err(Error::Unavailable {
                code: "contact_erasure_running",
                message: format!(
                    "contact {contact} is being erased; the event waits until that is done"
                ),
            });
        }
    }
    // The event expires a retention period after it is settled (moments from now); the
    // link may outlive it by a day, never the other way round.
    let expires_at =
        (svc.clock.now() + svc.retention.webhook_events + chrono::Duration::days(1)).timestamp();
    for wa in people {
        let link = EventLink {
            org_id: org.clone(),
            contact_id: ContactId::for_wa_id(org, &wa),
            provider: event.provider,
            event: event.key.clone(),
            expires_at,
        };
        svc.store.put(item(&link, 1)?, Condition::Always).await?;
    }
    Ok(())
}

/// The look-up items a contact record keeps outside its partition (index items that
/// hold its values in their keys), which an erasure removes with the record. Derived
/// from the stored record, so it holds for every version of it.
pub(crate) fn lookup_keys(
    _org: &OrgId,
    _contact: &ContactId,
    record: &serde_json::Value,
) -> Vec<(String, String)> {
    // The contacts module owns the layout: tag, opt-out, name and number index items.
    crate::usecases::contacts::index::keys_of_document(record)
}

/// The conversations of a contact: those linked from their partition, and — for
/// conversations stored before links existed — the threads with each of the org's
/// connected numbers, which have derived ids (`wa_id` is needed for those).
pub(crate) async fn conversations_of(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    wa_id: Option<&WaId>,
) -> Result<Vec<ConversationId>> {
    let mut found: Vec<ConversationId> = Vec::new();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::table(contact_pk(org, contact))
                    .sort(SortKey::BeginsWith(LINK_CONV.into()))
                    .after(after)
                    .consistent(),
            )
            .await?;
        for item in &page.items {
            if let Some(id) = item
                .sk
                .strip_prefix(LINK_CONV)
                .and_then(|s| ConversationId::parse(s).ok())
                && !found.contains(&id)
            {
                found.push(id);
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => break,
        }
    }
    if let Some(wa) = wa_id {
        let accounts = svc
            .store
            .query(
                Query::table(org_pk(org))
                    .sort(SortKey::BeginsWith(Account::SK_PREFIX.into()))
                    .consistent(),
            )
            .await?;
        for account in crate::record::decode_all::<Account>(&accounts.items)? {
            let id = ConversationId::for_thread(org, &account.phone_number_id, wa);
            if found.contains(&id) {
                continue;
            }
            let (pk, sk) = Conversation::key_of(org, &id);
            if svc.store.get(&pk, &sk).await?.is_some() {
                found.push(id);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_senders_profiles_and_recipients_once() {
        let value: MessagesValue = serde_json::from_value(serde_json::json!({
            "metadata": {"phone_number_id": "106540352242922"},
            "contacts": [{"wa_id": "16505551234", "profile": {"name": "A"}}],
            "messages": [
                {"from": "16505551234", "id": "w1", "timestamp": "1", "type": "text", "text": {"body": "x"}},
                {"from": "not a number", "id": "w2", "timestamp": "1", "type": "text", "text": {"body": "x"}}
            ],
            "statuses": [
                {"id": "w3", "status": "read", "timestamp": "1", "recipient_id": "447700900123"},
                {"id": "w4", "status": "read", "timestamp": "1"}
            ]
        }))
        .unwrap();
        let people: Vec<String> = people_in(&value)
            .iter()
            .map(|w| w.as_str().to_owned())
            .collect();
        assert_eq!(people, ["16505551234", "447700900123"]);
    }
}
