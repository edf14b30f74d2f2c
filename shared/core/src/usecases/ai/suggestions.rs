//! AI reply records ("suggestions"), one per customer message the AI answered, kept in the
//! conversation's partition (an erasure of the contact takes them along) for 30 days.
//!
//! - `GET /v1/conversations/{id}/suggestions` lists them newest first.
//! - `POST …/suggestions/{sid}/accept` sends a draft, as it is or with `{text}` edited,
//!   through the normal send path (window, plan limits, pacing; the AI-reply plan limit
//!   answers 402); the draft is claimed first, so two clicks send once.
//! - `POST …/suggestions/{sid}/reject` `{reason}` turns it down.
//!
//! The id derives from the answered message (time-ordered, so the list sorts by time and
//! a redelivered job finds its record).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::info;

use crate::billing::BillingConfig;
use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{ConversationId, MessageId, OrgId, SuggestionId};
use crate::model::{Conversation, MessageOrigin};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Record, Versioned, decode_all, load};
use crate::services::Services;
use crate::store::{Query, SortKey, StoreError};

use super::Variant;
use super::stats::{self, Event, LogEntry};

/// How long reply records are kept.
pub const RETENTION_DAYS: i64 = 30;
/// Longest reply sent (longer model output is not sent).
pub const MAX_REPLY_CHARS: usize = 4_096;
/// Longest rejection reason.
pub const MAX_REASON_CHARS: usize = 500;

const SK_PREFIX: &str = "SUGGESTION#";

/// Where a reply record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionStatus {
    /// Waiting for an agent.
    Draft,
    /// Claimed for sending (auto, or an agent's accept in flight).
    Sending,
    /// Sent on its own (auto mode).
    Sent,
    /// Accepted by an agent as it was.
    Accepted,
    /// Accepted by an agent after editing.
    Edited,
    /// Turned down by an agent.
    Rejected,
    /// No usable reply (both models failed, empty or over-long output, plan limit).
    Failed,
    /// The model handed the conversation to a person.
    Handoff,
}

/// One AI reply record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// Id.
    pub id: SuggestionId,
    /// Owner.
    pub org_id: OrgId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The customer message it answers.
    pub message_id: MessageId,
    /// Status.
    pub status: SuggestionStatus,
    /// The reply text (drafts and sent replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The text an agent sent instead (edited accepts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_text: Option<String>,
    /// The contact's variant.
    pub variant: Variant,
    /// `provider:name` of the model that answered (or was tried last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whether the fallback model answered.
    #[serde(default)]
    pub fallback: bool,
    /// Why: a failure's reason, a rejection's reason, why a draft was made in auto mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The message sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_message_id: Option<MessageId>,
    /// Who accepted or rejected it (token subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl Suggestion {
    /// Key of a suggestion.
    pub fn key_of(
        org: &OrgId,
        conversation: &ConversationId,
        id: &SuggestionId,
    ) -> (String, String) {
        (
            Conversation::key_of(org, conversation).0,
            format!("{SK_PREFIX}{id}"),
        )
    }

    /// The id of the reply to `message` (received at `at`): time-ordered, derived.
    pub fn id_for(org: &OrgId, message: &MessageId, at: DateTime<Utc>) -> SuggestionId {
        let derived = crate::ids::derived_uuid(&["ai-reply", org.as_str(), message.as_str()]);
        let mut bytes = [0u8; 10];
        bytes.copy_from_slice(&derived.as_bytes()[..10]);
        let millis = at.timestamp_millis().max(0) as u64;
        SuggestionId::from_uuid(
            uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid(),
        )
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "status": self.status,
            "text": self.text,
            "sent_text": self.sent_text,
            "variant": self.variant.as_str(),
            "model": self.model,
            "fallback": self.fallback,
            "reason": self.reason,
            "sent_message_id": self.sent_message_id,
            "decided_by": self.decided_by,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

impl Record for Suggestion {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.conversation_id, &self.id)
    }

    fn ttl(&self) -> Option<i64> {
        Some((self.created_at + Duration::days(RETENTION_DAYS)).timestamp())
    }
}

/// A conversation's reply records, newest first (404 for a conversation not in the org).
pub async fn list(
    svc: &Services,
    org: &OrgId,
    conversation: &ConversationId,
    page: PageRequest,
) -> Result<Paged<Value>> {
    let (pk, sk) = Conversation::key_of(org, conversation);
    if svc.store.get(&pk, &sk).await?.is_none() {
        return Err(Error::not_found("conversation"));
    }
    let query = page.apply_to(
        Query::table(pk)
            .sort(SortKey::BeginsWith(SK_PREFIX.into()))
            .descending(),
        &crate::model::org_scope(org),
    )?;
    let result = svc.store.query(query).await?;
    let items: Vec<Suggestion> = decode_all(&result.items)?;
    Ok(Paged {
        items: items.iter().map(Suggestion::view).collect(),
        next_cursor: result.next.as_ref().map(encode_cursor),
    })
}

async fn load_suggestion(
    svc: &Services,
    org: &OrgId,
    conversation: &ConversationId,
    id: &SuggestionId,
) -> Result<Versioned<Suggestion>> {
    let (pk, sk) = Suggestion::key_of(org, conversation, id);
    load::<Suggestion>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("suggestion"))
}

fn not_a_draft(s: &Suggestion) -> Error {
    Error::Conflict {
        code: "suggestion_not_draft",
        message: format!(
            "the suggestion is {}; only drafts can be accepted or rejected",
            serde_json::to_value(s.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
    }
}

/// Moves a draft to `status` under its version; a lost race reads as "not a draft".
async fn claim(
    svc: &Services,
    s: &mut Versioned<Suggestion>,
    status: SuggestionStatus,
) -> Result<()> {
    if s.record.status != SuggestionStatus::Draft {
        return Err(not_a_draft(&s.record));
    }
    s.record.status = status;
    s.record.updated_at = svc.clock.now();
    match svc.store.put(s.next_item()?, s.condition()).await {
        Ok(()) => {
            s.version += 1;
            Ok(())
        }
        Err(StoreError::ConditionFailed { .. }) => {
            let (pk, sk) = s.record.key();
            let now = load::<Suggestion>(&*svc.store, &pk, &sk).await?;
            Err(now
                .map(|n| not_a_draft(&n.record))
                .unwrap_or(Error::not_found("suggestion")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Saves a claimed suggestion's next state.
pub(crate) async fn save(svc: &Services, s: &mut Versioned<Suggestion>) -> Result<()> {
    s.record.updated_at = svc.clock.now();
    svc.store.put(s.next_item()?, s.condition()).await?;
    s.version += 1;
    Ok(())
}

/// What an accept sent.
#[derive(Debug, Clone)]
pub struct AcceptedReply {
    /// The suggestion now.
    pub suggestion: Suggestion,
    /// The message, as the send API answers it.
    pub message: crate::model::Message,
}

/// `POST …/suggestions/{sid}/accept` `{text?}`.
pub async fn accept(
    svc: &Services,
    billing: &BillingConfig,
    org: &OrgId,
    conversation: &ConversationId,
    id: &SuggestionId,
    body: &Value,
    by: Option<&str>,
) -> Result<AcceptedReply> {
    let body = crate::usecases::triage::object_of_fields(body, &["text"])?;
    let edited = match body.get("text").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => {
            let t = v
                .as_str()
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.chars().count() <= MAX_REPLY_CHARS)
                .ok_or_else(|| {
                    Error::validation(
                        "text",
                        "invalid_text",
                        format!("text is 1-{MAX_REPLY_CHARS} characters"),
                    )
                })?;
            Some(t.to_owned())
        }
    };
    let mut s = load_suggestion(svc, org, conversation, id).await?;
    let original = s.record.text.clone().unwrap_or_default();
    let text = edited.clone().unwrap_or_else(|| original.clone());
    let changed = edited.as_ref().is_some_and(|e| e != original.trim());
    // The AI-reply limit first: a refusal leaves the draft as it was.
    let reserved = crate::usecases::billing::admit_ai_reply(svc, billing, org).await?;
    if let Err(e) = claim(svc, &mut s, SuggestionStatus::Sending).await {
        crate::usecases::billing::release_ai_reply(svc, org, reserved).await;
        return Err(e);
    }
    let body = json!({"type": "text", "text": {"body": text}});
    let sent = crate::usecases::outbound::send(
        svc,
        crate::usecases::outbound::SendRequest {
            org,
            conversation,
            body: &body,
            idempotency_key: Some(&format!("ai-accept-{id}")),
            sender: by,
            billing,
            correlation_id: None,
            origin: Some(MessageOrigin::Ai {
                suggestion_id: id.clone(),
                auto: false,
            }),
        },
    )
    .await;
    match sent {
        Ok(accepted) => {
            s.record.status = if changed {
                SuggestionStatus::Edited
            } else {
                SuggestionStatus::Accepted
            };
            s.record.sent_text = changed.then_some(text);
            s.record.sent_message_id = Some(accepted.message.id.clone());
            s.record.decided_by = by.map(str::to_owned);
            save(svc, &mut s).await?;
            let event = if changed {
                Event::Edited
            } else {
                Event::Accepted
            };
            stats::record(
                svc,
                &LogEntry::outcome(org, event, svc.clock.now(), Some(s.record.variant), id),
            )
            .await;
            info!(org_id = %org, suggestion_id = %id, edited = changed, "AI draft accepted");
            Ok(AcceptedReply {
                suggestion: s.record,
                message: accepted.message,
            })
        }
        Err(e) if e.is_retryable() => {
            // The send path may have stored the message and only failed to queue it: the
            // outbound sweep sends it then. The suggestion stays `sending` (a second accept
            // is a 409) and keeps its reservation.
            Err(e)
        }
        Err(e) => {
            // Not sent (window closed, plan limit, number gone): the draft stands.
            crate::usecases::billing::release_ai_reply(svc, org, reserved).await;
            s.record.status = SuggestionStatus::Draft;
            save(svc, &mut s).await?;
            Err(e)
        }
    }
}

/// `POST …/suggestions/{sid}/reject` `{reason?}`.
pub async fn reject(
    svc: &Services,
    org: &OrgId,
    conversation: &ConversationId,
    id: &SuggestionId,
    body: &Value,
    by: Option<&str>,
) -> Result<Suggestion> {
    let body = crate::usecases::triage::object_of_fields(body, &["reason"])?;
    let reason = match body.get("reason").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => Some(
            v.as_str()
                .map(str::trim)
                .filter(|r| !r.is_empty() && r.chars().count() <= MAX_REASON_CHARS)
                .ok_or_else(|| {
                    Error::validation(
                        "reason",
                        "invalid_reason",
                        format!("reason is 1-{MAX_REASON_CHARS} characters"),
                    )
                })?
                .to_owned(),
        ),
    };
    let mut s = load_suggestion(svc, org, conversation, id).await?;
    s.record.reason = reason;
    s.record.decided_by = by.map(str::to_owned);
    claim(svc, &mut s, SuggestionStatus::Rejected).await?;
    stats::record(
        svc,
        &LogEntry::outcome(
            org,
            Event::Rejected,
            svc.clock.now(),
            Some(s.record.variant),
            id,
        ),
    )
    .await;
    Ok(s.record)
}
