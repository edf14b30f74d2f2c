//! Sending stored emails: what `worker-email` does with a `send` message.
//!
//! An email is sent only while it is `queued`: a redelivered queue message, a second
//! message from the re-queue sweep or a redrive finds it `sent` (or `failed`,
//! `suppressed`) and does nothing. Emails of one batch go to the provider in as few
//! requests as it allows ([`EmailSender::max_batch`]). A permanent refusal (invalid
//! address, a 4xx) marks the email `failed` with the reason and is not retried; a
//! transient one leaves it `queued` and fails the queue message, which retries on the
//! shared schedule and, when that is spent, waits in the DLQ for a redrive.
//!
//! The window between the provider's acceptance and recording it is closed by the
//! provider where it can be: an email sent alone goes to Resend under its own id as the
//! idempotency key (kept 24 h), so a retry after a crash there returns the first
//! acceptance instead of a second email; a batch goes under a key derived from its ids,
//! which only an identical batch repeats. SendGrid and SMTP have no such key: an email
//! they accepted just before the worker died is sent again by the retry (see the
//! README's known limitations).

use serde_json::json;
use tracing::{info, warn};

use crate::email::{Accepted, EmailError, OutgoingEmail};
use crate::error::{Error, Result};
use crate::ids::{EmailId, OrgId};
use crate::privacy::mask_email;
use crate::record::{load, update};
use crate::services::Services;
use crate::store::{Condition, Item};

use super::{Email, EmailStatus, is_suppressed};

/// How long the provider-id look-up of an email is kept (events come within days).
const LOOKUP_DAYS: i64 = 30;

/// A `send` message of the email queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SendRef {
    /// The email.
    pub send: EmailId,
    /// Its org.
    pub org_id: OrgId,
}

/// Key of the look-up from a provider's message id to the email.
pub fn lookup_key(provider: &str, provider_id: &str) -> (String, String) {
    (
        format!("EMAILPROV#{provider}#{provider_id}"),
        "EMAIL".to_owned(),
    )
}

/// The email a provider id names: `(org, email id)`.
pub async fn by_provider_id(
    svc: &Services,
    provider: &str,
    provider_id: &str,
) -> Result<Option<(OrgId, EmailId)>> {
    let (pk, sk) = lookup_key(provider, provider_id);
    Ok(svc.store.get(&pk, &sk).await?.and_then(|i| {
        let org = OrgId::parse(i.data["org_id"].as_str()?).ok()?;
        let id = EmailId::parse(i.data["email_id"].as_str()?).ok()?;
        Some((org, id))
    }))
}

fn outgoing(svc: &Services, e: &Email) -> OutgoingEmail {
    OutgoingEmail {
        id: e.id.to_string(),
        org_id: e.org_id.to_string(),
        from_address: svc.mailer.from_address.clone(),
        from_name: e.from_name.clone().or_else(|| svc.mailer.from_name.clone()),
        reply_to: e.reply_to.clone(),
        to: e.to.clone(),
        subject: e.subject.clone(),
        html: e.html.clone(),
        text: e.text.clone(),
    }
}

/// Sends the emails the messages name; one result per message, in order (`Err` when
/// the message should be retried).
pub async fn send_all(svc: &Services, refs: &[SendRef]) -> Vec<Result<()>> {
    let mut results: Vec<Result<()>> = Vec::with_capacity(refs.len());
    let mut pending: Vec<(usize, Email)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, r) in refs.iter().enumerate() {
        results.push(Ok(()));
        // A second message for the same email (a re-queue) shares its FIFO group, so
        // it only ever meets the first in the same batch: one send covers both.
        if !seen.insert((&r.org_id, &r.send)) {
            continue;
        }
        match ready(svc, r).await {
            Ok(Some(e)) => pending.push((i, e)),
            Ok(None) => {}
            Err(e) => results[i] = Err(e),
        }
    }
    let max = svc.mailer.sender.max_batch().max(1);
    for chunk in pending.chunks(max) {
        let emails: Vec<OutgoingEmail> = chunk.iter().map(|(_, e)| outgoing(svc, e)).collect();
        let answers = if emails.len() == 1 {
            vec![svc.mailer.sender.send(&emails[0]).await]
        } else {
            svc.mailer.sender.send_batch(&emails).await
        };
        for ((i, email), answer) in chunk.iter().zip(answers) {
            results[*i] = record(svc, email, answer).await;
        }
    }
    results
}

/// The email if it is still to be sent; a suppressed address is recorded here too.
async fn ready(svc: &Services, r: &SendRef) -> Result<Option<Email>> {
    let (pk, sk) = Email::key_of(&r.org_id, &r.send);
    let Some(e) = load::<Email>(&*svc.store, &pk, &sk).await? else {
        return Ok(None);
    };
    let e = e.record;
    if e.status != EmailStatus::Queued {
        return Ok(None);
    }
    if is_suppressed(svc, &e.org_id, &e.to).await? {
        let now = svc.clock.now();
        update::<Email>(&*svc.store, &pk, &sk, |x| {
            x.status == EmailStatus::Queued
                && x.advance(
                    EmailStatus::Suppressed,
                    Some("suppressed_address".into()),
                    now,
                )
        })
        .await?;
        info!(org_id = %e.org_id, email_id = %e.id, "email not sent: the address was suppressed meanwhile");
        return Ok(None);
    }
    Ok(Some(e))
}

async fn record(svc: &Services, e: &Email, answer: Result<Accepted, EmailError>) -> Result<()> {
    let (pk, sk) = Email::key_of(&e.org_id, &e.id);
    let now = svc.clock.now();
    match answer {
        Ok(accepted) => {
            if let Some(pid) = &accepted.provider_id {
                let (lpk, lsk) = lookup_key(accepted.provider, pid);
                let lookup = Item::new(lpk, lsk, json!({"org_id": e.org_id, "email_id": e.id}))
                    .with_ttl((now + chrono::Duration::days(LOOKUP_DAYS)).timestamp());
                svc.store.put(lookup, Condition::Always).await?;
            }
            update::<Email>(&*svc.store, &pk, &sk, |x| {
                if x.status != EmailStatus::Queued {
                    // An event got here first (a fast `delivered`); keep it, fill the ids.
                    let fill = x.provider.is_none();
                    if fill {
                        x.provider = Some(accepted.provider.to_owned());
                        x.provider_id = accepted.provider_id.clone();
                    }
                    return fill;
                }
                x.provider = Some(accepted.provider.to_owned());
                x.provider_id = accepted.provider_id.clone();
                x.advance(EmailStatus::Sent, None, now)
            })
            .await?;
            svc.metrics
                .count(crate::metrics::Metric::EmailsSent, None, 1);
            info!(org_id = %e.org_id, email_id = %e.id, provider = accepted.provider, to = %mask_email(&e.to), "email sent");
            Ok(())
        }
        Err(err) if err.is_retryable() => {
            update::<Email>(&*svc.store, &pk, &sk, |x| {
                x.attempts += 1;
                x.updated_at = now;
                true
            })
            .await?;
            warn!(org_id = %e.org_id, email_id = %e.id, provider = svc.mailer.sender.name(), error = %err, "email provider failed; will retry");
            Err(match err {
                EmailError::NotConfigured(p) => Error::NotConfigured {
                    what: format!("the {p} email provider"),
                },
                other => Error::Provider {
                    code: "email_provider_unavailable",
                    message: other.to_string(),
                    retryable: true,
                },
            })
        }
        Err(err) => {
            let reason = match &err {
                EmailError::Rejected { status, message } => {
                    format!(
                        "rejected ({status}): {}",
                        message.chars().take(200).collect::<String>()
                    )
                }
                other => other.to_string(),
            };
            update::<Email>(&*svc.store, &pk, &sk, |x| {
                x.status == EmailStatus::Queued
                    && x.advance(EmailStatus::Failed, Some(reason.clone()), now)
            })
            .await?;
            svc.metrics
                .count(crate::metrics::Metric::EmailsFailed, None, 1);
            warn!(org_id = %e.org_id, email_id = %e.id, provider = svc.mailer.sender.name(), "the provider refused the email for good; not retrying");
            Ok(())
        }
    }
}
