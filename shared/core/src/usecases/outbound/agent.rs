//! An agent's actions on a conversation besides sending: marking it read on WhatsApp
//! (blue ticks) and fetching a message's media through Graph, so the frontend never
//! holds a provider token.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::{ConversationId, MessageId, OrgId};
use crate::model::{Conversation, Direction, Message, MessageStatus, WamidRoute};
use crate::record::{Versioned, decode_all, load, update_versioned};
use crate::services::Services;
use crate::store::{Index, Query};
use crate::usecases::inbound::apply_status;
use crate::whatsapp::GraphError;

use super::{ErrorClass, TokenCache, classify, current_account, mark_reauth, provider_error};

/// Marks the conversation's latest inbound message read on WhatsApp and resets unread;
/// returns the conversation with its version.
pub async fn mark_read(
    svc: &Services,
    tokens: &TokenCache,
    org: &OrgId,
    id: &ConversationId,
) -> Result<Versioned<Conversation>> {
    let (c_pk, c_sk) = Conversation::key_of(org, id);
    let conversation = load::<Conversation>(&*svc.store, &c_pk, &c_sk)
        .await?
        .ok_or(Error::not_found("conversation"))?
        .record;
    // The latest inbound message: newest first until one is inbound.
    let mut latest: Option<Message> = None;
    let mut after = None;
    'pages: for _ in 0..10 {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi1, Message::list_pk(org, id))
                    .descending()
                    .limit(25)
                    .after(after),
            )
            .await?;
        for m in decode_all::<Message>(&page.items)? {
            if m.direction == Direction::Inbound {
                latest = Some(m);
                break 'pages;
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => break,
        }
    }
    if let Some(m) = &latest
        && let Some(wamid) = &m.wamid
        && m.status != MessageStatus::Read
        && let Some(account) = current_account(svc, org, &conversation).await?
    {
        let token = tokens.get(svc, &account).await?;
        if let Err(e) = svc
            .whatsapp_for(account.provider)
            .0
            .mark_read(&token, &account.phone_number_id, wamid)
            .await
        {
            if classify(&e) == ErrorClass::TokenInvalid {
                tokens.invalidate(&account.id);
                mark_reauth(svc, &account, &e).await?;
            }
            return Err(provider_error(&e));
        }
        let route = WamidRoute {
            wamid: wamid.clone(),
            org_id: org.clone(),
            message_id: m.id.clone(),
        };
        apply_status(svc, &route, MessageStatus::Read, svc.clock.now(), None).await?;
    }
    update_versioned::<Conversation>(&*svc.store, &c_pk, &c_sk, |c| {
        if c.unread_count == 0 {
            return false;
        }
        c.unread_count = 0;
        c.updated_at = svc.clock.now();
        true
    })
    .await?
    .ok_or(Error::not_found("conversation"))
}

/// A downloaded media file.
#[derive(Debug, Clone)]
pub struct Media {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// MIME type Meta reported.
    pub mime_type: String,
    /// File name, for documents.
    pub filename: Option<String>,
}

/// Downloads a message's media through Graph with the account's token, so the frontend
/// never holds provider tokens.
pub async fn media(
    svc: &Services,
    tokens: &TokenCache,
    org: &OrgId,
    id: &MessageId,
    max_bytes: usize,
) -> Result<Media> {
    let (pk, sk) = Message::key_of(org, id);
    let message = load::<Message>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("message"))?
        .record;
    let kind = message.kind().to_owned();
    let media_id = switchboard_webhooks::meta::MEDIA_TYPES
        .contains(&kind.as_str())
        .then(|| {
            message
                .content
                .get(&kind)
                .and_then(|o| o.get("id"))
                .and_then(Value::as_str)
        })
        .flatten()
        .ok_or(Error::not_found("media"))?
        .to_owned();
    let (c_pk, c_sk) = Conversation::key_of(org, &message.conversation_id);
    let conversation = load::<Conversation>(&*svc.store, &c_pk, &c_sk)
        .await?
        .ok_or(Error::not_found("message"))?
        .record;
    let account = current_account(svc, org, &conversation)
        .await?
        .ok_or_else(|| Error::Conflict {
            code: "number_not_connected",
            message: "the business number of this message is not connected".into(),
        })?;
    let token = tokens.get(svc, &account).await?;
    let (client, _) = svc.whatsapp_for(account.provider);
    let info = client
        .media_info(&token, &media_id)
        .await
        .map_err(|e| match &e {
            GraphError::Api {
                http_status: 400 | 404,
                ..
            } => Error::not_found("media"),
            _ => provider_error(&e),
        })?;
    if info.file_size.is_some_and(|s| s as usize > max_bytes) {
        return Err(Error::Provider {
            code: "media_too_large",
            message: format!(
                "the file is larger than {max_bytes} bytes, the most this endpoint serves"
            ),
            retryable: false,
        });
    }
    let bytes = client
        .download(&token, &info.url, max_bytes)
        .await
        .map_err(|e| provider_error(&e))?;
    Ok(Media {
        bytes,
        mime_type: info
            .mime_type
            .unwrap_or_else(|| "application/octet-stream".into()),
        filename: message
            .content
            .get(&kind)
            .and_then(|o| o.get("filename"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
