//! Broadcast campaigns: one approved template to an audience of contacts, sent at the
//! number's limits without ever messaging anyone twice.
//!
//! - **Records.** The campaign (`ORG#<org>#CAMPAIGN#<id>` / `CAMPAIGN`), one recipient
//!   per contact (`…#R` / `<contact id>`: its key is the campaign and the contact, so a
//!   contact is a recipient once however often the audience is read), and progress
//!   counters (`…#N`).
//! - **Fan-out** ([`fanout`]) runs in chunks through the `campaign` queue, one chunk at
//!   a time per campaign: first the audience is collected into recipients, then pending
//!   recipients are sent, each in one transaction that stores its message (an id derived
//!   from campaign and contact, written only if absent) and marks it `queued`. A crash,
//!   redrive, redeploy or second start repeats a chunk at most, and a repeated chunk
//!   finds its recipients queued.
//! - **Limits.** The number's throughput is shared with every other send through the
//!   sender's pacing, in the marketing lane (utility templates: the transactional lane),
//!   so agent replies go first; chunks are fed at the number's rate. The messaging limit
//!   tier ([`tier`]) pauses a campaign with `tier_limit`; `cron-campaigns` resumes it
//!   when capacity frees. Quiet hours hold chunks until they end.
//! - **Progress** follows the messages: the sender and the status webhooks move each
//!   recipient forward (`queued` → `sent` → `delivered` → `read`, or `failed`), an
//!   inbound message after the campaign marks it `replied`, and each move counts once.

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{AccountId, CampaignId, ContactId, MessageId, OrgId};
use crate::model::{Account, Channel, ContactStatus, Lane, MessageStatus};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::queue::OutgoingMessage;
use crate::record::{Record, decode_all, item, load, update};
use crate::services::Services;
use crate::store::{Index, IndexKey, Position, Query, StoreError};

pub mod fanout;
pub mod tier;
pub mod variables;

/// Most contacts a campaign may name directly.
pub const MAX_CONTACT_IDS: usize = 10_000;
/// Longest campaign name.
pub const MAX_NAME_CHARS: usize = 200;

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Created, not started.
    Draft,
    /// Started with a `send_at` still ahead.
    Scheduled,
    /// Sending.
    Running,
    /// Held by a person or by Switchboard (`paused_reason` says why).
    Paused,
    /// Every recipient was sent or skipped.
    Completed,
    /// Stopped for good.
    Cancelled,
}

impl CampaignStatus {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Completed => "completed",
            CampaignStatus::Cancelled => "cancelled",
        }
    }
}

/// The template a campaign sends, with send-time components that may hold variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignTemplate {
    /// Template name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// Graph's send-time components (may be empty).
    #[serde(default)]
    pub components: Value,
}

/// Who a campaign goes to: contacts carrying any of `tags_any`, all of `tags_all`, with
/// `status`, or named in `contact_ids` (criteria combine: every one given must hold).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Audience {
    /// At least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_any: Vec<String>,
    /// All of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_all: Vec<String>,
    /// This sales status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ContactStatus>,
    /// These contacts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_ids: Vec<ContactId>,
}

impl Audience {
    /// Whether a contact belongs.
    pub fn matches(&self, c: &crate::model::Contact) -> bool {
        (self.tags_any.is_empty() || self.tags_any.iter().any(|t| c.tags.contains(t)))
            && self.tags_all.iter().all(|t| c.tags.contains(t))
            && self.status.is_none_or(|s| c.status == Some(s))
            && (self.contact_ids.is_empty() || self.contact_ids.contains(&c.id))
    }
}

/// Hours in which a campaign sends nothing, in a timezone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuietHours {
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM` (before `start`: the quiet hours span midnight).
    pub end: String,
    /// IANA timezone.
    pub timezone: String,
}

impl QuietHours {
    fn parse(v: &Value) -> Result<Self> {
        let bad = |field: &str, message: &str| {
            Error::validation(
                format!("quiet_hours.{field}"),
                "invalid_quiet_hours",
                message.to_owned(),
            )
        };
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let q = QuietHours {
            start: text("start").ok_or_else(|| bad("start", "start is HH:MM"))?,
            end: text("end").ok_or_else(|| bad("end", "end is HH:MM"))?,
            timezone: text("timezone")
                .ok_or_else(|| bad("timezone", "timezone is an IANA name"))?,
        };
        if NaiveTime::parse_from_str(&q.start, "%H:%M").is_err() {
            return Err(bad("start", "start is HH:MM"));
        }
        if NaiveTime::parse_from_str(&q.end, "%H:%M").is_err() {
            return Err(bad("end", "end is HH:MM"));
        }
        if q.start == q.end {
            return Err(bad("end", "end must differ from start"));
        }
        if q.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(bad(
                "timezone",
                "timezone must be an IANA name such as Europe/Amsterdam",
            ));
        }
        Ok(q)
    }

    /// When the quiet hours that hold `now` end, or `None` when `now` is outside them.
    /// The wall-clock times are read in the timezone on that day, so a daylight-saving
    /// change moves them with the clocks.
    pub fn ends_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tz: chrono_tz::Tz = self.timezone.parse().ok()?;
        let start = NaiveTime::parse_from_str(&self.start, "%H:%M").ok()?;
        let end = NaiveTime::parse_from_str(&self.end, "%H:%M").ok()?;
        let local = now.with_timezone(&tz);
        let t = local.time();
        let quiet = if start < end {
            t >= start && t < end
        } else {
            t >= start || t < end
        };
        if !quiet {
            return None;
        }
        let day = if end > t {
            local.date_naive()
        } else {
            local.date_naive() + chrono::Duration::days(1)
        };
        use chrono::TimeZone;
        let naive = day.and_time(end);
        // A wall-clock time skipped by a daylight-saving jump: an hour later exists.
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|d| d.with_timezone(&Utc))
    }
}

/// Where the fan-out is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading the audience into recipients.
    Collect(fanout::AudienceAt),
    /// Sending pending recipients after the one with sort key `after`.
    Send {
        /// The last recipient handled.
        #[serde(default)]
        after: Option<String>,
    },
    /// Every recipient was handled.
    Done,
}

/// A broadcast campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Id.
    pub id: CampaignId,
    /// Owner.
    pub org_id: OrgId,
    /// Name.
    pub name: String,
    /// The WhatsApp number it sends from.
    pub account_id: AccountId,
    /// What it sends.
    pub template: CampaignTemplate,
    /// The template's category when Switchboard knows it (its pacing lane).
    #[serde(default)]
    pub category: Option<String>,
    /// Who it goes to.
    pub audience: Audience,
    /// When to start (a start before it schedules the campaign).
    #[serde(default, with = "rfc3339_millis::option")]
    pub send_at: Option<DateTime<Utc>>,
    /// Hours without sends.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Status.
    pub status: CampaignStatus,
    /// Why Switchboard paused it (`tier_limit`, `template_paused`, …); `None` when a
    /// person did.
    #[serde(default)]
    pub paused_reason: Option<String>,
    /// Fan-out position.
    pub phase: Phase,
    /// Incremented by every start and resume: fan-out messages of an earlier run are
    /// dropped.
    pub generation: u32,
    /// The fan-out message the current run waits for (older ones are duplicates).
    pub chunk: u64,
    /// When the next chunk is due (queued with a delay, or waiting for capacity); the
    /// schedule re-queues a chunk overdue by minutes.
    #[serde(default, with = "rfc3339_millis::option")]
    pub next_chunk_at: Option<DateTime<Utc>>,
    /// Who created it.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
    /// First started.
    #[serde(default, with = "rfc3339_millis::option")]
    pub started_at: Option<DateTime<Utc>>,
    /// Completed or cancelled.
    #[serde(default, with = "rfc3339_millis::option")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// `gsi2` partition of campaigns the schedule watches: scheduled, running, or paused by
/// Switchboard for a reason that passes.
pub const WATCHED_PK: &str = "CAMPAIGNS#WATCHED";

impl Campaign {
    /// Key of a campaign.
    pub fn key_of(org: &OrgId, id: &CampaignId) -> (String, String) {
        (format!("ORG#{org}#CAMPAIGN#{id}"), "CAMPAIGN".to_owned())
    }

    /// `gsi1` partition listing an org's campaigns.
    pub fn list_pk(org: &OrgId) -> String {
        format!("ORG#{org}#CAMPAIGNS")
    }

    /// Partition of the campaign's recipients.
    pub fn recipients_pk(org: &OrgId, id: &CampaignId) -> String {
        format!("ORG#{org}#CAMPAIGN#{id}#R")
    }

    /// Partition of the campaign's counters.
    pub fn counters_pk(org: &OrgId, id: &CampaignId) -> String {
        format!("ORG#{org}#CAMPAIGN#{id}#N")
    }

    /// The pacing lane of its messages.
    pub fn lane(&self) -> Lane {
        match Lane::of_category(self.category.as_deref()) {
            // Authentication codes are not broadcast material; a campaign never takes
            // the agents' lane.
            Lane::Priority => Lane::Transactional,
            Lane::Transactional if self.category.is_none() => Lane::Marketing,
            lane => lane,
        }
    }

    fn watched(&self) -> bool {
        match self.status {
            CampaignStatus::Scheduled | CampaignStatus::Running => true,
            CampaignStatus::Paused => self.paused_reason.as_deref() == Some(TIER_LIMIT),
            _ => false,
        }
    }
}

impl Record for Campaign {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(
            Self::list_pk(&self.org_id),
            format!("{}#{}", fmt_time(self.created_at), self.id),
        ))
    }

    fn gsi2(&self) -> Option<IndexKey> {
        self.watched()
            .then(|| IndexKey::new(WATCHED_PK, format!("{}#{}", self.org_id, self.id)))
    }
}

/// The reason a campaign paused at its number's messaging limit tier.
pub const TIER_LIMIT: &str = "tier_limit";

/// Where one recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    /// Not sent yet.
    Pending,
    /// Its message waits for the sender.
    Queued,
    /// WhatsApp accepted it.
    Sent,
    /// On the customer's device.
    Delivered,
    /// Read.
    Read,
    /// The customer answered.
    Replied,
    /// Sending failed for good.
    Failed,
    /// Not sent: opted out, not on WhatsApp, a variable it cannot fill (see `reason`).
    Skipped,
}

impl RecipientStatus {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Pending => "pending",
            RecipientStatus::Queued => "queued",
            RecipientStatus::Sent => "sent",
            RecipientStatus::Delivered => "delivered",
            RecipientStatus::Read => "read",
            RecipientStatus::Replied => "replied",
            RecipientStatus::Failed => "failed",
            RecipientStatus::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    const ALL: [RecipientStatus; 8] = [
        RecipientStatus::Pending,
        RecipientStatus::Queued,
        RecipientStatus::Sent,
        RecipientStatus::Delivered,
        RecipientStatus::Read,
        RecipientStatus::Replied,
        RecipientStatus::Failed,
        RecipientStatus::Skipped,
    ];

    fn rank(self) -> u8 {
        match self {
            RecipientStatus::Pending => 0,
            RecipientStatus::Queued => 1,
            RecipientStatus::Sent => 2,
            RecipientStatus::Delivered => 3,
            RecipientStatus::Read => 4,
            RecipientStatus::Replied => 5,
            RecipientStatus::Failed | RecipientStatus::Skipped => 6,
        }
    }

    /// The progress counters a move from `self` to `next` adds one to (empty when the
    /// move is not progress). Counters are cumulative: a read message was also sent and
    /// delivered.
    fn counts(self, next: RecipientStatus) -> Vec<&'static str> {
        use RecipientStatus::*;
        match (self, next) {
            (Failed | Skipped | Replied, _) => vec![],
            (_, Skipped) if self == Pending => vec!["skipped"],
            (Pending | Queued | Sent, Failed) => vec!["failed"],
            (_, Failed | Skipped | Pending) => vec![],
            (cur, next) if next.rank() > cur.rank() => [
                (Queued, "queued"),
                (Sent, "sent"),
                (Delivered, "delivered"),
                (Read, "read"),
                (Replied, "replied"),
            ]
            .into_iter()
            // A reply counts the stages before it too (receipts a customer turned off
            // never arrive), so every counter stays at least the one after it.
            .filter(|(s, _)| s.rank() > cur.rank() && s.rank() <= next.rank())
            .map(|(_, n)| n)
            .collect(),
            _ => vec![],
        }
    }
}

/// One contact of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    /// Owner.
    pub org_id: OrgId,
    /// Campaign.
    pub campaign_id: CampaignId,
    /// Contact.
    pub contact_id: ContactId,
    /// Where it stands.
    pub status: RecipientStatus,
    /// Why it was skipped or failed.
    #[serde(default)]
    pub reason: Option<String>,
    /// Its message, once sent.
    #[serde(default)]
    pub message_id: Option<MessageId>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl Recipient {
    /// Key of a recipient.
    pub fn key_of(org: &OrgId, campaign: &CampaignId, contact: &ContactId) -> (String, String) {
        (Campaign::recipients_pk(org, campaign), contact.to_string())
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "contact_id": self.contact_id,
            "status": self.status.as_str(),
            "reason": self.reason,
            "message_id": self.message_id,
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

impl Record for Recipient {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.campaign_id, &self.contact_id)
    }
}

/// The message id of a campaign's message to a contact: the same on every attempt.
pub fn message_id(org: &OrgId, campaign: &CampaignId, contact: &ContactId) -> MessageId {
    MessageId::from_uuid(crate::ids::derived_uuid(&[
        "campaign",
        org.as_str(),
        campaign.as_str(),
        contact.as_str(),
    ]))
}

// ------------------------------------------------------------------- create

fn tags(v: &Value, field: &str) -> Result<Vec<String>> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    crate::usecases::contacts::fields::parse_tags(v).map_err(|e| match e {
        Error::Validation { code, message, .. } => Error::validation(field, code, message),
        e => e,
    })
}

/// Parses an audience (`field` names it in errors: `audience`).
pub(crate) fn parse_audience(v: &Value) -> Result<Audience> {
    let bad = |f: &str, m: &str| Error::validation(f, "invalid_audience", m.to_owned());
    if !v.is_object() {
        return Err(bad("audience", "audience is an object"));
    }
    let mut a = Audience {
        tags_any: tags(&v["tags_any"], "audience.tags_any")?,
        tags_all: tags(&v["tags_all"], "audience.tags_all")?,
        ..Default::default()
    };
    a.status = match &v["status"] {
        Value::Null => None,
        Value::String(s) => Some(ContactStatus::parse(s).ok_or_else(|| {
            bad(
                "audience.status",
                "status must be lead, prospect, customer or inactive",
            )
        })?),
        _ => return Err(bad("audience.status", "status is a string")),
    };
    match &v["contact_ids"] {
        Value::Null => {}
        Value::Array(ids) => {
            if ids.len() > MAX_CONTACT_IDS {
                return Err(bad(
                    "audience.contact_ids",
                    "at most 10,000 contacts may be named",
                ));
            }
            for (i, id) in ids.iter().enumerate() {
                let id = id
                    .as_str()
                    .and_then(|s| ContactId::parse(s).ok())
                    .ok_or_else(|| {
                        bad(&format!("audience.contact_ids[{i}]"), "not a contact id")
                    })?;
                if !a.contact_ids.contains(&id) {
                    a.contact_ids.push(id);
                }
            }
        }
        _ => return Err(bad("audience.contact_ids", "contact_ids is an array")),
    }
    if a == Audience::default() {
        return Err(bad(
            "audience",
            "name at least one of tags_any, tags_all, status or contact_ids",
        ));
    }
    Ok(a)
}

/// Parses a template to send (`field` names it in errors: `template`, `steps[0].template`).
pub(crate) fn parse_template(t: &Value, field: &str) -> Result<CampaignTemplate> {
    let template = CampaignTemplate {
        name: t["name"]
            .as_str()
            .filter(|n| {
                !n.is_empty()
                    && n.len() <= 512
                    && n.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
            .ok_or_else(|| {
                Error::validation(
                    format!("{field}.name"),
                    "invalid_template",
                    "the name of an approved template",
                )
            })?
            .to_owned(),
        language: t["language"]
            .as_str()
            .filter(|l| (2..=15).contains(&l.len()))
            .ok_or_else(|| {
                Error::validation(
                    format!("{field}.language"),
                    "invalid_template",
                    "a language code such as en_US",
                )
            })?
            .to_owned(),
        components: match &t["components"] {
            Value::Null => json!([]),
            c => c.clone(),
        },
    };
    variables::validate(&template.components).map_err(|e| match e {
        Error::Validation {
            field: f,
            code,
            message,
        } => Error::validation(f.replacen("template", field, 1), code, message),
        e => e,
    })?;
    Ok(template)
}

/// Parses `integration_id`.
pub(crate) fn parse_integration(v: &Value) -> Result<AccountId> {
    v.as_str()
        .and_then(|s| AccountId::parse(s).ok())
        .ok_or_else(|| {
            Error::validation(
                "integration_id",
                "invalid_integration_id",
                "integration_id names a connected WhatsApp number",
            )
        })
}

/// The org's WhatsApp number `id` (422 on `integration_id` when there is none).
pub(crate) async fn whatsapp_account(
    svc: &Services,
    org: &OrgId,
    id: &AccountId,
) -> Result<Account> {
    let (a_pk, a_sk) = Account::key_of(org, id);
    Ok(load::<Account>(&*svc.store, &a_pk, &a_sk)
        .await?
        .filter(|a| a.record.channel == Channel::Whatsapp)
        .ok_or_else(|| {
            Error::validation(
                "integration_id",
                "unknown_integration",
                "integration_id names no connected WhatsApp number of this org",
            )
        })?
        .record)
}

/// Creates a draft campaign from the API body (422 naming the field).
pub async fn create(
    svc: &Services,
    org: &OrgId,
    user: Option<&str>,
    body: &Value,
) -> Result<Campaign> {
    let name = body["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= MAX_NAME_CHARS)
        .ok_or_else(|| Error::validation("name", "invalid_name", "name is 1-200 characters"))?;
    let account_id = parse_integration(&body["integration_id"])?;
    let template = parse_template(&body["template"], "template")?;
    let audience = parse_audience(&body["audience"])?;
    let send_at = match &body["send_at"] {
        Value::Null => None,
        Value::String(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    Error::validation(
                        "send_at",
                        "invalid_send_at",
                        "send_at is an RFC 3339 time with an offset",
                    )
                })?
                .with_timezone(&Utc),
        ),
        _ => {
            return Err(Error::validation(
                "send_at",
                "invalid_send_at",
                "send_at is an RFC 3339 time with an offset",
            ));
        }
    };
    let quiet_hours = match &body["quiet_hours"] {
        Value::Null => None,
        v => Some(QuietHours::parse(v)?),
    };
    let account = whatsapp_account(svc, org, &account_id).await?;
    let category = crate::usecases::templates::check_sendable(
        svc,
        org,
        account.waba_id.as_ref(),
        &template.name,
        &template.language,
    )
    .await?;
    let now = svc.clock.now();
    let campaign = Campaign {
        id: CampaignId::from_uuid(uuid::Uuid::now_v7()),
        org_id: org.clone(),
        name: name.to_owned(),
        account_id,
        template,
        category,
        audience,
        send_at,
        quiet_hours,
        status: CampaignStatus::Draft,
        paused_reason: None,
        phase: Phase::Collect(Default::default()),
        generation: 0,
        chunk: 0,
        next_chunk_at: None,
        created_by: user.map(str::to_owned),
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    };
    svc.store
        .put(item(&campaign, 1)?, crate::store::Condition::NotExists)
        .await?;
    info!(org_id = %org, campaign_id = %campaign.id, "campaign created");
    Ok(campaign)
}

// ------------------------------------------------------------------- read

/// A campaign of the org (404 for another org's or none).
pub async fn get(svc: &Services, org: &OrgId, id: &CampaignId) -> Result<Campaign> {
    let (pk, sk) = Campaign::key_of(org, id);
    Ok(load::<Campaign>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("campaign"))?
        .record)
}

/// The progress counters of a campaign.
pub async fn progress(svc: &Services, campaign: &Campaign) -> Result<Value> {
    let page = svc
        .store
        .query(Query::table(Campaign::counters_pk(&campaign.org_id, &campaign.id)).consistent())
        .await?;
    let mut out = json!({
        "audience_size": 0, "queued": 0, "sent": 0, "delivered": 0, "read": 0,
        "failed": 0, "replied": 0, "skipped": 0,
    });
    for it in &page.items {
        if out.get(&it.sk).is_some() {
            out[&it.sk] = Value::from(it.n.unwrap_or(0).max(0));
        }
    }
    Ok(out)
}

/// The API view of a campaign with its progress.
pub async fn view(svc: &Services, c: &Campaign) -> Result<Value> {
    Ok(json!({
        "id": c.id,
        "name": c.name,
        "integration_id": c.account_id,
        "template": c.template,
        "category": c.category,
        "lane": c.lane().as_str(),
        "audience": c.audience,
        "send_at": c.send_at.map(fmt_time),
        "quiet_hours": c.quiet_hours,
        "status": c.status.as_str(),
        "paused_reason": c.paused_reason,
        "progress": progress(svc, c).await?,
        "created_by": c.created_by,
        "created_at": fmt_time(c.created_at),
        "updated_at": fmt_time(c.updated_at),
        "started_at": c.started_at.map(fmt_time),
        "finished_at": c.finished_at.map(fmt_time),
    }))
}

/// The org's campaigns, newest first.
pub async fn list(svc: &Services, org: &OrgId, page: PageRequest) -> Result<Paged<Value>> {
    let (listed, next_cursor) = crate::page::newest_first::<Campaign>(
        &*svc.store,
        Campaign::list_pk(org),
        &crate::model::org_scope(org),
        page,
    )
    .await?;
    let mut items = Vec::with_capacity(listed.len());
    for c in &listed {
        items.push(view(svc, c).await?);
    }
    Ok(Paged { items, next_cursor })
}

/// Most recipients read to fill one filtered page.
const MAX_EXAMINED: usize = 1_000;

/// A campaign's recipients, optionally with one status.
pub async fn recipients(
    svc: &Services,
    org: &OrgId,
    id: &CampaignId,
    status: Option<&str>,
    page: PageRequest,
) -> Result<Paged<Value>> {
    get(svc, org, id).await?;
    let status = match status {
        None | Some("") => None,
        Some(s) => Some(RecipientStatus::parse(s).ok_or_else(|| {
            Error::validation(
                "status",
                "invalid_status",
                "status is pending, queued, sent, delivered, read, replied, failed or skipped",
            )
        })?),
    };
    let limit = page.limit;
    let mut query = page.apply_to(
        Query::table(Campaign::recipients_pk(org, id)),
        &crate::model::org_scope(org),
    )?;
    if status.is_some() {
        query = query.limit(limit.max(100));
    }
    let mut items = Vec::new();
    let mut examined = 0;
    loop {
        let result = svc.store.query(query.clone()).await?;
        for it in &result.items {
            examined += 1;
            let r = it.decode::<Recipient>()?;
            if status.is_none_or(|s| r.status == s) {
                items.push(r.view());
                if items.len() == limit {
                    return Ok(Paged {
                        items,
                        next_cursor: Some(encode_cursor(&Position {
                            pk: it.pk.clone(),
                            sk: it.sk.clone(),
                            index_sk: None,
                        })),
                    });
                }
            }
        }
        match result.next {
            Some(pos) if examined < MAX_EXAMINED => query = query.after(Some(pos)),
            next => {
                return Ok(Paged {
                    items,
                    next_cursor: next.as_ref().map(encode_cursor),
                });
            }
        }
    }
}

// ------------------------------------------------------------------- actions

/// What a person asks of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start (or schedule, with `send_at` ahead).
    Start,
    /// Hold.
    Pause,
    /// Continue where it stopped.
    Resume,
    /// Stop for good.
    Cancel,
}

impl Action {
    /// Parses the path segment.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "start" => Some(Action::Start),
            "pause" => Some(Action::Pause),
            "resume" => Some(Action::Resume),
            "cancel" => Some(Action::Cancel),
            _ => None,
        }
    }
}

fn conflict(c: &Campaign, action: &str) -> Error {
    Error::Conflict {
        code: "invalid_campaign_state",
        message: format!("a {} campaign cannot be {action}", c.status.as_str()),
    }
}

/// Applies a person's action (409 when the campaign's status does not allow it). A
/// second start of a started campaign answers it unchanged.
pub async fn act(svc: &Services, org: &OrgId, id: &CampaignId, action: Action) -> Result<Campaign> {
    let current = get(svc, org, id).await?;
    let (pk, sk) = Campaign::key_of(org, id);
    let now = svc.clock.now();
    let mut refused: Option<Error> = None;
    let mut enqueue = false;
    let updated = update::<Campaign>(&*svc.store, &pk, &sk, |c| {
        refused = None;
        enqueue = false;
        match (action, c.status) {
            (Action::Start, CampaignStatus::Draft) => {
                c.started_at = Some(now);
                begin(c, now);
                enqueue = c.status == CampaignStatus::Running;
            }
            (Action::Start, CampaignStatus::Scheduled | CampaignStatus::Running) => return false,
            (Action::Start, _) => {
                refused = Some(conflict(c, "started"));
                return false;
            }
            (Action::Pause, CampaignStatus::Running | CampaignStatus::Scheduled) => {
                c.status = CampaignStatus::Paused;
                c.paused_reason = None;
                c.next_chunk_at = None;
            }
            (Action::Pause, CampaignStatus::Paused) => {
                // A person's pause holds even when Switchboard paused it first.
                c.paused_reason = None;
            }
            (Action::Pause, _) => {
                refused = Some(conflict(c, "paused"));
                return false;
            }
            (Action::Resume, CampaignStatus::Paused) => {
                c.paused_reason = None;
                begin(c, now);
                enqueue = c.status == CampaignStatus::Running;
            }
            (Action::Resume, CampaignStatus::Running) => return false,
            (Action::Resume, _) => {
                refused = Some(conflict(c, "resumed"));
                return false;
            }
            (Action::Cancel, CampaignStatus::Completed | CampaignStatus::Cancelled) => {
                refused = Some(conflict(c, "cancelled"));
                return false;
            }
            (Action::Cancel, _) => {
                c.status = CampaignStatus::Cancelled;
                c.paused_reason = None;
                c.next_chunk_at = None;
                c.finished_at = Some(now);
            }
        }
        c.updated_at = now;
        true
    })
    .await?;
    if let Some(e) = refused {
        return Err(e);
    }
    let campaign = updated.unwrap_or(current);
    if enqueue {
        fanout::enqueue(svc, &campaign, None).await?;
    }
    info!(org_id = %org, campaign_id = %id, status = campaign.status.as_str(), "campaign {}", match action {
        Action::Start => "started",
        Action::Pause => "paused",
        Action::Resume => "resumed",
        Action::Cancel => "cancelled",
    });
    Ok(campaign)
}

/// Starts a new run: scheduled while `send_at` is ahead, else running with a fresh
/// generation (fan-out messages of the previous run are dropped).
fn begin(c: &mut Campaign, now: DateTime<Utc>) {
    c.generation += 1;
    c.chunk = 0;
    match c.send_at {
        Some(at) if at > now => {
            c.status = CampaignStatus::Scheduled;
            c.next_chunk_at = Some(at);
        }
        _ => {
            c.status = CampaignStatus::Running;
            c.next_chunk_at = Some(now);
        }
    }
}

/// Pauses a running or scheduled campaign for a reason of Switchboard's; answers whether
/// it did.
pub async fn pause_for(svc: &Services, c: &Campaign, reason: &str) -> Result<bool> {
    let (pk, sk) = Campaign::key_of(&c.org_id, &c.id);
    let now = svc.clock.now();
    let generation = c.generation;
    let paused = update::<Campaign>(&*svc.store, &pk, &sk, |c| {
        if c.generation != generation
            || !matches!(
                c.status,
                CampaignStatus::Running | CampaignStatus::Scheduled
            )
        {
            return false;
        }
        c.status = CampaignStatus::Paused;
        c.paused_reason = Some(reason.to_owned());
        c.next_chunk_at = None;
        c.updated_at = now;
        true
    })
    .await?;
    let done =
        paused.is_some_and(|p| p.status == CampaignStatus::Paused && p.generation == generation);
    if done {
        warn!(org_id = %c.org_id, campaign_id = %c.id, reason, "campaign paused by Switchboard");
    }
    Ok(done)
}

/// Pauses the org's running and scheduled campaigns that send `template` (Meta paused
/// or disabled it); returns how many.
pub async fn stop_for_template(
    svc: &Services,
    org: &OrgId,
    name: &str,
    language: &str,
    status: &str,
) -> Result<usize> {
    let reason = format!("template_{}", status.to_ascii_lowercase());
    let mut stopped = 0;
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi1, Campaign::list_pk(org))
                    .limit(200)
                    .after(after),
            )
            .await?;
        for c in decode_all::<Campaign>(&page.items)? {
            if c.template.name == name
                && c.template.language == language
                && matches!(
                    c.status,
                    CampaignStatus::Running | CampaignStatus::Scheduled
                )
                && pause_for(svc, &c, &reason).await?
            {
                stopped += 1;
            }
        }
        match page.next {
            Some(p) => after = Some(p),
            None => return Ok(stopped),
        }
    }
}

// ------------------------------------------------------------------- progress

async fn count(svc: &Services, org: &OrgId, id: &CampaignId, counters: &[&str], n: i64) {
    let pk = Campaign::counters_pk(org, id);
    for name in counters {
        crate::record::bump(&*svc.store, &pk, name, n).await;
    }
}

/// Moves a recipient forward and counts the move once (concurrent and repeated reports
/// of one status count once: the move is a versioned write).
pub async fn advance(
    svc: &Services,
    org: &OrgId,
    campaign: &CampaignId,
    contact: &ContactId,
    next: RecipientStatus,
    reason: Option<&str>,
) -> Result<()> {
    let (pk, sk) = Recipient::key_of(org, campaign, contact);
    let mut counted: Vec<&'static str> = Vec::new();
    let now = svc.clock.now();
    let moved = update::<Recipient>(&*svc.store, &pk, &sk, |r| {
        counted = r.status.counts(next);
        if counted.is_empty() {
            return false;
        }
        r.status = next;
        if reason.is_some() {
            r.reason = reason.map(str::to_owned);
        }
        r.updated_at = now;
        true
    })
    .await;
    match moved {
        Ok(Some(_)) if !counted.is_empty() => count(svc, org, campaign, &counted, 1).await,
        Ok(_) => {}
        Err(StoreError::Conflict) => {
            warn!(campaign_id = %campaign, "recipient under contention; progress not moved")
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Follows an outbound message's new status into its campaign's progress.
pub async fn follow(svc: &Services, message: &crate::model::Message) -> Result<()> {
    let Some(crate::model::MessageOrigin::Campaign { campaign_id }) = &message.origin else {
        return Ok(());
    };
    let next = match message.status {
        MessageStatus::Sent => RecipientStatus::Sent,
        MessageStatus::Delivered => RecipientStatus::Delivered,
        MessageStatus::Read => RecipientStatus::Read,
        MessageStatus::Failed => RecipientStatus::Failed,
        _ => return Ok(()),
    };
    let reason = message
        .error
        .as_ref()
        .and_then(|e| e.title.clone())
        .filter(|_| next == RecipientStatus::Failed);
    advance(
        svc,
        &message.org_id,
        campaign_id,
        &message.contact_id,
        next,
        reason.as_deref(),
    )
    .await
}

/// Records that a contact wrote after a campaign reached them.
pub async fn replied(
    svc: &Services,
    org: &OrgId,
    campaign: &CampaignId,
    contact: &ContactId,
) -> Result<()> {
    let (pk, sk) = Recipient::key_of(org, campaign, contact);
    match load::<Recipient>(&*svc.store, &pk, &sk).await? {
        Some(r)
            if matches!(
                r.record.status,
                RecipientStatus::Queued
                    | RecipientStatus::Sent
                    | RecipientStatus::Delivered
                    | RecipientStatus::Read
            ) =>
        {
            advance(svc, org, campaign, contact, RecipientStatus::Replied, None).await
        }
        _ => Ok(()),
    }
}

/// Whether broadcast campaigns are enabled on this deployment.
pub fn enabled(svc: &Services) -> bool {
    svc.features.broadcast_campaigns
}

/// 404 on every campaign route of a deployment that turned campaigns off.
pub fn require_enabled(svc: &Services) -> Result<()> {
    if enabled(svc) {
        Ok(())
    } else {
        Err(Error::not_found("route"))
    }
}

/// The campaign-queue body of one fan-out chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// Owner.
    pub org_id: OrgId,
    /// Campaign.
    pub campaign_id: CampaignId,
    /// The run.
    pub generation: u32,
    /// The chunk of the run.
    pub chunk: u64,
}

impl ChunkRef {
    /// The message for the `campaign` queue (a standard queue: no group, no dedupe id;
    /// the chunk number makes a duplicate harmless).
    fn message(&self, delay: Option<std::time::Duration>) -> OutgoingMessage {
        OutgoingMessage {
            body: serde_json::to_string(self).unwrap_or_default(),
            group_id: None,
            dedupe_id: None,
            delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecipientStatus::*;

    #[test]
    fn counters_are_cumulative_and_count_once() {
        assert_eq!(Pending.counts(Queued), vec!["queued"]);
        assert_eq!(Queued.counts(Read), vec!["sent", "delivered", "read"]);
        assert_eq!(Read.counts(Delivered), Vec::<&str>::new());
        assert_eq!(Read.counts(Read), Vec::<&str>::new());
        assert_eq!(Sent.counts(Failed), vec!["failed"]);
        assert_eq!(Read.counts(Failed), Vec::<&str>::new());
        assert_eq!(Pending.counts(Skipped), vec!["skipped"]);
        assert_eq!(Queued.counts(Skipped), Vec::<&str>::new());
        assert_eq!(Sent.counts(Replied), vec!["delivered", "read", "replied"]);
        assert_eq!(Replied.counts(Read), Vec::<&str>::new());
    }

    #[test]
    fn quiet_hours_follow_the_local_clock() {
        let q = QuietHours::parse(
            &json!({"start": "21:00", "end": "08:00", "timezone": "Europe/Amsterdam"}),
        )
        .unwrap();
        // 12:00 UTC in January is 13:00 in Amsterdam: not quiet.
        let noon = DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(q.ends_after(noon), None);
        // 22:30 UTC is 23:30 there: quiet until 08:00 local = 07:00 UTC next day.
        let late = DateTime::parse_from_rfc3339("2026-01-15T22:30:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            q.ends_after(late).map(fmt_time).as_deref(),
            Some("2026-01-16T07:00:00.000Z")
        );
        // In July (summer time, UTC+2) the same local 08:00 is 06:00 UTC.
        let summer = DateTime::parse_from_rfc3339("2026-07-15T01:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            q.ends_after(summer).map(fmt_time).as_deref(),
            Some("2026-07-15T06:00:00.000Z")
        );
        assert!(
            QuietHours::parse(&json!({"start": "25:00", "end": "08:00", "timezone": "UTC"}))
                .is_err()
        );
        assert!(
            QuietHours::parse(&json!({"start": "21:00", "end": "08:00", "timezone": "Mars/Base"}))
                .is_err()
        );
    }
}
