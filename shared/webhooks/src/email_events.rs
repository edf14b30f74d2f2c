//! Email delivery events from Resend and SendGrid, normalised into one [`EmailEvent`].
//!
//! The core tracks an email's fate (sent, delivered, bounced, complained …) the same
//! way whichever provider carried it, so each provider's webhook body is mapped here onto
//! one small type:
//!
//! - Resend (Standard Webhooks, verified by [`crate::standard`]) posts one event per
//!   delivery: `{"type":"email.delivered","created_at":"<RFC 3339>","data":{…}}`. Its
//!   event id is the `webhook-id` / `svix-id` header, which the caller copies into
//!   [`EmailEvent::event_id`]. Tags the email was sent with come back in `data.tags`, as
//!   an object (`{"org_id":"…"}`, what Resend's webhook payloads carry today) or as the
//!   send API's list of `{"name":…,"value":…}`; both are read.
//! - SendGrid (verified by [`crate::sendgrid`]) posts a JSON array of events, each with
//!   `event`, `email`, `timestamp` (Unix seconds), `sg_event_id` and `sg_message_id`;
//!   the custom args the email was sent with arrive as top-level keys of each event.
//!
//! Switchboard sends with two tags / custom args, [`EMAIL_ID_TAG`] and [`ORG_ID_TAG`],
//! so an event can be tied back to the stored email and its org without a lookup by
//! provider id.
//!
//! Parsing is strict about the envelope (what identifies and dates an event) and lenient
//! about the rest: an unknown event type is [`EmailEventKind::Other`], not an error, and
//! a tag of an unexpected shape is simply absent. Errors are the crate's
//! [`PayloadError`], so callers answer them with the same 400 as Meta's.

use serde::Deserialize;
use serde_json::Value;

pub use crate::meta::PayloadError;
use crate::meta::parse_envelope;

/// [`EmailEvent::provider`] for Resend.
pub const RESEND: &str = "resend";
/// [`EmailEvent::provider`] for SendGrid.
pub const SENDGRID: &str = "sendgrid";

/// Tag (Resend) / custom arg (SendGrid) carrying Switchboard's own email id.
pub const EMAIL_ID_TAG: &str = "switchboard_email_id";
/// Tag / custom arg carrying the org the email was sent for.
pub const ORG_ID_TAG: &str = "org_id";

/// What happened to an email, in terms both providers can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailEventKind {
    /// The provider accepted the email and will try to deliver it.
    Sent,
    /// The receiving server accepted the email.
    Delivered,
    /// Delivery was deferred; the provider keeps trying.
    Delayed,
    /// The receiving server refused the email. `permanent` bounces (unknown mailbox,
    /// hard refusals) should suppress the address; others (blocks, full mailboxes) may
    /// clear by themselves.
    Bounced {
        /// Whether the bounce is permanent (hard).
        permanent: bool,
    },
    /// The recipient marked the email as spam.
    Complained,
    /// The recipient opened the email (pixel-based: a hint, not a fact).
    Opened,
    /// The recipient clicked a tracked link.
    Clicked,
    /// The provider gave up without a bounce (SendGrid `dropped`, Resend `email.failed`).
    Failed,
    /// Anything else (unsubscribes, scheduling, account and domain events …): stored,
    /// acknowledged and otherwise ignored.
    Other,
}

/// One delivery event, whichever provider sent it.
///
/// `Debug` masks the recipient (`a***@example.org`) and prints only the length of the
/// reason, which often quotes the address: both are personal data and `Debug` output
/// ends up in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailEvent {
    /// [`RESEND`] or [`SENDGRID`].
    pub provider: &'static str,
    /// Unique id of this event when the body carries one (SendGrid `sg_event_id`).
    /// Resend's is the `webhook-id` header: [`parse_resend`] leaves this `None` and the
    /// caller fills it in.
    pub event_id: Option<String>,
    /// The provider's id of the email: Resend `data.email_id`; SendGrid `sg_message_id`
    /// cut before its first `.`, which is the `X-Message-Id` its send API returned.
    pub provider_message_id: Option<String>,
    /// Switchboard's id of the email, echoed back as the [`EMAIL_ID_TAG`] tag / custom arg.
    pub email_id: Option<String>,
    /// The org, echoed back as the [`ORG_ID_TAG`] tag / custom arg.
    pub org_id: Option<String>,
    /// What happened.
    pub kind: EmailEventKind,
    /// The address the event is about; empty for events about no address (account or
    /// domain events).
    pub recipient: String,
    /// When it happened, Unix seconds.
    pub occurred_at_unix: i64,
    /// Bounce, drop or failure reason text, when the provider gives one.
    pub reason: Option<String>,
}

impl std::fmt::Debug for EmailEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailEvent")
            .field("provider", &self.provider)
            .field("event_id", &self.event_id)
            .field("provider_message_id", &self.provider_message_id)
            .field("email_id", &self.email_id)
            .field("org_id", &self.org_id)
            .field("kind", &self.kind)
            .field("recipient", &mask_address(&self.recipient))
            .field("occurred_at_unix", &self.occurred_at_unix)
            .field("reason_bytes", &self.reason.as_ref().map(String::len))
            .finish()
    }
}

/// `a***@example.org`: the first character of the local part and the domain (the same
/// masking the core's logs use); `***` for anything without both.
fn mask_address(address: &str) -> String {
    match address.trim().rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ if address.is_empty() => String::new(),
        _ => "***".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Resend

#[derive(Deserialize)]
struct ResendEnvelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    created_at: Option<String>,
    data: ResendData,
}

#[derive(Deserialize)]
struct ResendData {
    #[serde(default)]
    email_id: Option<String>,
    /// When the email (not the event) was created: the fallback date only.
    #[serde(default)]
    created_at: Option<String>,
    /// A list of addresses (a lone string is accepted too).
    #[serde(default)]
    to: Value,
    /// Contact and suppression events name their address here instead.
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    bounce: Option<ResendBounce>,
    #[serde(default)]
    failed: Option<ResendFailed>,
    #[serde(default)]
    suppressed: Option<ResendSuppressed>,
    #[serde(default)]
    tags: Value,
}

#[derive(Deserialize)]
struct ResendBounce {
    /// `Permanent`, `Transient` or `Undetermined` (SES's bounce types, which Resend
    /// passes on).
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct ResendFailed {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct ResendSuppressed {
    #[serde(default)]
    message: Option<String>,
}

/// Parses one Resend webhook body (already verified).
///
/// `type` and `data` are required, and a date: the top-level `created_at` (when the
/// event happened) or, failing that, `data.created_at`. [`EmailEvent::event_id`] is
/// left `None`: Resend's event id is the `webhook-id` header, which the caller has.
pub fn parse_resend(body: &[u8]) -> Result<EmailEvent, PayloadError> {
    let envelope: ResendEnvelope = parse_envelope(body)?;
    let data = envelope.data;
    let date = envelope
        .created_at
        .or(data.created_at)
        .ok_or_else(|| PayloadError::NotEnvelope("missing created_at".to_owned()))?;
    let occurred_at_unix = rfc3339_to_unix(&date)
        .ok_or_else(|| PayloadError::NotEnvelope("created_at is not an RFC 3339 date".into()))?;
    let kind = match envelope.kind.as_str() {
        "email.sent" => EmailEventKind::Sent,
        "email.delivered" => EmailEventKind::Delivered,
        "email.delivery_delayed" => EmailEventKind::Delayed,
        // A bounce without a type is taken as permanent: suppressing an address once
        // too often costs less than mailing a dead one again and hurting reputation.
        "email.bounced" => EmailEventKind::Bounced {
            permanent: data
                .bounce
                .as_ref()
                .and_then(|b| b.kind.as_deref())
                .is_none_or(|t| t.eq_ignore_ascii_case("permanent")),
        },
        "email.complained" => EmailEventKind::Complained,
        "email.opened" => EmailEventKind::Opened,
        "email.clicked" => EmailEventKind::Clicked,
        "email.failed" => EmailEventKind::Failed,
        _ => EmailEventKind::Other,
    };
    let recipient = first_address(&data.to).or(data.email).unwrap_or_default();
    let reason = data
        .bounce
        .and_then(|b| b.message)
        .or_else(|| data.failed.and_then(|f| f.reason))
        .or_else(|| data.suppressed.and_then(|s| s.message));
    Ok(EmailEvent {
        provider: RESEND,
        event_id: None,
        provider_message_id: non_empty(data.email_id),
        email_id: resend_tag(&data.tags, EMAIL_ID_TAG),
        org_id: resend_tag(&data.tags, ORG_ID_TAG),
        kind,
        recipient,
        occurred_at_unix,
        reason: non_empty(reason),
    })
}

/// The first address of `data.to`: a list of strings, or a lone string.
fn first_address(to: &Value) -> Option<String> {
    match to {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => list.iter().find_map(|v| v.as_str().map(str::to_owned)),
        _ => None,
    }
}

/// A tag's value from `data.tags`, as an object (`{"name":"value"}`) or as the send
/// API's list (`[{"name":…,"value":…}]`).
fn resend_tag(tags: &Value, name: &str) -> Option<String> {
    let value = match tags {
        Value::Object(map) => map.get(name),
        Value::Array(list) => list.iter().find_map(|tag| {
            (tag.get("name")?.as_str()? == name)
                .then(|| tag.get("value"))
                .flatten()
        }),
        _ => None,
    }?;
    scalar_text(value)
}

// ---------------------------------------------------------------------------------------
// SendGrid

#[derive(Deserialize)]
struct SendGridEvent {
    event: String,
    timestamp: i64,
    /// Absent from account events (`account_status_change`).
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    sg_event_id: Option<String>,
    #[serde(default)]
    sg_message_id: Option<String>,
    /// For `bounce`: `bounce` (hard) or `blocked` (soft).
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// For `bounce` and `dropped`.
    #[serde(default)]
    reason: Option<String>,
    /// The receiving server's answer, for `delivered` and `deferred`.
    #[serde(default)]
    response: Option<String>,
    // Custom args are top-level keys. They are strings when set through the v3 API, but
    // are read leniently (numbers too, anything else ignored) so a stray type in one
    // event cannot make SendGrid retry the whole batch.
    #[serde(default)]
    switchboard_email_id: Option<Value>,
    #[serde(default)]
    org_id: Option<Value>,
}

/// Parses a SendGrid Event Webhook body (already verified): a JSON array of events.
///
/// Each event needs `event` and `timestamp`; an element that is not an object, or lacks
/// them, fails the whole body, since it is not what SendGrid sends. An empty array is
/// an empty batch.
pub fn parse_sendgrid(body: &[u8]) -> Result<Vec<EmailEvent>, PayloadError> {
    let events: Vec<SendGridEvent> = parse_envelope(body)?;
    Ok(events.into_iter().map(sendgrid_event).collect())
}

fn sendgrid_event(e: SendGridEvent) -> EmailEvent {
    let kind = match e.event.as_str() {
        "processed" => EmailEventKind::Sent,
        "delivered" => EmailEventKind::Delivered,
        "deferred" => EmailEventKind::Delayed,
        // SendGrid reports soft bounces as `bounce` with type `blocked`; anything else
        // (type `bounce`, or none) is a hard bounce.
        "bounce" => EmailEventKind::Bounced {
            permanent: e.kind.as_deref() != Some("blocked"),
        },
        "dropped" => EmailEventKind::Failed,
        "spamreport" => EmailEventKind::Complained,
        "open" => EmailEventKind::Opened,
        "click" => EmailEventKind::Clicked,
        _ => EmailEventKind::Other,
    };
    // A deferral has no `reason`, but its `response` is why; a delivery's `response`
    // ("250 OK") is not a reason.
    let reason = match kind {
        EmailEventKind::Delayed => e.reason.or(e.response),
        _ => e.reason,
    };
    EmailEvent {
        provider: SENDGRID,
        event_id: non_empty(e.sg_event_id),
        provider_message_id: e
            .sg_message_id
            .as_deref()
            .and_then(|id| id.split('.').next())
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        email_id: e.switchboard_email_id.as_ref().and_then(scalar_text),
        org_id: e.org_id.as_ref().and_then(scalar_text),
        kind,
        recipient: e.email.unwrap_or_default(),
        occurred_at_unix: e.timestamp,
        reason: non_empty(reason),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A tag / custom arg as text: strings as they are, numbers as written; anything else
/// (null, bool, object, list) or an empty string is no value.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// Unix seconds of an RFC 3339 date-time (`2024-11-22T23:41:12.126Z`,
/// `2024-11-22T23:41:11.894719+00:00`); a fraction of a second is dropped.
///
/// Written out rather than pulled from a date crate: it is the only date this crate
/// reads, and the grammar is small. `T`, `t` or a space separates date and time (RFC
/// 3339 §5.6 allows the space); the offset is `Z`, `z` or `±HH:MM`; a leap second (`:60`)
/// counts as the next second. Anything else, including impossible dates, is `None`.
pub(crate) fn rfc3339_to_unix(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut rest = b.get(19..)?;
    if let Some((b'.', fraction)) = rest.split_first() {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset_secs = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (oh, om) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`: count from 0000-03-01 so the leap day ends each year, in 400-year
/// eras of 146,097 days).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Shaped after Resend's webhook documentation and its Node SDK's payload types
    // (resend/resend-node, src/webhooks/interfaces/webhook-event.interface.ts).
    const RESEND_BOUNCED: &str = r#"{
      "type": "email.bounced",
      "created_at": "2024-11-22T23:41:12.126Z",
      "data": {
        "broadcast_id": "8b146471-e88e-4322-86af-016cd36fd216",
        "created_at": "2024-11-22T23:41:11.894719+00:00",
        "email_id": "56761188-7520-42d8-8898-ff6fc54ce618",
        "from": "Acme <onboarding@resend.dev>",
        "to": ["delivered@resend.dev"],
        "subject": "Sending this example",
        "bounce": {
          "diagnosticCode": ["smtp; 550 5.5.0 Requested action not taken: mailbox unavailable"],
          "message": "The recipient's email address is on the suppression list because it has a recent history of producing hard bounces.",
          "subType": "Suppressed",
          "type": "Permanent"
        },
        "tags": {
          "switchboard_email_id": "em_01JD2X8Q",
          "org_id": "org_42"
        }
      }
    }"#;

    fn resend(kind: &str, extra: &str) -> String {
        format!(
            r#"{{"type":"{kind}","created_at":"2024-11-22T23:41:12.126Z","data":{{"created_at":"2024-11-22T23:41:11.894719+00:00","email_id":"56761188-7520-42d8-8898-ff6fc54ce618","from":"Acme <onboarding@resend.dev>","to":["ana@example.com"],"subject":"Your appointment"{extra}}}}}"#
        )
    }

    #[test]
    fn resend_bounced_documented_shape() {
        let event = parse_resend(RESEND_BOUNCED.as_bytes()).unwrap();
        assert_eq!(
            event,
            EmailEvent {
                provider: RESEND,
                event_id: None,
                provider_message_id: Some("56761188-7520-42d8-8898-ff6fc54ce618".into()),
                email_id: Some("em_01JD2X8Q".into()),
                org_id: Some("org_42".into()),
                kind: EmailEventKind::Bounced { permanent: true },
                recipient: "delivered@resend.dev".into(),
                occurred_at_unix: 1_732_318_872,
                reason: Some("The recipient's email address is on the suppression list because it has a recent history of producing hard bounces.".into()),
            }
        );
    }

    #[test]
    fn resend_every_type_maps() {
        let cases = [
            ("email.sent", EmailEventKind::Sent),
            ("email.delivered", EmailEventKind::Delivered),
            ("email.delivery_delayed", EmailEventKind::Delayed),
            ("email.complained", EmailEventKind::Complained),
            ("email.opened", EmailEventKind::Opened),
            ("email.clicked", EmailEventKind::Clicked),
            ("email.failed", EmailEventKind::Failed),
            ("email.scheduled", EmailEventKind::Other),
            ("email.suppressed", EmailEventKind::Other),
            ("email.received", EmailEventKind::Other),
            ("something.new", EmailEventKind::Other),
        ];
        for (kind, expected) in cases {
            let event = parse_resend(resend(kind, "").as_bytes()).unwrap();
            assert_eq!(event.kind, expected, "{kind}");
            assert_eq!(event.recipient, "ana@example.com");
            assert_eq!(event.occurred_at_unix, 1_732_318_872);
            assert_eq!(event.email_id, None);
        }
    }

    #[test]
    fn resend_bounce_types() {
        let bounce = |json: &str| {
            parse_resend(resend("email.bounced", json).as_bytes())
                .unwrap()
                .kind
        };
        assert_eq!(
            bounce(
                r#","bounce":{"message":"Mailbox full","subType":"MailboxFull","type":"Transient"}"#
            ),
            EmailEventKind::Bounced { permanent: false }
        );
        assert_eq!(
            bounce(r#","bounce":{"message":"x","subType":"General","type":"Undetermined"}"#),
            EmailEventKind::Bounced { permanent: false }
        );
        assert_eq!(
            bounce(r#","bounce":{"type":"Permanent"}"#),
            EmailEventKind::Bounced { permanent: true }
        );
        // No type, or no bounce object at all: permanent.
        assert_eq!(
            bounce(r#","bounce":{"message":"?"}"#),
            EmailEventKind::Bounced { permanent: true }
        );
        assert_eq!(bounce(""), EmailEventKind::Bounced { permanent: true });
    }

    #[test]
    fn resend_failed_and_suppressed_reasons() {
        let failed = parse_resend(
            resend(
                "email.failed",
                r#","failed":{"reason":"reached_daily_quota"}"#,
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(failed.kind, EmailEventKind::Failed);
        assert_eq!(failed.reason.as_deref(), Some("reached_daily_quota"));
        let suppressed = parse_resend(
            resend(
                "email.suppressed",
                r#","suppressed":{"message":"On the suppression list","type":"OnAccountSuppressionList"}"#,
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            suppressed.reason.as_deref(),
            Some("On the suppression list")
        );
        let delivered = parse_resend(resend("email.delivered", "").as_bytes()).unwrap();
        assert_eq!(delivered.reason, None);
    }

    #[test]
    fn resend_tags_as_object_or_list() {
        let object = parse_resend(
            resend(
                "email.delivered",
                r#","tags":{"category":"reminder","switchboard_email_id":"em_1","org_id":"org_9"}"#,
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(object.email_id.as_deref(), Some("em_1"));
        assert_eq!(object.org_id.as_deref(), Some("org_9"));
        let list = parse_resend(
            resend(
                "email.delivered",
                r#","tags":[{"name":"category","value":"reminder"},{"name":"org_id","value":"org_9"},{"name":"switchboard_email_id","value":"em_1"}]"#,
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(list.email_id.as_deref(), Some("em_1"));
        assert_eq!(list.org_id.as_deref(), Some("org_9"));
        // Odd shapes are no tag, not an error.
        for tags in [
            r#","tags":null"#,
            r#","tags":"org_id""#,
            r#","tags":{"org_id":null,"switchboard_email_id":{"x":1}}"#,
            r#","tags":[1,"a",{"name":1,"value":"x"},{"name":"org_id"}]"#,
            r#","tags":{"org_id":""}"#,
        ] {
            let event = parse_resend(resend("email.delivered", tags).as_bytes()).unwrap();
            assert_eq!((event.email_id, event.org_id), (None, None), "{tags}");
        }
    }

    #[test]
    fn resend_recipient_and_date_fallbacks() {
        // A lone string as `to`, and only data.created_at as a date.
        let body = br#"{"type":"email.sent","data":{"email_id":"e1","created_at":"2024-01-01T00:00:00+01:00","to":"ana@example.com"}}"#;
        let event = parse_resend(body).unwrap();
        assert_eq!(event.recipient, "ana@example.com");
        assert_eq!(event.occurred_at_unix, 1_704_063_600);
        // Contact events name their address in data.email.
        let body = br#"{"type":"contact.created","created_at":"2024-01-01T00:00:00Z","data":{"id":"c1","audience_id":"a1","email":"bo@example.com","unsubscribed":false}}"#;
        let event = parse_resend(body).unwrap();
        assert_eq!(event.kind, EmailEventKind::Other);
        assert_eq!(event.recipient, "bo@example.com");
        assert_eq!(event.provider_message_id, None);
        // Domain events name none.
        let body = br#"{"type":"domain.updated","created_at":"2024-01-01T00:00:00Z","data":{"id":"d1","name":"example.com","status":"verified"}}"#;
        assert_eq!(parse_resend(body).unwrap().recipient, "");
    }

    #[test]
    fn resend_malformed() {
        assert!(matches!(
            parse_resend(b"not json"),
            Err(PayloadError::NotJson(_))
        ));
        assert!(matches!(parse_resend(b""), Err(PayloadError::NotJson(_))));
        for body in [
            &b"[]"[..],
            b"{}",
            b"null",
            br#"{"type":"email.sent"}"#,
            br#"{"type":"email.sent","data":null,"created_at":"2024-01-01T00:00:00Z"}"#,
            br#"{"type":7,"data":{},"created_at":"2024-01-01T00:00:00Z"}"#,
            br#"{"data":{},"created_at":"2024-01-01T00:00:00Z"}"#,
            // No date anywhere, or not a date.
            br#"{"type":"email.sent","data":{"email_id":"e"}}"#,
            br#"{"type":"email.sent","created_at":"yesterday","data":{}}"#,
            br#"{"type":"email.sent","created_at":"2024-02-30T00:00:00Z","data":{}}"#,
            // Known fields of the wrong type.
            br#"{"type":"email.sent","created_at":"2024-01-01T00:00:00Z","data":{"email_id":5}}"#,
        ] {
            assert!(
                matches!(parse_resend(body), Err(PayloadError::NotEnvelope(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// A batch in the shape of SendGrid's Event Webhook reference: every event type,
    /// custom args as top-level keys, `category` as a string or a list, one hard and one
    /// soft bounce.
    const SENDGRID_BATCH: &str = r#"[
      {"email":"ana@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"processed","category":"cat facts","sg_event_id":"rbtnWrG1DVDGGGFHFyun0A==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","switchboard_email_id":"em_1","org_id":"org_42"},
      {"email":"ana@example.com","timestamp":1513299570,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"deferred","category":["reminder","org_42"],"sg_event_id":"t7LEShmowp86DTdUW8M-GQ==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","response":"400 try again later","attempt":"5","switchboard_email_id":"em_1","org_id":"org_42"},
      {"email":"ana@example.com","timestamp":1513299571,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"delivered","category":"cat facts","sg_event_id":"rWVYmVk90MjZJ9iohOBa3w==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","response":"250 OK","ip":"168.1.1.1","tls":1,"switchboard_email_id":"em_1","org_id":"org_42"},
      {"email":"ana@example.com","timestamp":1513299572,"event":"open","sg_machine_open":false,"category":"cat facts","sg_event_id":"FOTFFO0ecsBE-zxFXfs6WA==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","useragent":"Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)","ip":"255.255.255.255","switchboard_email_id":"em_1","org_id":"org_42"},
      {"email":"ana@example.com","timestamp":1513299573,"event":"click","category":"cat facts","sg_event_id":"kCAi1KttyQdEKHhdC-nuEA==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","useragent":"Mozilla/4.0","ip":"255.255.255.255","url":"http://www.sendgrid.com/","url_offset":{"index":0,"type":"html"},"switchboard_email_id":"em_1","org_id":"org_42"},
      {"email":"bo@example.net","timestamp":1513299574,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"bounce","category":"cat facts","sg_event_id":"6g4ZI7SA-xmRDv57GoPIPw==","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.filterdrecv-p3las1-5bf99c48d-2fxhb-18-5F3FA3A5-37.0","reason":"550 5.1.1 The email account that you tried to reach does not exist.","status":"5.1.1","type":"bounce","bounce_classification":"Invalid Address","tls":1,"switchboard_email_id":"em_2","org_id":"org_42"},
      {"email":"cy@example.org","timestamp":1513299575,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"bounce","category":"cat facts","sg_event_id":"OV1-8HPrIxQ9mI8ZxqHXlw==","sg_message_id":"Xy9kLmNoPqRsTuVwXyZ012.filterdrecv-p3las1-5bf99c48d-2fxhb-18-5F3FA3A5-38.0","reason":"421 4.7.0 Try again later, closing connection.","status":"4.7.0","type":"blocked","bounce_classification":"Reputation","switchboard_email_id":"em_3","org_id":"org_42"},
      {"email":"dee@example.com","timestamp":1513299576,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"dropped","category":"cat facts","sg_event_id":"zmzJhfJgAfUSOW80yEbPyw==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","reason":"Bounced Address","status":"5.0.0","switchboard_email_id":"em_4","org_id":"org_42"},
      {"email":"ana@example.com","timestamp":1513299577,"event":"spamreport","sg_event_id":"37nvH5QBz858KGVYCM4uOA==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","switchboard_email_id":"em_1","org_id":"org_42"},
      {"email":"ana@example.com","timestamp":1513299578,"event":"unsubscribe","category":"cat facts","sg_event_id":"zz_BjPgU_5pS-J8vlfB1sg==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
      {"email":"ana@example.com","timestamp":1513299579,"event":"group_unsubscribe","asm_group_id":10,"sg_event_id":"ahSCB7xYcXFb-hEaawsPRw==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","useragent":"Mozilla/4.0","ip":"255.255.255.255","url":"http://www.sendgrid.com/","switchboard_email_id":12345,"org_id":true}
    ]"#;

    #[test]
    fn sendgrid_batch_maps_every_event() {
        let events = parse_sendgrid(SENDGRID_BATCH.as_bytes()).unwrap();
        let kinds: Vec<EmailEventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EmailEventKind::Sent,
                EmailEventKind::Delayed,
                EmailEventKind::Delivered,
                EmailEventKind::Opened,
                EmailEventKind::Clicked,
                EmailEventKind::Bounced { permanent: true },
                EmailEventKind::Bounced { permanent: false },
                EmailEventKind::Failed,
                EmailEventKind::Complained,
                EmailEventKind::Other,
                EmailEventKind::Other,
            ]
        );
        assert!(events.iter().all(|e| e.provider == SENDGRID));
        assert_eq!(
            events
                .iter()
                .map(|e| e.occurred_at_unix)
                .collect::<Vec<_>>(),
            (1_513_299_569..=1_513_299_579).collect::<Vec<_>>()
        );

        let hard = &events[5];
        assert_eq!(
            *hard,
            EmailEvent {
                provider: SENDGRID,
                event_id: Some("6g4ZI7SA-xmRDv57GoPIPw==".into()),
                provider_message_id: Some("W86EgYT6SQKk0lRflfLRsA".into()),
                email_id: Some("em_2".into()),
                org_id: Some("org_42".into()),
                kind: EmailEventKind::Bounced { permanent: true },
                recipient: "bo@example.net".into(),
                occurred_at_unix: 1_513_299_574,
                reason: Some(
                    "550 5.1.1 The email account that you tried to reach does not exist.".into()
                ),
            }
        );
        let soft = &events[6];
        assert_eq!(soft.recipient, "cy@example.org");
        assert_eq!(
            soft.provider_message_id.as_deref(),
            Some("Xy9kLmNoPqRsTuVwXyZ012")
        );
        assert_eq!(
            soft.reason.as_deref(),
            Some("421 4.7.0 Try again later, closing connection.")
        );

        let processed = &events[0];
        assert_eq!(
            processed.event_id.as_deref(),
            Some("rbtnWrG1DVDGGGFHFyun0A==")
        );
        assert_eq!(
            processed.provider_message_id.as_deref(),
            Some("14c5d75ce93")
        );
        assert_eq!(processed.email_id.as_deref(), Some("em_1"));
        assert_eq!(processed.org_id.as_deref(), Some("org_42"));
        assert_eq!(processed.reason, None);
        // A deferral's reason is the server's response; a delivery's response is not one.
        assert_eq!(events[1].reason.as_deref(), Some("400 try again later"));
        assert_eq!(events[2].reason, None);
        assert_eq!(events[7].reason.as_deref(), Some("Bounced Address"));
        // No custom args; a numeric one is read as text, a boolean one is not read.
        assert_eq!(
            (events[9].email_id.clone(), events[9].org_id.clone()),
            (None, None)
        );
        assert_eq!(events[10].email_id.as_deref(), Some("12345"));
        assert_eq!(events[10].org_id, None);
    }

    #[test]
    fn sendgrid_edge_shapes() {
        assert_eq!(parse_sendgrid(b"[]").unwrap(), Vec::new());
        // An account event: no address, no message id.
        let body = br#"[{"event":"account_status_change","sg_event_id":"MjA4","timestamp":1709142428,"type":"compliance_suspend"}]"#;
        let events = parse_sendgrid(body).unwrap();
        assert_eq!(events[0].kind, EmailEventKind::Other);
        assert_eq!(events[0].recipient, "");
        assert_eq!(events[0].provider_message_id, None);
        // A bounce without `type` is hard; a message id without dots is kept whole.
        let body = br#"[{"email":"a@b.c","timestamp":1,"event":"bounce","sg_message_id":"abc","reason":""}]"#;
        let event = &parse_sendgrid(body).unwrap()[0];
        assert_eq!(event.kind, EmailEventKind::Bounced { permanent: true });
        assert_eq!(event.provider_message_id.as_deref(), Some("abc"));
        assert_eq!(event.reason, None);
        let body = br#"[{"email":"a@b.c","timestamp":1,"event":"processed","sg_message_id":".x"}]"#;
        assert_eq!(parse_sendgrid(body).unwrap()[0].provider_message_id, None);
    }

    #[test]
    fn sendgrid_malformed() {
        assert!(matches!(
            parse_sendgrid(b"not json"),
            Err(PayloadError::NotJson(_))
        ));
        assert!(matches!(
            parse_sendgrid(b"[{"),
            Err(PayloadError::NotJson(_))
        ));
        for body in [
            &b"{}"[..],
            b"null",
            br#"{"event":"delivered","timestamp":1}"#,
            b"[1]",
            b"[[]]",
            br#"[{"event":"delivered"}]"#,
            br#"[{"timestamp":1}]"#,
            br#"[{"event":"delivered","timestamp":"1513299569"}]"#,
            br#"[{"event":"delivered","timestamp":1.5}]"#,
            br#"[{"event":"delivered","timestamp":1},{"event":"open"}]"#,
            br#"[{"event":"delivered","timestamp":1,"email":["a@b.c"]}]"#,
        ] {
            assert!(
                matches!(parse_sendgrid(body), Err(PayloadError::NotEnvelope(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn debug_masks_personal_data() {
        let event = parse_resend(RESEND_BOUNCED.as_bytes()).unwrap();
        let shown = format!("{event:?}");
        assert!(shown.contains("d***@resend.dev"), "{shown}");
        assert!(!shown.contains("delivered@"), "{shown}");
        assert!(!shown.contains("suppression list"), "{shown}");
        assert!(shown.contains("em_01JD2X8Q"), "{shown}");
        assert_eq!(mask_address("nobody"), "***");
        assert_eq!(mask_address(""), "");
    }

    #[test]
    fn rfc3339_known_values() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01t00:00:00z", 0),
            ("1970-01-01 00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -1),
            ("2000-02-29T12:00:00Z", 951_825_600),
            ("2024-11-22T23:41:12.126Z", 1_732_318_872),
            ("2024-11-22T23:41:11.894719+00:00", 1_732_318_871),
            ("2024-11-23T01:41:11+02:00", 1_732_318_871),
            ("2024-11-22T18:11:11-05:30", 1_732_318_871),
            ("1990-12-31T23:59:60Z", 662_688_000),
            ("9999-12-31T23:59:59Z", 253_402_300_799),
            ("0000-01-01T00:00:00Z", -62_167_219_200),
            (" 2024-01-01T00:00:00Z\n", 1_704_067_200),
        ];
        for (text, unix) in cases {
            assert_eq!(rfc3339_to_unix(text), Some(unix), "{text}");
        }
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01X00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:61Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00+01",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+01:60",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00 Z",
            "+2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00\u{e9}",
            "２０２４-01-01T00:00:00Z",
        ] {
            assert_eq!(rfc3339_to_unix(bad), None, "{bad}");
        }
    }

    /// Reference date arithmetic for the property test: walks whole years and months
    /// from 1970, nothing clever, so it shares no formula with `days_from_civil`.
    fn naive_civil_from_unix(mut secs: i64) -> (i64, i64, i64, i64, i64, i64) {
        let mut year = 1970;
        loop {
            let len = if is_leap(year) { 366 } else { 365 } * 86_400;
            if secs >= len {
                secs -= len;
                year += 1;
            } else {
                break;
            }
        }
        let mut month = 1;
        while secs >= days_in_month(year, month) * 86_400 {
            secs -= days_in_month(year, month) * 86_400;
            month += 1;
        }
        let day = secs / 86_400 + 1;
        secs %= 86_400;
        (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn rfc3339_round_trips(
            unix in 0i64..4_102_444_800,
            offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i64),
            fraction in proptest::option::of("[0-9]{1,9}"),
        ) {
            // Render `unix` as local time at `offset_min`, then parse it back.
            let local = unix + offset_min * 60;
            prop_assume!(local >= 0);
            let (y, mo, d, h, mi, s) = naive_civil_from_unix(local);
            let sign = if offset_min < 0 { '-' } else { '+' };
            let off = offset_min.abs();
            let frac = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            let text = format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{sign}{:02}:{:02}",
                off / 60,
                off % 60
            );
            prop_assert_eq!(rfc3339_to_unix(&text), Some(unix), "{}", text);
        }

        #[test]
        fn rfc3339_never_panics(text in ".{0,40}") {
            let _ = rfc3339_to_unix(&text);
        }

        #[test]
        fn rfc3339_near_misses_never_panic(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,3})?(Z|[+-][0-9]{2}:[0-9]{2}|.{0,3})") {
            let _ = rfc3339_to_unix(&text);
        }

        #[test]
        fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_resend(&body);
            let _ = parse_sendgrid(&body);
        }

        #[test]
        fn parsers_never_panic_on_near_json(
            resend_body in r#"\{"(type|created_at|data)":("email\.[a-z]{0,10}"|\{"(to|tags|bounce|email_id)":.{0,30}\}|"[0-9T:Z+.-]{0,30}"|.{0,10}),?.{0,20}\}?"#,
            sendgrid_body in r#"\[\{"(event|timestamp|email|sg_message_id|type|org_id)":("[a-z.]{0,10}"|-?[0-9]{0,20}|.{0,10}),?.{0,30}\}?\]?"#,
        ) {
            let _ = parse_resend(resend_body.as_bytes());
            let _ = parse_sendgrid(sendgrid_body.as_bytes());
        }
    }
}
