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
use tracing::info;

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{AccountId, OrgId, WabaId};
use crate::model::{Account, Channel, PhoneRoute, WhatsAppProvider};
use crate::record::{Record, decode_all, item, load, update};
use crate::services::Services;
use crate::store::{Condition, Index, Query, Write};
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

/// Reads every template of the account's WABA from Graph and stores them; templates
/// Meta no longer has are removed. Returns how many are stored.
pub async fn sync(svc: &Services, org: &OrgId, integration: Option<&AccountId>) -> Result<usize> {
    let meta = svc.meta_app.as_deref().ok_or(Error::NotConfigured {
        what: "WHATSAPP_GRAPH_URL".into(),
    })?;
    let account = account_for(svc, org, integration).await?;
    let waba = account.waba_id.clone().expect("filtered on waba_id");
    let token = integrations::access_token(svc, &account).await?;
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

/// The send API's check: a template Switchboard knows for the account's business account
/// is sent only while approved (422 naming its status); one it does not know is left to
/// Meta to judge.
pub async fn check_sendable(
    svc: &Services,
    account: &Account,
    name: &str,
    language: &str,
) -> Result<()> {
    let Some(waba) = &account.waba_id else {
        return Ok(());
    };
    let (pk, sk) = Template::key_of(&account.org_id, waba, name, language);
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
        _ => Ok(()),
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
            svc.store
                .transact(vec![Write::put(item(&t, 1)?, Condition::NotExists)])
                .await
                .or_else(|e| match e {
                    crate::store::StoreError::ConditionFailed { .. } => Ok(()),
                    e => Err(e),
                })?;
        }
        info!(org_id = %org, field, status = ?text("event"), "template updated from Meta's webhook");
        changed += 1;
    }
    Ok((changed, orgs.into_iter().next()))
}
