//! The org's AI settings: `GET` and `PUT /v1/ai/settings`.
//!
//! `PUT` replaces the whole (a field left out takes its default), and every refusal is a
//! 422 naming the field (`business_hours.windows[1].start`, `experiment.weight`, …). A
//! model may only name a provider preset this deployment configured: base URLs and keys
//! come from the deployment, never from an org.

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::rfc3339_millis;
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::llm::{LlmProvider, ModelRef};
use crate::record::{Record, item, load};
use crate::services::Services;
use crate::store::Condition;

use super::{ai_pk, model_view};

/// Longest system prompt, in characters.
pub const MAX_SYSTEM_PROMPT_CHARS: usize = 8_000;
/// Most handoff keywords.
pub const MAX_HANDOFF_KEYWORDS: usize = 50;
/// Most categories.
pub const MAX_CATEGORIES: usize = 50;
/// Longest a model call may be given: a reply call and its fallback (and the analysis)
/// must fit in `worker-ai`'s 120 seconds.
pub const MAX_TIMEOUT_SECS: u32 = 40;
/// Largest completion a reply may ask for.
pub const MAX_MAX_TOKENS: u32 = 4_096;

/// Draft for a person, or send on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiMode {
    /// Store a suggestion an agent accepts or rejects.
    #[default]
    Draft,
    /// Send the reply through the send path (within business-hours rules, caps, the
    /// 24-hour window; a draft otherwise).
    Auto,
}

/// When auto-replies run, relative to the business hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoReplyHours {
    /// Outside office hours (people answer inside them).
    #[default]
    Outside,
    /// Inside office hours only.
    Inside,
}

/// One weekly window: these days, from `start` to `end` local time (`end` after `start`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursWindow {
    /// Days of the week (`mon` … `sun`).
    pub days: Vec<String>,
    /// Opening time, `HH:MM`.
    pub start: String,
    /// Closing time, `HH:MM`.
    pub end: String,
}

/// Office hours in a timezone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHours {
    /// IANA timezone (`Europe/Amsterdam`).
    pub timezone: String,
    /// Weekly windows.
    pub windows: Vec<HoursWindow>,
    /// Whether auto-replies run outside (default) or inside them.
    #[serde(default)]
    pub auto_reply: AutoReplyHours,
}

impl BusinessHours {
    /// Whether `at` falls in one of the windows (in the timezone).
    pub fn open_at(&self, at: DateTime<Utc>) -> bool {
        let Ok(tz) = self.timezone.parse::<chrono_tz::Tz>() else {
            return false;
        };
        let local = at.with_timezone(&tz);
        let day = weekday_name(local.weekday());
        let time = local.time();
        self.windows.iter().any(|w| {
            w.days.iter().any(|d| d == day)
                && matches!(
                    (parse_hhmm(&w.start), parse_hhmm(&w.end)),
                    (Some(s), Some(e)) if time >= s && time < e
                )
        })
    }

    /// Whether auto-replies may go at `at`.
    pub fn auto_reply_at(&self, at: DateTime<Utc>) -> bool {
        match self.auto_reply {
            AutoReplyHours::Outside => !self.open_at(at),
            AutoReplyHours::Inside => self.open_at(at),
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday_name(d: Weekday) -> &'static str {
    DAYS[d.num_days_from_monday() as usize]
}

fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    if s == "24:00" {
        return NaiveTime::from_hms_opt(23, 59, 59);
    }
    (s.len() == 5)
        .then(|| NaiveTime::parse_from_str(s, "%H:%M").ok())
        .flatten()
}

/// The share of contacts routed to a second model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// The second model (variant B).
    pub model: ModelRef,
    /// Percent of contacts, 0–100.
    pub weight: u8,
}

/// Daily limits on auto-replies (drafts are not capped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Auto-replies per conversation per day.
    pub per_conversation_per_day: u32,
    /// Auto-replies per org per day (`None`: no cap).
    #[serde(default)]
    pub per_org_per_day: Option<u32>,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            per_conversation_per_day: 5,
            per_org_per_day: None,
        }
    }
}

/// An org's AI settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiSettings {
    /// Whether AI runs at all (replies, analysis, summaries, translation): the org's
    /// consent to send conversation text to the models.
    pub enabled: bool,
    /// Draft or auto.
    pub mode: AiMode,
    /// The business's instructions, put first in every reply prompt.
    pub system_prompt: String,
    /// Office hours, if set.
    pub business_hours: Option<BusinessHours>,
    /// The model of variant A (everyone, without an experiment).
    pub model: ModelRef,
    /// The model that answers when the chosen one fails.
    pub fallback_model: Option<ModelRef>,
    /// Variant B.
    pub experiment: Option<Experiment>,
    /// Sampling temperature, 0–2.
    pub temperature: Option<f32>,
    /// Completion token limit of a reply.
    pub max_tokens: u32,
    /// How long a model call may take.
    pub timeout_secs: u32,
    /// Daily auto-reply caps.
    pub caps: Caps,
    /// Words that hand the conversation to a person (whole words, any case).
    pub handoff_keywords: Vec<String>,
    /// Send the contact's notes as context.
    pub use_notes: bool,
    /// Analyse each customer message (sentiment, category, language).
    pub analysis: bool,
    /// The org's conversation labels a message may be categorised as.
    pub categories: Vec<String>,
    /// Minutes after an assignee's own reply during which no auto-reply or draft is made.
    pub human_pause_minutes: u32,
}

impl Default for AiSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: AiMode::Draft,
            system_prompt: String::new(),
            business_hours: None,
            model: ModelRef::new(LlmProvider::Openrouter, "anthropic/claude-3.5-sonnet"),
            fallback_model: Some(ModelRef::new(
                LlmProvider::Openrouter,
                "anthropic/claude-3-haiku",
            )),
            experiment: None,
            temperature: None,
            max_tokens: 512,
            timeout_secs: 20,
            caps: Caps::default(),
            handoff_keywords: ["human", "agent", "medewerker", "mens"]
                .map(str::to_owned)
                .to_vec(),
            use_notes: false,
            analysis: true,
            categories: Vec::new(),
            human_pause_minutes: 30,
        }
    }
}

impl AiSettings {
    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "enabled": self.enabled,
            "mode": self.mode,
            "system_prompt": self.system_prompt,
            "business_hours": self.business_hours,
            "model": model_view(&self.model),
            "fallback_model": self.fallback_model.as_ref().map(model_view),
            "experiment": self.experiment.as_ref().map(|e| json!({"model": model_view(&e.model), "weight": e.weight})),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout_secs": self.timeout_secs,
            "caps": self.caps,
            "handoff_keywords": self.handoff_keywords,
            "use_notes": self.use_notes,
            "analysis": self.analysis,
            "categories": self.categories,
            "human_pause_minutes": self.human_pause_minutes,
        })
    }

    /// The model of `variant`.
    pub fn model_of(&self, variant: super::Variant) -> &ModelRef {
        match (variant, &self.experiment) {
            (super::Variant::B, Some(e)) => &e.model,
            _ => &self.model,
        }
    }

    /// The model call timeout.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.timeout_secs))
    }

    /// The IANA timezone days are counted in for the caps (the business hours', else UTC).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.business_hours
            .as_ref()
            .and_then(|h| h.timezone.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSettings {
    org_id: OrgId,
    settings: AiSettings,
    #[serde(with = "rfc3339_millis")]
    updated_at: DateTime<Utc>,
}

const SETTINGS_SK: &str = "SETTINGS";

impl Record for StoredSettings {
    fn key(&self) -> (String, String) {
        (ai_pk(&self.org_id), SETTINGS_SK.to_owned())
    }
}

/// The org's settings (defaults, AI off, when it set none).
pub async fn load_settings(svc: &Services, org: &OrgId) -> Result<AiSettings> {
    Ok(
        load::<StoredSettings>(&*svc.store, &ai_pk(org), SETTINGS_SK)
            .await?
            .map(|v| v.record.settings)
            .unwrap_or_default(),
    )
}

/// `PUT /v1/ai/settings`: validates the whole and stores it.
pub async fn put_settings(svc: &Services, org: &OrgId, body: &Value) -> Result<AiSettings> {
    let settings = parse(body, &*svc.llm)?;
    let stored = StoredSettings {
        org_id: org.clone(),
        settings,
        updated_at: svc.clock.now(),
    };
    svc.store.put(item(&stored, 1)?, Condition::Always).await?;
    Ok(stored.settings)
}

const FIELDS: [&str; 16] = [
    "enabled",
    "mode",
    "system_prompt",
    "business_hours",
    "model",
    "fallback_model",
    "experiment",
    "temperature",
    "max_tokens",
    "timeout_secs",
    "caps",
    "handoff_keywords",
    "use_notes",
    "analysis",
    "categories",
    "human_pause_minutes",
];

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::validation(field, "invalid_ai_setting", message)
}

fn present<'a>(body: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    body.get(field).filter(|v| !v.is_null())
}

fn boolean(body: &Map<String, Value>, field: &str, default: bool) -> Result<bool> {
    match present(body, field) {
        None => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| invalid(field, format!("{field} is true or false"))),
    }
}

fn whole(v: &Value, field: &str, min: u64, max: u64) -> Result<u64> {
    v.as_u64()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            invalid(
                field,
                format!("{field} is a whole number from {min} to {max}"),
            )
        })
}

/// Parses a `{provider, name}` model, checking the preset is configured here.
fn parse_model(v: &Value, field: &str, llm: &dyn crate::llm::LlmApi) -> Result<ModelRef> {
    let Some(obj) = v.as_object() else {
        return Err(invalid(field, format!("{field} is {{provider, name}}")));
    };
    crate::usecases::triage::refuse_unknown_fields(obj, &["provider", "name"])?;
    let provider = obj
        .get("provider")
        .and_then(Value::as_str)
        .and_then(LlmProvider::parse)
        .ok_or_else(|| {
            invalid(
                format!("{field}.provider"),
                "provider is openrouter, xai or custom",
            )
        })?;
    if !llm.configured(provider) {
        return Err(Error::validation(
            format!("{field}.provider"),
            "provider_not_configured",
            format!(
                "this deployment has no {} endpoint configured",
                provider.as_str()
            ),
        ));
    }
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 200 && n.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| {
            invalid(
                format!("{field}.name"),
                "name is the model's id at the provider (1-200 visible characters)",
            )
        })?;
    Ok(ModelRef::new(provider, name))
}

fn parse_hours(v: &Value) -> Result<BusinessHours> {
    const F: &str = "business_hours";
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(F, "business_hours is {timezone, windows, auto_reply}"))?;
    crate::usecases::triage::refuse_unknown_fields(obj, &["timezone", "windows", "auto_reply"])?;
    let timezone = obj
        .get("timezone")
        .and_then(Value::as_str)
        .filter(|t| t.parse::<chrono_tz::Tz>().is_ok())
        .ok_or_else(|| {
            invalid(
                "business_hours.timezone",
                "timezone is an IANA name such as Europe/Amsterdam",
            )
        })?
        .to_owned();
    let auto_reply = match obj.get("auto_reply").filter(|v| !v.is_null()) {
        None => AutoReplyHours::Outside,
        Some(v) => match v.as_str() {
            Some("outside") => AutoReplyHours::Outside,
            Some("inside") => AutoReplyHours::Inside,
            _ => {
                return Err(invalid(
                    "business_hours.auto_reply",
                    "auto_reply is outside or inside",
                ));
            }
        },
    };
    let windows_v = obj
        .get("windows")
        .and_then(Value::as_array)
        .filter(|w| !w.is_empty() && w.len() <= 28)
        .ok_or_else(|| {
            invalid(
                "business_hours.windows",
                "windows is a list of 1-28 windows",
            )
        })?;
    let mut windows = Vec::with_capacity(windows_v.len());
    for (i, w) in windows_v.iter().enumerate() {
        let at = format!("business_hours.windows[{i}]");
        let days: Vec<String> = w
            .get("days")
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty())
            .and_then(|d| {
                d.iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_ascii_lowercase)
                            .filter(|s| DAYS.contains(&s.as_str()))
                    })
                    .collect()
            })
            .ok_or_else(|| {
                invalid(
                    format!("{at}.days"),
                    "days lists mon, tue, wed, thu, fri, sat or sun",
                )
            })?;
        let time = |name: &str| {
            w.get(name)
                .and_then(Value::as_str)
                .filter(|s| parse_hhmm(s).is_some())
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("{at}.{name}"), format!("{name} is a time HH:MM")))
        };
        let (start, end) = (time("start")?, time("end")?);
        if parse_hhmm(&end) <= parse_hhmm(&start) {
            return Err(invalid(format!("{at}.end"), "end is after start"));
        }
        windows.push(HoursWindow { days, start, end });
    }
    Ok(BusinessHours {
        timezone,
        windows,
        auto_reply,
    })
}

/// Parses a whole settings body.
pub fn parse(body: &Value, llm: &dyn crate::llm::LlmApi) -> Result<AiSettings> {
    let body = crate::usecases::triage::object_of_fields(body, &FIELDS)?;
    let defaults = AiSettings::default();
    let mode = match present(body, "mode") {
        None => defaults.mode,
        Some(v) => match v.as_str() {
            Some("draft") => AiMode::Draft,
            Some("auto") => AiMode::Auto,
            _ => return Err(invalid("mode", "mode is draft or auto")),
        },
    };
    let system_prompt = match present(body, "system_prompt") {
        None => String::new(),
        Some(v) => {
            let s = v
                .as_str()
                .ok_or_else(|| invalid("system_prompt", "system_prompt is text"))?;
            if s.chars().count() > MAX_SYSTEM_PROMPT_CHARS {
                return Err(invalid(
                    "system_prompt",
                    format!("system_prompt is at most {MAX_SYSTEM_PROMPT_CHARS} characters"),
                ));
            }
            s.to_owned()
        }
    };
    let business_hours = present(body, "business_hours")
        .map(parse_hours)
        .transpose()?;
    let model = match present(body, "model") {
        None => {
            if !llm.configured(defaults.model.provider) {
                return Err(Error::validation(
                    "model",
                    "provider_not_configured",
                    "this deployment has no endpoint for the default model; name a model",
                ));
            }
            defaults.model.clone()
        }
        Some(v) => parse_model(v, "model", llm)?,
    };
    let fallback_model = match body.get("fallback_model") {
        // Left out: the default fallback when its preset is configured; null: none.
        None => defaults
            .fallback_model
            .clone()
            .filter(|m| llm.configured(m.provider)),
        Some(Value::Null) => None,
        Some(v) => Some(parse_model(v, "fallback_model", llm)?),
    };
    let experiment = match present(body, "experiment") {
        None => None,
        Some(v) => {
            let obj = v
                .as_object()
                .ok_or_else(|| invalid("experiment", "experiment is {model, weight}"))?;
            crate::usecases::triage::refuse_unknown_fields(obj, &["model", "weight"])?;
            let model = parse_model(
                obj.get("model").unwrap_or(&Value::Null),
                "experiment.model",
                llm,
            )?;
            let weight = match obj.get("weight").filter(|v| !v.is_null()) {
                None => 50,
                Some(w) => whole(w, "experiment.weight", 0, 100)? as u8,
            };
            Some(Experiment { model, weight })
        }
    };
    let temperature = match present(body, "temperature") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|t| (0.0..=2.0).contains(t))
                .ok_or_else(|| invalid("temperature", "temperature is a number from 0 to 2"))?
                as f32,
        ),
    };
    let max_tokens = match present(body, "max_tokens") {
        None => defaults.max_tokens,
        Some(v) => whole(v, "max_tokens", 1, u64::from(MAX_MAX_TOKENS))? as u32,
    };
    let timeout_secs = match present(body, "timeout_secs") {
        None => defaults.timeout_secs,
        Some(v) => whole(v, "timeout_secs", 1, u64::from(MAX_TIMEOUT_SECS))? as u32,
    };
    let caps = match present(body, "caps") {
        None => defaults.caps,
        Some(v) => {
            let obj = v.as_object().ok_or_else(|| {
                invalid(
                    "caps",
                    "caps is {per_conversation_per_day, per_org_per_day}",
                )
            })?;
            crate::usecases::triage::refuse_unknown_fields(
                obj,
                &["per_conversation_per_day", "per_org_per_day"],
            )?;
            Caps {
                per_conversation_per_day: match obj
                    .get("per_conversation_per_day")
                    .filter(|v| !v.is_null())
                {
                    None => defaults.caps.per_conversation_per_day,
                    Some(v) => whole(v, "caps.per_conversation_per_day", 0, 1_000)? as u32,
                },
                per_org_per_day: match obj.get("per_org_per_day").filter(|v| !v.is_null()) {
                    None => None,
                    Some(v) => Some(whole(v, "caps.per_org_per_day", 0, 10_000_000)? as u32),
                },
            }
        }
    };
    let handoff_keywords = match body.get("handoff_keywords") {
        None => defaults.handoff_keywords.clone(),
        Some(v) => {
            let list = v
                .as_array()
                .filter(|l| l.len() <= MAX_HANDOFF_KEYWORDS)
                .ok_or_else(|| {
                    invalid(
                        "handoff_keywords",
                        format!(
                            "handoff_keywords is a list of at most {MAX_HANDOFF_KEYWORDS} words"
                        ),
                    )
                })?;
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for (i, k) in list.iter().enumerate() {
                let k = k
                    .as_str()
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty() && s.chars().count() <= 64)
                    .ok_or_else(|| {
                        invalid(
                            format!("handoff_keywords[{i}]"),
                            "a keyword is 1-64 characters",
                        )
                    })?;
                if !out.contains(&k) {
                    out.push(k);
                }
            }
            out
        }
    };
    let categories = match present(body, "categories") {
        None => Vec::new(),
        Some(v) => {
            let list = v
                .as_array()
                .filter(|l| l.len() <= MAX_CATEGORIES)
                .ok_or_else(|| {
                    invalid(
                        "categories",
                        format!("categories is a list of at most {MAX_CATEGORIES} labels"),
                    )
                })?;
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for (i, c) in list.iter().enumerate() {
                let label = c
                    .as_str()
                    .and_then(crate::triage::normalise_label)
                    .ok_or_else(|| {
                        invalid(
                            format!("categories[{i}]"),
                            "a category is a label: 1-64 of letters, digits, '-', '_' and ':'",
                        )
                    })?;
                if !out.contains(&label) {
                    out.push(label);
                }
            }
            out
        }
    };
    let human_pause_minutes = match present(body, "human_pause_minutes") {
        None => defaults.human_pause_minutes,
        Some(v) => whole(v, "human_pause_minutes", 0, 24 * 60)? as u32,
    };
    Ok(AiSettings {
        enabled: boolean(body, "enabled", false)?,
        mode,
        system_prompt,
        business_hours,
        model,
        fallback_model,
        experiment,
        temperature,
        max_tokens,
        timeout_secs,
        caps,
        handoff_keywords,
        use_notes: boolean(body, "use_notes", false)?,
        analysis: boolean(body, "analysis", true)?,
        categories,
        human_pause_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Debug)]
    struct Only(Vec<LlmProvider>);

    #[async_trait::async_trait]
    impl crate::llm::LlmApi for Only {
        async fn complete(
            &self,
            _: &crate::llm::ChatRequest,
        ) -> std::result::Result<crate::llm::Completion, crate::llm::LlmError> {
            unreachable!("settings never call a model")
        }
        fn configured(&self, p: LlmProvider) -> bool {
            self.0.contains(&p)
        }
    }

    fn field_of(r: Result<AiSettings>) -> String {
        match r {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_a_full_body() {
        let llm = Only(vec![LlmProvider::Openrouter, LlmProvider::Xai]);
        let s = parse(&json!({}), &llm).unwrap();
        assert!(!s.enabled);
        assert_eq!(s.timeout_secs, 20);
        assert_eq!(s.caps.per_conversation_per_day, 5);
        assert_eq!(s.handoff_keywords, ["human", "agent", "medewerker", "mens"]);
        assert_eq!(s.model.name, "anthropic/claude-3.5-sonnet");
        assert_eq!(
            s.fallback_model.as_ref().map(|m| m.name.as_str()),
            Some("anthropic/claude-3-haiku")
        );
        let s = parse(
            &json!({"enabled": true, "mode": "auto", "system_prompt": "Be kind",
                "model": {"provider": "xai", "name": "grok-3"},
                "fallback_model": null,
                "experiment": {"model": {"provider": "xai", "name": "grok-4"}},
                "temperature": 0.3, "max_tokens": 300, "timeout_secs": 10,
                "caps": {"per_conversation_per_day": 2, "per_org_per_day": 100},
                "handoff_keywords": ["Mens", "mens", "operator"],
                "business_hours": {"timezone": "Europe/Amsterdam", "windows": [{"days": ["mon", "FRI"], "start": "09:00", "end": "17:30"}]},
                "categories": ["Billing", "shipping"], "use_notes": true}),
            &llm,
        )
        .unwrap();
        assert_eq!(s.mode, AiMode::Auto);
        assert_eq!(s.fallback_model, None);
        assert_eq!(s.experiment.as_ref().unwrap().weight, 50);
        assert_eq!(s.handoff_keywords, ["mens", "operator"]);
        assert_eq!(s.categories, ["billing", "shipping"]);
        assert_eq!(s.caps.per_org_per_day, Some(100));
    }

    #[test]
    fn each_invalid_field_is_named() {
        let llm = Only(vec![LlmProvider::Openrouter]);
        let cases = [
            (json!({"mode": "yolo"}), "mode"),
            (json!({"system_prompt": "x".repeat(8_001)}), "system_prompt"),
            (
                json!({"model": {"provider": "acme", "name": "m"}}),
                "model.provider",
            ),
            (
                json!({"model": {"provider": "xai", "name": "grok-3"}}),
                "model.provider",
            ),
            (
                json!({"model": {"provider": "openrouter", "name": ""}}),
                "model.name",
            ),
            (
                json!({"experiment": {"model": {"provider": "openrouter", "name": "m"}, "weight": 101}}),
                "experiment.weight",
            ),
            (json!({"temperature": 3}), "temperature"),
            (json!({"max_tokens": 0}), "max_tokens"),
            (json!({"timeout_secs": 41}), "timeout_secs"),
            (
                json!({"caps": {"per_conversation_per_day": -1}}),
                "caps.per_conversation_per_day",
            ),
            (
                json!({"handoff_keywords": ["ok", ""]}),
                "handoff_keywords[1]",
            ),
            (
                json!({"business_hours": {"timezone": "Mars/Base", "windows": []}}),
                "business_hours.timezone",
            ),
            (
                json!({"business_hours": {"timezone": "UTC", "windows": [{"days": ["mon"], "start": "9am", "end": "17:00"}]}}),
                "business_hours.windows[0].start",
            ),
            (
                json!({"business_hours": {"timezone": "UTC", "windows": [{"days": ["mon"], "start": "17:00", "end": "09:00"}]}}),
                "business_hours.windows[0].end",
            ),
            (
                json!({"business_hours": {"timezone": "UTC", "windows": [{"days": ["someday"], "start": "09:00", "end": "17:00"}]}}),
                "business_hours.windows[0].days",
            ),
            (json!({"categories": ["a#b"]}), "categories[0]"),
            (json!({"enabled": "yes"}), "enabled"),
            (json!({"surprise": 1}), "surprise"),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(parse(&body, &llm)), field, "{body}");
        }
    }

    #[test]
    fn business_hours_follow_the_timezone() {
        let h = BusinessHours {
            timezone: "Europe/Amsterdam".into(),
            windows: vec![HoursWindow {
                days: vec!["mon".into()],
                start: "09:00".into(),
                end: "17:00".into(),
            }],
            auto_reply: AutoReplyHours::Outside,
        };
        // Monday 2026-12-07 08:30 UTC is 09:30 in Amsterdam (CET).
        let inside = Utc.with_ymd_and_hms(2026, 12, 7, 8, 30, 0).unwrap();
        assert!(h.open_at(inside));
        assert!(!h.auto_reply_at(inside));
        // 16:30 UTC is 17:30 there: closed.
        let after = Utc.with_ymd_and_hms(2026, 12, 7, 16, 30, 0).unwrap();
        assert!(!h.open_at(after));
        assert!(h.auto_reply_at(after));
        // Tuesday: no window.
        assert!(!h.open_at(Utc.with_ymd_and_hms(2026, 12, 8, 10, 0, 0).unwrap()));
    }
}
