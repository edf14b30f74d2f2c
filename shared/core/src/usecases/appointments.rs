//! Appointments of contacts and the reminders they carry: what the API accepts and
//! shows. The schedule that sends the reminders is [`crate::usecases::reminders`].
//!
//! - **Records.** One item per appointment, in its contact's partition
//!   (`ORG#<org>#CONTACT#<contact>` / `APPOINTMENT#<id>`: a data-subject export shows it and
//!   an erasure deletes it with the contact), holding its reminders; a pointer
//!   (`ORG#<org>#APT#<id>` / `APPOINTMENT`, ids only) finds it from its id. Listed by start
//!   time on `gsi1` (`ORG#<org>#APTS`), and indexed on `gsi2` by the due time of its next
//!   reminder (`REMDUE#<shard>`) while one is pending.
//! - **Offsets.** `"90m"`, `"2h"`, `"24h"` are exact durations before the start; `"1d"`,
//!   `"2d"` are calendar days in the appointment's timezone (the same wall-clock time the
//!   day before, so across a daylight-saving change a `1d` reminder is 23 or 25 hours
//!   earlier). The timezone database decides, never a fixed offset.
//! - **Generations.** A reschedule recomputes the reminders under a new `generation`:
//!   every send claims its reminder under the appointment's version and generation, so a
//!   run that read the old times can no longer send them, and the ids of its messages
//!   (derived from appointment, generation, reminder and channel) never collide with the
//!   new ones. A cancelled appointment has no pending reminder at all.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::info;

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{AppointmentId, ContactId, EmailId, MessageId, OrgId};
use crate::model::{Contact, org_scope};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Record, decode_all, item, load, update};
use crate::services::Services;
use crate::store::{Condition, Index, IndexKey, Query, SortKey};
use crate::usecases::triage::object_of_fields;

/// Most reminders on one appointment.
pub const MAX_REMINDERS: usize = 5;
/// Longest reminder offset: 30 days.
pub const MAX_OFFSET_SECS: i64 = 30 * 86_400;
/// Partitions of the due-time index (spread so one partition never runs hot).
pub const DUE_SHARDS: u8 = 8;

/// How a contact is reminded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderChannel {
    /// A WhatsApp template message.
    Whatsapp,
    /// An email.
    Email,
    /// Both.
    Both,
}

impl ReminderChannel {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "whatsapp" => Some(Self::Whatsapp),
            "email" => Some(Self::Email),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    fn whatsapp(self) -> bool {
        matches!(self, Self::Whatsapp | Self::Both)
    }

    fn email(self) -> bool {
        matches!(self, Self::Email | Self::Both)
    }
}

/// Where an appointment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// On the calendar.
    Scheduled,
    /// Cancelled (no reminder goes).
    Cancelled,
}

/// Where a reminder (or one channel of it) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderStatus {
    /// Waiting for its time.
    Scheduled,
    /// Sent (handed to the sender; delivery shows on the message or email).
    Sent,
    /// Not sent, on purpose (`reason`: `opted_out`, `suppressed_address`, `no_email`,
    /// `cancelled`, `rescheduled`, `already_past`, …).
    Skipped,
    /// Its time passed while nothing could send it, and the appointment has started.
    Missed,
    /// Could not be sent (`reason`).
    Failed,
}

impl ReminderStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Missed => "missed",
            Self::Failed => "failed",
        }
    }
}

/// One channel of a reminder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Where it stands.
    pub status: ReminderStatus,
    /// Why it was skipped, missed or failed.
    #[serde(default)]
    pub reason: Option<String>,
    /// The WhatsApp message it sent.
    #[serde(default)]
    pub message_id: Option<MessageId>,
    /// The email it sent.
    #[serde(default)]
    pub email_id: Option<EmailId>,
    /// When it was settled.
    #[serde(default, with = "rfc3339_millis::option")]
    pub at: Option<DateTime<Utc>>,
}

impl ChannelState {
    fn pending() -> Self {
        Self {
            status: ReminderStatus::Scheduled,
            reason: None,
            message_id: None,
            email_id: None,
            at: None,
        }
    }

    /// Whether it is still to be sent.
    pub fn is_pending(&self) -> bool {
        self.status == ReminderStatus::Scheduled
    }

    /// Settles it.
    pub fn settle(&mut self, status: ReminderStatus, reason: Option<&str>, now: DateTime<Utc>) {
        self.status = status;
        self.reason = reason.map(str::to_owned);
        self.at = Some(now);
    }

    fn view(&self) -> Value {
        json!({
            "status": self.status.as_str(),
            "reason": self.reason,
            "message_id": self.message_id,
            "email_id": self.email_id,
            "at": self.at.map(fmt_time),
        })
    }
}

/// Which channel of a reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// WhatsApp.
    Whatsapp,
    /// Email.
    Email,
}

impl Via {
    /// Name in ids and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Whatsapp => "whatsapp",
            Via::Email => "email",
        }
    }
}

/// One reminder of an appointment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    /// As given (`"24h"`, `"1d"`).
    pub offset: String,
    /// When it is due.
    #[serde(with = "rfc3339_millis")]
    pub due_at: DateTime<Utc>,
    /// The WhatsApp part, when the appointment reminds on WhatsApp.
    #[serde(default)]
    pub whatsapp: Option<ChannelState>,
    /// The email part, when the appointment reminds by email.
    #[serde(default)]
    pub email: Option<ChannelState>,
}

impl Reminder {
    /// The state of one channel.
    pub fn channel(&self, via: Via) -> Option<&ChannelState> {
        match via {
            Via::Whatsapp => self.whatsapp.as_ref(),
            Via::Email => self.email.as_ref(),
        }
    }

    /// The state of one channel, to change.
    pub fn channel_mut(&mut self, via: Via) -> Option<&mut ChannelState> {
        match via {
            Via::Whatsapp => self.whatsapp.as_mut(),
            Via::Email => self.email.as_mut(),
        }
    }

    fn states(&self) -> impl Iterator<Item = &ChannelState> {
        self.whatsapp.iter().chain(self.email.iter())
    }

    /// Whether a channel is still to be sent.
    pub fn is_pending(&self) -> bool {
        self.states().any(ChannelState::is_pending)
    }

    /// The reminder's status: `sent` when a channel sent it, else the most telling of
    /// its channels' (scheduled while any waits).
    pub fn status(&self) -> ReminderStatus {
        let states: Vec<ReminderStatus> = self.states().map(|s| s.status).collect();
        [
            ReminderStatus::Scheduled,
            ReminderStatus::Sent,
            ReminderStatus::Failed,
            ReminderStatus::Missed,
        ]
        .into_iter()
        .find(|s| states.contains(s))
        .unwrap_or(ReminderStatus::Skipped)
    }

    fn reason(&self) -> Option<String> {
        let mut reasons: Vec<&str> = Vec::new();
        for r in self.states().filter_map(|s| s.reason.as_deref()) {
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
        (!reasons.is_empty()).then(|| reasons.join(", "))
    }

    fn settle_pending(&mut self, status: ReminderStatus, reason: &str, now: DateTime<Utc>) {
        for via in [Via::Whatsapp, Via::Email] {
            if let Some(c) = self.channel_mut(via)
                && c.is_pending()
            {
                c.settle(status, Some(reason), now);
            }
        }
    }
}

/// An appointment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Appointment {
    /// Id.
    pub id: AppointmentId,
    /// Owner.
    pub org_id: OrgId,
    /// Whose.
    pub contact_id: ContactId,
    /// When it starts.
    #[serde(with = "rfc3339_millis")]
    pub starts_at: DateTime<Utc>,
    /// The contact's IANA timezone (how times are shown to them).
    pub timezone: String,
    /// What it is.
    pub title: String,
    /// Where.
    #[serde(default)]
    pub location: Option<String>,
    /// Notes (included in the email).
    #[serde(default)]
    pub notes: Option<String>,
    /// How the contact is reminded.
    pub channel: ReminderChannel,
    /// Scheduled or cancelled.
    pub status: AppointmentStatus,
    /// Bumped by every reschedule (see the module doc).
    pub generation: u32,
    /// The offsets asked for (a reschedule without new ones recomputes these).
    #[serde(default)]
    pub offsets: Vec<String>,
    /// The reminders, earliest first.
    pub reminders: Vec<Reminder>,
    /// Who created it.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

/// `gsi2` partition of due reminders.
pub fn due_pk(shard: u8) -> String {
    format!("REMDUE#{shard}")
}

impl Appointment {
    /// Sort-key prefix of appointments in their contact's partition.
    pub const SK_PREFIX: &'static str = "APPOINTMENT#";

    /// Key of an appointment.
    pub fn key_of(org: &OrgId, contact: &ContactId, id: &AppointmentId) -> (String, String) {
        (
            crate::usecases::personal_data::contact_pk(org, contact),
            format!("{}{id}", Self::SK_PREFIX),
        )
    }

    /// Key of the pointer from an appointment's id to its contact.
    pub fn pointer_key(org: &OrgId, id: &AppointmentId) -> (String, String) {
        (format!("ORG#{org}#APT#{id}"), "APPOINTMENT".to_owned())
    }

    fn list_pk(org: &OrgId) -> String {
        format!("ORG#{org}#APTS")
    }

    /// The timezone (validated on the way in).
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Due time of the earliest reminder still to be sent.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        if self.status != AppointmentStatus::Scheduled {
            return None;
        }
        self.reminders
            .iter()
            .filter(|r| r.is_pending())
            .map(|r| r.due_at)
            .min()
    }

    fn shard(&self) -> u8 {
        self.id
            .as_str()
            .bytes()
            .last()
            .and_then(|b| (b as char).to_digit(16))
            .unwrap_or(0) as u8
            % DUE_SHARDS
    }

    /// The API view.
    pub fn view(&self) -> Value {
        let tz = self.tz();
        json!({
            "id": self.id,
            "contact_id": self.contact_id,
            "starts_at": fmt_time(self.starts_at),
            "local_starts_at": self.starts_at.with_timezone(&tz).to_rfc3339(),
            "timezone": self.timezone,
            "title": self.title,
            "location": self.location,
            "notes": self.notes,
            "channel": self.channel,
            "status": self.status,
            "reminders": self.reminders.iter().map(|r| json!({
                "offset": r.offset,
                "due_at": fmt_time(r.due_at),
                "status": r.status().as_str(),
                "reason": r.reason(),
                "whatsapp": r.whatsapp.as_ref().map(ChannelState::view),
                "email": r.email.as_ref().map(ChannelState::view),
            })).collect::<Vec<_>>(),
            "created_by": self.created_by,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

impl Record for Appointment {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.contact_id, &self.id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(
            Self::list_pk(&self.org_id),
            format!("{}#{}", fmt_time(self.starts_at), self.id),
        ))
    }

    fn gsi2(&self) -> Option<IndexKey> {
        self.next_due().map(|due| {
            IndexKey::new(
                due_pk(self.shard()),
                format!("{}#{}#{}", fmt_time(due), self.org_id, self.id),
            )
        })
    }
}

/// A parsed reminder offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// An exact duration before the start (`m`, `h`).
    Exact(Duration),
    /// Calendar days before the start, at the same wall-clock time in the timezone.
    Days(u32),
}

/// Parses an offset: a whole number of `m`, `h` or `d` (`"90m"`, `"24h"`, `"1d"`), at most
/// 30 days.
pub fn parse_offset(text: &str) -> Option<Offset> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    if !(1..=MAX_OFFSET_SECS / 60).contains(&n) {
        return None;
    }
    let off = match unit {
        'm' => Offset::Exact(Duration::minutes(n)),
        'h' => Offset::Exact(Duration::hours(n)),
        'd' => Offset::Days(u32::try_from(n).ok()?),
        _ => return None,
    };
    let secs = match off {
        Offset::Exact(d) => d.num_seconds(),
        Offset::Days(d) => i64::from(d) * 86_400,
    };
    (secs <= MAX_OFFSET_SECS).then_some(off)
}

/// When a reminder `offset` before `starts` is due, in `tz`'s calendar for day offsets.
/// A wall-clock time that does not exist that day (a spring-forward gap) is taken just
/// after the gap; an ambiguous one (fall-back) as its earlier instant.
pub fn due_at(starts: DateTime<Utc>, offset: Offset, tz: Tz) -> DateTime<Utc> {
    match offset {
        Offset::Exact(d) => starts - d,
        Offset::Days(days) => {
            let local = starts.with_timezone(&tz).naive_local() - Duration::days(i64::from(days));
            let mut probe = local;
            // A gap is at most a few hours; step forward until the wall time exists.
            for _ in 0..(4 * 60) {
                match tz.from_local_datetime(&probe) {
                    chrono::LocalResult::Single(t) => return t.with_timezone(&Utc),
                    chrono::LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
                    chrono::LocalResult::None => probe += Duration::minutes(1),
                }
            }
            starts - Duration::days(i64::from(days))
        }
    }
}

/// Builds the reminders of an appointment. One whose due time has already passed is
/// settled at once as `skipped` (`already_past`): a reminder is for ahead of time.
pub fn build_reminders(
    offsets: &[String],
    starts: DateTime<Utc>,
    tz: Tz,
    channel: ReminderChannel,
    now: DateTime<Utc>,
) -> Vec<Reminder> {
    let mut out: Vec<Reminder> = offsets
        .iter()
        .filter_map(|o| parse_offset(o).map(|p| (o, p)))
        .map(|(o, p)| {
            let due = due_at(starts, p, tz);
            let state = || {
                let mut s = ChannelState::pending();
                if due <= now {
                    s.settle(ReminderStatus::Skipped, Some("already_past"), now);
                }
                s
            };
            Reminder {
                offset: o.clone(),
                due_at: due,
                whatsapp: channel.whatsapp().then(state),
                email: channel.email().then(state),
            }
        })
        .collect();
    out.sort_by_key(|r| r.due_at);
    out
}

// ------------------------------------------------------------------- parsing

fn parse_offsets(v: &Value, field: &str) -> Result<Vec<String>> {
    let bad = || {
        Error::validation(
            field,
            "invalid_reminders",
            format!(
                "{field} is a list of up to {MAX_REMINDERS} distinct offsets such as \"24h\", \"90m\" or \"1d\" (at most 30 days)"
            ),
        )
    };
    let list = v
        .as_array()
        .filter(|l| l.len() <= MAX_REMINDERS)
        .ok_or_else(bad)?;
    let mut out: Vec<String> = Vec::new();
    for o in list {
        let s = o.as_str().map(str::trim).ok_or_else(bad)?;
        parse_offset(s).ok_or_else(bad)?;
        if !out.iter().any(|x| x == s) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

/// Parses reminder offsets from an API body field (shared with the reminder settings).
pub fn offsets_from(v: &Value, field: &str) -> Result<Vec<String>> {
    parse_offsets(v, field)
}

fn parse_starts(v: &Value) -> Result<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            Error::validation(
                "starts_at",
                "invalid_starts_at",
                "starts_at is an RFC 3339 time with an offset (2026-12-24T10:30:00+01:00)",
            )
        })
}

fn parse_tz(v: &Value) -> Result<Tz> {
    v.as_str()
        .and_then(|s| s.parse::<Tz>().ok())
        .ok_or_else(|| {
            Error::validation(
                "timezone",
                "invalid_timezone",
                "timezone is an IANA timezone name (Europe/Amsterdam)",
            )
        })
}

fn text_field(
    body: &Value,
    field: &'static str,
    max: usize,
    required: bool,
) -> Result<Option<String>> {
    match &body[field] {
        Value::Null if !required => Ok(None),
        Value::String(s) if !s.trim().is_empty() && s.trim().chars().count() <= max => {
            Ok(Some(s.trim().to_owned()))
        }
        Value::String(s) if s.trim().is_empty() && !required => Ok(None),
        _ => Err(Error::validation(
            field,
            "invalid_text",
            format!("{field} is 1-{max} characters"),
        )),
    }
}

const FIELDS: [&str; 7] = [
    "starts_at",
    "timezone",
    "title",
    "location",
    "notes",
    "channel",
    "reminders",
];

fn parse_channel(v: &Value) -> Result<ReminderChannel> {
    v.as_str().and_then(ReminderChannel::parse).ok_or_else(|| {
        Error::validation(
            "channel",
            "invalid_channel",
            "channel is whatsapp, email or both",
        )
    })
}

// ------------------------------------------------------------------- API

async fn contact_of(svc: &Services, org: &OrgId, id: &ContactId) -> Result<Contact> {
    let (pk, sk) = Contact::key_of(org, id);
    Ok(load::<Contact>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("contact"))?
        .record)
}

/// `POST /v1/contacts/{id}/appointments`: creates an appointment with its reminders
/// (default offsets from the org's reminder settings).
pub async fn create(
    svc: &Services,
    org: &OrgId,
    contact: &ContactId,
    user: Option<&str>,
    body: &Value,
) -> Result<Appointment> {
    contact_of(svc, org, contact).await?;
    object_of_fields(body, &FIELDS)?;
    let starts_at = parse_starts(&body["starts_at"])?;
    let tz = parse_tz(&body["timezone"])?;
    let title = text_field(body, "title", 200, true)?.unwrap_or_default();
    let location = text_field(body, "location", 500, false)?;
    let notes = text_field(body, "notes", 2_000, false)?;
    let channel = parse_channel(&body["channel"])?;
    let now = svc.clock.now();
    if starts_at <= now {
        return Err(Error::validation(
            "starts_at",
            "in_the_past",
            "starts_at must be in the future",
        ));
    }
    let offsets = match &body["reminders"] {
        Value::Null => {
            crate::usecases::reminders::settings(svc, org)
                .await?
                .offsets
        }
        v => parse_offsets(v, "reminders")?,
    };
    let a = Appointment {
        id: AppointmentId::from_uuid(uuid::Uuid::now_v7()),
        org_id: org.clone(),
        contact_id: contact.clone(),
        starts_at,
        timezone: tz.name().to_owned(),
        title,
        location,
        notes,
        channel,
        status: AppointmentStatus::Scheduled,
        generation: 0,
        reminders: build_reminders(&offsets, starts_at, tz, channel, now),
        offsets,
        created_by: user.map(str::to_owned),
        created_at: now,
        updated_at: now,
    };
    let (ppk, psk) = Appointment::pointer_key(org, &a.id);
    let pointer =
        crate::store::Item::new(ppk, psk, json!({"contact_id": a.contact_id})).with_version(1);
    svc.store
        .transact(vec![
            crate::store::Write::put(item(&a, 1)?, Condition::NotExists),
            crate::store::Write::put(pointer, Condition::NotExists),
        ])
        .await?;
    info!(org_id = %org, appointment_id = %a.id, reminders = a.reminders.len(), "appointment created");
    Ok(a)
}

/// The key of an appointment of the org, through its pointer (404 for another org's,
/// an erased contact's or none).
pub async fn locate(svc: &Services, org: &OrgId, id: &AppointmentId) -> Result<(String, String)> {
    let (ppk, psk) = Appointment::pointer_key(org, id);
    let contact = svc
        .store
        .get(&ppk, &psk)
        .await?
        .and_then(|i| {
            i.data["contact_id"]
                .as_str()
                .and_then(|c| ContactId::parse(c).ok())
        })
        .ok_or(Error::not_found("appointment"))?;
    Ok(Appointment::key_of(org, &contact, id))
}

/// An appointment of the org (404 for another org's or none).
pub async fn get(svc: &Services, org: &OrgId, id: &AppointmentId) -> Result<Appointment> {
    let (pk, sk) = locate(svc, org, id).await?;
    Ok(load::<Appointment>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("appointment"))?
        .record)
}

/// `PATCH /v1/appointments/{id}`: changes fields; a new `starts_at`, `timezone`,
/// `channel` or `reminders` reschedules (reminders still to go are replaced by new ones
/// under the next generation; those sent stay). A cancelled appointment answers 409.
pub async fn patch(
    svc: &Services,
    org: &OrgId,
    id: &AppointmentId,
    body: &Value,
) -> Result<Appointment> {
    object_of_fields(body, &FIELDS)?;
    let (pk, sk) = locate(svc, org, id).await?;
    let starts_at = match &body["starts_at"] {
        Value::Null => None,
        v => Some(parse_starts(v)?),
    };
    let tz = match &body["timezone"] {
        Value::Null => None,
        v => Some(parse_tz(v)?),
    };
    let channel = match &body["channel"] {
        Value::Null => None,
        v => Some(parse_channel(v)?),
    };
    let offsets = match &body["reminders"] {
        Value::Null => None,
        v => Some(parse_offsets(v, "reminders")?),
    };
    let title = text_field(body, "title", 200, false)?;
    let has = |f: &str| body.get(f).is_some();
    let location = text_field(body, "location", 500, false)?;
    let notes = text_field(body, "notes", 2_000, false)?;
    let now = svc.clock.now();
    if starts_at.is_some_and(|s| s <= now) {
        return Err(Error::validation(
            "starts_at",
            "in_the_past",
            "starts_at must be in the future",
        ));
    }
    let reschedule = starts_at.is_some() || tz.is_some() || channel.is_some() || offsets.is_some();
    let mut cancelled = false;
    let updated = update::<Appointment>(&*svc.store, &pk, &sk, |a| {
        if a.status == AppointmentStatus::Cancelled {
            cancelled = true;
            return false;
        }
        if let Some(t) = &title {
            a.title = t.clone();
        }
        if has("location") {
            a.location = location.clone();
        }
        if has("notes") {
            a.notes = notes.clone();
        }
        if reschedule {
            if let Some(o) = &offsets {
                a.offsets = o.clone();
            }
            if let Some(s) = starts_at {
                a.starts_at = s;
            }
            if let Some(z) = tz {
                a.timezone = z.name().to_owned();
            }
            if let Some(c) = channel {
                a.channel = c;
            }
            a.generation += 1;
            // Reminders already sent stay for the record; those still to go are
            // replaced by the new generation's.
            a.reminders.retain(|r| r.status() == ReminderStatus::Sent);
            a.reminders.extend(build_reminders(
                &a.offsets,
                a.starts_at,
                a.tz(),
                a.channel,
                now,
            ));
            a.reminders.sort_by_key(|r| r.due_at);
        }
        a.updated_at = now;
        true
    })
    .await?
    .ok_or(Error::not_found("appointment"))?;
    if cancelled {
        return Err(Error::Conflict {
            code: "appointment_cancelled",
            message: "the appointment is cancelled; create a new one".into(),
        });
    }
    info!(org_id = %org, appointment_id = %id, rescheduled = reschedule, generation = updated.generation, "appointment updated");
    Ok(updated)
}

/// `DELETE /v1/appointments/{id}`: cancels it; every pending reminder is settled as
/// `skipped: cancelled` in the same write, so no run can send one afterwards.
pub async fn cancel(svc: &Services, org: &OrgId, id: &AppointmentId) -> Result<()> {
    let (pk, sk) = locate(svc, org, id).await?;
    let now = svc.clock.now();
    update::<Appointment>(&*svc.store, &pk, &sk, |a| {
        if a.status == AppointmentStatus::Cancelled {
            return false;
        }
        a.status = AppointmentStatus::Cancelled;
        for r in &mut a.reminders {
            r.settle_pending(ReminderStatus::Skipped, "cancelled", now);
        }
        a.updated_at = now;
        true
    })
    .await?
    .ok_or(Error::not_found("appointment"))?;
    info!(org_id = %org, appointment_id = %id, "appointment cancelled");
    Ok(())
}

/// `GET /v1/appointments?from&to&contact_id`: the org's appointments by start time
/// (`from` defaults to now; `contact_id` filters the page).
pub async fn list(
    svc: &Services,
    org: &OrgId,
    from: Option<&str>,
    to: Option<&str>,
    contact: Option<&str>,
    page: PageRequest,
) -> Result<Paged<Value>> {
    let time = |v: Option<&str>, field: &'static str| -> Result<Option<DateTime<Utc>>> {
        v.map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    Error::validation(
                        field,
                        "invalid_time",
                        format!("{field} is an RFC 3339 time"),
                    )
                })
        })
        .transpose()
    };
    let from = time(from, "from")?.unwrap_or_else(|| svc.clock.now());
    let to = time(to, "to")?;
    if to.is_some_and(|t| t < from) {
        return Err(Error::validation(
            "to",
            "invalid_range",
            "to is before from",
        ));
    }
    let contact = contact
        .map(|c| {
            ContactId::parse(c).map_err(|_| {
                Error::validation(
                    "contact_id",
                    "invalid_contact_id",
                    "contact_id is a contact id",
                )
            })
        })
        .transpose()?;
    let upper = match to {
        Some(t) => format!("{}#~", fmt_time(t)),
        None => "~".to_owned(),
    };
    let query = page.apply_to(
        Query::index(Index::Gsi1, Appointment::list_pk(org))
            .sort(SortKey::Between(fmt_time(from), upper)),
        &org_scope(org),
    )?;
    let result = svc.store.query(query).await?;
    Ok(Paged {
        items: decode_all::<Appointment>(&result.items)?
            .into_iter()
            .filter(|a| contact.as_ref().is_none_or(|c| &a.contact_id == c))
            .map(|a| a.view())
            .collect(),
        next_cursor: result.next.as_ref().map(encode_cursor),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn offsets() {
        assert_eq!(
            parse_offset("24h"),
            Some(Offset::Exact(Duration::hours(24)))
        );
        assert_eq!(
            parse_offset("90m"),
            Some(Offset::Exact(Duration::minutes(90)))
        );
        assert_eq!(parse_offset("1d"), Some(Offset::Days(1)));
        assert_eq!(parse_offset("30d"), Some(Offset::Days(30)));
        for bad in ["", "0h", "31d", "721h", "1w", "-1h", "1.5h", "h", "24"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_offsets_follow_the_wall_clock_across_daylight_saving() {
        let ams: Tz = "Europe/Amsterdam".parse().unwrap();
        // Monday 30 March 2026 09:00 CEST; clocks went forward on Sunday 29 March.
        let starts = utc("2026-03-30T07:00:00Z");
        assert_eq!(
            due_at(starts, Offset::Days(1), ams),
            utc("2026-03-29T07:00:00Z"),
            "09:00 CEST the day before: 24 hours earlier on the clock, 24 real hours too since both are CEST"
        );
        // Sunday 29 March 10:00 CEST, reminded a day before: Saturday 10:00 CET = 09:00 UTC,
        // 23 real hours earlier.
        let starts = utc("2026-03-29T08:00:00Z");
        assert_eq!(
            due_at(starts, Offset::Days(1), ams),
            utc("2026-03-28T09:00:00Z")
        );
        assert_eq!(
            due_at(starts, Offset::Exact(Duration::hours(24)), ams),
            utc("2026-03-28T08:00:00Z")
        );
        // Sunday 25 October 10:00 CET (clocks went back that night): the day before at
        // 10:00 CEST is 25 real hours earlier.
        let starts = utc("2026-10-25T09:00:00Z");
        assert_eq!(
            due_at(starts, Offset::Days(1), ams),
            utc("2026-10-24T08:00:00Z")
        );
        // A wall time in the spring-forward gap (02:30 on 29 March does not exist) is
        // taken just after it.
        let starts = utc("2026-03-30T00:30:00Z"); // 02:30 CEST on the 30th
        assert_eq!(
            due_at(starts, Offset::Days(1), ams),
            utc("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn reminders_already_past_are_skipped_and_sorted() {
        let now = utc("2026-12-01T12:00:00Z");
        let starts = utc("2026-12-01T13:30:00Z");
        let r = build_reminders(
            &["1h".into(), "24h".into()],
            starts,
            chrono_tz::UTC,
            ReminderChannel::Both,
            now,
        );
        assert_eq!(r[0].offset, "24h");
        assert_eq!(r[0].status(), ReminderStatus::Skipped);
        assert_eq!(r[1].status(), ReminderStatus::Scheduled);
        assert!(r[1].whatsapp.is_some() && r[1].email.is_some());
    }
}
