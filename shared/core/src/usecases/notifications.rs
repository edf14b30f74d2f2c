//! Emails to the CRM's own users: billing notices to the org's owners and a note to an
//! agent when a conversation is assigned to them.
//!
//! - **Billing.** `customer.subscription.trial_will_end`, `invoice.payment_failed` and
//!   `customer.subscription.deleted` email the owners Switchboard has seen (their token's
//!   e-mail) and the org's billing address, once per Stripe event and address: the
//!   email's id derives from the event id, so a redelivered or retried event emails no
//!   one twice.
//! - **Assignment.** A conversation assigned to someone other than the person assigning
//!   it emails the assignee, at most once per conversation and person per [`ASSIGNMENT_QUIET_SECS`]:
//!   a marker that expires after that window is written in the same transaction as the
//!   email, only if absent. People turn these off with `PUT /v1/users/me/notifications`.
//!   A failure here never fails the assignment (it is logged).
//! - **Webhook endpoint disabled.** When Switchboard disables an endpoint that failed
//!   every delivery for days, the org's admins and owners with an address (else its
//!   billing recipients) are emailed once per endpoint and failing run
//!   ([`on_webhook_endpoint_disabled`]).

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::clock::rfc3339_millis;
use crate::error::{Error, Result};
use crate::ids::{OrgId, Role};
use crate::model::Conversation;
use crate::record::{Record, decode_all, item, load};
use crate::services::Services;
use crate::store::{Condition, Item, Query, SortKey, StoreError, Write};
use crate::usecases::email::{self, EmailKind, EmailSettings, Locale, NewEmail};
use crate::usecases::users::{SK_PREFIX, User};

/// Shortest time between two assignment emails about one conversation.
pub const ASSIGNMENT_QUIET_SECS: i64 = 15 * 60;

/// A user's notification preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationPrefs {
    /// Owner.
    pub org_id: OrgId,
    /// The user (token subject).
    pub user: String,
    /// Email me when a conversation is assigned to me.
    pub assignment_emails: bool,
    /// Last set.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl NotificationPrefs {
    fn key_of(org: &OrgId, user: &str) -> (String, String) {
        (User::pk(org), format!("PREFS#{user}"))
    }

    fn defaults(org: &OrgId, user: &str) -> Self {
        Self {
            org_id: org.clone(),
            user: user.to_owned(),
            assignment_emails: true,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({"assignment_emails": self.assignment_emails})
    }
}

impl Record for NotificationPrefs {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.user)
    }
}

/// A user's preferences (defaults when never set).
pub async fn prefs(svc: &Services, org: &OrgId, user: &str) -> Result<NotificationPrefs> {
    let (pk, sk) = NotificationPrefs::key_of(org, user);
    Ok(load::<NotificationPrefs>(&*svc.store, &pk, &sk)
        .await?
        .map(|v| v.record)
        .unwrap_or_else(|| NotificationPrefs::defaults(org, user)))
}

/// `PUT /v1/users/me/notifications`: `{assignment_emails: bool}`.
pub async fn put_prefs(
    svc: &Services,
    org: &OrgId,
    user: &str,
    body: &Value,
) -> Result<NotificationPrefs> {
    crate::usecases::triage::object_of_fields(body, &["assignment_emails"])?;
    let Some(on) = body["assignment_emails"].as_bool() else {
        return Err(Error::validation(
            "assignment_emails",
            "invalid_preference",
            "assignment_emails is true or false",
        ));
    };
    let p = NotificationPrefs {
        org_id: org.clone(),
        user: user.to_owned(),
        assignment_emails: on,
        updated_at: svc.clock.now(),
    };
    svc.store.put(item(&p, 1)?, Condition::Always).await?;
    Ok(p)
}

fn org_name(svc: &Services, org: &OrgId, s: &EmailSettings) -> String {
    s.from_name
        .clone()
        .or_else(|| svc.mailer.from_name.clone())
        .unwrap_or_else(|| org.to_string())
}

/// The addresses billing notices go to: the org's billing email and its owners'.
pub async fn billing_recipients(
    svc: &Services,
    org: &OrgId,
    s: &EmailSettings,
) -> Result<Vec<String>> {
    let mut out: Vec<String> = s.billing_email.iter().cloned().collect();
    for u in everyone(svc, org).await? {
        if u.role == Role::Owner
            && let Some(e) = u.email.as_deref().filter(|e| email::valid_address(e))
        {
            let e = email::normalise(e);
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

fn money(amount: Option<i64>, currency: Option<&str>) -> Option<String> {
    let (amount, currency) = (amount?, currency?);
    Some(format!(
        "{} {}.{:02}",
        currency.to_ascii_uppercase(),
        amount / 100,
        (amount % 100).abs()
    ))
}

/// Emails the org's billing recipients about a Stripe event (`kind`, `event_id`, the
/// event's object). Other kinds do nothing. Returns how many emails were queued.
pub async fn on_billing_event(
    svc: &Services,
    org: &OrgId,
    kind: &str,
    event_id: &str,
    object: &Value,
) -> Result<usize> {
    let emails_kind = match kind {
        "customer.subscription.trial_will_end" => EmailKind::TrialEnding,
        "invoice.payment_failed" => EmailKind::PaymentFailed,
        "customer.subscription.deleted" => EmailKind::SubscriptionCancelled,
        _ => return Ok(0),
    };
    let settings = email::settings(svc, org).await?;
    let recipients = billing_recipients(svc, org, &settings).await?;
    if recipients.is_empty() {
        info!(org_id = %org, kind, "no billing address known for the org; no notice sent");
        return Ok(0);
    }
    let name = org_name(svc, org, &settings);
    let locale = Locale::from_tag(settings.locale.as_deref());
    let billing_url = svc.mailer.link("settings/billing");
    let trial_end = object
        .get("trial_end")
        .and_then(Value::as_i64)
        .and_then(|t| Utc.timestamp_opt(t, 0).single())
        .unwrap_or_else(|| svc.clock.now() + chrono::Duration::days(3))
        .with_timezone(&chrono_tz::UTC);
    let amount = money(
        object.get("amount_due").and_then(Value::as_i64),
        object.get("currency").and_then(Value::as_str),
    );
    use switchboard_email_templates::Email as Template;
    let template = match emails_kind {
        EmailKind::TrialEnding => Template::TrialEnding {
            org_name: &name,
            trial_end,
            billing_url: billing_url.as_deref(),
        },
        EmailKind::PaymentFailed => Template::PaymentFailed {
            org_name: &name,
            amount: amount.as_deref(),
            billing_url: billing_url.as_deref(),
        },
        _ => Template::SubscriptionCancelled {
            org_name: &name,
            billing_url: billing_url.as_deref(),
        },
    };
    let rendered = switchboard_email_templates::render(&template, locale)
        .map_err(|e| Error::Internal(format!("billing email does not render: {e}")))?;
    let cause = format!("billing:{event_id}");
    let mut queued = 0;
    for to in &recipients {
        let q = email::queue_email(
            svc,
            NewEmail {
                org,
                kind: emails_kind,
                cause: &cause,
                to,
                rendered: rendered.clone(),
                settings: &settings,
            },
        )
        .await?;
        if matches!(q, email::Queued::Queued(_)) {
            queued += 1;
        }
    }
    info!(org_id = %org, kind, recipients = recipients.len(), queued, "billing notice emailed");
    Ok(queued)
}

/// Emails the assignee of a conversation (see the module doc). Never fails the caller:
/// problems are logged.
pub async fn on_assigned(svc: &Services, c: &Conversation, assignee: &str, by: Option<&str>) {
    if by == Some(assignee) {
        return;
    }
    if let Err(e) = assigned(svc, c, assignee).await {
        warn!(org_id = %c.org_id, conversation_id = %c.id, error = %e, "could not email the assignee");
    }
}

/// Emails the people who should pick up a conversation AI handed to a person: its
/// previous assignee, or, when it had none, the org's admins and owners. Each goes
/// through the assignment email (and its quiet window and preferences). Never fails the
/// caller: problems are logged.
pub async fn on_handoff(svc: &Services, c: &Conversation, previous: Option<&str>) {
    let recipients = match previous {
        Some(user) => Ok(vec![user.to_owned()]),
        None => admins(svc, &c.org_id).await,
    };
    let recipients = match recipients {
        Ok(r) => r,
        Err(e) => {
            warn!(org_id = %c.org_id, conversation_id = %c.id, error = %e, "could not find whom to tell of a handoff");
            return;
        }
    };
    for user in recipients {
        if let Err(e) = assigned(svc, c, &user).await {
            warn!(org_id = %c.org_id, conversation_id = %c.id, error = %e, "could not email a handoff");
        }
    }
}

/// The org's admins and owners Switchboard has seen.
async fn admins(svc: &Services, org: &OrgId) -> Result<Vec<String>> {
    Ok(everyone(svc, org)
        .await?
        .into_iter()
        .filter(|u| matches!(u.role, Role::Admin | Role::Owner))
        .map(|u| u.id)
        .collect())
}

/// Every person of the org Switchboard has seen through the API.
async fn everyone(svc: &Services, org: &OrgId) -> Result<Vec<User>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::table(User::pk(org))
                    .sort(SortKey::BeginsWith(SK_PREFIX.to_owned()))
                    .limit(100)
                    .after(after),
            )
            .await?;
        out.extend(decode_all::<User>(&page.items)?);
        after = page.next;
        if after.is_none() {
            return Ok(out);
        }
    }
}

async fn assigned(svc: &Services, c: &Conversation, assignee: &str) -> Result<()> {
    let org = &c.org_id;
    if !prefs(svc, org, assignee).await?.assignment_emails {
        return Ok(());
    }
    let (u_pk, u_sk) = User::key_of(org, assignee);
    let Some(user) = load::<User>(&*svc.store, &u_pk, &u_sk).await? else {
        return Ok(());
    };
    let Some(to) = user.record.email.filter(|e| email::valid_address(e)) else {
        return Ok(());
    };
    let assignee_name = user.record.name;
    if email::is_suppressed(svc, org, &to).await? {
        return Ok(());
    }
    let settings = email::settings(svc, org).await?;
    let name = org_name(svc, org, &settings);
    let url = svc.mailer.link(&format!("conversations/{}", c.id));
    let rendered = switchboard_email_templates::render(
        &switchboard_email_templates::Email::ConversationAssigned {
            org_name: &name,
            assignee_name: assignee_name.as_deref(),
            contact_name: c.contact_name.as_deref().unwrap_or(""),
            conversation_url: url.as_deref(),
        },
        Locale::from_tag(settings.locale.as_deref()),
    )
    .map_err(|e| Error::Internal(format!("assignment email does not render: {e}")))?;
    let now = svc.clock.now();
    let cause = format!("assigned:{}:{}", c.id, now.timestamp_millis());
    let record = email::build(
        svc,
        NewEmail {
            org,
            kind: EmailKind::ConversationAssigned,
            cause: &cause,
            to: &to,
            rendered,
            settings: &settings,
        },
        false,
    )?;
    // The quiet-window marker: absent once expired, for conditions too.
    let marker = Item::new(
        format!("ORG#{org}#NOTIFIED"),
        format!("assigned#{}#{assignee}", c.id),
        json!({"email_id": record.id}),
    )
    .with_version(1)
    .with_ttl(now.timestamp() + ASSIGNMENT_QUIET_SECS);
    match svc
        .store
        .transact(vec![
            Write::put(marker, Condition::NotExists),
            Write::put(item(&record, 1)?, Condition::NotExists),
        ])
        .await
    {
        Ok(()) => {
            if let Err(e) = email::enqueue(svc, &record).await {
                warn!(email_id = %record.id, error = %e, "could not queue an assignment email; the re-queue sweep will");
            }
            Ok(())
        }
        Err(StoreError::ConditionFailed { .. }) => {
            info!(org_id = %org, conversation_id = %c.id, "assignment email skipped: one went out within the quiet window");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Tells the org's admins that Switchboard disabled one of its webhook endpoints after
/// it failed every delivery for days: an email to each of the org's admins and owners
/// Switchboard has seen with an address (suppressed ones left out), or, when there is
/// none, to its billing recipients. The email names the endpoint by [`endpoint_label`],
/// never by its whole URL. Its cause is the endpoint and the start of the failing run
/// that disabled it, so a retried worker emails no one twice, while an endpoint enabled
/// again and disabled again later is told of again. Never fails the caller: problems are
/// logged (without addresses or URLs).
pub async fn on_webhook_endpoint_disabled(
    svc: &Services,
    endpoint: &crate::usecases::webhooks_out::Endpoint,
) {
    match webhook_endpoint_disabled(svc, endpoint).await {
        Ok(queued) => {
            info!(org_id = %endpoint.org_id, endpoint_id = %endpoint.id, queued, "admins told of a disabled webhook endpoint");
        }
        Err(e) => {
            warn!(org_id = %endpoint.org_id, endpoint_id = %endpoint.id, error = %e, "could not tell the admins of a disabled webhook endpoint");
        }
    }
}

/// How an email names a webhook endpoint: its description, or else its URL's scheme and
/// host (no user info, port, path or query: those can hold a token), or else its id.
fn endpoint_label(endpoint: &crate::usecases::webhooks_out::Endpoint) -> String {
    if let Some(description) = endpoint
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        return description.to_owned();
    }
    url::Url::parse(&endpoint.url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .filter(|h| !h.is_empty())
                .map(|h| format!("{}://{h}", u.scheme()))
        })
        .unwrap_or_else(|| endpoint.id.clone())
}

/// Whom [`on_webhook_endpoint_disabled`] emails (normalised, none suppressed).
async fn webhook_notice_recipients(
    svc: &Services,
    org: &OrgId,
    settings: &EmailSettings,
) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for user in everyone(svc, org).await? {
        if !matches!(user.role, Role::Admin | Role::Owner) {
            continue;
        }
        let Some(to) = user.email.as_deref().filter(|e| email::valid_address(e)) else {
            continue;
        };
        let to = email::normalise(to);
        if !out.contains(&to) && !email::is_suppressed(svc, org, &to).await? {
            out.push(to);
        }
    }
    if out.is_empty() {
        for to in billing_recipients(svc, org, settings).await? {
            if !email::is_suppressed(svc, org, &to).await? {
                out.push(to);
            }
        }
    }
    Ok(out)
}

async fn webhook_endpoint_disabled(
    svc: &Services,
    endpoint: &crate::usecases::webhooks_out::Endpoint,
) -> Result<usize> {
    let org = &endpoint.org_id;
    let settings = email::settings(svc, org).await?;
    let recipients = webhook_notice_recipients(svc, org, &settings).await?;
    if recipients.is_empty() {
        info!(org_id = %org, endpoint_id = %endpoint.id, "no address known for the org's admins; no webhook notice sent");
        return Ok(0);
    }
    // Set whenever Switchboard disables an endpoint; the last change otherwise.
    let failing_since = endpoint.failing_since.unwrap_or(endpoint.updated_at);
    let name = org_name(svc, org, &settings);
    let label = endpoint_label(endpoint);
    let settings_url = svc.mailer.link("settings/webhooks");
    let rendered = switchboard_email_templates::render(
        &switchboard_email_templates::Email::WebhookEndpointDisabled {
            org_name: &name,
            endpoint: &label,
            failing_since: failing_since.with_timezone(&chrono_tz::UTC),
            settings_url: settings_url.as_deref(),
        },
        Locale::from_tag(settings.locale.as_deref()),
    )
    .map_err(|e| Error::Internal(format!("webhook notice does not render: {e}")))?;
    let cause = format!(
        "webhook_disabled:{}:{}",
        endpoint.id,
        failing_since.timestamp_millis()
    );
    let mut queued = 0;
    for to in &recipients {
        let result = email::queue_email(
            svc,
            NewEmail {
                org,
                kind: EmailKind::WebhookEndpointDisabled,
                cause: &cause,
                to,
                rendered: rendered.clone(),
                settings: &settings,
            },
        )
        .await;
        match result {
            Ok(email::Queued::Queued(_)) => queued += 1,
            Ok(email::Queued::Duplicate(_) | email::Queued::Suppressed(_)) => {}
            Err(e) => {
                warn!(org_id = %org, endpoint_id = %endpoint.id, error = %e, "could not queue a webhook notice to one of the org's admins");
            }
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use crate::ids::OrgId;
    use crate::usecases::webhooks_out::Endpoint;

    fn endpoint(url: &str, description: Option<&str>) -> Endpoint {
        let now = chrono::Utc::now();
        Endpoint {
            id: "we_0123456789abcdef0123456789abcdef".into(),
            org_id: OrgId::parse("acme").unwrap(),
            url: url.into(),
            description: description.map(str::to_owned),
            events: Vec::new(),
            disabled: true,
            disabled_reason: Some("failing".into()),
            secrets: Vec::new(),
            failing_since: Some(now),
            last_success_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn an_endpoint_is_named_without_its_path_or_query() {
        let label = |url: &str, description: Option<&str>| {
            super::endpoint_label(&endpoint(url, description))
        };
        assert_eq!(
            label("https://hooks.example.com/t/s3cr3t?token=abc", None),
            "https://hooks.example.com"
        );
        assert_eq!(
            label("https://user:pw@Hooks.Example.com:8443/x#frag", None),
            "https://hooks.example.com"
        );
        assert_eq!(
            label("https://hooks.example.com/t/s3cr3t", Some("  Order sync ")),
            "Order sync"
        );
        assert_eq!(
            label("https://hooks.example.com/t/s3cr3t", Some("  ")),
            "https://hooks.example.com"
        );
        assert_eq!(
            label("not a url", None),
            "we_0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn money_is_formatted_from_minor_units() {
        assert_eq!(
            super::money(Some(4900), Some("eur")).as_deref(),
            Some("EUR 49.00")
        );
        assert_eq!(
            super::money(Some(5), Some("usd")).as_deref(),
            Some("USD 0.05")
        );
        assert_eq!(super::money(None, Some("usd")), None);
    }
}
