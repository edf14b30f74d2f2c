//! The export of everything Switchboard holds about one person, as one JSON document
//! (`GET /v1/contacts/{id}/export`, the data subject's right of access).
//!
//! The document has one section per kind of record, so a record type added later is one
//! more section: the contact record as stored (every field it holds), the records kept in
//! the contact's partition grouped by their sort-key prefix (`NOTE#…` under `notes`,
//! `APPOINTMENT#…` under `appointments`, `ENROLMENT#…` under `campaign_enrolments`, anything
//! else under `other_records`), each conversation with all its messages and their
//! content, and the raw webhook events naming the person — listed with when they were
//! received and when they expire, without their payloads: a payload can carry other
//! people's messages too, and what it holds about this person is in the messages.
//!
//! **Size.** Everything is paged through, however long the history, but a Lambda
//! response carries at most 6 MB, with the body escaped as a JSON string inside it. A
//! document whose body would exceed [`MAX_EXPORT_BYTES`] that way is refused with a 422
//! naming `include_messages` rather than built asynchronously: an asynchronous export
//! would need object storage and a presigned download Switchboard does not have, and a
//! copy of the person's data left lying in the table for the client to fetch is one more
//! thing an erasure would have to chase. `include_messages=false` returns the rest of
//! the document with each conversation's `messages_path`, the paged list that holds its
//! messages with their content. Reading stops as soon as the limit is passed, so a huge
//! history costs one limit's worth of reads, not the whole history.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{LINK_CONV, LINK_EVENT, contact_pk, conversations_of, erase};
use crate::clock::fmt_time;
use crate::error::{Error, Result};
use crate::ids::{ContactId, OrgId, WaId};
use crate::model::{Contact, Conversation, Message, Provider, WebhookEvent};
use crate::record::{decode_all, load};
use crate::services::Services;
use crate::store::{Index, Query};

/// The largest body an export answers with, counted as Lambda carries it (escaped
/// inside its JSON response, whose limit is 6 MB): 5 MiB leaves room for headers.
pub const MAX_EXPORT_BYTES: usize = 5 * 1024 * 1024;

/// The document's format name (a later incompatible shape gets a new one).
pub const FORMAT: &str = "switchboard.contact_export.v1";

/// Sections of records kept in the contact's partition, by sort-key prefix.
pub const SECTIONS: &[(&str, &str)] = &[
    ("NOTE#", "notes"),
    ("APPOINTMENT#", "appointments"),
    ("ENROLMENT#", "campaign_enrolments"),
];

/// What to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Messages with their content (else each conversation names its paged list).
    pub include_messages: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            include_messages: true,
        }
    }
}

/// Counts the bytes of the document as it is built, and stops at the limit.
struct Size {
    bytes: usize,
    field: &'static str,
}

impl Size {
    fn add(&mut self, v: &Value) -> Result<()> {
        self.bytes += escaped_len(&v.to_string());
        if self.bytes > MAX_EXPORT_BYTES {
            Err(too_large(self.field))
        } else {
            Ok(())
        }
    }
}

fn too_large(field: &'static str) -> Error {
    let mib = MAX_EXPORT_BYTES / (1024 * 1024);
    let message = if field == "include_messages" {
        format!(
            "the export is larger than {mib} MiB, the most one response can carry; ask again with include_messages=false and read each conversation's messages from its messages_path, which pages"
        )
    } else {
        format!("the export is larger than {mib} MiB, the most one response can carry")
    };
    Error::validation(field, "export_too_large", message)
}

/// The length of `text` once escaped as a JSON string (how Lambda's proxy response
/// carries a body): quotes and backslashes gain a backslash, control characters
/// become `\u00XX`.
pub fn escaped_len(text: &str) -> usize {
    text.len()
        + text
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' => 1,
                0x00..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// Everything held about a contact, as one document. 404 for an unknown contact,
/// another org's, or one being erased; 422 `export_too_large` past [`MAX_EXPORT_BYTES`].
pub async fn export(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    options: ExportOptions,
) -> Result<Value> {
    // A person being erased is gone as far as the API is concerned.
    if erase::is_running(svc, org, contact).await? {
        return Err(Error::not_found("contact"));
    }
    let (c_pk, c_sk) = Contact::key_of(org, contact);
    let Some(record) = svc.store.get(&c_pk, &c_sk).await? else {
        return Err(Error::not_found("contact"));
    };
    let now = svc.clock.now();
    let mut size = Size {
        bytes: 0,
        field: if options.include_messages {
            "include_messages"
        } else {
            "id"
        },
    };
    size.add(&record.data)?;

    // The contact's partition: per-contact records, and the links to raw events.
    let mut sections: BTreeMap<&str, Vec<Value>> = SECTIONS
        .iter()
        .map(|(_, name)| (*name, Vec::new()))
        .collect();
    let mut other = Vec::new();
    let mut events: Vec<(Provider, String)> = Vec::new();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::table(contact_pk(org, contact))
                    .after(after)
                    .consistent(),
            )
            .await?;
        for it in &page.items {
            if it.sk == c_sk || it.sk.starts_with(LINK_CONV) {
                continue;
            }
            if let Some(rest) = it.sk.strip_prefix(LINK_EVENT) {
                if let Some((p, key)) = rest.split_once('#')
                    && let Some(p) = Provider::parse(p)
                {
                    events.push((p, key.to_owned()));
                }
                continue;
            }
            size.add(&it.data)?;
            match SECTIONS
                .iter()
                .find(|(prefix, _)| it.sk.starts_with(prefix))
            {
                Some((_, name)) => sections.entry(name).or_default().push(it.data.clone()),
                None => other.push(json!({
                    "kind": it.sk.split('#').next().unwrap_or_default().to_ascii_lowercase(),
                    "record": it.data,
                })),
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => break,
        }
    }

    // Conversations, each with its messages in conversation order.
    let wa = record
        .data
        .get("wa_id")
        .and_then(Value::as_str)
        .and_then(|s| WaId::parse(s).ok());
    let mut conversations = Vec::new();
    for id in conversations_of(svc, org, contact, wa.as_ref()).await? {
        let (pk, sk) = Conversation::key_of(org, &id);
        let Some(c) = load::<Conversation>(&*svc.store, &pk, &sk).await? else {
            continue;
        };
        let mut view = c.record.view(now);
        size.add(&view)?;
        // What AI made of the conversation: reply records, its summary, translations.
        view["ai"] = ai_records(svc, &pk, &mut size).await?;
        if options.include_messages {
            view["messages"] = Value::Array(messages(svc, org, &c.record, &mut size).await?);
        } else {
            view["messages"] = Value::Null;
            view["messages_path"] = Value::String(format!("/v1/conversations/{id}/messages"));
        }
        conversations.push(view);
    }

    // Raw events: what is kept and until when, not their payloads.
    let mut raw = Vec::new();
    for (provider, key) in events {
        let (pk, sk) = WebhookEvent::key_of(provider, &key);
        if let Some(e) = load::<WebhookEvent>(&*svc.store, &pk, &sk).await? {
            let e = e.record;
            let v = json!({
                "provider": e.provider,
                "kind": e.kind,
                "status": e.status,
                "received_at": fmt_time(e.received_at),
                "expires_at": e.expires_at
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(fmt_time),
            });
            size.add(&v)?;
            raw.push(v);
        }
    }

    let mut doc = json!({
        "format": FORMAT,
        "generated_at": fmt_time(now),
        "org_id": org,
        "contact": record.data,
        "conversations": conversations,
        "raw_webhook_events": {
            "retention_days": svc.retention.webhook_events.num_days(),
            "items": raw,
        },
        "other_records": other,
    });
    for (name, items) in sections {
        doc[name] = Value::Array(items);
    }
    // The pieces were counted one by one; the whole adds only punctuation, but the limit
    // is about the whole.
    if escaped_len(&doc.to_string()) > MAX_EXPORT_BYTES {
        return Err(too_large(size.field));
    }
    Ok(doc)
}

/// The AI records kept in a conversation's partition (`SUGGESTION#…`, `SUMMARY`,
/// `TRANSLATION#…`), counted against the size limit.
async fn ai_records(svc: &Services, pk: &str, size: &mut Size) -> Result<Value> {
    let mut out = json!({"suggestions": [], "summary": null, "translations": []});
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(Query::table(pk).after(after).consistent())
            .await?;
        for it in &page.items {
            let slot = if it.sk.starts_with("SUGGESTION#") {
                "suggestions"
            } else if it.sk.starts_with("TRANSLATION#") {
                "translations"
            } else if it.sk == "SUMMARY" {
                size.add(&it.data)?;
                out["summary"] = it.data.clone();
                continue;
            } else {
                continue;
            };
            size.add(&it.data)?;
            if let Some(list) = out[slot].as_array_mut() {
                list.push(it.data.clone());
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => return Ok(out),
        }
    }
}

/// Every message of a conversation, oldest first, counted against the size limit.
async fn messages(
    svc: &Services,
    org: &OrgId,
    conversation: &Conversation,
    size: &mut Size,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi1, Message::list_pk(org, &conversation.id))
                    .limit(100)
                    .after(after),
            )
            .await?;
        for m in decode_all::<Message>(&page.items)? {
            let v = m.view();
            size.add(&v)?;
            out.push(v);
        }
        match page.next {
            Some(p) => after = Some(p),
            None => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_length_counts_what_a_json_string_adds() {
        let text = json!({"a": "x\"y\\z\u{1}é"}).to_string();
        let as_string = serde_json::to_string(&text).unwrap();
        // Minus the two quotes around the string itself.
        assert_eq!(escaped_len(&text), as_string.len() - 2);
    }
}
