//! The reply flow: one `ai` queue job per customer message, one FIFO group per
//! conversation.
//!
//! For each job `worker-ai`:
//! 1. skips when AI is off, the message is gone or is no longer the customer's latest
//!    (a burst of messages is answered once, after its last message), or the job is
//!    older than [`MAX_JOB_AGE_MINUTES`];
//! 2. analyses the message (sentiment, category, language; see [`super::insight`]);
//! 3. hands the conversation to a person when the customer asks for one (a handoff
//!    keyword), and stays silent while it is handed off (pending with the `handoff`
//!    label, until a person resolves or reopens it) or while its assignee has replied
//!    within `human_pause_minutes`;
//! 4. picks the contact's variant, builds the prompt and calls the variant's model, then
//!    the fallback model on an error, a 429, a 5xx or a timeout;
//! 5. applies the guardrails (no empty or over-long reply; the model's handoff answer
//!    hands off) and either sends the reply through the normal send path — auto mode,
//!    inside the hours the settings allow, within the 24-hour window, under the daily
//!    caps and the plan's AI-reply limit — or stores a draft for an agent.
//!
//! Exactly once: the reply record's id derives from the message, and it is written
//! before the send, which carries an idempotency key derived from it. A redelivered job
//! finds the record: done, or (`sending`) resends under the same key, which the send
//! path answers with the first message.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::billing::BillingConfig;
use crate::error::{Error, Result};
use crate::ids::{ConversationId, MessageId, OrgId};
use crate::llm::{ChatMessage, ChatRequest, ChatRole, Completion, ModelRef};
use crate::model::{Conversation, Direction, Message, MessageOrigin};
use crate::queue::{OutgoingMessage, QueueName};
use crate::record::{Versioned, item, load};
use crate::services::Services;
use crate::store::{Condition, StoreError};
use crate::triage::ConversationStatus;

use super::settings::{AiMode, AiSettings};
use super::stats::{self, Event, LogEntry, Purpose};
use super::suggestions::{MAX_REPLY_CHARS, Suggestion, SuggestionStatus};
use super::{Variant, context};

/// Jobs older than this are not answered (a reply hours late reads as a bot's).
pub const MAX_JOB_AGE_MINUTES: i64 = 120;
/// The label a handed-off conversation carries.
pub const HANDOFF_LABEL: &str = "handoff";

/// A job: answer (or not) the customer's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiJob {
    /// The org.
    pub org_id: OrgId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The customer's message.
    pub message_id: MessageId,
}

/// Queues the job for a customer message just applied, when the org has AI on. Called
/// for redelivered messages too (the job is idempotent), so a lost enqueue is redone by
/// the event's retry.
pub async fn enqueue(
    svc: &Services,
    org: &OrgId,
    conversation: &ConversationId,
    message: &MessageId,
) -> Result<()> {
    if !super::settings::load_settings(svc, org).await?.enabled {
        return Ok(());
    }
    let job = AiJob {
        org_id: org.clone(),
        conversation_id: conversation.clone(),
        message_id: message.clone(),
    };
    let body = serde_json::to_string(&job)
        .map_err(|e| Error::Internal(format!("AI job does not serialise: {e}")))?;
    svc.queue
        .send(
            QueueName::Ai,
            vec![OutgoingMessage::fifo(
                body,
                // Conversation ids are opaque (derived), never a phone number.
                conversation.to_string(),
                format!("ai-{message}"),
            )],
        )
        .await?;
    Ok(())
}

/// What a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Nothing to do, and why (`disabled`, `superseded`, `handoff`, `agent_active`,
    /// `cap_reached`, `stale`, `no_text`, `gone`, `done`).
    Skipped(&'static str),
    /// The reply went to the send path.
    Sent,
    /// A draft waits for an agent (with why it was not sent, in auto mode).
    Drafted,
    /// The conversation was handed to a person.
    HandedOff,
    /// No usable reply; the reason is on the reply record.
    Failed(String),
}

// ------------------------------------------------------------------ model calls

/// One model call's parameters, with the fallback to try.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// Why.
    pub purpose: Purpose,
    /// The contact's variant (replies).
    pub variant: Option<Variant>,
    /// The model tried first.
    pub primary: ModelRef,
    /// The model tried when the first fails.
    pub fallback: Option<ModelRef>,
    /// Ask for JSON.
    pub json: bool,
    /// Completion token limit.
    pub max_tokens: u32,
    /// Temperature.
    pub temperature: Option<f32>,
    /// Per-call timeout.
    pub timeout: std::time::Duration,
}

impl CallSpec {
    /// The settings' model (of `variant`) and fallback, tokens and timeout.
    pub fn for_settings(settings: &AiSettings, purpose: Purpose, variant: Option<Variant>) -> Self {
        Self {
            purpose,
            variant,
            primary: settings.model_of(variant.unwrap_or(Variant::A)).clone(),
            fallback: settings.fallback_model.clone(),
            json: false,
            max_tokens: settings.max_tokens,
            temperature: settings.temperature,
            timeout: settings.timeout(),
        }
    }
}

/// A model's answer and who gave it.
#[derive(Debug, Clone)]
pub struct Called {
    /// The answer.
    pub completion: Completion,
    /// The model that answered.
    pub model: ModelRef,
    /// Whether it was the fallback.
    pub fallback: bool,
}

/// Both models failed.
#[derive(Debug, Clone)]
pub struct CallFailed {
    /// `model_error:<first code>,<fallback code>`.
    pub reason: String,
    /// The last model tried.
    pub model: ModelRef,
}

/// Calls the primary model, then the fallback on any failure; every call is logged.
pub async fn call_models(
    svc: &Services,
    org: &OrgId,
    spec: &CallSpec,
    messages: Vec<ChatMessage>,
) -> std::result::Result<Called, CallFailed> {
    let mut codes = Vec::new();
    let mut tried = vec![(spec.primary.clone(), false)];
    if let Some(f) = spec.fallback.as_ref().filter(|f| **f != spec.primary) {
        tried.push((f.clone(), true));
    }
    let mut last = spec.primary.clone();
    for (model, fallback) in tried {
        let req = ChatRequest {
            model: model.clone(),
            messages: messages.clone(),
            temperature: spec.temperature,
            max_tokens: Some(spec.max_tokens),
            timeout: spec.timeout,
            json: spec.json,
        };
        let started = Instant::now();
        let result = svc.llm.complete(&req).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let mut entry = LogEntry::new(org, Event::Call, svc.clock.now());
        entry.purpose = Some(spec.purpose);
        entry.variant = spec.variant;
        entry.model = Some(model.to_string());
        entry.fallback = fallback;
        entry.latency_ms = Some(latency_ms);
        match result {
            Ok(completion) => {
                entry.prompt_tokens = completion.prompt_tokens;
                entry.completion_tokens = completion.completion_tokens;
                entry.outcome = Some("ok".into());
                stats::record(svc, &entry).await;
                svc.metrics
                    .count(crate::metrics::Metric::AiCalls, Some("ok"), 1);
                return Ok(Called {
                    completion,
                    model,
                    fallback,
                });
            }
            Err(e) => {
                // The code only: a provider's error text may quote the prompt.
                warn!(org_id = %org, model = %model, purpose = ?spec.purpose, error = e.code(), fallback, "model call failed");
                entry.outcome = Some(e.code().into());
                stats::record(svc, &entry).await;
                svc.metrics
                    .count(crate::metrics::Metric::AiCalls, Some("error"), 1);
                codes.push(e.code());
                last = model;
            }
        }
    }
    Err(CallFailed {
        reason: format!("model_error:{}", codes.join(",")),
        model: last,
    })
}

// ------------------------------------------------------------------ the job

/// Parses a queue body. A body that does not parse is poison.
pub fn parse_job(body: &str) -> Result<AiJob> {
    serde_json::from_str(body)
        .map_err(|e| Error::Internal(format!("queue body is not an AI job: {e}")))
}

/// Whether the conversation is with a person: handed off and not yet resolved or
/// reopened by one.
pub fn in_handoff(c: &Conversation) -> bool {
    c.status == ConversationStatus::Pending && c.labels.iter().any(|l| l == HANDOFF_LABEL)
}

/// Runs one job.
pub async fn process(svc: &Services, billing: &BillingConfig, body: &str) -> Result<JobOutcome> {
    let job = parse_job(body)?;
    let org = &job.org_id;
    let settings = super::settings::load_settings(svc, org).await?;
    if !settings.enabled {
        return Ok(JobOutcome::Skipped("disabled"));
    }
    let (c_pk, c_sk) = Conversation::key_of(org, &job.conversation_id);
    let Some(conversation) = load::<Conversation>(&*svc.store, &c_pk, &c_sk).await? else {
        return Ok(JobOutcome::Skipped("gone"));
    };
    let conversation = conversation.record;
    // The message itself by key (a consistent read); the history through the message
    // index, which on DynamoDB may lag a moment behind.
    let (m_pk, m_sk) = Message::key_of(org, &job.message_id);
    let Some(message) = load::<Message>(&*svc.store, &m_pk, &m_sk).await? else {
        return Ok(JobOutcome::Skipped("gone"));
    };
    let message = message.record;
    let mut recent =
        context::recent_messages(svc, org, &conversation.id, context::HISTORY_MESSAGES).await?;
    if superseded(&conversation, &message, &recent) {
        // A later message came: its own job answers the burst.
        return Ok(JobOutcome::Skipped("superseded"));
    }
    if !recent.iter().any(|m| m.id == message.id) {
        recent.insert(0, message.clone());
    }
    let now = svc.clock.now();
    // Time-ordered by when Switchboard stored the message (provider times are whole
    // seconds, which would leave a burst's replies in no particular order).
    let sid = Suggestion::id_for(org, &message.id, message.created_at);
    let (s_pk, s_sk) = Suggestion::key_of(org, &conversation.id, &sid);
    if let Some(existing) = load::<Suggestion>(&*svc.store, &s_pk, &s_sk).await? {
        return match existing.record.status {
            SuggestionStatus::Sending if existing.record.sent_message_id.is_none() => {
                // Left `sending` by an earlier run: the send is repeated under the same
                // idempotency key, which the send path answers with the message it
                // stored then.
                send_reply(svc, billing, existing).await
            }
            SuggestionStatus::Draft => {
                // The run that stored it may have failed to tell it: told again, the
                // same event.
                publish_draft(svc, &existing.record).await?;
                Ok(JobOutcome::Skipped("done"))
            }
            _ => Ok(JobOutcome::Skipped("done")),
        };
    }
    if now - message.created_at > Duration::minutes(MAX_JOB_AGE_MINUTES) {
        return Ok(JobOutcome::Skipped("stale"));
    }
    if settings.analysis {
        super::insight::analyse(svc, &settings, &conversation, &message).await;
    }
    let text = context::message_text(&message);
    if in_handoff(&conversation) {
        return Ok(JobOutcome::Skipped("handoff"));
    }
    if context::asks_for_person(&text, &settings.handoff_keywords) {
        hand_off(svc, &conversation, "keyword").await?;
        let mut e = LogEntry::new(org, Event::Handoff, now);
        e.outcome = Some("keyword".into());
        e.variant = Some(variant(&settings, &conversation));
        stats::record(svc, &e).await;
        return Ok(JobOutcome::HandedOff);
    }
    if text.trim().is_empty() || text.starts_with('[') && !text.contains(' ') {
        // Reactions, stickers, bare media: nothing to answer in words.
        return Ok(JobOutcome::Skipped("no_text"));
    }
    if conversation.assignee.is_some()
        && conversation
            .last_agent_reply_at
            .is_some_and(|t| now - t < Duration::minutes(i64::from(settings.human_pause_minutes)))
    {
        return Ok(JobOutcome::Skipped("agent_active"));
    }

    // Auto-reply, or a draft (and why).
    let mut draft_reason: Option<&'static str> = None;
    if settings.mode == AiMode::Auto {
        if settings
            .business_hours
            .as_ref()
            .is_some_and(|h| !h.auto_reply_at(now))
        {
            draft_reason = Some("outside_auto_reply_hours");
        } else if !conversation.window_open(now) {
            draft_reason = Some("window_closed");
        } else if !caps_have_room(svc, &settings, &conversation, now).await? {
            return Ok(JobOutcome::Skipped("cap_reached"));
        }
    }
    let auto = settings.mode == AiMode::Auto && draft_reason.is_none();

    let variant = variant(&settings, &conversation);
    let contact = context::contact_of(svc, org, &conversation.contact_id).await?;
    let mut prompt = vec![ChatMessage::new(
        ChatRole::System,
        context::system_message(svc, &settings, contact.as_ref()).await?,
    )];
    prompt.extend(context::history(&recent, context::HISTORY_TOKEN_BUDGET));
    let spec = CallSpec::for_settings(&settings, Purpose::Reply, Some(variant));
    let mut record = Suggestion {
        id: sid.clone(),
        org_id: org.clone(),
        conversation_id: conversation.id.clone(),
        message_id: message.id.clone(),
        status: SuggestionStatus::Failed,
        text: None,
        sent_text: None,
        variant,
        model: None,
        fallback: false,
        reason: None,
        sent_message_id: None,
        decided_by: None,
        created_at: now,
        updated_at: now,
    };
    let called = match call_models(svc, org, &spec, prompt).await {
        Ok(c) => c,
        Err(failed) => {
            record.model = Some(failed.model.to_string());
            return fail(svc, record, failed.reason).await;
        }
    };
    record.model = Some(called.model.to_string());
    record.fallback = called.fallback;
    let reply = called.completion.content.trim().to_owned();
    if reply.contains(context::HANDOFF_MARKER) {
        record.status = SuggestionStatus::Handoff;
        if !create(svc, &record).await? {
            return Ok(JobOutcome::Skipped("done"));
        }
        hand_off(svc, &conversation, "model").await?;
        let mut e = LogEntry::outcome(org, Event::Handoff, svc.clock.now(), Some(variant), &sid);
        e.outcome = Some("model".into());
        stats::record(svc, &e).await;
        return Ok(JobOutcome::HandedOff);
    }
    if reply.is_empty() {
        return fail(svc, record, "empty_output".into()).await;
    }
    if reply.chars().count() > MAX_REPLY_CHARS {
        return fail(svc, record, "too_long".into()).await;
    }
    record.text = Some(reply);
    if !auto {
        record.status = SuggestionStatus::Draft;
        record.reason = draft_reason.map(str::to_owned);
        if !create(svc, &record).await? {
            return Ok(JobOutcome::Skipped("done"));
        }
        stats::record(
            svc,
            &LogEntry::outcome(org, Event::Drafted, svc.clock.now(), Some(variant), &sid),
        )
        .await;
        info!(org_id = %org, conversation_id = %conversation.id, suggestion_id = %sid, variant = variant.as_str(), "AI draft stored");
        publish_draft(svc, &record).await?;
        return Ok(JobOutcome::Drafted);
    }
    // The plan's AI-reply limit; a refusal is a failed reply with a visible reason.
    let reserved = match crate::usecases::billing::admit_ai_reply(svc, billing, org).await {
        Ok(p) => p,
        Err(Error::PaymentRequired { code, .. }) => {
            return fail(svc, record, code.to_owned()).await;
        }
        Err(e) => return Err(e),
    };
    if !take_caps(svc, &settings, &conversation, now).await? {
        crate::usecases::billing::release_ai_reply(svc, org, reserved).await;
        return Ok(JobOutcome::Skipped("cap_reached"));
    }
    record.status = SuggestionStatus::Sending;
    if !create(svc, &record).await? {
        // Another run answered the message: what this one counted is given back.
        crate::usecases::billing::release_ai_reply(svc, org, reserved).await;
        give_back_caps(svc, &settings, &conversation, now).await?;
        return Ok(JobOutcome::Skipped("done"));
    }
    let (pk, sk) = Suggestion::key_of(org, &conversation.id, &sid);
    let stored = load::<Suggestion>(&*svc.store, &pk, &sk)
        .await?
        .ok_or_else(|| Error::Internal("reply record vanished after its write".into()))?;
    match send_reply(svc, billing, stored).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            if !e.is_retryable() {
                crate::usecases::billing::release_ai_reply(svc, org, reserved).await;
            }
            Err(e)
        }
    }
}

/// Whether a later customer message than `message` exists: the conversation (read
/// consistently) moved its last inbound time past it, or, for messages of the same
/// second, the index lists a later one.
fn superseded(c: &Conversation, message: &Message, newest_first: &[Message]) -> bool {
    if c.last_inbound_at.is_some_and(|t| t > message.timestamp) {
        return true;
    }
    newest_first
        .iter()
        .find(|m| m.direction == Direction::Inbound)
        .is_some_and(|latest| {
            latest.id != message.id
                && (latest.timestamp, latest.created_at) >= (message.timestamp, message.created_at)
        })
}

fn variant(settings: &AiSettings, c: &Conversation) -> Variant {
    match &settings.experiment {
        Some(e) => super::variant_of(&c.org_id, &c.contact_id, e.weight),
        None => Variant::A,
    }
}

/// Writes a new reply record; `false` when one exists (another run got there).
async fn create(svc: &Services, s: &Suggestion) -> Result<bool> {
    match svc.store.put(item(s, 1)?, Condition::NotExists).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn fail(svc: &Services, mut record: Suggestion, reason: String) -> Result<JobOutcome> {
    record.status = SuggestionStatus::Failed;
    record.text = None;
    record.reason = Some(reason.clone());
    if !create(svc, &record).await? {
        return Ok(JobOutcome::Skipped("done"));
    }
    let mut e = LogEntry::outcome(
        &record.org_id,
        Event::Failed,
        svc.clock.now(),
        Some(record.variant),
        &record.id,
    );
    e.outcome = Some(reason.clone());
    stats::record(svc, &e).await;
    warn!(org_id = %record.org_id, conversation_id = %record.conversation_id, suggestion_id = %record.id, reason = %reason, "no AI reply");
    Ok(JobOutcome::Failed(reason))
}

async fn send_reply(
    svc: &Services,
    billing: &BillingConfig,
    mut s: Versioned<Suggestion>,
) -> Result<JobOutcome> {
    let text = s.record.text.clone().unwrap_or_default();
    let body = json!({"type": "text", "text": {"body": text}});
    let org = s.record.org_id.clone();
    let result = crate::usecases::outbound::send(
        svc,
        crate::usecases::outbound::SendRequest {
            org: &org,
            conversation: &s.record.conversation_id,
            body: &body,
            idempotency_key: Some(&format!("ai-auto-{}", s.record.id)),
            sender: None,
            billing,
            correlation_id: None,
            origin: Some(MessageOrigin::Ai {
                suggestion_id: s.record.id.clone(),
                auto: true,
            }),
        },
    )
    .await;
    match result {
        Ok(accepted) => {
            s.record.status = SuggestionStatus::Sent;
            s.record.sent_message_id = Some(accepted.message.id.clone());
            super::suggestions::save(svc, &mut s).await?;
            stats::record(
                svc,
                &LogEntry::outcome(
                    &org,
                    Event::Sent,
                    svc.clock.now(),
                    Some(s.record.variant),
                    &s.record.id,
                ),
            )
            .await;
            info!(org_id = %org, conversation_id = %s.record.conversation_id, message_id = %accepted.message.id, variant = s.record.variant.as_str(), "AI reply sent");
            Ok(JobOutcome::Sent)
        }
        Err(e) if !e.is_retryable() => {
            // Refused for good (window closed meanwhile, plan limit, number gone): the
            // reply stays as a draft an agent can still send, with the reason.
            warn!(org_id = %org, suggestion_id = %s.record.id, error = %e, "AI reply not sent; kept as a draft");
            s.record.status = SuggestionStatus::Draft;
            s.record.reason = Some(format!("not_sent:{}", e.code()));
            super::suggestions::save(svc, &mut s).await?;
            publish_draft(svc, &s.record).await?;
            Ok(JobOutcome::Drafted)
        }
        Err(e) => Err(e),
    }
}

// ------------------------------------------------------------------ caps

fn cap_keys(
    settings: &AiSettings,
    c: &Conversation,
    now: DateTime<Utc>,
) -> ((String, String), (String, String)) {
    let day = now
        .with_timezone(&settings.timezone())
        .format("%Y-%m-%d")
        .to_string();
    let pk = format!("{}#CAPS", super::ai_pk(&c.org_id));
    (
        (pk.clone(), format!("{day}#CONV#{}", c.id)),
        (pk, format!("{day}#ORG")),
    )
}

/// Each cap that applies: its counter's key and its limit.
fn caps_of(
    settings: &AiSettings,
    c: &Conversation,
    now: DateTime<Utc>,
) -> Vec<((String, String), u32)> {
    let (conv, org) = cap_keys(settings, c, now);
    let mut out = vec![(conv, settings.caps.per_conversation_per_day)];
    if let Some(limit) = settings.caps.per_org_per_day {
        out.push((org, limit));
    }
    out
}

fn cap_ttl(now: DateTime<Utc>) -> Option<i64> {
    Some((now + Duration::days(3)).timestamp())
}

async fn caps_have_room(
    svc: &Services,
    settings: &AiSettings,
    c: &Conversation,
    now: DateTime<Utc>,
) -> Result<bool> {
    for (key, limit) in caps_of(settings, c, now) {
        let used = svc.store.get(&key.0, &key.1).await?.and_then(|i| i.n);
        if used.unwrap_or(0) >= i64::from(limit) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Counts one auto-reply against the caps; `false` (and nothing counted) when either is
/// full. Counters, not reads, so concurrent conversations cannot overshoot the org cap.
async fn take_caps(
    svc: &Services,
    settings: &AiSettings,
    c: &Conversation,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut taken: Vec<(String, String)> = Vec::new();
    for (key, limit) in caps_of(settings, c, now) {
        let n = svc.store.increment(&key.0, &key.1, 1, cap_ttl(now)).await?;
        taken.push(key);
        if n > i64::from(limit) {
            for k in &taken {
                svc.store.take(&k.0, &k.1, 1).await?;
            }
            return Ok(false);
        }
    }
    Ok(true)
}

/// Gives back one auto-reply taken from the caps (its reply was not sent after all).
async fn give_back_caps(
    svc: &Services,
    settings: &AiSettings,
    c: &Conversation,
    now: DateTime<Utc>,
) -> Result<()> {
    for (key, _) in caps_of(settings, c, now) {
        svc.store.take(&key.0, &key.1, 1).await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ handoff

/// Hands the conversation to a person: pending, unassigned, labelled `handoff`; the
/// previous assignee (or, with none, the org's admins) is notified like an assignment.
pub async fn hand_off(svc: &Services, c: &Conversation, why: &str) -> Result<()> {
    let changed = crate::usecases::triage::modify_conversation(svc, &c.org_id, &c.id, |conv| {
        if in_handoff(conv) {
            return false;
        }
        conv.status = ConversationStatus::Pending;
        conv.snoozed_until = None;
        conv.assignee = None;
        if !conv.labels.iter().any(|l| l == HANDOFF_LABEL)
            && conv.labels.len() < crate::triage::MAX_LABELS
        {
            conv.labels.push(HANDOFF_LABEL.to_owned());
        }
        true
    })
    .await?;
    let Some((before, after)) = changed else {
        return Ok(());
    };
    if in_handoff(&before) {
        return Ok(());
    }
    info!(org_id = %c.org_id, conversation_id = %c.id, why, "conversation handed to a person");
    svc.metrics
        .count(crate::metrics::Metric::AiHandoffs, None, 1);
    crate::usecases::notifications::on_handoff(svc, &after.record, before.assignee.as_deref())
        .await;
    crate::usecases::triage::publish_updated(svc, &before, &after.record, after.version).await
}

/// Publishes `ai.suggestion_created` for a draft waiting for a person (one event per
/// suggestion: a job run again tells the same one).
async fn publish_draft(svc: &Services, s: &Suggestion) -> Result<()> {
    let data = json!({
        "suggestion_id": s.id,
        "conversation_id": s.conversation_id,
        "message_id": s.message_id,
    });
    crate::usecases::platform_events::publish(
        svc,
        &s.org_id,
        crate::usecases::platform_events::EventType::AiSuggestionCreated,
        &[s.id.as_str()],
        data,
    )
    .await?;
    Ok(())
}
