//! Appointment reminders: the org's reminder settings and the schedule that sends them
//! (`cron-reminders`, every 15 minutes; a ticker on the dev server).
//!
//! - **Finding due work.** Each scheduled appointment is indexed by the due time of its
//!   next pending reminder ([`crate::usecases::appointments`]); a run reads every shard of
//!   that index up to now. A run that was missed (an outage, a redeploy, a stopped dev
//!   server) simply finds more: reminders whose time passed are still sent, unless the
//!   appointment has started — then they are `missed`.
//! - **Exactly once.** Every channel of a reminder is claimed by a versioned write of the
//!   appointment that checks its generation and that the channel is still pending, in
//!   the same transaction that stores the WhatsApp message (through the shared automated
//!   send path) or the email record. Overlapping runs, a retried run and a restart
//!   between claim and send therefore send each reminder once: the message or email is
//!   stored with its claim, and the outbound sweep or the email re-queue sweep delivers it
//!   if the process died before queueing it.
//! - **Never with old data.** A cancel settles the pending reminders in the same write
//!   that cancels; a reschedule moves to a new generation; a claim read before either
//!   fails its condition and the run moves on.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::billing::BillingConfig;
use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{AccountId, AppointmentId, ContactId, MessageId, OrgId};
use crate::model::{Account, AccountStatus, Channel, Contact, Lane, MessageOrigin, org_pk};
use crate::record::{Record, Versioned, decode_all, item, load, update};
use crate::services::Services;
use crate::store::{Condition, Index, Query, SortKey, StoreError, Write};
use crate::usecases::appointments::{
    Appointment, AppointmentStatus, DUE_SHARDS, ReminderStatus, Via, due_pk, offsets_from,
};
use crate::usecases::automated::{Automated, Claim, Sent};
use crate::usecases::email::{self, EmailKind, EmailSettings, Locale, NewEmail};

/// Due appointments read per shard and page.
const PAGE: usize = 200;
/// Most due appointments one run handles (the next run continues).
const RUN_LIMIT: usize = 20_000;
/// Appointments handled at once within a run.
const CONCURRENCY: usize = 16;
/// Attempts at a claim under contention.
const ATTEMPTS: usize = 8;

/// The reminder offsets of an org that set none.
pub const DEFAULT_OFFSETS: [&str; 2] = ["24h", "1h"];

/// An org's reminder settings (`PUT /v1/settings/reminders`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderSettings {
    /// The approved WhatsApp template reminders use; WhatsApp reminders are skipped
    /// (`not_configured`) without one.
    #[serde(default)]
    pub template: Option<String>,
    /// Its language code (also the language of the date and time in it).
    #[serde(default)]
    pub language: Option<String>,
    /// The number reminders go from; the org's first WhatsApp number when unset.
    #[serde(default)]
    pub integration_id: Option<AccountId>,
    /// Default offsets of new appointments.
    pub offsets: Vec<String>,
    /// Whether email reminders go at all.
    pub email: bool,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        Self {
            template: None,
            language: None,
            integration_id: None,
            offsets: DEFAULT_OFFSETS.iter().map(|s| s.to_string()).collect(),
            email: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredSettings {
    org_id: OrgId,
    #[serde(flatten)]
    settings: ReminderSettings,
    #[serde(with = "rfc3339_millis")]
    updated_at: DateTime<Utc>,
}

const SETTINGS_SK: &str = "SETTINGS#REMINDERS";

impl Record for StoredSettings {
    fn key(&self) -> (String, String) {
        (org_pk(&self.org_id), SETTINGS_SK.to_owned())
    }
}

/// The org's reminder settings (defaults when it set none).
pub async fn settings(svc: &Services, org: &OrgId) -> Result<ReminderSettings> {
    Ok(
        load::<StoredSettings>(&*svc.store, &org_pk(org), SETTINGS_SK)
            .await?
            .map(|v| v.record.settings)
            .unwrap_or_default(),
    )
}

/// The API view of the settings.
pub fn settings_view(s: &ReminderSettings) -> Value {
    json!({
        "template": s.template,
        "language": s.language,
        "integration_id": s.integration_id,
        "offsets": s.offsets,
        "email": s.email,
    })
}

/// `PUT /v1/settings/reminders`: `{template, language, offsets, email, integration_id?}`
/// (template and language together or neither; the template must be sendable when
/// Switchboard knows the number's templates).
pub async fn put_settings(svc: &Services, org: &OrgId, body: &Value) -> Result<ReminderSettings> {
    const FIELDS: [&str; 5] = ["template", "language", "offsets", "email", "integration_id"];
    crate::usecases::triage::object_of_fields(body, &FIELDS)?;
    let template = match (&body["template"], &body["language"]) {
        (Value::Null, Value::Null) => None,
        (t, l) => {
            let t = crate::usecases::campaigns::parse_template(
                &json!({"name": t, "language": l}),
                "template",
            )
            .map_err(|e| match e {
                Error::Validation {
                    field,
                    code,
                    message,
                } => Error::validation(
                    if field.ends_with("language") {
                        "language".to_owned()
                    } else {
                        "template".to_owned()
                    },
                    code,
                    message,
                ),
                e => e,
            })?;
            Some(t)
        }
    };
    let integration_id = match &body["integration_id"] {
        Value::Null => None,
        v => Some(crate::usecases::campaigns::parse_integration(v)?),
    };
    if let Some(t) = &template {
        let account = match &integration_id {
            Some(id) => Some(crate::usecases::campaigns::whatsapp_account(svc, org, id).await?),
            None => first_whatsapp(svc, org).await?,
        };
        if let Some(a) = account {
            crate::usecases::templates::check_sendable(
                svc,
                org,
                a.waba_id.as_ref(),
                &t.name,
                &t.language,
            )
            .await
            .map_err(|e| match e {
                Error::Validation { code, message, .. } => {
                    Error::validation("template", code, message)
                }
                e => e,
            })?;
        }
    }
    let offsets = match &body["offsets"] {
        Value::Null => DEFAULT_OFFSETS.iter().map(|s| s.to_string()).collect(),
        v => offsets_from(v, "offsets")?,
    };
    let email = match &body["email"] {
        Value::Null => true,
        Value::Bool(b) => *b,
        _ => {
            return Err(Error::validation(
                "email",
                "invalid_email_flag",
                "email is true or false",
            ));
        }
    };
    let stored = StoredSettings {
        org_id: org.clone(),
        settings: ReminderSettings {
            language: template.as_ref().map(|t| t.language.clone()),
            template: template.map(|t| t.name),
            integration_id,
            offsets,
            email,
        },
        updated_at: svc.clock.now(),
    };
    svc.store.put(item(&stored, 1)?, Condition::Always).await?;
    Ok(stored.settings)
}

async fn first_whatsapp(svc: &Services, org: &OrgId) -> Result<Option<Account>> {
    Ok(crate::usecases::integrations::list(svc, org)
        .await?
        .into_iter()
        .find(|a| a.channel == Channel::Whatsapp))
}

// ------------------------------------------------------------------- the schedule

/// What one run of the reminder schedule did (counted per reminder channel).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Tick {
    /// Reminders sent (a WhatsApp message or an email stored and queued).
    pub sent: usize,
    /// Skipped with a reason (opted out, suppressed, no email, not configured).
    pub skipped: usize,
    /// Their time passed and the appointment has started.
    pub missed: usize,
    /// Could not be sent (a broken template variable, a refused address).
    pub failed: usize,
    /// Left for the next run (number unavailable, plan limit, a store error).
    pub deferred: usize,
    /// Emails queued again by the re-queue sweep.
    pub requeued: usize,
}

impl Tick {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Sent => self.sent += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Missed => self.missed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Deferred => self.deferred += 1,
            Outcome::Nothing => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Skipped,
    Missed,
    Failed,
    Deferred,
    Nothing,
}

/// What a run knows of an org, read once per run.
struct OrgContext {
    reminders: ReminderSettings,
    email: EmailSettings,
    account: Option<Account>,
}

type Contexts = Mutex<HashMap<OrgId, Arc<OrgContext>>>;

async fn context(svc: &Services, cache: &Contexts, org: &OrgId) -> Result<Arc<OrgContext>> {
    if let Some(c) = cache.lock().await.get(org) {
        return Ok(c.clone());
    }
    let reminders = settings(svc, org).await?;
    let account = match &reminders.integration_id {
        Some(id) => {
            let (pk, sk) = Account::key_of(org, id);
            load::<Account>(&*svc.store, &pk, &sk)
                .await?
                .map(|v| v.record)
                .filter(|a| a.channel == Channel::Whatsapp)
        }
        None => first_whatsapp(svc, org).await?,
    };
    let ctx = Arc::new(OrgContext {
        reminders,
        email: email::settings(svc, org).await?,
        account,
    });
    cache.lock().await.insert(org.clone(), ctx.clone());
    Ok(ctx)
}

/// The reminder schedule: sends every due reminder, settles the ones that can no longer
/// go, and queues again emails whose first enqueue was lost.
pub async fn tick(svc: &Services, billing: &BillingConfig) -> Result<Tick> {
    let now = svc.clock.now();
    let upto = format!("{}#~", fmt_time(now));
    let cache: Contexts = Mutex::default();
    let mut out = Tick::default();
    let mut due: Vec<(OrgId, ContactId, AppointmentId)> = Vec::new();
    for shard in 0..DUE_SHARDS {
        let mut after = None;
        loop {
            let page = svc
                .store
                .query(
                    Query::index(Index::Gsi2, due_pk(shard))
                        .sort(SortKey::AtMost(upto.clone()))
                        .limit(PAGE)
                        .after(after),
                )
                .await?;
            for a in decode_all::<Appointment>(&page.items)? {
                due.push((a.org_id, a.contact_id, a.id));
            }
            after = page.next;
            if after.is_none() || due.len() >= RUN_LIMIT {
                break;
            }
        }
    }
    let mut runs = Vec::with_capacity(due.len());
    for (org, contact, id) in &due {
        let cache = &cache;
        runs.push(async move {
            (
                id,
                process(svc, billing, cache, org, contact, id, now).await,
            )
        });
    }
    let mut results = stream::iter(runs).buffer_unordered(CONCURRENCY);
    while let Some((id, r)) = results.next().await {
        match r {
            Ok(outcomes) => outcomes.into_iter().for_each(|o| out.add(o)),
            Err(e) => {
                warn!(appointment_id = %id, error = %e, "a due reminder failed; the next run tries again");
                out.deferred += 1;
            }
        }
    }
    out.requeued = email::requeue_stale(svc).await?;
    if out != Tick::default() {
        info!(
            sent = out.sent,
            skipped = out.skipped,
            missed = out.missed,
            failed = out.failed,
            deferred = out.deferred,
            "reminder schedule ran"
        );
    }
    Ok(out)
}

/// Handles one due appointment: every pending channel of every reminder that is due.
async fn process(
    svc: &Services,
    billing: &BillingConfig,
    cache: &Contexts,
    org: &OrgId,
    contact: &ContactId,
    id: &AppointmentId,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>> {
    // The index lags; the record decides.
    let (pk, sk) = Appointment::key_of(org, contact, id);
    let Some(a) = load::<Appointment>(&*svc.store, &pk, &sk).await? else {
        return Ok(vec![]);
    };
    let a = a.record;
    if a.status != AppointmentStatus::Scheduled {
        return Ok(vec![]);
    }
    let ctx = context(svc, cache, org).await?;
    let (c_pk, c_sk) = Contact::key_of(org, &a.contact_id);
    let contact = load::<Contact>(&*svc.store, &c_pk, &c_sk)
        .await?
        .map(|v| v.record);
    let mut out = Vec::new();
    for (idx, r) in a.reminders.iter().enumerate() {
        if r.due_at > now {
            continue;
        }
        for via in [Via::Whatsapp, Via::Email] {
            if !r.channel(via).is_some_and(|c| c.is_pending()) {
                continue;
            }
            let target = Target { a: &a, idx, via };
            let o = if now >= a.starts_at {
                target
                    .settle(svc, ReminderStatus::Missed, "appointment_started")
                    .await?
            } else {
                match &contact {
                    None => {
                        target
                            .settle(svc, ReminderStatus::Skipped, "contact_deleted")
                            .await?
                    }
                    Some(c) => match via {
                        Via::Whatsapp => whatsapp(svc, billing, &ctx, &target, c).await?,
                        Via::Email => by_email(svc, &ctx, &target, c).await?,
                    },
                }
            };
            if o == Outcome::Sent {
                svc.metrics
                    .count(crate::metrics::Metric::RemindersSent, None, 1);
                target.publish_sent(svc, r.due_at).await;
            }
            out.push(o);
        }
    }
    Ok(out)
}

/// One channel of one reminder of one appointment generation.
struct Target<'a> {
    a: &'a Appointment,
    idx: usize,
    via: Via,
}

impl Target<'_> {
    fn key(&self) -> (String, String) {
        Appointment::key_of(&self.a.org_id, &self.a.contact_id, &self.a.id)
    }

    /// Whether the stored appointment still wants this channel sent (same generation,
    /// scheduled, pending).
    fn wanted(&self, current: &Appointment) -> bool {
        current.status == AppointmentStatus::Scheduled
            && current.generation == self.a.generation
            && current
                .reminders
                .get(self.idx)
                .and_then(|r| r.channel(self.via))
                .is_some_and(|c| c.is_pending())
    }

    /// The versioned write that settles this channel as `status`, or `None` when it is
    /// no longer wanted.
    async fn claim_write(
        &self,
        svc: &Services,
        status: ReminderStatus,
        reason: Option<&str>,
        mark: impl FnOnce(&mut crate::usecases::appointments::ChannelState),
        now: DateTime<Utc>,
    ) -> Result<Option<(Write, Versioned<Appointment>)>> {
        let (pk, sk) = self.key();
        let Some(mut current) = load::<Appointment>(&*svc.store, &pk, &sk).await? else {
            return Ok(None);
        };
        if !self.wanted(&current.record) {
            return Ok(None);
        }
        let state = current.record.reminders[self.idx]
            .channel_mut(self.via)
            .ok_or_else(|| Error::Internal("claimed channel is absent".into()))?;
        state.settle(status, reason, now);
        mark(state);
        current.record.updated_at = now;
        Ok(Some((
            Write::put(current.next_item()?, current.condition()),
            current,
        )))
    }

    /// Settles this channel without sending.
    async fn settle(
        &self,
        svc: &Services,
        status: ReminderStatus,
        reason: &str,
    ) -> Result<Outcome> {
        let (pk, sk) = self.key();
        let now = svc.clock.now();
        let mut moved = false;
        update::<Appointment>(&*svc.store, &pk, &sk, |current| {
            moved = self.wanted(current);
            if let Some(c) = moved
                .then(|| current.reminders[self.idx].channel_mut(self.via))
                .flatten()
            {
                c.settle(status, Some(reason), now);
                current.updated_at = now;
            }
            moved
        })
        .await?;
        if !moved {
            return Ok(Outcome::Nothing);
        }
        info!(org_id = %self.a.org_id, appointment_id = %self.a.id, reminder = self.idx, via = self.via.as_str(), status = ?status, reason, "reminder settled without sending");
        Ok(match status {
            ReminderStatus::Missed => Outcome::Missed,
            ReminderStatus::Failed => Outcome::Failed,
            _ => Outcome::Skipped,
        })
    }

    fn message_id(&self) -> MessageId {
        MessageId::from_uuid(crate::ids::derived_uuid(&[
            "reminder",
            self.a.org_id.as_str(),
            self.a.id.as_str(),
            &self.a.generation.to_string(),
            &self.idx.to_string(),
            self.via.as_str(),
        ]))
    }

    fn cause(&self) -> String {
        format!("reminder:{}:{}:{}", self.a.id, self.a.generation, self.idx)
    }

    /// Publishes `appointment.reminder_sent` for this channel's reminder, stored and
    /// queued (one event per appointment generation, reminder and channel). The claim is
    /// written and no later run sends it again, so a failure to publish is logged.
    async fn publish_sent(&self, svc: &Services, due_at: DateTime<Utc>) {
        let message_id = (self.via == Via::Whatsapp).then(|| self.message_id());
        crate::usecases::platform_events::publish_logged(
            svc,
            &self.a.org_id,
            crate::usecases::platform_events::EventType::AppointmentReminderSent,
            &[
                self.a.id.as_str(),
                &self.a.generation.to_string(),
                &self.idx.to_string(),
                self.via.as_str(),
            ],
            json!({
                "appointment_id": self.a.id,
                "contact_id": self.a.contact_id,
                "channel": self.via.as_str(),
                "reminder": self.idx,
                "due_at": fmt_time(due_at),
                "starts_at": fmt_time(self.a.starts_at),
                "message_id": message_id,
            }),
        )
        .await;
    }
}

#[async_trait::async_trait]
impl Claim for Target<'_> {
    async fn claim(
        &self,
        svc: &Services,
        message: &MessageId,
        now: DateTime<Utc>,
    ) -> Result<Option<Write>> {
        let message = message.clone();
        Ok(self
            .claim_write(
                svc,
                ReminderStatus::Sent,
                None,
                |s| s.message_id = Some(message),
                now,
            )
            .await?
            .map(|(w, _)| w))
    }
}

fn display_name(c: &Contact) -> Option<&str> {
    c.name
        .as_deref()
        .or(c.profile_name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// The WhatsApp reminder: the org's template with the contact's name and the
/// appointment's date and time in the contact's timezone and the template's language.
async fn whatsapp(
    svc: &Services,
    billing: &BillingConfig,
    ctx: &OrgContext,
    t: &Target<'_>,
    contact: &Contact,
) -> Result<Outcome> {
    if contact.channel != Channel::Whatsapp {
        return t.settle(svc, ReminderStatus::Skipped, "not_whatsapp").await;
    }
    if contact.opted_out {
        return t.settle(svc, ReminderStatus::Skipped, "opted_out").await;
    }
    let (Some(template), Some(language)) = (&ctx.reminders.template, &ctx.reminders.language)
    else {
        return t
            .settle(svc, ReminderStatus::Skipped, "not_configured")
            .await;
    };
    let Some(account) = &ctx.account else {
        return t
            .settle(svc, ReminderStatus::Skipped, "no_whatsapp_number")
            .await;
    };
    if account.status == AccountStatus::ReauthRequired {
        return Ok(Outcome::Deferred);
    }
    let Some(name) = display_name(contact) else {
        return t
            .settle(svc, ReminderStatus::Skipped, "missing_variable:name")
            .await;
    };
    let locale = Locale::from_tag(Some(language));
    let local = t.a.starts_at.with_timezone(&t.a.tz());
    let template = crate::usecases::campaigns::CampaignTemplate {
        name: template.clone(),
        language: language.clone(),
        components: json!([{
            "type": "body",
            "parameters": [
                {"type": "text", "text": name},
                {"type": "text", "text": switchboard_email_templates::format_date(&local, locale)},
                {"type": "text", "text": switchboard_email_templates::format_time(&local, locale)},
            ],
        }]),
    };
    // The variables are the contact's own words (a name): composed as they are, never
    // through the campaign filler, which would expand `{{contact.…}}` written in a name.
    let content = match crate::usecases::automated::template_message(
        &template,
        template.components.clone(),
    ) {
        Ok(c) => c,
        Err(reason) => return t.settle(svc, ReminderStatus::Failed, &reason).await,
    };
    let id = t.message_id();
    let sent = crate::usecases::automated::send(
        svc,
        billing,
        Automated {
            account,
            contact,
            id: &id,
            content,
            reserved: None,
            lane: Lane::Transactional,
            origin: MessageOrigin::Reminder {
                appointment_id: t.a.id.clone(),
            },
        },
        t,
    )
    .await?;
    Ok(match sent {
        Sent::Queued => {
            info!(org_id = %t.a.org_id, appointment_id = %t.a.id, reminder = t.idx, message_id = %id, "WhatsApp reminder queued");
            Outcome::Sent
        }
        Sent::Declined => Outcome::Nothing,
        Sent::PlanLimit => Outcome::Deferred,
    })
}

/// The email reminder, stored with its claim in one transaction.
async fn by_email(
    svc: &Services,
    ctx: &OrgContext,
    t: &Target<'_>,
    contact: &Contact,
) -> Result<Outcome> {
    if !ctx.reminders.email {
        return t
            .settle(svc, ReminderStatus::Skipped, "email_disabled")
            .await;
    }
    let Some(to) = contact.email.as_deref().filter(|e| email::valid_address(e)) else {
        return t.settle(svc, ReminderStatus::Skipped, "no_email").await;
    };
    if email::is_suppressed(svc, &t.a.org_id, to).await? {
        return t
            .settle(svc, ReminderStatus::Skipped, "suppressed_address")
            .await;
    }
    let locale = Locale::from_tag(ctx.email.locale.as_deref());
    let org_name = ctx
        .email
        .from_name
        .clone()
        .or_else(|| svc.mailer.from_name.clone())
        .unwrap_or_else(|| t.a.org_id.to_string());
    let rendered = switchboard_email_templates::render(
        &switchboard_email_templates::Email::AppointmentReminder {
            org_name: &org_name,
            contact_name: display_name(contact).unwrap_or(""),
            title: &t.a.title,
            starts_at: t.a.starts_at.with_timezone(&t.a.tz()),
            location: t.a.location.as_deref(),
            notes: t.a.notes.as_deref(),
        },
        locale,
    )
    .map_err(|e| Error::Internal(format!("reminder email does not render: {e}")))?;
    let cause = t.cause();
    let record = email::build(
        svc,
        NewEmail {
            org: &t.a.org_id,
            kind: EmailKind::AppointmentReminder,
            cause: &cause,
            to,
            rendered,
            settings: &ctx.email,
        },
        false,
    )?;
    for _ in 0..ATTEMPTS {
        let now = svc.clock.now();
        let email_id = record.id.clone();
        let Some((claim, _)) = t
            .claim_write(
                svc,
                ReminderStatus::Sent,
                None,
                |s| s.email_id = Some(email_id),
                now,
            )
            .await?
        else {
            return Ok(Outcome::Nothing);
        };
        match svc
            .store
            .transact(vec![
                Write::put(item(&record, 1)?, Condition::NotExists),
                claim,
            ])
            .await
        {
            Ok(()) => {
                if let Err(e) = email::enqueue(svc, &record).await {
                    warn!(email_id = %record.id, error = %e, "could not queue a reminder email; the re-queue sweep will");
                }
                return Ok(Outcome::Sent);
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}
