//! WhatsApp message templates, as Switchboard knows them: read from the business
//! account's WABA (`POST /v1/templates/sync`, every page of `GET /{waba_id}/message_templates`),
//! listed with filters (`GET /v1/templates`), kept current by Meta's template webhooks
//! (`message_template_status_update`, `message_template_quality_update`,
//! `template_category_update`), and checked by the send API: a template Switchboard
//! knows is sent only while it is `APPROVED`.
//!
//! Templates belong to the business account, so they are kept per WABA:
//! `ORG#<org>#TEMPLATE` / `<waba_id>#<name>#<language>`, one small partition per org.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{AccountId, OrgId, WabaId};
use crate::model::{Account, Channel, PhoneRoute, WhatsAppProvider};
use crate::record::{Record, decode_all, item, load, update};
use crate::services::Services;
use crate::store::{Condition, Index, Query};
use crate::usecases::integrations;

/// Templates read from the store at once while listing.
const LIST_PAGE: usize = 500;

/// A template of a business account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Owner.
    pub org_id: OrgId,
    /// The business account.
    pub waba_id: WabaId,
    /// Meta's id.
    #[serde(default)]
    pub template_id: Option<String>,
    /// Name (`[a-z0-9_]`).
    pub name: String,
    /// Language code (`en_US`).
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub status: String,
    /// Meta's quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    #[serde(default)]
    pub quality: Option<String>,
    /// Header, body, footer and buttons, as Meta describes them.
    #[serde(default)]
    pub components: Value,
    /// Why Meta rejected or paused it.
    #[serde(default)]
    pub reason: Option<String>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl Template {
    /// Partition of an org's templates.
    pub fn pk(org: &OrgId) -> String {
        format!("ORG#{org}#TEMPLATE")
    }

    /// Key of a template.
    pub fn key_of(org: &OrgId, waba: &WabaId, name: &str, language: &str) -> (String, String) {
        (Self::pk(org), format!("{waba}#{name}#{language}"))
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "waba_id": self.waba_id,
            "id": self.template_id,
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "quality": self.quality,
            "components": self.components,
            "rejection_reason": self.reason,
            "updated_at": fmt_time(self.updated_at),
        })
    }

    /// Whether the send API may send it.
    pub fn sendable(&self) -> bool {
        self.status.eq_ignore_ascii_case("APPROVED")
    }
}

impl Record for Template {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.waba_id, &self.name, &self.language)
    }
}

/// The Meta WhatsApp account templates are synced through: the one named, or the org's
/// only Meta WhatsApp account.
async fn account_for(svc: &Services, org: &OrgId, id: Option<&AccountId>) -> Result<Account> {
    let accounts: Vec<Account> = match id {
        Some(id) => vec![integrations::get(svc, org, id).await?.record],
        None => integrations::list(svc, org).await?,
    };
    let mut meta = accounts.into_iter().filter(|a| {
        a.channel == Channel::Whatsapp
            && a.provider == WhatsAppProvider::Meta
            && a.waba_id.is_some()
    });
    match (meta.next(), meta.next(), id) {
        (Some(a), None, _) | (Some(a), Some(_), Some(_)) => Ok(a),
        (None, _, Some(_)) => Err(Error::validation(
            "integration_id",
            "not_a_meta_whatsapp_account",
            "templates are read from a WhatsApp business account connected through Meta",
        )),
        (None, _, None) => Err(Error::Conflict {
            code: "no_business_account",
            message: "connect a WhatsApp number through Meta first".into(),
        }),
        (Some(_), Some(_), None) => Err(Error::validation(
            "integration_id",
            "required",
            "the org has several business accounts: name the integration to sync",
        )),
    }
}

/// Graph as the Meta app, the business account templates go to, and its token.
async fn business_account<'a>(
    svc: &'a Services,
    org: &OrgId,
    integration: Option<&AccountId>,
) -> Result<(
    &'a dyn crate::meta_app::MetaAppApi,
    WabaId,
    crate::secrets::SecretString,
)> {
    let meta = svc.meta_app.as_deref().ok_or(Error::NotConfigured {
        what: "WHATSAPP_GRAPH_URL".into(),
    })?;
    let account = account_for(svc, org, integration).await?;
    let waba = account.waba_id.clone().expect("filtered on waba_id");
    let token = integrations::access_token(svc, &account).await?;
    Ok((meta, waba, token))
}

/// Reads every template of the account's WABA from Graph and stores them; templates
/// Meta no longer has are removed. Returns how many are stored.
pub async fn sync(svc: &Services, org: &OrgId, integration: Option<&AccountId>) -> Result<usize> {
    let (meta, waba, token) = business_account(svc, org, integration).await?;
    let remote = meta
        .list_templates(&token, &waba)
        .await
        .map_err(|e| crate::usecases::outbound::provider_error(&e))?;
    let now = svc.clock.now();
    let mut seen = std::collections::BTreeSet::new();
    for t in &remote {
        let record = Template {
            org_id: org.clone(),
            waba_id: waba.clone(),
            template_id: t.id.clone(),
            name: t.name.clone(),
            language: t.language.clone(),
            category: t.category.clone(),
            status: t.status.clone(),
            quality: t
                .quality_score
                .as_ref()
                .and_then(|q| q.get("score"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            components: t.components.clone(),
            reason: t.rejected_reason.clone().filter(|r| r != "NONE"),
            updated_at: now,
        };
        seen.insert(record.key().1);
        svc.store.put(item(&record, 1)?, Condition::Always).await?;
    }
    // What Meta no longer lists was deleted there.
    for old in all(svc, org).await? {
        if old.waba_id == waba && !seen.contains(&old.key().1) {
            let (pk, sk) = old.key();
            svc.store.delete(&pk, &sk, Condition::Always).await?;
        }
    }
    info!(org_id = %org, templates = remote.len(), "templates synced");
    Ok(remote.len())
}

async fn all(svc: &Services, org: &OrgId) -> Result<Vec<Template>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::table(Template::pk(org))
                    .limit(LIST_PAGE)
                    .after(after),
            )
            .await?;
        out.extend(decode_all::<Template>(&page.items)?);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// The filters of `GET /v1/templates`.
#[derive(Debug, Default, Clone)]
pub struct TemplateFilter {
    /// Status (any case).
    pub status: Option<String>,
    /// Category (any case).
    pub category: Option<String>,
    /// Language code.
    pub language: Option<String>,
    /// A prefix of the name.
    pub name: Option<String>,
    /// The business account.
    pub waba_id: Option<String>,
}

/// An org's templates matching `filter`, ordered by business account, name, language.
pub async fn list(svc: &Services, org: &OrgId, filter: &TemplateFilter) -> Result<Vec<Value>> {
    let eq = |want: &Option<String>, have: &str| {
        want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(have))
    };
    Ok(all(svc, org)
        .await?
        .into_iter()
        .filter(|t| {
            eq(&filter.status, &t.status)
                && eq(&filter.category, &t.category)
                && eq(&filter.language, &t.language)
                && eq(&filter.waba_id, t.waba_id.as_str())
                && filter.name.as_deref().is_none_or(|p| t.name.starts_with(p))
        })
        .map(|t| t.view())
        .collect())
}

/// The send API's check: a template Switchboard knows for the number's business account
/// is sent only while approved (422 naming its status); one it does not know is left to
/// Meta to judge. Answers the known template's category (which picks its pacing lane).
pub async fn check_sendable(
    svc: &Services,
    org: &OrgId,
    waba: Option<&WabaId>,
    name: &str,
    language: &str,
) -> Result<Option<String>> {
    let Some(waba) = waba else {
        return Ok(None);
    };
    let (pk, sk) = Template::key_of(org, waba, name, language);
    match load::<Template>(&*svc.store, &pk, &sk).await? {
        Some(t) if !t.record.sendable() => Err(Error::validation(
            "template",
            "template_not_approved",
            format!(
                "template {name} ({language}) is {} at Meta{}; only approved templates can be sent",
                t.record.status,
                t.record
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        )),
        Some(t) => Ok(Some(t.record.category)),
        None => Ok(None),
    }
}

/// The template webhook fields this module applies.
pub const TEMPLATE_FIELDS: [&str; 3] = [
    "message_template_status_update",
    "message_template_quality_update",
    "template_category_update",
];

/// Applies a template webhook of business account `waba` to every org that connected it.
/// Returns how many templates changed and the first org.
pub async fn apply_webhook(
    svc: &Services,
    field: &str,
    waba: &str,
    value: &Value,
) -> Result<(usize, Option<OrgId>)> {
    let Ok(waba) = WabaId::parse(waba) else {
        return Ok((0, None));
    };
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(name), Some(language)) = (
        text("message_template_name"),
        text("message_template_language"),
    ) else {
        return Ok((0, None));
    };
    let routes = svc
        .store
        .query(Query::index(Index::Gsi2, PhoneRoute::waba_pk(&waba)).limit(100))
        .await?;
    let mut orgs: Vec<OrgId> = decode_all::<PhoneRoute>(&routes.items)?
        .into_iter()
        .map(|r| r.org_id)
        .collect();
    orgs.sort();
    orgs.dedup();
    let now = svc.clock.now();
    let mut changed = 0;
    for org in &orgs {
        let (pk, sk) = Template::key_of(org, &waba, &name, &language);
        let fresh = Template {
            org_id: org.clone(),
            waba_id: waba.clone(),
            template_id: value
                .get("message_template_id")
                .map(|v| v.to_string().trim_matches('"').to_owned()),
            name: name.clone(),
            language: language.clone(),
            category: text("new_category").unwrap_or_else(|| "UNKNOWN".into()),
            status: "PENDING".into(),
            quality: None,
            components: Value::Null,
            reason: None,
            updated_at: now,
        };
        let mut apply = |t: &mut Template| {
            match field {
                "message_template_status_update" => {
                    if let Some(event) = text("event") {
                        t.status = event;
                    }
                    t.reason = text("reason").filter(|r| r != "NONE");
                }
                "message_template_quality_update" => t.quality = text("new_quality_score"),
                _ => {
                    if let Some(c) = text("new_category") {
                        t.category = c;
                    }
                }
            }
            t.updated_at = now;
            true
        };
        if update::<Template>(&*svc.store, &pk, &sk, &mut apply)
            .await?
            .is_none()
        {
            // Not synced yet: remember what the webhook says.
            let mut t = fresh;
            apply(&mut t);
            // A sync writing it meanwhile wins: what it read from Meta is as new.
            match svc.store.put(item(&t, 1)?, Condition::NotExists).await {
                Ok(()) | Err(crate::store::StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if field == "message_template_status_update"
            && let Some(event) = text("event")
            && matches!(event.as_str(), "PAUSED" | "DISABLED")
        {
            let stopped =
                crate::usecases::campaigns::stop_for_template(svc, org, &name, &language, &event)
                    .await?;
            if stopped > 0 {
                warn!(org_id = %org, stopped, status = %event, "campaigns stopped: Meta paused or disabled their template");
            }
        }
        info!(org_id = %org, field, status = ?text("event"), "template updated from Meta's webhook");
        changed += 1;
    }
    Ok((changed, orgs.into_iter().next()))
}

// ------------------------------------------------------------------ create and delete

/// Longest template body (Meta's limit).
pub const MAX_BODY_CHARS: usize = 1024;
/// Longest header or footer text.
pub const MAX_HEADER_FOOTER_CHARS: usize = 60;
/// Longest button label.
pub const MAX_BUTTON_CHARS: usize = 25;
/// Most buttons.
pub const MAX_BUTTONS: usize = 10;

fn bad(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Error {
    Error::validation(field, code, message)
}

/// The `{{n}}` placeholders of a text, in order of appearance.
fn placeholders(text: &str) -> std::result::Result<Vec<u32>, ()> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            return Err(());
        };
        out.push(after[..j].trim().parse::<u32>().map_err(|_| ())?);
        rest = &after[j + 2..];
    }
    Ok(out)
}

/// Checks that `text`'s placeholders are `{{1}}`..`{{n}}` without gaps and that `examples`
/// (Meta's `example.body_text[0]` or `header_text`) give one value each.
fn check_variables(field: &str, text: &str, examples: Option<&Value>) -> Result<()> {
    let found = placeholders(text).map_err(|()| {
        bad(
            field,
            "invalid_variable",
            "variables are written {{1}}, {{2}}, … (numbers in double braces)",
        )
    })?;
    let mut distinct = found.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.iter().enumerate().any(|(i, n)| *n != i as u32 + 1) {
        return Err(bad(
            field,
            "variables_not_sequential",
            "variables must be numbered from {{1}} without gaps",
        ));
    }
    if distinct.is_empty() {
        return Ok(());
    }
    let given = examples
        .and_then(Value::as_array)
        .map(|a| match a.first() {
            Some(Value::Array(inner)) => inner.len(),
            _ => a.len(),
        })
        .unwrap_or(0);
    if given != distinct.len() {
        return Err(bad(
            format!("{field}.example"),
            "examples_required",
            format!(
                "give one example value for each of the {} variables",
                distinct.len()
            ),
        ));
    }
    Ok(())
}

fn text_of<'a>(c: &'a Value, field: &str, max: usize) -> Result<&'a str> {
    let text = c
        .get("text")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad(format!("{field}.text"), "required", "text is required"))?;
    if text.chars().count() > max {
        return Err(bad(
            format!("{field}.text"),
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    Ok(text)
}

/// Validates a template submission against Meta's rules; returns the body to submit.
pub fn validate_new(body: &Value) -> Result<(Value, Option<AccountId>)> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad("body", "invalid_body", "the body is a JSON object"))?;
    for k in obj.keys() {
        if ![
            "integration_id",
            "name",
            "language",
            "category",
            "components",
        ]
        .contains(&k.as_str())
        {
            return Err(bad(
                k.clone(),
                "unknown_field",
                format!("{k} is not a template field"),
            ));
        }
    }
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| {
            (1..=512).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .ok_or_else(|| {
            bad(
                "name",
                "invalid_name",
                "name is 1-512 characters of a-z, 0-9 and _",
            )
        })?;
    let language = obj
        .get("language")
        .and_then(Value::as_str)
        .filter(|l| {
            let (lang, region) = l.split_once('_').unwrap_or((l, ""));
            (2..=3).contains(&lang.len())
                && lang.bytes().all(|b| b.is_ascii_lowercase())
                && (region.is_empty()
                    || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())))
        })
        .ok_or_else(|| {
            bad(
                "language",
                "invalid_language",
                "language is a code such as en or en_US",
            )
        })?;
    let category = obj
        .get("category")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .filter(|c| ["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&c.as_str()))
        .ok_or_else(|| {
            bad(
                "category",
                "invalid_category",
                "category is MARKETING, UTILITY or AUTHENTICATION",
            )
        })?;
    let components = obj
        .get("components")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("components", "required", "components is a non-empty array"))?;
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in components.iter().enumerate() {
        let field = format!("components[{i}]");
        let kind = c
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
            .ok_or_else(|| bad(format!("{field}.type"), "required", "type is required"))?;
        if !seen.insert(kind.clone()) {
            return Err(bad(
                format!("{field}.type"),
                "duplicate_component",
                format!("one {kind} at most"),
            ));
        }
        match kind.as_str() {
            "BODY" => {
                let text = text_of(c, &field, MAX_BODY_CHARS)?;
                check_variables(
                    &field,
                    text,
                    c.get("example").and_then(|e| e.get("body_text")),
                )?;
            }
            "HEADER" => {
                let format = c.get("format").and_then(Value::as_str).unwrap_or("TEXT");
                match format.to_ascii_uppercase().as_str() {
                    "TEXT" => {
                        let text = text_of(c, &field, MAX_HEADER_FOOTER_CHARS)?;
                        check_variables(
                            &field,
                            text,
                            c.get("example").and_then(|e| e.get("header_text")),
                        )?;
                        if placeholders(text).map(|p| p.len()).unwrap_or(0) > 1 {
                            return Err(bad(
                                format!("{field}.text"),
                                "too_many_variables",
                                "a header has one variable at most",
                            ));
                        }
                    }
                    "IMAGE" | "VIDEO" | "DOCUMENT" | "LOCATION" => {}
                    _ => {
                        return Err(bad(
                            format!("{field}.format"),
                            "invalid_format",
                            "format is TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION",
                        ));
                    }
                }
            }
            "FOOTER" => {
                let text = text_of(c, &field, MAX_HEADER_FOOTER_CHARS)?;
                if text.contains("{{") {
                    return Err(bad(
                        format!("{field}.text"),
                        "invalid_variable",
                        "a footer has no variables",
                    ));
                }
            }
            "BUTTONS" => {
                let buttons = c
                    .get("buttons")
                    .and_then(Value::as_array)
                    .filter(|b| (1..=MAX_BUTTONS).contains(&b.len()))
                    .ok_or_else(|| {
                        bad(
                            format!("{field}.buttons"),
                            "invalid_buttons",
                            format!("1-{MAX_BUTTONS} buttons"),
                        )
                    })?;
                for (j, b) in buttons.iter().enumerate() {
                    let bf = format!("{field}.buttons[{j}]");
                    let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
                    if !["QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP"]
                        .contains(&kind.to_ascii_uppercase().as_str())
                    {
                        return Err(bad(
                            format!("{bf}.type"),
                            "invalid_button",
                            "type is QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE or OTP",
                        ));
                    }
                    if !kind.eq_ignore_ascii_case("OTP") {
                        text_of(b, &bf, MAX_BUTTON_CHARS)?;
                    }
                }
            }
            _ => {
                return Err(bad(
                    format!("{field}.type"),
                    "invalid_component",
                    "type is HEADER, BODY, FOOTER or BUTTONS",
                ));
            }
        }
    }
    if !seen.contains("BODY") {
        return Err(bad("components", "body_required", "a template has a BODY"));
    }
    let integration = match obj.get("integration_id").and_then(Value::as_str) {
        Some(id) => Some(AccountId::parse(id).map_err(|_| Error::not_found("integration"))?),
        None => None,
    };
    Ok((
        json!({"name": name, "language": language, "category": category, "components": components}),
        integration,
    ))
}

/// Submits a validated template to Meta and stores it with the status Meta gave.
pub async fn create(
    svc: &Services,
    org: &OrgId,
    submission: &Value,
    integration: Option<&AccountId>,
) -> Result<Value> {
    let (meta, waba, token) = business_account(svc, org, integration).await?;
    let (id, status) = meta
        .create_template(&token, &waba, submission)
        .await
        .map_err(|e| match &e {
            crate::whatsapp::GraphError::Api {
                http_status: 400,
                message,
                ..
            } => bad(
                "components",
                "rejected_by_meta",
                format!("Meta refused the template: {message}"),
            ),
            _ => crate::usecases::outbound::provider_error(&e),
        })?;
    let t = Template {
        org_id: org.clone(),
        waba_id: waba,
        template_id: Some(id),
        name: submission["name"].as_str().unwrap_or_default().to_owned(),
        language: submission["language"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        category: submission["category"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        status,
        quality: None,
        components: submission["components"].clone(),
        reason: None,
        updated_at: svc.clock.now(),
    };
    svc.store.put(item(&t, 1)?, Condition::Always).await?;
    Ok(t.view())
}

/// Deletes a template (every language of `name`) at Meta and here; 404 when the org has
/// no template of that name.
pub async fn delete(svc: &Services, org: &OrgId, name: &str) -> Result<()> {
    let meta = svc.meta_app.as_deref().ok_or(Error::NotConfigured {
        what: "WHATSAPP_GRAPH_URL".into(),
    })?;
    let mine: Vec<Template> = all(svc, org)
        .await?
        .into_iter()
        .filter(|t| t.name == name)
        .collect();
    let Some(first) = mine.first() else {
        return Err(Error::not_found("template"));
    };
    let accounts = integrations::list(svc, org).await?;
    let account = accounts
        .iter()
        .find(|a| {
            a.waba_id.as_ref() == Some(&first.waba_id) && a.provider == WhatsAppProvider::Meta
        })
        .ok_or_else(|| Error::Conflict {
            code: "no_business_account",
            message: "the template's business account is no longer connected".into(),
        })?;
    let token = integrations::access_token(svc, account).await?;
    meta.delete_template(&token, &first.waba_id, name)
        .await
        .map_err(|e| crate::usecases::outbound::provider_error(&e))?;
    for t in &mine {
        let (pk, sk) = t.key();
        svc.store.delete(&pk, &sk, Condition::Always).await?;
    }
    info!(org_id = %org, "template deleted");
    Ok(())
}
