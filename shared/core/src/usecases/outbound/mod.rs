//! Sending WhatsApp messages, split by actor:
//!
//! - [`accept`]: what the send API does — validate, apply the window rule and the
//!   idempotency key, store the message `queued`, hand it to the queue — and the sweep
//!   that hands over sends whose enqueue never happened.
//! - [`deliver`]: what the sender worker does — pace, call Graph, classify errors,
//!   retry on a schedule that outlasts provider incidents, dead-letter what is spent.
//! - [`agent`]: an agent's other actions on a conversation (mark read, media).
//!
//! This module holds what they share: the queue reference, the Graph error classes,
//! the token cache, and marking a message failed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::error::{Error, Result};
use crate::ids::{AccountId, MessageId, OrgId};
use crate::model::{
    Account, AccountStatus, Conversation, Message, MessageError, MessageStatus, PhoneRoute,
};
use crate::privacy::Pseudonyms;
use crate::queue::{OutgoingMessage, QueueName};
use crate::record::{load, update};
use crate::secrets::SecretString;
use crate::services::Services;
use crate::store::StoreError;
use crate::whatsapp::GraphError;

pub mod accept;
pub mod agent;
pub mod deliver;

pub use accept::{
    Accepted, IDEMPOTENCY_TTL_HOURS, PendingSend, SendRequest, forget_idempotency_keys,
    pending_sends, requeue_pending, send,
};
pub use agent::{Media, mark_read, media};
pub use deliver::{Delivery, DeliveryConfig, apply_early_statuses, deliver};

/// Attempts at an optimistic write before reporting contention (retryable).
const MAX_ATTEMPTS: usize = 8;

/// The queue body pointing at an outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundRef {
    /// Owner.
    pub org_id: OrgId,
    /// The message.
    pub message_id: MessageId,
    /// The API request that accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// The FIFO group of a message: its business account and recipient, so each
/// recipient's messages keep their order while recipients proceed in parallel. Taken
/// from the message itself, so every enqueue of one message lands in one group; the
/// recipient appears as a keyed pseudonym (group ids are queue metadata and log fields).
fn outbound_group(message: &Message, conversation: &Conversation, p: &Pseudonyms) -> String {
    format!(
        "{}:{}",
        message.account_id,
        p.of(conversation.wa_id.as_str())
    )
}

/// Hands a stored message to the outbound queue. The dedupe id is the message id, so
/// a repeat within SQS's five-minute window is dropped, and a later one is skipped by
/// the sender (it only sends messages that are still waiting).
async fn enqueue(svc: &Services, message: &Message, conversation: &Conversation) -> Result<()> {
    let pseudonyms = crate::privacy::pseudonyms(svc).await?;
    let body = serde_json::to_string(&OutboundRef {
        org_id: message.org_id.clone(),
        message_id: message.id.clone(),
        correlation_id: message.correlation_id.clone(),
    })
    .unwrap_or_default();
    svc.queue
        .send(
            QueueName::Outbound,
            vec![OutgoingMessage::fifo(
                body,
                outbound_group(message, conversation, &pseudonyms),
                message.id.to_string(),
            )],
        )
        .await?;
    Ok(())
}

/// Hands a stored message to the queue and clears its waiting flag (campaigns and
/// sequences store their messages themselves; a failure leaves it for the sweep).
pub(crate) async fn hand_to_queue(
    svc: &Services,
    message: &Message,
    conversation: &Conversation,
) -> Result<()> {
    enqueue(svc, message, conversation).await?;
    accept::handed_over(svc, message).await;
    Ok(())
}

/// An error Switchboard itself records on a message.
fn switchboard_error(title: &str, message: &str) -> MessageError {
    MessageError {
        code: 0,
        title: Some(title.to_owned()),
        message: Some(message.to_owned()),
        details: None,
        retryable: false,
    }
}

/// Marks a message failed (optimistic concurrency) unless it has left the waiting
/// states; returns the message as it now is. `retryable` failures are tried again when
/// the DLQ is redriven.
async fn fail(
    svc: &Services,
    org: &OrgId,
    id: &MessageId,
    mut error: MessageError,
    retryable: bool,
) -> Result<Option<Message>> {
    error.retryable = retryable;
    let (pk, sk) = Message::key_of(org, id);
    Ok(update::<Message>(&*svc.store, &pk, &sk, |m| {
        if !matches!(
            m.status,
            MessageStatus::Queued | MessageStatus::Retrying | MessageStatus::Failed
        ) {
            return false;
        }
        let now = svc.clock.now();
        m.status = MessageStatus::Failed;
        m.status_times.record(MessageStatus::Failed, now);
        m.error = Some(error.clone());
        m.scheduled_at_us = None;
        m.next_attempt_at = None;
        m.awaiting_queue = false;
        m.sending_since = None;
        m.updated_at = now;
        true
    })
    .await?)
}

/// How Graph errors are handled by the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throughput limits (130429, 80007, 4, 613, 131048): back off with jitter.
    Throughput,
    /// Pair rate to one recipient (131056): retry that recipient later.
    PairRate,
    /// The customer-service window closed (131047): failed, no retry.
    WindowClosed,
    /// Invalid recipient, undeliverable, bad parameters or template (131026, 131030, …):
    /// failed, no retry.
    Permanent,
    /// The access token expired or was revoked (190): failed, account needs reauth.
    TokenInvalid,
    /// 5xx, timeouts, Graph's generic errors (131000, 1, 2, 131016): retry.
    Transient,
}

impl ErrorClass {
    /// The name in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Throughput => "throughput",
            ErrorClass::PairRate => "pair_rate",
            ErrorClass::WindowClosed => "window_closed",
            ErrorClass::Permanent => "permanent",
            ErrorClass::TokenInvalid => "token_invalid",
            ErrorClass::Transient => "transient",
        }
    }
}

/// Classifies a Graph error (codes from Meta's Cloud API error reference).
pub fn classify(e: &GraphError) -> ErrorClass {
    match e {
        GraphError::Transport(_) => ErrorClass::Transient,
        GraphError::Api {
            http_status, code, ..
        } => match code {
            130429 | 80007 | 4 | 613 | 131048 => ErrorClass::Throughput,
            131056 => ErrorClass::PairRate,
            131047 => ErrorClass::WindowClosed,
            190 => ErrorClass::TokenInvalid,
            131000 | 1 | 2 | 131016 | 133004 => ErrorClass::Transient,
            _ if *http_status == 401 => ErrorClass::TokenInvalid,
            _ if *http_status == 429 => ErrorClass::Throughput,
            _ if *http_status >= 500 => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        },
    }
}

/// A Graph error as recorded on the message.
fn graph_message_error(e: &GraphError) -> MessageError {
    match e {
        GraphError::Api {
            code,
            message,
            details,
            ..
        } => MessageError {
            code: *code,
            title: Some(message.clone()),
            message: Some(message.clone()),
            details: details.clone(),
            retryable: false,
        },
        GraphError::Transport(t) => MessageError {
            code: 0,
            title: Some("whatsapp_unreachable".into()),
            message: Some(t.clone()),
            details: None,
            retryable: true,
        },
    }
}

/// A Graph error as an API error (mark read, media).
pub(crate) fn provider_error(e: &GraphError) -> Error {
    match classify(e) {
        ErrorClass::TokenInvalid => Error::Provider {
            code: "whatsapp_reauth_required",
            message: "WhatsApp rejected the number's access token; reconnect the number".into(),
            retryable: false,
        },
        ErrorClass::Transient | ErrorClass::Throughput => Error::Provider {
            code: "whatsapp_unavailable",
            message: "WhatsApp did not answer; try again".into(),
            retryable: true,
        },
        _ => Error::Provider {
            code: "whatsapp_error",
            message: match e {
                GraphError::Api { code, message, .. } => {
                    format!("WhatsApp refused the request ({code}): {message}")
                }
                GraphError::Transport(t) => t.clone(),
            },
            retryable: false,
        },
    }
}

/// Flags an account whose token Graph rejected, so later sends fail fast and the
/// integrations list shows it needs reconnecting.
async fn mark_reauth(svc: &Services, account: &Account, e: &GraphError) -> Result<()> {
    let (pk, sk) = Account::key_of(&account.org_id, &account.id);
    let mut wrote = false;
    let result = update::<Account>(&*svc.store, &pk, &sk, |a| {
        wrote = a.status != AccountStatus::ReauthRequired;
        if wrote {
            a.status = AccountStatus::ReauthRequired;
            a.status_reason = Some(match e {
                GraphError::Api { code, message, .. } => {
                    format!("WhatsApp rejected the access token ({code}): {message}")
                }
                GraphError::Transport(_) => "WhatsApp rejected the access token".into(),
            });
            a.updated_at = svc.clock.now();
        }
        wrote
    })
    .await;
    match result {
        Ok(Some(_)) if wrote => {
            warn!(org_id = %account.org_id, account_id = %account.id, "account needs to be reconnected");
            Ok(())
        }
        // Under lasting contention another writer is updating the account anyway.
        Ok(_) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The account that currently owns the conversation's business number, if it is this
/// org's.
pub(crate) async fn current_account(
    svc: &Services,
    org: &OrgId,
    conversation: &Conversation,
) -> Result<Option<Account>> {
    let (r_pk, r_sk) = PhoneRoute::key_of(&conversation.phone_number_id);
    let Some(route) = load::<PhoneRoute>(&*svc.store, &r_pk, &r_sk).await? else {
        return Ok(None);
    };
    if &route.record.org_id != org {
        return Ok(None);
    }
    let (pk, sk) = Account::key_of(org, &route.record.account_id);
    Ok(load::<Account>(&*svc.store, &pk, &sk)
        .await?
        .map(|a| a.record))
}

/// Decrypted access tokens, cached briefly per account so a burst of sends costs one
/// KMS call. Entries are keyed by account and envelope, so a reconnected account never
/// sees a stale token.
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<AccountId, (Instant, String, SecretString)>>,
}

impl TokenCache {
    /// A cache keeping tokens for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The account's token, decrypting on a miss.
    pub async fn get(&self, svc: &Services, account: &Account) -> Result<SecretString> {
        if let Some((at, envelope, token)) = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account.id)
            && at.elapsed() < self.ttl
            && envelope == &account.token_envelope
        {
            return Ok(token.clone());
        }
        let token = crate::usecases::integrations::access_token(svc, account).await?;
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                account.id.clone(),
                (
                    Instant::now(),
                    account.token_envelope.clone(),
                    token.clone(),
                ),
            );
        Ok(token)
    }

    /// Forgets an account's token (after Graph rejected it).
    pub fn invalidate(&self, account: &AccountId) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(http_status: u16, code: i64) -> GraphError {
        GraphError::Api {
            http_status,
            code,
            subcode: None,
            message: "x".into(),
            details: None,
        }
    }

    #[test]
    fn error_classes() {
        for code in [130429, 80007, 4, 613] {
            assert_eq!(classify(&api(400, code)), ErrorClass::Throughput, "{code}");
        }
        assert_eq!(classify(&api(400, 131056)), ErrorClass::PairRate);
        assert_eq!(classify(&api(400, 131047)), ErrorClass::WindowClosed);
        for code in [131026, 131030, 131051, 132000, 132001, 100] {
            assert_eq!(classify(&api(400, code)), ErrorClass::Permanent, "{code}");
        }
        assert_eq!(classify(&api(401, 190)), ErrorClass::TokenInvalid);
        assert_eq!(classify(&api(500, 131000)), ErrorClass::Transient);
        assert_eq!(classify(&api(503, 0)), ErrorClass::Transient);
        assert_eq!(
            classify(&GraphError::Transport("timeout".into())),
            ErrorClass::Transient
        );
    }
}
