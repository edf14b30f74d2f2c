//! Marketing opt-out in the customer's own words: a message that is exactly one of the
//! org's opt-out keywords (`STOP`, …) sets the contact's `opted_out`, an opt-in keyword
//! (`START`) clears it, and so do WhatsApp's own marketing preferences ("Stop" / "Resume"
//! in the business's chat menu), which Meta reports in `user_preferences` webhooks (and as
//! `system` messages of type `user_preference_changed`).
//!
//! The keywords are the org's (`GET/PUT /v1/settings/opt-out`); an org that never set
//! them has [`DEFAULT_OPT_OUT`] and [`DEFAULT_OPT_IN`]. Matching ignores case and the
//! white space around and inside the message (`" stop "`, `"Stop"`), nothing else: "stop
//! sending me the blue one" is a conversation, not an instruction.
//!
//! A keyword is applied as part of the inbound message's own transaction (the message,
//! its conversation and its contact together, conditioned on the message not existing),
//! so a redelivered STOP changes nothing and a crash never leaves a stored STOP
//! unapplied. Each change carries the customer's own time: an older instruction arriving
//! after a newer one does not undo it.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{debug, info};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{ContactId, OrgId, WaId};
use crate::model::{Contact, OptOutSource, org_pk};
use crate::record::{Record, Versioned, item, load};
use crate::services::Services;
use crate::store::{Condition, StoreError};

/// Opt-out keywords of an org that set none.
pub const DEFAULT_OPT_OUT: [&str; 4] = ["STOP", "UNSUBSCRIBE", "STOPP", "AFMELDEN"];
/// Opt-in keywords of an org that set none.
pub const DEFAULT_OPT_IN: [&str; 1] = ["START"];
/// Most keywords per list.
pub const MAX_KEYWORDS: usize = 20;
/// Longest keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 32;

/// An org's keywords.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptOutSettings {
    /// Owner.
    pub org_id: OrgId,
    /// Messages that opt the customer out (normalised: [`keyword`]).
    pub opt_out_keywords: Vec<String>,
    /// Messages that opt the customer back in.
    pub opt_in_keywords: Vec<String>,
    /// Last set.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
    /// By whom (the token's subject).
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl OptOutSettings {
    /// Key of an org's settings: a small record in the org's partition.
    pub fn key_of(org: &OrgId) -> (String, String) {
        (org_pk(org), "SETTINGS#OPT_OUT".to_owned())
    }

    /// The settings of an org that set none.
    pub fn defaults(org: &OrgId) -> Self {
        Self {
            org_id: org.clone(),
            opt_out_keywords: DEFAULT_OPT_OUT.iter().map(|s| s.to_string()).collect(),
            opt_in_keywords: DEFAULT_OPT_IN.iter().map(|s| s.to_string()).collect(),
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_by: None,
        }
    }

    /// What the customer's text asks for, if it is one of the keywords.
    pub fn instruction(&self, text: &str) -> Option<bool> {
        let k = keyword(text);
        if self.opt_out_keywords.contains(&k) {
            Some(true)
        } else if self.opt_in_keywords.contains(&k) {
            Some(false)
        } else {
            None
        }
    }
}

impl Record for OptOutSettings {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id)
    }
}

/// A keyword or a message compared with keywords: trimmed, runs of white space as one
/// space, upper-cased.
pub fn keyword(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// The org's settings and whether the org set them (else the defaults).
pub async fn get(svc: &Services, org: &OrgId) -> Result<(OptOutSettings, bool)> {
    let (pk, sk) = OptOutSettings::key_of(org);
    Ok(match load::<OptOutSettings>(&*svc.store, &pk, &sk).await? {
        Some(v) => (v.record, true),
        None => (OptOutSettings::defaults(org), false),
    })
}

/// The API view.
pub fn view(settings: &OptOutSettings, set: bool) -> Value {
    json!({
        "opt_out_keywords": settings.opt_out_keywords,
        "opt_in_keywords": settings.opt_in_keywords,
        "default": !set,
        "updated_at": set.then(|| fmt_time(settings.updated_at)),
        "updated_by": settings.updated_by,
    })
}

fn keyword_list(body: &Value, field: &'static str) -> Result<Vec<String>> {
    let Some(v) = body.get(field) else {
        return Err(Error::validation(
            field,
            "missing_field",
            format!("{field} is required (an array of keywords; [] for none)"),
        ));
    };
    let Some(items) = v.as_array() else {
        return Err(Error::validation(
            field,
            "invalid_keywords",
            format!("{field} must be an array of strings"),
        ));
    };
    let mut out: Vec<String> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let k = it.as_str().map(keyword).unwrap_or_default();
        let n = k.chars().count();
        if n == 0 || n > MAX_KEYWORD_CHARS || k.chars().any(char::is_control) {
            return Err(Error::validation(
                field,
                "invalid_keyword",
                format!("{field}[{i}]: a keyword is 1-{MAX_KEYWORD_CHARS} characters of text"),
            ));
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    if out.len() > MAX_KEYWORDS {
        return Err(Error::validation(
            field,
            "too_many_keywords",
            format!("{field} holds at most {MAX_KEYWORDS} keywords"),
        ));
    }
    Ok(out)
}

/// Replaces the org's keywords with `{opt_out_keywords, opt_in_keywords}` (both
/// required; unknown fields and a keyword in both lists are 422s naming the field).
pub async fn put(
    svc: &Services,
    org: &OrgId,
    body: &Value,
    by: Option<String>,
) -> Result<OptOutSettings> {
    let Some(map) = body.as_object() else {
        return Err(Error::validation(
            "body",
            "invalid_body",
            "the body must be a JSON object",
        ));
    };
    if let Some(unknown) = map
        .keys()
        .filter(|k| !["opt_out_keywords", "opt_in_keywords"].contains(&k.as_str()))
        .min()
    {
        return Err(Error::validation(
            unknown.as_str(),
            "unknown_field",
            "unknown field; the settings are opt_out_keywords and opt_in_keywords",
        ));
    }
    let opt_out = keyword_list(body, "opt_out_keywords")?;
    let opt_in = keyword_list(body, "opt_in_keywords")?;
    if opt_in.iter().any(|k| opt_out.contains(k)) {
        return Err(Error::validation(
            "opt_in_keywords",
            "keyword_conflict",
            "a keyword cannot both opt out and opt in",
        ));
    }
    let settings = OptOutSettings {
        org_id: org.clone(),
        opt_out_keywords: opt_out,
        opt_in_keywords: opt_in,
        updated_at: svc.clock.now(),
        updated_by: by,
    };
    // The whole document is replaced: the last writer wins, as a PUT says.
    svc.store
        .put(item(&settings, 1)?, Condition::Always)
        .await?;
    Ok(settings)
}

/// What an inbound message asks of the contact's opt-out, if anything: a text that is
/// one of the org's keywords, or WhatsApp's `user_preference_changed` system message.
/// Reads the org's settings only for a text short enough to be a keyword.
pub async fn instruction_in(
    svc: &Services,
    org: &OrgId,
    msg: &switchboard_webhooks::meta::InboundMessage,
) -> Result<Option<(bool, OptOutSource)>> {
    match msg.kind.as_str() {
        "text" => {
            let Some(text) = msg
                .rest
                .get("text")
                .and_then(|t| t.get("body"))
                .and_then(Value::as_str)
            else {
                return Ok(None);
            };
            if keyword(text).chars().count() > MAX_KEYWORD_CHARS {
                return Ok(None);
            }
            let (settings, _) = get(svc, org).await?;
            Ok(settings
                .instruction(text)
                .map(|o| (o, OptOutSource::Keyword)))
        }
        "system" => {
            let system = msg.rest.get("system");
            let is_preference = system.and_then(|s| s.get("type")).and_then(Value::as_str)
                == Some("user_preference_changed");
            let marketing = system
                .and_then(|s| s.get("marketing"))
                .and_then(Value::as_str);
            Ok(match (is_preference, marketing.and_then(preference)) {
                (true, Some(o)) => Some((o, OptOutSource::WhatsappPreference)),
                _ => None,
            })
        }
        _ => Ok(None),
    }
}

/// Meta's marketing preference values: `stop` opts out, `resume` back in.
pub fn preference(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "stop" => Some(true),
        "resume" => Some(false),
        _ => None,
    }
}

/// One entry of a `user_preferences` (or `user_marketing_preferences`) webhook value.
#[derive(Debug, Clone, Deserialize)]
pub struct PreferenceEntry {
    /// The customer.
    pub wa_id: String,
    /// `marketing_messages` (the only category Meta reports so far).
    #[serde(default)]
    pub category: Option<String>,
    /// `stop` or `resume`.
    #[serde(default)]
    pub value: Option<String>,
    /// When the customer changed it (Unix seconds; a number or a string).
    #[serde(default)]
    pub timestamp: Option<Value>,
}

/// The `value` of a preferences webhook change.
#[derive(Debug, Clone, Deserialize)]
pub struct PreferencesValue {
    /// The receiving business number.
    pub metadata: switchboard_webhooks::meta::Metadata,
    /// The changes (Meta names the array after the field).
    #[serde(default, alias = "user_marketing_preferences")]
    pub user_preferences: Vec<PreferenceEntry>,
}

/// The webhook fields that carry marketing preferences.
pub const PREFERENCE_FIELDS: [&str; 2] = ["user_preferences", "user_marketing_preferences"];

/// Applies the marketing preferences of a webhook value to the org's contacts (creating
/// a contact for a customer not seen yet, so the opt-out holds when they are); returns
/// how many contacts changed. Idempotent: each change carries the customer's time, and
/// the same change again writes nothing.
pub async fn apply_preferences(
    svc: &Services,
    org: &OrgId,
    value: &PreferencesValue,
) -> Result<usize> {
    let mut changed = 0;
    for entry in &value.user_preferences {
        if entry
            .category
            .as_deref()
            .is_some_and(|c| c != "marketing_messages")
        {
            debug!(category = ?entry.category, "ignoring a preference Switchboard does not know");
            continue;
        }
        let Some(opted_out) = entry.value.as_deref().and_then(preference) else {
            continue;
        };
        let wa_id = WaId::parse(&entry.wa_id)
            .map_err(|e| Error::Internal(format!("preference for an invalid wa_id: {e}")))?;
        let now = svc.clock.now();
        let at = entry
            .timestamp
            .as_ref()
            .and_then(|t| t.as_i64().or_else(|| t.as_str()?.trim().parse().ok()))
            .and_then(|s| Utc.timestamp_opt(s, 0).single())
            .unwrap_or(now);
        if set(
            svc,
            org,
            &wa_id,
            opted_out,
            OptOutSource::WhatsappPreference,
            at,
        )
        .await?
        {
            info!(org_id = %org, customer = %wa_id.masked(), opted_out, "marketing preference applied");
            changed += 1;
        }
    }
    Ok(changed)
}

/// Sets a customer's opt-out as of `at` (creating their contact if needed); whether it
/// changed.
async fn set(
    svc: &Services,
    org: &OrgId,
    wa_id: &WaId,
    opted_out: bool,
    source: OptOutSource,
    at: DateTime<Utc>,
) -> Result<bool> {
    let id = crate::ids::ContactId::for_wa_id(org, wa_id);
    let (pk, sk) = Contact::key_of(org, &id);
    for _ in 0..8 {
        let now = svc.clock.now();
        let current = match load::<Contact>(&*svc.store, &pk, &sk).await? {
            Some(c) => c,
            // An opt-out is remembered for a customer not seen yet; an opt-in of one
            // is what they have anyway.
            None if opted_out => Versioned::new(Contact::new(org, wa_id, now)),
            None => return Ok(false),
        };
        let mut next = current.record.clone();
        if !next.set_opted_out(opted_out, source, at) {
            // Already so since this very instruction (a redelivery, or a retry after a
            // publish that failed): the same event again.
            if current.version > 0 && instructed(&current.record, opted_out, at) {
                publish_consent(svc, &current.record).await?;
            }
            return Ok(false);
        }
        next.updated_at = now;
        let prev = (current.version > 0).then_some(&current.record);
        match crate::usecases::contacts::index::save(svc, prev, current.version, &next).await {
            Ok(_) => {
                publish_consent(svc, &next).await?;
                return Ok(true);
            }
            Err(StoreError::ConditionFailed { index: 0 }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// Whether the contact's consent is the one an instruction given at `at` set.
fn instructed(c: &Contact, opted_out: bool, at: DateTime<Utc>) -> bool {
    c.opted_out == opted_out && c.opt_out_updated_at == Some(at)
}

/// Publishes `contact.updated` for a consent change (the contact as written). One event
/// per instruction: its time and direction name it.
pub(crate) async fn publish_consent(svc: &Services, c: &Contact) -> Result<()> {
    let at = c.opt_out_updated_at.map(fmt_time).unwrap_or_default();
    let state = if c.opted_out { "opted_out" } else { "opted_in" };
    crate::usecases::platform_events::publish(
        svc,
        &c.org_id,
        crate::usecases::platform_events::EventType::ContactUpdated,
        &[c.id.as_str(), "consent", state, &at],
        json!({"contact_id": c.id, "changed": ["opted_out"]}),
    )
    .await?;
    Ok(())
}

/// Publishes the consent event of an instruction given at `at` again, when the contact
/// still holds what it set (a redelivered STOP whose first delivery stored it).
pub(crate) async fn republish_consent(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    opted_out: bool,
    at: DateTime<Utc>,
) -> Result<()> {
    let (pk, sk) = Contact::key_of(org, contact);
    if let Some(c) = load::<Contact>(&*svc.store, &pk, &sk).await?
        && instructed(&c.record, opted_out, at)
    {
        publish_consent(svc, &c.record).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_messages_ignoring_case_and_space() {
        let s = OptOutSettings::defaults(&OrgId::parse("acme").unwrap());
        assert_eq!(s.instruction("STOP"), Some(true));
        assert_eq!(s.instruction("  stop \n"), Some(true));
        assert_eq!(s.instruction("Afmelden"), Some(true));
        assert_eq!(s.instruction("start"), Some(false));
        assert_eq!(s.instruction("stop it"), None);
        assert_eq!(s.instruction("please stop"), None);
        assert_eq!(s.instruction("STOP!"), None);
        assert_eq!(keyword("  no   more\tplease "), "NO MORE PLEASE");
    }

    #[test]
    fn preferences_parse_both_field_shapes() {
        let v: PreferencesValue = serde_json::from_value(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"wa_id": "16505551234"}],
            "user_preferences": [{"wa_id": "16505551234", "detail": "User requested to stop marketing messages",
                                  "category": "marketing_messages", "value": "stop", "timestamp": 1731705721}]
        }))
        .unwrap();
        assert_eq!(v.user_preferences[0].value.as_deref(), Some("stop"));
        let v: PreferencesValue = serde_json::from_value(json!({
            "metadata": {"phone_number_id": "1"},
            "user_marketing_preferences": [{"wa_id": "1", "value": "resume", "timestamp": "1731705721"}]
        }))
        .unwrap();
        assert_eq!(v.user_preferences.len(), 1);
        assert_eq!(preference("Resume"), Some(false));
        assert_eq!(preference("interested"), None);
    }
}
