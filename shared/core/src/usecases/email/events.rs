//! Email delivery events (Resend's and SendGrid's webhooks), applied by `worker-email`.
//!
//! The webhook stores each event under the provider's event id (Resend's `svix-id`,
//! SendGrid's `sg_event_id`), queues a reference in the email's FIFO group and answers
//! 200; this module finds the email (by the id Switchboard sent along as a tag or custom
//! argument, else by the provider's message id) and moves its status forward only
//! ([`super::EmailStatus::rank`]): a late `delivered` never undoes a bounce. A hard
//! bounce or a complaint puts the address on the org's suppression list. Events about
//! emails Switchboard did not send (the same provider account used by another
//! application) are kept as `ignored`.

use switchboard_webhooks::email_events::{self, EmailEvent, EmailEventKind};
use tracing::info;

use crate::error::{Error, Result};
use crate::ids::{EmailId, OrgId};
use crate::model::{EventStatus, Provider, WebhookEvent};
use crate::record::update;
use crate::services::Services;
use crate::usecases::inbound::{finish, unsettled_event};

use super::deliver::by_provider_id;
use super::{Email, EmailStatus, suppress};

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The email's status moved (or the event was older news).
    Applied(EmailStatus),
    /// Not an email of Switchboard's, or an event kind it does not track.
    Ignored,
    /// Settled before.
    AlreadyProcessed,
}

/// Parses one stored event's payload.
pub fn parse(provider: Provider, payload: &str) -> Result<EmailEvent> {
    let parsed = match provider {
        Provider::Resend => {
            email_events::parse_resend(payload.as_bytes()).map_err(|e| e.to_string())
        }
        Provider::Sendgrid => email_events::parse_sendgrid(format!("[{payload}]").as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|v| v.into_iter().next().ok_or_else(|| "empty".to_owned())),
        other => Err(format!("{} is not an email provider", other.as_str())),
    };
    parsed.map_err(|e| Error::Internal(format!("stored email event does not parse: {e}")))
}

async fn find(
    svc: &Services,
    provider: Provider,
    ev: &EmailEvent,
) -> Result<Option<(OrgId, EmailId)>> {
    if let (Some(org), Some(id)) = (&ev.org_id, &ev.email_id)
        && let (Ok(org), Ok(id)) = (OrgId::parse(org), EmailId::parse(id))
    {
        // The echoed ids are only a hint: the record must exist in that org.
        let (pk, sk) = Email::key_of(&org, &id);
        if svc.store.get(&pk, &sk).await?.is_some() {
            return Ok(Some((org, id)));
        }
    }
    match &ev.provider_message_id {
        Some(pid) => by_provider_id(svc, provider.as_str(), pid).await,
        None => Ok(None),
    }
}

/// Applies the stored event a queue message points at.
pub async fn apply(svc: &Services, body: &str) -> Result<Applied> {
    let Some(mut event) = unsettled_event(svc, body).await? else {
        return Ok(Applied::AlreadyProcessed);
    };
    let ev = parse(event.provider, &event.payload)?;
    let status = match ev.kind {
        EmailEventKind::Sent => Some(EmailStatus::Sent),
        EmailEventKind::Delivered => Some(EmailStatus::Delivered),
        EmailEventKind::Opened => Some(EmailStatus::Opened),
        EmailEventKind::Clicked => Some(EmailStatus::Clicked),
        EmailEventKind::Bounced { .. } => Some(EmailStatus::Bounced),
        EmailEventKind::Complained => Some(EmailStatus::Complained),
        EmailEventKind::Failed => Some(EmailStatus::Failed),
        EmailEventKind::Delayed | EmailEventKind::Other => None,
    };
    let Some(status) = status else {
        finish(
            svc,
            &mut event,
            EventStatus::Ignored,
            None,
            Some("event kind is recorded only".into()),
        )
        .await?;
        return Ok(Applied::Ignored);
    };
    let Some((org, id)) = find(svc, event.provider, &ev).await? else {
        finish(
            svc,
            &mut event,
            EventStatus::Ignored,
            None,
            Some("not an email Switchboard sent".into()),
        )
        .await?;
        return Ok(Applied::Ignored);
    };
    let now = svc.clock.now();
    let reason = ev
        .reason
        .as_ref()
        .map(|r| r.chars().take(200).collect::<String>());
    let (e_pk, e_sk) = Email::key_of(&org, &id);
    let updated = update::<Email>(&*svc.store, &e_pk, &e_sk, |e| {
        e.advance(status, reason.clone(), now)
    })
    .await?;
    if let Some(email) = &updated {
        let suppress_reason = match ev.kind {
            EmailEventKind::Bounced { permanent: true } => Some("hard_bounce"),
            EmailEventKind::Complained => Some("complaint"),
            _ => None,
        };
        if let Some(why) = suppress_reason {
            let address = if ev.recipient.trim().is_empty() {
                email.to.as_str()
            } else {
                ev.recipient.as_str()
            };
            suppress(svc, &org, address, why, Some(&id)).await?;
        }
        info!(org_id = %org, email_id = %id, event = status.as_str(), now = email.status.as_str(), "email event applied");
    }
    finish(svc, &mut event, EventStatus::Processed, Some(org), None).await?;
    Ok(Applied::Applied(status))
}

/// Longest provider event id kept as a key.
const MAX_EVENT_ID: usize = 200;

/// Whether a provider's event id can serve as a store key.
pub fn valid_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_EVENT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// The stored form of one verified delivery event, under the provider's event id, in
/// the FIFO group of its email (Switchboard's id when echoed back, else the provider's).
pub fn stored_event(
    provider: Provider,
    key: String,
    ev: &EmailEvent,
    payload: String,
    received_at: chrono::DateTime<chrono::Utc>,
    correlation_id: Option<String>,
) -> WebhookEvent {
    let group_id = match (&ev.email_id, &ev.provider_message_id) {
        (Some(id), _) if EmailId::parse(id).is_ok() => format!("email:{id}"),
        (_, Some(pid)) => format!("{}:{pid}", provider.as_str()),
        _ => format!("{}:{key}", provider.as_str()),
    };
    WebhookEvent {
        provider,
        key,
        kind: match ev.kind {
            EmailEventKind::Sent => "sent",
            EmailEventKind::Delivered => "delivered",
            EmailEventKind::Delayed => "delayed",
            EmailEventKind::Bounced { permanent: true } => "bounced_hard",
            EmailEventKind::Bounced { permanent: false } => "bounced_soft",
            EmailEventKind::Complained => "complained",
            EmailEventKind::Opened => "opened",
            EmailEventKind::Clicked => "clicked",
            EmailEventKind::Failed => "failed",
            EmailEventKind::Other => "other",
        }
        .to_owned(),
        source_id: String::new(),
        phone_number_id: None,
        group_id,
        payload,
        status: EventStatus::Pending,
        org_id: None,
        note: None,
        received_at,
        updated_at: received_at,
        correlation_id,
        expires_at: None,
    }
}
