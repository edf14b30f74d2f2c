//! Understanding conversations: sentiment, category and language of each customer
//! message (set on its conversation, filterable with `GET /v1/conversations?sentiment=`),
//! conversation summaries and message translations.
//!
//! Analysis is one small model call asking for a JSON object, validated before anything
//! is stored: an answer that is not exactly the shape asked for changes nothing.
//! Summaries are kept in the conversation's partition and reused while no message came
//! since; translations are kept there too, per message and language. Both go with the
//! conversation when its contact is erased.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{ConversationId, MessageId, OrgId};
use crate::llm::{ChatMessage, ChatRole};
use crate::model::{Conversation, Message};
use crate::record::{Record, item, load};
use crate::services::Services;
use crate::store::Condition;

use super::AiSettings;
use super::context::{self, message_text, redact};
use super::reply::{CallSpec, call_models};
use super::stats::Purpose;

/// How a customer sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    /// Happy, thankful.
    Positive,
    /// Neither.
    Neutral,
    /// Unhappy, angry, worried.
    Negative,
}

impl Sentiment {
    /// Every sentiment.
    pub const ALL: [Sentiment; 3] = [Sentiment::Positive, Sentiment::Neutral, Sentiment::Negative];

    /// The name in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Positive => "positive",
            Sentiment::Neutral => "neutral",
            Sentiment::Negative => "negative",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What the analysis made of a customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    /// Sentiment.
    pub sentiment: Sentiment,
    /// Score from -1 (very negative) to 1 (very positive).
    pub score: f32,
    /// One of the org's categories, if one fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Language (ISO 639-1, lower-case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The message analysed.
    pub message_id: MessageId,
    /// When.
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
}

impl Insight {
    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "sentiment": self.sentiment,
            "score": self.score,
            "category": self.category,
            "language": self.language,
            "message_id": self.message_id,
            "at": fmt_time(self.at),
        })
    }
}

/// The longest the analysis call may take.
pub const ANALYSIS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest one model call of a summary or translation may take: the call and its
/// fallback fit in the API's 29 seconds.
pub const API_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(12);

/// Validates the model's analysis answer. `None` for anything but the asked shape.
pub fn parse_analysis(
    raw: &str,
    categories: &[String],
    message: &MessageId,
    at: DateTime<Utc>,
) -> Option<Insight> {
    let v: Value = serde_json::from_str(strip_fence(raw)).ok()?;
    let sentiment = Sentiment::parse(v.get("sentiment")?.as_str()?)?;
    let score = v
        .get("score")?
        .as_f64()
        .filter(|s| (-1.0..=1.0).contains(s))? as f32;
    let category = match v.get("category") {
        None | Some(Value::Null) => None,
        Some(c) => {
            let c = crate::triage::normalise_label(c.as_str()?)?;
            // Only the org's own categories: a model's invention is dropped, not stored.
            categories.contains(&c).then_some(c)
        }
    };
    let language = match v.get("language") {
        None | Some(Value::Null) => None,
        Some(l) => {
            let l = l.as_str()?.trim().to_ascii_lowercase();
            if l.len() != 2 || !l.bytes().all(|b| b.is_ascii_lowercase()) {
                return None;
            }
            Some(l)
        }
    };
    Some(Insight {
        sentiment,
        score,
        category,
        language,
        message_id: message.clone(),
        at,
    })
}

/// Models sometimes wrap JSON in a Markdown fence.
fn strip_fence(raw: &str) -> &str {
    let t = raw.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .unwrap_or(t);
    t.strip_suffix("```").unwrap_or(t).trim()
}

fn analysis_prompt(settings: &AiSettings, text: &str) -> Vec<ChatMessage> {
    let categories = if settings.categories.is_empty() {
        "null (no categories are defined)".to_owned()
    } else {
        format!("one of {} or null", settings.categories.join(", "))
    };
    vec![
        ChatMessage::new(
            ChatRole::System,
            format!(
                "Classify the customer's message. Answer only with a JSON object: \
                 {{\"sentiment\": \"positive\"|\"neutral\"|\"negative\", \"score\": a number from -1 to 1, \
                 \"category\": {categories}, \"language\": the ISO 639-1 code of the message's language}}."
            ),
        ),
        ChatMessage::new(ChatRole::User, redact(text)),
    ]
}

/// Analyses `message` and sets the result on its conversation (unless a later message
/// was analysed already). Failures are logged and leave the conversation as it was.
pub async fn analyse(
    svc: &Services,
    settings: &AiSettings,
    conversation: &Conversation,
    message: &Message,
) -> Option<Insight> {
    let text = message_text(message);
    if text.trim().is_empty() {
        return None;
    }
    // The small model does this: the fallback when one is set (cheaper by default).
    let model = settings
        .fallback_model
        .clone()
        .unwrap_or_else(|| settings.model.clone());
    // Optional work: one short call, no fallback, so the reply keeps its time.
    let spec = CallSpec {
        purpose: Purpose::Analysis,
        variant: None,
        primary: model,
        fallback: None,
        json: true,
        max_tokens: 120,
        temperature: Some(0.0),
        timeout: settings.timeout().min(ANALYSIS_TIMEOUT),
    };
    let called = call_models(
        svc,
        &conversation.org_id,
        &spec,
        analysis_prompt(settings, &text),
    )
    .await;
    let completion = match called {
        Ok(c) => c,
        Err(e) => {
            warn!(org_id = %conversation.org_id, conversation_id = %conversation.id, reason = %e.reason, "message analysis failed");
            return None;
        }
    };
    let now = svc.clock.now();
    let Some(insight) = parse_analysis(
        &completion.completion.content,
        &settings.categories,
        &message.id,
        now,
    ) else {
        warn!(org_id = %conversation.org_id, conversation_id = %conversation.id, "the model's analysis was not the JSON asked for; ignored");
        return None;
    };
    let at = message.timestamp;
    let set = insight.clone();
    let written = crate::usecases::triage::modify_conversation(
        svc,
        &conversation.org_id,
        &conversation.id,
        move |c| {
            // Only forward: an older message's analysis never replaces a newer one's.
            if c.insight
                .as_ref()
                .is_some_and(|i| i.message_id == set.message_id || i.at > at)
            {
                return false;
            }
            c.insight = Some(Insight { at, ..set.clone() });
            true
        },
    )
    .await;
    if let Err(e) = written {
        warn!(org_id = %conversation.org_id, conversation_id = %conversation.id, error = %e, "could not store the analysis");
        return None;
    }
    info!(org_id = %conversation.org_id, conversation_id = %conversation.id, sentiment = insight.sentiment.as_str(), "customer message analysed");
    Some(insight)
}

// ------------------------------------------------------------------ summaries

/// A stored summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Summary {
    org_id: OrgId,
    conversation_id: ConversationId,
    text: String,
    /// The latest message it covers.
    last_message_id: Option<MessageId>,
    messages: usize,
    model: String,
    #[serde(with = "rfc3339_millis")]
    at: DateTime<Utc>,
}

impl Record for Summary {
    fn key(&self) -> (String, String) {
        (
            Conversation::key_of(&self.org_id, &self.conversation_id).0,
            "SUMMARY".to_owned(),
        )
    }
}

impl Summary {
    fn view(&self, cached: bool) -> Value {
        json!({
            "conversation_id": self.conversation_id,
            "summary": self.text,
            "messages": self.messages,
            "last_message_id": self.last_message_id,
            "model": self.model,
            "created_at": fmt_time(self.at),
            "cached": cached,
        })
    }
}

/// Most messages a summary covers.
pub const SUMMARY_MESSAGES: usize = 100;

async fn enabled_settings(svc: &Services, org: &OrgId) -> Result<AiSettings> {
    let settings = super::settings::load_settings(svc, org).await?;
    if !settings.enabled {
        return Err(Error::Conflict {
            code: "ai_disabled",
            message: "AI is turned off for this org (PUT /v1/ai/settings with enabled: true)"
                .into(),
        });
    }
    Ok(settings)
}

fn model_unavailable(reason: &str) -> Error {
    Error::Provider {
        code: "model_unavailable",
        message: format!("no model could answer ({reason})"),
        retryable: true,
    }
}

/// The answer of the org's model (then its fallback) for an agent's tool (a summary, a
/// translation): each call within [`API_CALL_TIMEOUT`], so both fit in the request; 502
/// `model_unavailable` when none gave a non-empty answer.
async fn tool_answer(
    svc: &Services,
    org: &OrgId,
    settings: &AiSettings,
    purpose: Purpose,
    prompt: Vec<ChatMessage>,
) -> Result<(String, crate::llm::ModelRef)> {
    let mut spec = CallSpec::for_settings(settings, purpose, None);
    spec.timeout = spec.timeout.min(API_CALL_TIMEOUT);
    let called = call_models(svc, org, &spec, prompt)
        .await
        .map_err(|e| model_unavailable(&e.reason))?;
    let text = called.completion.content.trim().to_owned();
    if text.is_empty() {
        return Err(model_unavailable("empty_output"));
    }
    Ok((text, called.model))
}

/// `POST /v1/conversations/{id}/summary`: a summary of the conversation, made anew when a
/// message came since the stored one.
pub async fn summarise(svc: &Services, org: &OrgId, id: &ConversationId) -> Result<Value> {
    let (pk, sk) = Conversation::key_of(org, id);
    let conversation = load::<Conversation>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("conversation"))?
        .record;
    let settings = enabled_settings(svc, org).await?;
    if let Some(s) = load::<Summary>(&*svc.store, &pk, "SUMMARY").await?
        && s.record.last_message_id == conversation.last_message_id
    {
        return Ok(s.record.view(true));
    }
    let messages = context::recent_messages(svc, org, id, SUMMARY_MESSAGES).await?;
    let history = context::history(&messages, 6_000);
    if history.is_empty() {
        return Err(Error::Conflict {
            code: "nothing_to_summarise",
            message: "the conversation has no text to summarise".into(),
        });
    }
    let transcript: String = history
        .iter()
        .map(|m| {
            let who = if m.role == ChatRole::User {
                "Customer"
            } else {
                "Business"
            };
            format!("{who}: {}\n", m.content)
        })
        .collect();
    let prompt = vec![
        ChatMessage::new(
            ChatRole::System,
            "Summarise this customer conversation for a colleague taking it over: what the \
             customer wants, what was answered or promised, and what is still open. At most \
             five short sentences, in English.",
        ),
        ChatMessage::new(ChatRole::User, transcript),
    ];
    let (text, model) = tool_answer(svc, org, &settings, Purpose::Summary, prompt).await?;
    let summary = Summary {
        org_id: org.clone(),
        conversation_id: id.clone(),
        text,
        last_message_id: conversation.last_message_id.clone(),
        messages: history.len(),
        model: model.to_string(),
        at: svc.clock.now(),
    };
    svc.store.put(item(&summary, 1)?, Condition::Always).await?;
    Ok(summary.view(false))
}

// ------------------------------------------------------------------ translations

/// A stored translation of one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Translation {
    org_id: OrgId,
    conversation_id: ConversationId,
    message_id: MessageId,
    to: String,
    text: String,
    model: String,
    #[serde(with = "rfc3339_millis")]
    at: DateTime<Utc>,
}

impl Record for Translation {
    fn key(&self) -> (String, String) {
        (
            Conversation::key_of(&self.org_id, &self.conversation_id).0,
            format!("TRANSLATION#{}#{}", self.message_id, self.to),
        )
    }

    fn ttl(&self) -> Option<i64> {
        Some((self.at + Duration::days(90)).timestamp())
    }
}

/// Parses a target language: an ISO 639-1 code, optionally with a region (`pt-BR`).
pub fn parse_language(v: Option<&Value>) -> Result<String> {
    let invalid = || {
        Error::validation(
            "to",
            "invalid_language",
            "to is a language code such as en, nl or pt-BR",
        )
    };
    let s = v.and_then(Value::as_str).ok_or_else(invalid)?.trim();
    let (lang, region) = match s.split_once('-') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    let lang_ok = lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_alphabetic());
    let region_ok =
        region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()));
    if !lang_ok || !region_ok {
        return Err(invalid());
    }
    Ok(match region {
        Some(r) => format!("{}-{}", lang.to_ascii_lowercase(), r.to_ascii_uppercase()),
        None => lang.to_ascii_lowercase(),
    })
}

/// `POST /v1/messages/{id}/translate` `{to}`: the message's text in `to`, cached per
/// message and language.
pub async fn translate(svc: &Services, org: &OrgId, id: &MessageId, body: &Value) -> Result<Value> {
    let body = crate::usecases::triage::object_of_fields(body, &["to"])?;
    let to = parse_language(body.get("to"))?;
    let (pk, sk) = Message::key_of(org, id);
    let message = load::<Message>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("message"))?
        .record;
    let settings = enabled_settings(svc, org).await?;
    let key = Translation {
        org_id: org.clone(),
        conversation_id: message.conversation_id.clone(),
        message_id: id.clone(),
        to: to.clone(),
        text: String::new(),
        model: String::new(),
        at: svc.clock.now(),
    }
    .key();
    let view = |t: &Translation, cached: bool| json!({"message_id": t.message_id, "to": t.to, "text": t.text, "model": t.model, "created_at": fmt_time(t.at), "cached": cached});
    if let Some(t) = load::<Translation>(&*svc.store, &key.0, &key.1).await? {
        return Ok(view(&t.record, true));
    }
    let text = message_text(&message);
    if text.trim().is_empty() {
        return Err(Error::Conflict {
            code: "nothing_to_translate",
            message: "the message has no text".into(),
        });
    }
    let prompt = vec![
        ChatMessage::new(
            ChatRole::System,
            format!(
                "Translate the user's message into the language with code {to}. Answer with \
                 the translation only; keep placeholders such as [phone] and [image] as they are."
            ),
        ),
        ChatMessage::new(ChatRole::User, redact(&text)),
    ];
    let (out, model) = tool_answer(svc, org, &settings, Purpose::Translation, prompt).await?;
    let t = Translation {
        org_id: org.clone(),
        conversation_id: message.conversation_id.clone(),
        message_id: id.clone(),
        to,
        text: out,
        model: model.to_string(),
        at: svc.clock.now(),
    };
    svc.store.put(item(&t, 1)?, Condition::Always).await?;
    Ok(view(&t, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_answers_are_validated() {
        let m = MessageId::from_uuid(uuid::Uuid::nil());
        let now = Utc::now();
        let cats = vec!["billing".to_owned()];
        let ok = parse_analysis(
            r#"{"sentiment": "negative", "score": -0.8, "category": "Billing", "language": "NL"}"#,
            &cats,
            &m,
            now,
        )
        .unwrap();
        assert_eq!(ok.sentiment, Sentiment::Negative);
        assert_eq!(ok.category.as_deref(), Some("billing"));
        assert_eq!(ok.language.as_deref(), Some("nl"));
        let fenced = "```json\n{\"sentiment\": \"positive\", \"score\": 0.5, \"category\": null, \"language\": \"en\"}\n```";
        assert!(parse_analysis(fenced, &cats, &m, now).is_some());
        // An invented category is dropped, the rest kept.
        let invented = parse_analysis(
            r#"{"sentiment": "neutral", "score": 0, "category": "refunds"}"#,
            &cats,
            &m,
            now,
        )
        .unwrap();
        assert_eq!(invented.category, None);
        for bad in [
            "not json",
            r#"{"sentiment": "furious", "score": -1}"#,
            r#"{"sentiment": "negative", "score": -3}"#,
            r#"{"sentiment": "negative"}"#,
            r#"{"sentiment": "negative", "score": 0, "language": "dutch"}"#,
        ] {
            assert!(parse_analysis(bad, &cats, &m, now).is_none(), "{bad}");
        }
    }

    #[test]
    fn languages_are_codes() {
        assert_eq!(parse_language(Some(&json!("NL"))).unwrap(), "nl");
        assert_eq!(parse_language(Some(&json!("pt-br"))).unwrap(), "pt-BR");
        for bad in [json!("dutch"), json!(5), json!("e1")] {
            assert!(parse_language(Some(&bad)).is_err());
        }
        assert!(parse_language(None).is_err());
    }
}
