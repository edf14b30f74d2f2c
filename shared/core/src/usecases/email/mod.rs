//! Email: every email Switchboard sends (appointment reminders to customers,
//! notifications to the CRM's users) is stored before it is sent, under an id derived
//! from its cause, then handed to the `email` queue; `worker-email` sends it
//! ([`deliver`]) and applies the provider's delivery events ([`events`]).
//!
//! - **No email twice for one cause.** The id is derived from the org, the cause
//!   (`reminder:<appointment>:<generation>:<reminder>`, `billing:<stripe event>`,
//!   `assigned:<conversation>:<time>`, `webhook_disabled:<endpoint>:<failing since, ms>`)
//!   and the address, and written only if absent: a retried cron run or worker, a
//!   redelivered Stripe event or a second click find it and do not queue a second one.
//!   The provider sees the same id as its idempotency key (Resend) or custom argument
//!   (SendGrid), so its events come back to the record.
//! - **Suppression.** A hard bounce or a complaint puts the address on the org's
//!   suppression list; a later email to it is stored as `suppressed` and never queued
//!   (and one already queued is suppressed by the worker). An admin lifts it with
//!   `DELETE /v1/email-suppressions/{address}`.
//! - **Nothing lost.** A stored email whose enqueue failed is listed on a `gsi2`
//!   partition while it is `queued`; the reminder schedule re-queues any that waited more
//!   than [`REQUEUE_AFTER_SECS`] untried (the worker ignores an email that is no longer
//!   queued, so a second queue message changes nothing). One that failed and keeps
//!   failing retries on the shared schedule and then waits in the DLQ for a redrive.

pub mod deliver;
pub mod events;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{EmailId, OrgId};
use crate::model::{org_pk, org_scope};
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::privacy::mask_email;
use crate::queue::{OutgoingMessage, QueueName};
use crate::record::{Record, decode_all, item, load};
use crate::services::Services;
use crate::store::{Condition, Index, IndexKey, Query, SortKey, StoreError};

pub use switchboard_email_templates::{Locale, Rendered};

/// Stored emails are forgotten this long after they were created (their bodies are
/// personal data; the delivery record is what support needs, for a while).
pub const RETENTION_DAYS: i64 = 90;
/// A `queued` email older than this without a send is queued again by the schedule.
pub const REQUEUE_AFTER_SECS: i64 = 300;
/// Pages of 200 stale emails one sweep queues again at most.
const REQUEUE_PAGES: usize = 25;
/// Longest address accepted (RFC 5321's path limit).
pub const MAX_ADDRESS_LEN: usize = 254;

/// What an email is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// A reminder of a customer's appointment.
    AppointmentReminder,
    /// The org's trial ends soon.
    TrialEnding,
    /// A payment of the org failed.
    PaymentFailed,
    /// The org's subscription was cancelled.
    SubscriptionCancelled,
    /// A conversation was assigned to the reader.
    ConversationAssigned,
    /// Switchboard disabled one of the org's webhook endpoints (it kept failing).
    WebhookEndpointDisabled,
}

/// Where an email stands. Later states outrank earlier ones ([`EmailStatus::rank`]):
/// events that arrive out of order never move an email back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    /// Stored and queued, not yet accepted by a provider.
    Queued,
    /// Accepted by the provider.
    Sent,
    /// The provider delivered it to the recipient's server.
    Delivered,
    /// Opened (providers that track opens).
    Opened,
    /// A link in it was clicked (providers that track clicks).
    Clicked,
    /// Bounced (`reason`; a hard bounce suppresses the address).
    Bounced,
    /// The recipient marked it as spam (the address is suppressed).
    Complained,
    /// Not sent: the provider refused it, or it failed for good (`reason`).
    Failed,
    /// Not sent: the address is on the org's suppression list.
    Suppressed,
}

impl EmailStatus {
    /// Name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Queued => "queued",
            EmailStatus::Sent => "sent",
            EmailStatus::Delivered => "delivered",
            EmailStatus::Opened => "opened",
            EmailStatus::Clicked => "clicked",
            EmailStatus::Bounced => "bounced",
            EmailStatus::Complained => "complained",
            EmailStatus::Failed => "failed",
            EmailStatus::Suppressed => "suppressed",
        }
    }

    /// Parses an API name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            EmailStatus::Queued,
            EmailStatus::Sent,
            EmailStatus::Delivered,
            EmailStatus::Opened,
            EmailStatus::Clicked,
            EmailStatus::Bounced,
            EmailStatus::Complained,
            EmailStatus::Failed,
            EmailStatus::Suppressed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Order of states: an event moves an email only to a higher rank. A complaint
    /// outranks everything (it suppresses); a bounce or failure outranks the happy path.
    pub fn rank(self) -> u8 {
        match self {
            EmailStatus::Queued => 0,
            EmailStatus::Sent => 1,
            EmailStatus::Delivered => 2,
            EmailStatus::Opened => 3,
            EmailStatus::Clicked => 4,
            EmailStatus::Bounced | EmailStatus::Failed | EmailStatus::Suppressed => 5,
            EmailStatus::Complained => 6,
        }
    }
}

/// One email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Email {
    /// Id (derived from the cause).
    pub id: EmailId,
    /// Owner.
    pub org_id: OrgId,
    /// What it is about.
    pub kind: EmailKind,
    /// What caused it (the idempotency key's readable part).
    pub cause: String,
    /// Recipient (lower-cased).
    pub to: String,
    /// Sender display name.
    #[serde(default)]
    pub from_name: Option<String>,
    /// Reply-To.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Subject.
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
    /// Where it stands.
    pub status: EmailStatus,
    /// Why it failed, bounced or was suppressed.
    #[serde(default)]
    pub reason: Option<String>,
    /// The provider that accepted it.
    #[serde(default)]
    pub provider: Option<String>,
    /// The provider's id of it.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// Send attempts that failed and may pass.
    #[serde(default)]
    pub attempts: u32,
    /// When each status was reached (RFC 3339).
    #[serde(default)]
    pub status_times: std::collections::BTreeMap<String, String>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl Email {
    /// Key of an email.
    pub fn key_of(org: &OrgId, id: &EmailId) -> (String, String) {
        (format!("ORG#{org}#EMAIL#{id}"), "EMAIL".to_owned())
    }

    fn list_pk(org: &OrgId) -> String {
        format!("ORG#{org}#EMAILS")
    }

    /// Moves to `status` if it outranks the current one; returns whether it moved.
    pub fn advance(
        &mut self,
        status: EmailStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> bool {
        if status.rank() <= self.status.rank() {
            return false;
        }
        self.status = status;
        if reason.is_some() {
            self.reason = reason;
        }
        self.status_times
            .insert(status.as_str().to_owned(), fmt_time(now));
        self.updated_at = now;
        true
    }

    /// The API view (no body: the subject says what it was).
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind,
            "to": self.to,
            "subject": self.subject,
            "status": self.status.as_str(),
            "reason": self.reason,
            "provider": self.provider,
            "provider_id": self.provider_id,
            "attempts": self.attempts,
            "status_times": self.status_times,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

/// `gsi2` partition of queued emails (the re-queue sweep).
const QUEUED_PK: &str = "EMAILQUEUED";

impl Record for Email {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(
            Self::list_pk(&self.org_id),
            format!("{}#{}", fmt_time(self.created_at), self.id),
        ))
    }

    /// Listed for the re-queue sweep while queued and untried (a tried email has a
    /// queue message of its own).
    fn gsi2(&self) -> Option<IndexKey> {
        (self.status == EmailStatus::Queued && self.attempts == 0).then(|| {
            IndexKey::new(
                QUEUED_PK,
                format!("{}#{}#{}", fmt_time(self.created_at), self.org_id, self.id),
            )
        })
    }

    fn ttl(&self) -> Option<i64> {
        Some((self.created_at + chrono::Duration::days(RETENTION_DAYS)).timestamp())
    }
}

/// An address on an org's suppression list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    /// Owner.
    pub org_id: OrgId,
    /// The address (lower-cased).
    pub address: String,
    /// `hard_bounce` or `complaint`.
    pub reason: String,
    /// The email whose event suppressed it.
    #[serde(default)]
    pub email_id: Option<EmailId>,
    /// When.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
}

impl Suppression {
    /// Key of an address's suppression.
    pub fn key_of(org: &OrgId, address: &str) -> (String, String) {
        (format!("ORG#{org}#SUPPRESSED"), normalise(address))
    }
}

impl Record for Suppression {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.address)
    }
}

/// An address as Switchboard compares them: trimmed and lower-cased.
pub fn normalise(address: &str) -> String {
    address.trim().to_lowercase()
}

/// Whether `address` looks like an email address Switchboard can send to: one `@`, a
/// local part and a dotted domain, no spaces, angle brackets or control characters, at
/// most [`MAX_ADDRESS_LEN`] bytes. (The provider has the last word; this keeps obvious
/// mistakes out of the queue and header injection out of the message.)
pub fn valid_address(address: &str) -> bool {
    let a = address.trim();
    if a.is_empty() || a.len() > MAX_ADDRESS_LEN {
        return false;
    }
    if a.chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'))
    {
        return false;
    }
    match a.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// Whether the org suppressed `address`.
pub async fn is_suppressed(svc: &Services, org: &OrgId, address: &str) -> Result<bool> {
    let (pk, sk) = Suppression::key_of(org, address);
    Ok(svc.store.get(&pk, &sk).await?.is_some())
}

/// Puts an address on the org's suppression list (idempotent).
pub async fn suppress(
    svc: &Services,
    org: &OrgId,
    address: &str,
    reason: &str,
    email: Option<&EmailId>,
) -> Result<()> {
    let s = Suppression {
        org_id: org.clone(),
        address: normalise(address),
        reason: reason.to_owned(),
        email_id: email.cloned(),
        created_at: svc.clock.now(),
    };
    match svc.store.put(item(&s, 1)?, Condition::NotExists).await {
        Ok(()) => {
            info!(org_id = %org, to = %mask_email(address), reason, "address suppressed");
            Ok(())
        }
        Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /v1/email-suppressions/{address}`: lifts a suppression (404 when the address
/// is not suppressed).
pub async fn unsuppress(svc: &Services, org: &OrgId, address: &str) -> Result<()> {
    let (pk, sk) = Suppression::key_of(org, address);
    match svc.store.delete(&pk, &sk, Condition::Exists).await {
        Ok(()) => {
            info!(org_id = %org, to = %mask_email(address), "suppression lifted");
            Ok(())
        }
        Err(StoreError::ConditionFailed { .. }) => Err(Error::not_found("suppression")),
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------- org settings

/// How an org's emails look: the sender's display name, Reply-To, the language of its
/// emails, and the address billing notices go to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmailSettings {
    /// Display name of the sender (and the name in the emails); the deployment's
    /// `EMAIL_FROM` name when unset.
    #[serde(default)]
    pub from_name: Option<String>,
    /// Reply-To of the org's emails.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Language of the org's emails (`en`, `nl`; English for anything else).
    #[serde(default)]
    pub locale: Option<String>,
    /// Where billing notices go, besides the owners Switchboard has seen.
    #[serde(default)]
    pub billing_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredEmailSettings {
    org_id: OrgId,
    #[serde(flatten)]
    settings: EmailSettings,
    #[serde(with = "rfc3339_millis")]
    updated_at: DateTime<Utc>,
}

impl Record for StoredEmailSettings {
    fn key(&self) -> (String, String) {
        (org_pk(&self.org_id), "SETTINGS#EMAIL".to_owned())
    }
}

/// The org's email settings (defaults when it set none).
pub async fn settings(svc: &Services, org: &OrgId) -> Result<EmailSettings> {
    Ok(
        load::<StoredEmailSettings>(&*svc.store, &org_pk(org), "SETTINGS#EMAIL")
            .await?
            .map(|v| v.record.settings)
            .unwrap_or_default(),
    )
}

/// The API view of the settings.
pub fn settings_view(s: &EmailSettings) -> Value {
    json!({
        "from_name": s.from_name,
        "reply_to": s.reply_to,
        "locale": s.locale,
        "billing_email": s.billing_email,
    })
}

/// `PUT /v1/settings/email`: replaces the org's email settings (every field optional;
/// unknown fields and invalid values are 422s naming the field).
pub async fn put_settings(svc: &Services, org: &OrgId, body: &Value) -> Result<EmailSettings> {
    const FIELDS: [&str; 4] = ["from_name", "reply_to", "locale", "billing_email"];
    crate::usecases::triage::object_of_fields(body, &FIELDS)?;
    let text = |field: &'static str| -> Result<Option<String>> {
        match &body[field] {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.trim().to_owned())),
            _ => Err(Error::validation(
                field,
                "invalid_type",
                format!("{field} is a string or null"),
            )),
        }
    };
    let from_name = text("from_name")?;
    if from_name
        .as_deref()
        .is_some_and(|n| n.chars().count() > 100 || n.chars().any(char::is_control))
    {
        return Err(Error::validation(
            "from_name",
            "invalid_from_name",
            "from_name is at most 100 characters of text",
        ));
    }
    let address = |field: &'static str| -> Result<Option<String>> {
        let v = text(field)?;
        if v.as_deref().is_some_and(|a| !valid_address(a)) {
            return Err(Error::validation(
                field,
                "invalid_email",
                format!("{field} is not an email address"),
            ));
        }
        Ok(v.map(|a| normalise(&a)))
    };
    let reply_to = address("reply_to")?;
    let billing_email = address("billing_email")?;
    let locale = text("locale")?;
    if let Some(l) = &locale
        && !["en", "nl"].contains(&l.to_ascii_lowercase().as_str())
    {
        return Err(Error::validation(
            "locale",
            "invalid_locale",
            "locale is en or nl",
        ));
    }
    let stored = StoredEmailSettings {
        org_id: org.clone(),
        settings: EmailSettings {
            from_name,
            reply_to,
            locale: locale.map(|l| l.to_ascii_lowercase()),
            billing_email,
        },
        updated_at: svc.clock.now(),
    };
    svc.store.put(item(&stored, 1)?, Condition::Always).await?;
    Ok(stored.settings)
}

// ------------------------------------------------------------------- queueing

/// An email to store and queue.
#[derive(Debug)]
pub struct NewEmail<'a> {
    /// Owner.
    pub org: &'a OrgId,
    /// What it is about.
    pub kind: EmailKind,
    /// What caused it: with the org and the address, its identity.
    pub cause: &'a str,
    /// Recipient.
    pub to: &'a str,
    /// The rendered email.
    pub rendered: Rendered,
    /// The org's settings (sender name, Reply-To).
    pub settings: &'a EmailSettings,
}

/// What [`queue_email`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// Stored and queued.
    Queued(EmailId),
    /// Stored as `suppressed`: the address is on the suppression list.
    Suppressed(EmailId),
    /// This cause emailed this address already (queued again if still waiting).
    Duplicate(EmailId),
}

impl Queued {
    /// The email's id.
    pub fn id(&self) -> &EmailId {
        match self {
            Queued::Queued(id) | Queued::Suppressed(id) | Queued::Duplicate(id) => id,
        }
    }
}

/// The id of the email a cause sends to an address.
pub fn email_id(org: &OrgId, cause: &str, to: &str) -> EmailId {
    EmailId::from_uuid(crate::ids::derived_uuid(&[
        "email",
        org.as_str(),
        cause,
        &normalise(to),
    ]))
}

/// The queue message of a stored email: one FIFO group per email (its delivery events
/// share it), deduplicated by `dedupe` (the id on first queueing).
fn send_message(org: &OrgId, id: &EmailId, dedupe: String) -> OutgoingMessage {
    OutgoingMessage::fifo(
        json!({"send": id, "org_id": org}).to_string(),
        format!("email:{id}"),
        dedupe,
    )
}

/// The record of a new email: `queued`, or `suppressed` when `suppressed` says the
/// address is on the org's list. Callers that store it in a transaction of their own
/// (a reminder's claim) hand it to [`enqueue`] after the transaction.
pub fn build(svc: &Services, e: NewEmail<'_>, suppressed: bool) -> Result<Email> {
    if !valid_address(e.to) {
        return Err(Error::validation(
            "to",
            "invalid_email",
            "not an email address",
        ));
    }
    let now = svc.clock.now();
    let mut email = Email {
        id: email_id(e.org, e.cause, e.to),
        org_id: e.org.clone(),
        kind: e.kind,
        cause: e.cause.to_owned(),
        to: normalise(e.to),
        from_name: e.settings.from_name.clone(),
        reply_to: e.settings.reply_to.clone(),
        subject: e.rendered.subject,
        html: e.rendered.html,
        text: e.rendered.text,
        status: EmailStatus::Queued,
        reason: None,
        provider: None,
        provider_id: None,
        attempts: 0,
        status_times: Default::default(),
        created_at: now,
        updated_at: now,
    };
    email.status_times.insert("queued".into(), fmt_time(now));
    if suppressed {
        email.advance(
            EmailStatus::Suppressed,
            Some("suppressed_address".into()),
            now,
        );
    }
    Ok(email)
}

/// Hands a stored `queued` email to the queue (a failure leaves it to the re-queue
/// sweep, which finds it by its `queued` status).
pub async fn enqueue(svc: &Services, email: &Email) -> Result<()> {
    if email.status != EmailStatus::Queued {
        return Ok(());
    }
    svc.queue
        .send(
            QueueName::Email,
            vec![send_message(&email.org_id, &email.id, email.id.to_string())],
        )
        .await?;
    info!(org_id = %email.org_id, email_id = %email.id, kind = ?email.kind, to = %mask_email(&email.to), "email queued");
    Ok(())
}

/// Stores an email under the id of its cause and queues it (unless suppressed). A
/// second call for the same cause and address stores nothing; if that email is still
/// waiting, it is queued again (the worker sends it once).
pub async fn queue_email(svc: &Services, e: NewEmail<'_>) -> Result<Queued> {
    let suppressed = is_suppressed(svc, e.org, e.to).await?;
    let org = e.org.clone();
    let email = build(svc, e, suppressed)?;
    let id = email.id.clone();
    match svc.store.put(item(&email, 1)?, Condition::NotExists).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => {
            let (pk, sk) = Email::key_of(&org, &id);
            if let Some(existing) = load::<Email>(&*svc.store, &pk, &sk).await?
                && existing.record.status == EmailStatus::Queued
            {
                svc.queue
                    .send(
                        QueueName::Email,
                        vec![send_message(&org, &id, uuid::Uuid::now_v7().to_string())],
                    )
                    .await?;
            }
            return Ok(Queued::Duplicate(id));
        }
        Err(err) => return Err(err.into()),
    }
    if suppressed {
        info!(org_id = %org, email_id = %id, kind = ?email.kind, "email not sent: the address is suppressed");
        return Ok(Queued::Suppressed(id));
    }
    enqueue(svc, &email).await?;
    Ok(Queued::Queued(id))
}

/// Queues again every email stored as `queued` more than [`REQUEUE_AFTER_SECS`] ago that
/// no worker has tried yet (its first enqueue failed: the process died between storing it
/// and queueing it, or the queue refused). A duplicate queue message is harmless: it shares
/// the email's FIFO group and finds the email sent. Returns how many were queued.
pub async fn requeue_stale(svc: &Services) -> Result<usize> {
    let cutoff = svc.clock.now() - chrono::Duration::seconds(REQUEUE_AFTER_SECS);
    let mut messages: Vec<OutgoingMessage> = Vec::new();
    let mut after = None;
    // Oldest first, a bounded number per run (the next run continues).
    for _ in 0..REQUEUE_PAGES {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi2, QUEUED_PK)
                    .sort(SortKey::AtMost(format!("{}#~", fmt_time(cutoff))))
                    .limit(200)
                    .after(after),
            )
            .await?;
        messages.extend(
            decode_all::<Email>(&page.items)?
                .iter()
                // The index may lag; the worker skips an email no longer queued.
                .filter(|e| e.status == EmailStatus::Queued && e.attempts == 0)
                .map(|e| send_message(&e.org_id, &e.id, uuid::Uuid::now_v7().to_string())),
        );
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    let n = messages.len();
    for chunk in messages.chunks(10) {
        svc.queue.send(QueueName::Email, chunk.to_vec()).await?;
    }
    if n > 0 {
        warn!(emails = n, "queued again emails that waited without a send");
    }
    Ok(n)
}

// ------------------------------------------------------------------- API

/// `GET /v1/emails` (admin): the org's emails newest first; `to` and `status` filter
/// the page (a filtered page can hold fewer than `limit` items; follow `next_cursor`).
pub async fn list(
    svc: &Services,
    org: &OrgId,
    to: Option<&str>,
    status: Option<&str>,
    page: PageRequest,
) -> Result<Paged<Value>> {
    let status = match status {
        None => None,
        Some(s) => Some(EmailStatus::parse(s).ok_or_else(|| {
            Error::validation(
                "status",
                "invalid_status",
                "status is queued, sent, delivered, opened, clicked, bounced, complained, failed or suppressed",
            )
        })?),
    };
    let to = to.map(normalise);
    let query = page.apply_to(
        Query::index(Index::Gsi1, Email::list_pk(org)).descending(),
        &org_scope(org),
    )?;
    let result = svc.store.query(query).await?;
    let items = decode_all::<Email>(&result.items)?
        .into_iter()
        .filter(|e| to.as_ref().is_none_or(|t| &e.to == t))
        .filter(|e| status.is_none_or(|s| e.status == s))
        .map(|e| e.view())
        .collect();
    Ok(Paged {
        items,
        next_cursor: result.next.as_ref().map(encode_cursor),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in [
            "ann@example.org",
            "a.b+tag@sub.example.co.uk",
            " Ann@Example.org ",
        ] {
            assert!(valid_address(ok), "{ok}");
        }
        for bad in [
            "",
            "ann",
            "@example.org",
            "ann@",
            "ann@example",
            "ann@@example.org",
            "ann smith@example.org",
            "ann@example.org\r\nBcc: x@evil.com",
            "<ann@example.org>",
            "a@b.c,d@e.f",
        ] {
            assert!(!valid_address(bad), "{bad:?}");
        }
        assert_eq!(normalise(" Ann@Example.ORG "), "ann@example.org");
    }

    #[test]
    fn statuses_only_move_forward() {
        let now = Utc::now();
        let mut e = Email {
            id: EmailId::from_uuid(uuid::Uuid::nil()),
            org_id: OrgId::parse("acme").unwrap(),
            kind: EmailKind::TrialEnding,
            cause: "c".into(),
            to: "a@b.co".into(),
            from_name: None,
            reply_to: None,
            subject: "s".into(),
            html: String::new(),
            text: String::new(),
            status: EmailStatus::Queued,
            reason: None,
            provider: None,
            provider_id: None,
            attempts: 0,
            status_times: Default::default(),
            created_at: now,
            updated_at: now,
        };
        assert!(e.advance(EmailStatus::Delivered, None, now));
        assert!(
            !e.advance(EmailStatus::Sent, None, now),
            "a late `sent` does not undo delivery"
        );
        assert!(e.advance(EmailStatus::Opened, None, now));
        assert!(e.advance(EmailStatus::Complained, None, now));
        assert!(!e.advance(EmailStatus::Clicked, None, now));
        assert_eq!(e.status, EmailStatus::Complained);
        assert_eq!(e.status_times.len(), 3);
        for s in [
            "queued",
            "sent",
            "delivered",
            "opened",
            "clicked",
            "bounced",
            "complained",
            "failed",
            "suppressed",
        ] {
            assert_eq!(EmailStatus::parse(s).unwrap().as_str(), s);
        }
    }
}
