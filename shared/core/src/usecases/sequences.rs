//! Drip sequences: steps sent to each enrolled contact after delays (`"90s"`, `"15m"`,
//! `"2h"`, `"3d"`), each step counted from the one before (the first from enrolment).
//!
//! - **Records.** The sequence (`ORG#<org>#SEQ#<id>` / `SEQUENCE`), one enrolment per
//!   contact (`…#E` / `<contact id>`: a contact is enrolled in a sequence once), counters
//!   (`…#N`). An active enrolment is indexed by its due time on `gsi2` (`SEQDUE#<shard>`).
//! - **Exactly once.** `cron-sequences` (every minute) finds due enrolments and sends each
//!   its step in one transaction that stores the message (an id derived from sequence,
//!   contact and step, written only if absent) and moves the enrolment to its next step
//!   under its version: overlapping runs, retries and redeploys send a step once.
//! - **Stops.** A reply (with `stop_on_reply`), an opt-out, a deleted contact or removal
//!   (`DELETE …/enrolments/{contact_id}`) stops the contact's sequence before its next step.
//!   A free-form step goes only inside the 24-hour window; outside it the step is skipped
//!   (`outside_window`) and the sequence goes on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::billing::BillingConfig;
use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{AccountId, ContactId, MessageId, OrgId, SequenceId};
use crate::model::{Account, AccountStatus, Contact, Conversation, Lane, MessageOrigin};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Record, decode_all, item, load, update};
use crate::services::Services;
use crate::store::{Condition, Index, IndexKey, Query, SortKey, StoreError, Write};
use crate::usecases::automated::{Automated, Claim, Sent, send, template_content};
use crate::usecases::campaigns::fanout::{AudienceAt, read_audience};
use crate::usecases::campaigns::{
    CampaignTemplate, parse_audience, parse_integration, parse_template, whatsapp_account,
};

/// Most steps in a sequence.
pub const MAX_STEPS: usize = 20;
/// Longest delay of a step: 90 days.
pub const MAX_DELAY_SECS: i64 = 90 * 86_400;
/// Most contacts enrolled by one request (an audience continues with `cursor`).
pub const MAX_ENROL: usize = 1_000;
/// Partitions of the due-time index.
const DUE_SHARDS: u8 = 8;
/// Due enrolments handled per shard and run.
const RUN_LIMIT: usize = 200;

/// What a step sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepContent {
    /// An approved template (variables as in campaigns).
    Template {
        /// The template.
        template: CampaignTemplate,
        /// Its category when Switchboard knows it (its pacing lane).
        #[serde(default)]
        category: Option<String>,
    },
    /// Free-form text: sent only inside the customer-service window.
    Text {
        /// The text.
        body: String,
    },
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Seconds after the previous step (the first: after enrolment).
    pub delay_secs: i64,
    /// What it sends.
    pub content: StepContent,
}

impl Step {
    fn lane(&self) -> Lane {
        match &self.content {
            StepContent::Template { category, .. } => match category.as_deref() {
                None => Lane::Marketing,
                c => match Lane::of_category(c) {
                    Lane::Priority => Lane::Transactional,
                    lane => lane,
                },
            },
            StepContent::Text { .. } => Lane::Transactional,
        }
    }
}

/// A drip sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    /// Id.
    pub id: SequenceId,
    /// Owner.
    pub org_id: OrgId,
    /// Name.
    pub name: String,
    /// The WhatsApp number it sends from.
    pub account_id: AccountId,
    /// The steps.
    pub steps: Vec<Step>,
    /// A reply stops the contact's sequence.
    pub stop_on_reply: bool,
    /// Who created it.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
}

impl Sequence {
    /// Key of a sequence.
    pub fn key_of(org: &OrgId, id: &SequenceId) -> (String, String) {
        (format!("ORG#{org}#SEQ#{id}"), "SEQUENCE".to_owned())
    }

    fn list_pk(org: &OrgId) -> String {
        format!("ORG#{org}#SEQUENCES")
    }

    fn enrolments_pk(org: &OrgId, id: &SequenceId) -> String {
        format!("ORG#{org}#SEQ#{id}#E")
    }

    fn counters_pk(org: &OrgId, id: &SequenceId) -> String {
        format!("ORG#{org}#SEQ#{id}#N")
    }
}

impl Record for Sequence {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(
            Self::list_pk(&self.org_id),
            format!("{}#{}", fmt_time(self.created_at), self.id),
        ))
    }
}

/// Where an enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentStatus {
    /// Steps still to go.
    Active,
    /// Every step went (or was skipped).
    Completed,
    /// Stopped (`stop_reason`).
    Stopped,
}

/// One contact in a sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrolment {
    /// Owner.
    pub org_id: OrgId,
    /// Sequence.
    pub sequence_id: SequenceId,
    /// Contact.
    pub contact_id: ContactId,
    /// Where it stands.
    pub status: EnrolmentStatus,
    /// Why it stopped: `replied`, `opted_out`, `removed`, `contact_deleted`.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The step due next.
    pub next_step: usize,
    /// When it is due.
    #[serde(default, with = "rfc3339_millis::option")]
    pub due_at: Option<DateTime<Utc>>,
    /// Enrolled.
    #[serde(with = "rfc3339_millis")]
    pub enrolled_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

fn due_pk(shard: u8) -> String {
    format!("SEQDUE#{shard}")
}

impl Enrolment {
    fn key_of(org: &OrgId, sequence: &SequenceId, contact: &ContactId) -> (String, String) {
        (Sequence::enrolments_pk(org, sequence), contact.to_string())
    }

    fn shard(&self) -> u8 {
        self.contact_id
            .as_str()
            .bytes()
            .last()
            .and_then(|b| (b as char).to_digit(16))
            .unwrap_or(0) as u8
            % DUE_SHARDS
    }

    fn view(&self) -> Value {
        json!({
            "contact_id": self.contact_id,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "next_step": self.next_step,
            "due_at": self.due_at.map(fmt_time),
            "enrolled_at": fmt_time(self.enrolled_at),
        })
    }

    /// Moves to the step after `next_step` (or completes), the next due time counted
    /// from `now`.
    fn advance(&mut self, sequence: &Sequence, now: DateTime<Utc>) {
        self.next_step += 1;
        match sequence.steps.get(self.next_step) {
            Some(step) => self.due_at = Some(now + chrono::Duration::seconds(step.delay_secs)),
            None => {
                self.status = EnrolmentStatus::Completed;
                self.due_at = None;
            }
        }
        self.updated_at = now;
    }
}

impl Record for Enrolment {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.sequence_id, &self.contact_id)
    }

    fn gsi2(&self) -> Option<IndexKey> {
        match (self.status, self.due_at) {
            (EnrolmentStatus::Active, Some(due)) => Some(IndexKey::new(
                due_pk(self.shard()),
                format!(
                    "{}#{}#{}#{}",
                    fmt_time(due),
                    self.org_id,
                    self.sequence_id,
                    self.contact_id
                ),
            )),
            _ => None,
        }
    }
}

/// 404 on every sequence route of a deployment that turned drip sequences off.
pub fn require_enabled(svc: &Services) -> Result<()> {
    if svc.features.drip_campaigns {
        Ok(())
    } else {
        Err(Error::not_found("route"))
    }
}

/// Parses a delay: a whole number and a unit, `s`, `m`, `h` or `d` (`"90s"`, `"3d"`).
pub fn parse_delay(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let secs = n.checked_mul(match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    })?;
    (0..=MAX_DELAY_SECS).contains(&secs).then_some(secs)
}

// ------------------------------------------------------------------- API

/// Creates a sequence from the API body (422 naming the field).
pub async fn create(
    svc: &Services,
    org: &OrgId,
    user: Option<&str>,
    body: &Value,
) -> Result<Sequence> {
    let name = body["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= 200)
        .ok_or_else(|| Error::validation("name", "invalid_name", "name is 1-200 characters"))?;
    let account_id = parse_integration(&body["integration_id"])?;
    let stop_on_reply = match &body["stop_on_reply"] {
        Value::Null => true,
        Value::Bool(b) => *b,
        _ => {
            return Err(Error::validation(
                "stop_on_reply",
                "invalid_stop_on_reply",
                "stop_on_reply is true or false",
            ));
        }
    };
    let raw = body["steps"]
        .as_array()
        .filter(|s| (1..=MAX_STEPS).contains(&s.len()))
        .ok_or_else(|| {
            Error::validation("steps", "invalid_steps", "steps is a list of 1-20 steps")
        })?;
    let account = whatsapp_account(svc, org, &account_id).await?;
    let mut steps = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let delay_secs = s["delay"].as_str().and_then(parse_delay).ok_or_else(|| {
            Error::validation(
                format!("steps[{i}].delay"),
                "invalid_delay",
                "delay is a whole number of s, m, h or d (\"90s\", \"15m\", \"2h\", \"3d\"), at most 90 days",
            )
        })?;
        let content = match (&s["template"], &s["text"]) {
            (Value::Null, Value::String(body)) => {
                let body = body.trim();
                if body.is_empty() || body.chars().count() > 4_096 {
                    return Err(Error::validation(
                        format!("steps[{i}].text"),
                        "invalid_text",
                        "text is 1-4,096 characters",
                    ));
                }
                StepContent::Text {
                    body: body.to_owned(),
                }
            }
            (t, Value::Null) if t.is_object() => {
                let field = format!("steps[{i}].template");
                let template = parse_template(t, &field)?;
                let category = crate::usecases::templates::check_sendable(
                    svc,
                    org,
                    account.waba_id.as_ref(),
                    &template.name,
                    &template.language,
                )
                .await
                .map_err(|e| match e {
                    Error::Validation { code, message, .. } => {
                        Error::validation(field.clone(), code, message)
                    }
                    e => e,
                })?;
                StepContent::Template { template, category }
            }
            _ => {
                return Err(Error::validation(
                    format!("steps[{i}]"),
                    "invalid_step",
                    "a step has either a template or a text",
                ));
            }
        };
        steps.push(Step {
            delay_secs,
            content,
        });
    }
    let sequence = Sequence {
        id: SequenceId::from_uuid(uuid::Uuid::now_v7()),
        org_id: org.clone(),
        name: name.to_owned(),
        account_id,
        steps,
        stop_on_reply,
        created_by: user.map(str::to_owned),
        created_at: svc.clock.now(),
    };
    svc.store
        .put(item(&sequence, 1)?, Condition::NotExists)
        .await?;
    info!(org_id = %org, sequence_id = %sequence.id, steps = sequence.steps.len(), "sequence created");
    Ok(sequence)
}

/// A sequence of the org (404 for another org's or none).
pub async fn get(svc: &Services, org: &OrgId, id: &SequenceId) -> Result<Sequence> {
    let (pk, sk) = Sequence::key_of(org, id);
    Ok(load::<Sequence>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("sequence"))?
        .record)
}

async fn count(svc: &Services, org: &OrgId, id: &SequenceId, counter: &str) {
    crate::record::bump(&*svc.store, &Sequence::counters_pk(org, id), counter, 1).await;
}

/// The API view of a sequence with its progress: enrolments by status and, per step,
/// messages queued and steps skipped.
pub async fn view(svc: &Services, s: &Sequence) -> Result<Value> {
    let page = svc
        .store
        .query(Query::table(Sequence::counters_pk(&s.org_id, &s.id)).consistent())
        .await?;
    let n = |k: &str| {
        page.items
            .iter()
            .find(|i| i.sk == k)
            .and_then(|i| i.n)
            .unwrap_or(0)
            .max(0)
    };
    let (enrolled, completed, stopped) = (n("enrolled"), n("completed"), n("stopped"));
    let steps: Vec<Value> = s
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let mut v = json!({
                "delay_secs": step.delay_secs,
                "lane": step.lane().as_str(),
                "queued": n(&format!("step{i}:queued")),
                "skipped": n(&format!("step{i}:skipped")),
            });
            match &step.content {
                StepContent::Template { template, .. } => v["template"] = json!(template),
                StepContent::Text { .. } => v["type"] = json!("text"),
            }
            v
        })
        .collect();
    Ok(json!({
        "id": s.id,
        "name": s.name,
        "integration_id": s.account_id,
        "stop_on_reply": s.stop_on_reply,
        "steps": steps,
        "enrolments": {
            "enrolled": enrolled,
            "active": (enrolled - completed - stopped).max(0),
            "completed": completed,
            "stopped": stopped,
        },
        "created_by": s.created_by,
        "created_at": fmt_time(s.created_at),
    }))
}

/// The org's sequences, newest first.
pub async fn list(svc: &Services, org: &OrgId, page: PageRequest) -> Result<Paged<Value>> {
    let (listed, next_cursor) = crate::page::newest_first::<Sequence>(
        &*svc.store,
        Sequence::list_pk(org),
        &crate::model::org_scope(org),
        page,
    )
    .await?;
    let mut items = Vec::with_capacity(listed.len());
    for s in &listed {
        items.push(view(svc, s).await?);
    }
    Ok(Paged { items, next_cursor })
}

/// What an enrolment request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrolled {
    /// Contacts enrolled now.
    pub enrolled: usize,
    /// Contacts already enrolled before (each is enrolled once).
    pub already_enrolled: usize,
    /// Where an audience's reading continues (pass it back as `cursor`).
    pub next_cursor: Option<String>,
}

fn encode_audience_cursor(at: &AudienceAt) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(at).unwrap_or_default())
}

fn decode_audience_cursor(org: &OrgId, text: &str) -> Result<AudienceAt> {
    use base64::Engine;
    let bad = || Error::validation("cursor", "invalid_cursor", "cursor is not from this list");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad())?;
    let at: AudienceAt = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // A position names store keys: it must be inside the caller's org.
    if at
        .after
        .as_ref()
        .is_some_and(|p| !p.pk.starts_with(&crate::model::org_scope(org)))
    {
        return Err(bad());
    }
    Ok(at)
}

/// Enrols contacts (`{contact_ids}` or `{audience, cursor?}`): each contact once per
/// sequence; the first step is due its delay after enrolment.
pub async fn enrol(svc: &Services, org: &OrgId, id: &SequenceId, body: &Value) -> Result<Enrolled> {
    let sequence = get(svc, org, id).await?;
    let (audience, at) = match (&body["contact_ids"], &body["audience"]) {
        (Value::Array(ids), Value::Null) => {
            if ids.is_empty() || ids.len() > MAX_ENROL {
                return Err(Error::validation(
                    "contact_ids",
                    "invalid_contact_ids",
                    "contact_ids names 1-1,000 contacts",
                ));
            }
            (
                parse_audience(&json!({"contact_ids": ids})).map_err(|e| match e {
                    Error::Validation {
                        field,
                        code,
                        message,
                    } => Error::validation(field.replacen("audience.", "", 1), code, message),
                    e => e,
                })?,
                AudienceAt::default(),
            )
        }
        (Value::Null, a) if a.is_object() => {
            let at = match body["cursor"].as_str() {
                Some(c) => decode_audience_cursor(org, c)?,
                None => AudienceAt::default(),
            };
            (parse_audience(a)?, at)
        }
        _ => {
            return Err(Error::validation(
                "contact_ids",
                "invalid_enrolment",
                "name contact_ids or an audience",
            ));
        }
    };
    let now = svc.clock.now();
    let first_due = now + chrono::Duration::seconds(sequence.steps[0].delay_secs);
    let mut out = Enrolled {
        enrolled: 0,
        already_enrolled: 0,
        next_cursor: None,
    };
    let mut next = Some(at);
    while let Some(at) = next.take() {
        if out.enrolled + out.already_enrolled >= MAX_ENROL {
            out.next_cursor = Some(encode_audience_cursor(&at));
            break;
        }
        let (contacts, after) = read_audience(svc, org, &audience, at, 200).await?;
        for c in contacts {
            let e = Enrolment {
                org_id: org.clone(),
                sequence_id: id.clone(),
                contact_id: c.id.clone(),
                status: EnrolmentStatus::Active,
                stop_reason: None,
                next_step: 0,
                due_at: Some(first_due),
                enrolled_at: now,
                updated_at: now,
            };
            match svc.store.put(item(&e, 1)?, Condition::NotExists).await {
                Ok(()) => {
                    out.enrolled += 1;
                    count(svc, org, id, "enrolled").await;
                }
                Err(StoreError::ConditionFailed { .. }) => out.already_enrolled += 1,
                Err(e) => return Err(e.into()),
            }
        }
        next = after;
    }
    info!(org_id = %org, sequence_id = %id, enrolled = out.enrolled, "contacts enrolled");
    Ok(out)
}

/// Stops a contact's sequence (`removed`); 404 when the contact is not enrolled.
pub async fn remove(
    svc: &Services,
    org: &OrgId,
    id: &SequenceId,
    contact: &ContactId,
) -> Result<()> {
    get(svc, org, id).await?;
    let (pk, sk) = Enrolment::key_of(org, id, contact);
    if load::<Enrolment>(&*svc.store, &pk, &sk).await?.is_none() {
        return Err(Error::not_found("enrolment"));
    }
    stop(svc, org, id, contact, "removed").await
}

async fn stop(
    svc: &Services,
    org: &OrgId,
    id: &SequenceId,
    contact: &ContactId,
    reason: &str,
) -> Result<()> {
    let (pk, sk) = Enrolment::key_of(org, id, contact);
    let now = svc.clock.now();
    let mut stopped = false;
    update::<Enrolment>(&*svc.store, &pk, &sk, |e| {
        stopped = e.status == EnrolmentStatus::Active;
        if stopped {
            e.status = EnrolmentStatus::Stopped;
            e.stop_reason = Some(reason.to_owned());
            e.due_at = None;
            e.updated_at = now;
        }
        stopped
    })
    .await?;
    if stopped {
        count(svc, org, id, "stopped").await;
    }
    Ok(())
}

/// An enrolment's page of the API.
pub async fn enrolments(
    svc: &Services,
    org: &OrgId,
    id: &SequenceId,
    page: PageRequest,
) -> Result<Paged<Value>> {
    get(svc, org, id).await?;
    let query = page.apply_to(
        Query::table(Sequence::enrolments_pk(org, id)),
        &crate::model::org_scope(org),
    )?;
    let result = svc.store.query(query).await?;
    Ok(Paged {
        items: decode_all::<Enrolment>(&result.items)?
            .iter()
            .map(Enrolment::view)
            .collect(),
        next_cursor: result.next.as_ref().map(encode_cursor),
    })
}

// ------------------------------------------------------------------- the schedule

/// What one run of the sequence schedule did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Tick {
    /// Steps sent.
    pub sent: usize,
    /// Steps skipped (free-form outside the window, a variable missing).
    pub skipped: usize,
    /// Enrolments stopped (reply, opt-out, deleted contact).
    pub stopped: usize,
    /// Due enrolments left for the next run (number unavailable, plan limit).
    pub deferred: usize,
}

/// The enrolment as the tracking record of its step's message.
struct StepClaim<'a> {
    sequence: &'a Sequence,
    contact: &'a ContactId,
    step: usize,
}

#[async_trait::async_trait]
impl Claim for StepClaim<'_> {
    async fn claim(
        &self,
        svc: &Services,
        _message: &MessageId,
        now: DateTime<Utc>,
    ) -> Result<Option<Write>> {
        let (pk, sk) = Enrolment::key_of(&self.sequence.org_id, &self.sequence.id, self.contact);
        let Some(mut e) = load::<Enrolment>(&*svc.store, &pk, &sk).await? else {
            return Ok(None);
        };
        if e.record.status != EnrolmentStatus::Active || e.record.next_step != self.step {
            return Ok(None);
        }
        e.record.advance(self.sequence, now);
        Ok(Some(Write::put(e.next_item()?, e.condition())))
    }
}

fn step_message_id(s: &Sequence, contact: &ContactId, step: usize) -> MessageId {
    MessageId::from_uuid(crate::ids::derived_uuid(&[
        "sequence",
        s.org_id.as_str(),
        s.id.as_str(),
        contact.as_str(),
        &step.to_string(),
    ]))
}

/// The sequence schedule (`cron-sequences`, every minute): sends every due step.
pub async fn tick(svc: &Services, billing: &BillingConfig) -> Result<Tick> {
    let mut out = Tick::default();
    if !svc.features.drip_campaigns {
        return Ok(out);
    }
    let now = svc.clock.now();
    let upto = format!("{}#~", fmt_time(now));
    let mut sequences: std::collections::HashMap<SequenceId, Option<Sequence>> = Default::default();
    for shard in 0..DUE_SHARDS {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi2, due_pk(shard))
                    .sort(SortKey::AtMost(upto.clone()))
                    .limit(RUN_LIMIT),
            )
            .await?;
        for listed in decode_all::<Enrolment>(&page.items)? {
            if !sequences.contains_key(&listed.sequence_id) {
                let s = load::<Sequence>(
                    &*svc.store,
                    &Sequence::key_of(&listed.org_id, &listed.sequence_id).0,
                    "SEQUENCE",
                )
                .await?
                .map(|v| v.record);
                sequences.insert(listed.sequence_id.clone(), s);
            }
            let Some(Some(sequence)) = sequences.get(&listed.sequence_id) else {
                continue;
            };
            match due(svc, billing, sequence, &listed.contact_id, now).await {
                Ok(Due::Sent) => out.sent += 1,
                Ok(Due::Skipped) => out.skipped += 1,
                Ok(Due::Stopped) => out.stopped += 1,
                Ok(Due::Deferred) => out.deferred += 1,
                Ok(Due::Nothing) => {}
                Err(e) => {
                    warn!(sequence_id = %sequence.id, error = %e, "a due step failed; the next run tries again");
                    out.deferred += 1;
                }
            }
        }
    }
    Ok(out)
}

enum Due {
    Sent,
    Skipped,
    Stopped,
    Deferred,
    Nothing,
}

async fn due(
    svc: &Services,
    billing: &BillingConfig,
    s: &Sequence,
    contact_id: &ContactId,
    now: DateTime<Utc>,
) -> Result<Due> {
    let org = &s.org_id;
    // The index lags; the record decides.
    let (pk, sk) = Enrolment::key_of(org, &s.id, contact_id);
    let Some(e) = load::<Enrolment>(&*svc.store, &pk, &sk).await? else {
        return Ok(Due::Nothing);
    };
    let e = e.record;
    if e.status != EnrolmentStatus::Active || e.due_at.is_none_or(|d| d > now) {
        return Ok(Due::Nothing);
    }
    let (c_pk, c_sk) = Contact::key_of(org, contact_id);
    let Some(contact) = load::<Contact>(&*svc.store, &c_pk, &c_sk).await? else {
        stop(svc, org, &s.id, contact_id, "contact_deleted").await?;
        return Ok(Due::Stopped);
    };
    let contact = contact.record;
    if contact.opted_out {
        stop(svc, org, &s.id, contact_id, "opted_out").await?;
        return Ok(Due::Stopped);
    }
    if s.stop_on_reply && contact.last_inbound_at.is_some_and(|t| t > e.enrolled_at) {
        stop(svc, org, &s.id, contact_id, "replied").await?;
        return Ok(Due::Stopped);
    }
    let (a_pk, a_sk) = Account::key_of(org, &s.account_id);
    let account = match load::<Account>(&*svc.store, &a_pk, &a_sk).await? {
        Some(a) if a.record.status != AccountStatus::ReauthRequired => a.record,
        _ => return Ok(Due::Deferred),
    };
    let step = &s.steps[e.next_step.min(s.steps.len() - 1)];
    let content = match &step.content {
        StepContent::Template { template, .. } => template_content(template, &contact),
        StepContent::Text { body } => {
            let conversation_id = crate::ids::ConversationId::for_thread(
                org,
                &account.phone_number_id,
                &contact.wa_id,
            );
            let (v_pk, v_sk) = Conversation::key_of(org, &conversation_id);
            match load::<Conversation>(&*svc.store, &v_pk, &v_sk).await? {
                Some(c) if c.record.window_open(now) => {
                    Ok(json!({"type": "text", "text": {"body": body, "preview_url": false}}))
                }
                _ => Err("outside_window".to_owned()),
            }
        }
    };
    let content = match content {
        Ok(c) => c,
        Err(reason) => {
            let mut moved = false;
            update::<Enrolment>(&*svc.store, &pk, &sk, |x| {
                moved = x.status == EnrolmentStatus::Active && x.next_step == e.next_step;
                if moved {
                    x.advance(s, now);
                }
                moved
            })
            .await?;
            if moved {
                count(svc, org, &s.id, &format!("step{}:skipped", e.next_step)).await;
                info!(sequence_id = %s.id, step = e.next_step, reason, "sequence step skipped");
                if e.next_step + 1 >= s.steps.len() {
                    count(svc, org, &s.id, "completed").await;
                }
            }
            return Ok(if moved { Due::Skipped } else { Due::Nothing });
        }
    };
    let id = step_message_id(s, contact_id, e.next_step);
    let sent = send(
        svc,
        billing,
        Automated {
            account: &account,
            contact: &contact,
            id: &id,
            content,
            reserved: None,
            lane: step.lane(),
            origin: MessageOrigin::Sequence {
                sequence_id: s.id.clone(),
                step: e.next_step,
            },
        },
        &StepClaim {
            sequence: s,
            contact: contact_id,
            step: e.next_step,
        },
    )
    .await?;
    Ok(match sent {
        Sent::Queued => {
            count(svc, org, &s.id, &format!("step{}:queued", e.next_step)).await;
            if e.next_step + 1 >= s.steps.len() {
                count(svc, org, &s.id, "completed").await;
            }
            Due::Sent
        }
        Sent::Declined => Due::Nothing,
        Sent::PlanLimit => Due::Deferred,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        assert_eq!(parse_delay("90s"), Some(90));
        assert_eq!(parse_delay("15m"), Some(900));
        assert_eq!(parse_delay("2h"), Some(7_200));
        assert_eq!(parse_delay("3d"), Some(259_200));
        assert_eq!(parse_delay("0s"), Some(0));
        for bad in ["", "s", "10", "1w", "-5m", "91d", "1.5h", "١٠s"] {
            assert_eq!(parse_delay(bad), None, "{bad}");
        }
    }
}
