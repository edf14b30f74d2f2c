//! Messenger and Instagram inboxes on the one conversation model.
//!
//! - **Connect** a Facebook page or an Instagram professional account with its token
//!   (validated on Graph when Graph is configured, stored encrypted); one page or
//!   account belongs to one org.
//! - **Inbound**: `webhook-meta-messaging` stores each `messaging[]` event like a
//!   WhatsApp change; here it is applied — messages (text, attachments, quick replies,
//!   replies to stories and ads), postbacks and reactions become inbound messages of the
//!   person's conversation; echoes of the page's own messages (sent from another tool)
//!   become outbound ones; deliveries and reads move the page's messages on; edits and
//!   unsends change the stored message.
//! - **Sending** uses the Send API with Meta's rules: a standard `RESPONSE` within 24 hours
//!   of the person's last message, the `HUMAN_AGENT` tag for a person's reply up to 7
//!   days, and nothing after that (422 `outside_messaging_window`). Text and attachments by
//!   URL; anything WhatsApp-specific is a 422 naming `type`.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{debug, info};

use crate::error::{Error, Result};
use crate::ids::{OrgId, PhoneNumberId, WaId};
use crate::model::{
    Account, Channel, Conversation, Direction, EventStatus, Message, MessageStatus, PhoneRoute,
    WamidRoute, WebhookEvent, WhatsAppProvider,
};
use crate::record::{decode_all, load, update};
use crate::secrets::SecretString;
use crate::send_api::SendApiMessage;
use crate::services::Services;
use crate::store::{Index, Query};
use crate::usecases::inbound::{Incoming, Outcome, finish, store_inbound};
use crate::usecases::integrations::{self, Connect};
use crate::whatsapp::GraphError;
use switchboard_webhooks::messaging::{self as hooks, Event};

/// The standard messaging window after the person's last message.
pub const STANDARD_WINDOW_HOURS: i64 = 24;
/// How long a person (not automation) may still reply with the `HUMAN_AGENT` tag.
pub const HUMAN_AGENT_WINDOW_DAYS: i64 = 7;
/// The Send API's messaging type inside the standard window.
const RESPONSE: &str = "RESPONSE";
/// The Send API's messaging type of a tagged message.
const MESSAGE_TAG: &str = "MESSAGE_TAG";
/// The tag of a person's reply after the standard window.
const HUMAN_AGENT: &str = "HUMAN_AGENT";

/// Longest access token accepted.
const MAX_TOKEN_LEN: usize = 4096;

/// The channel a stored messaging event belongs to, from its field.
pub fn channel_of_field(field: &str) -> Option<Channel> {
    match field {
        hooks::MESSENGER_FIELD => Some(Channel::Messenger),
        hooks::INSTAGRAM_FIELD => Some(Channel::Instagram),
        _ => None,
    }
}

// ------------------------------------------------------------------------- connect

/// The body of `POST /v1/integrations/messenger/connect` and `…/instagram/connect`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// The Facebook page (Messenger).
    pub page_id: Option<Value>,
    /// The Instagram professional account (Instagram).
    pub instagram_account_id: Option<Value>,
    /// A page access token with the messaging permissions.
    pub access_token: Option<Value>,
}

impl ConnectRequest {
    /// Validates the request for `channel`; errors name the field.
    pub fn validate(self, channel: Channel) -> Result<Connect> {
        let (field, value, other) = match channel {
            Channel::Instagram => (
                "instagram_account_id",
                &self.instagram_account_id,
                &self.page_id,
            ),
            _ => ("page_id", &self.page_id, &self.instagram_account_id),
        };
        if other.as_ref().is_some_and(|v| !v.is_null()) {
            let other_field = if field == "page_id" {
                "instagram_account_id"
            } else {
                "page_id"
            };
            return Err(Error::validation(
                other_field,
                "unknown_field",
                format!("{other_field} is not a field of this channel's connect; send {field}"),
            ));
        }
        let id = match value {
            Some(Value::String(s)) => PhoneNumberId::parse(s.trim()).map_err(|_| {
                Error::validation(
                    field,
                    invalid(field),
                    format!("{field} must be Meta's numeric id"),
                )
            })?,
            None | Some(Value::Null) => {
                return Err(Error::validation(
                    field,
                    "required",
                    format!("{field} is required"),
                ));
            }
            Some(_) => {
                return Err(Error::validation(
                    field,
                    invalid(field),
                    format!("{field} must be a string"),
                ));
            }
        };
        let token = match &self.access_token {
            Some(Value::String(t))
                if !t.trim().is_empty()
                    && t.trim().len() <= MAX_TOKEN_LEN
                    && !t.trim().contains(char::is_whitespace) =>
            {
                SecretString::new(t.trim())
            }
            None | Some(Value::Null) => {
                return Err(Error::validation(
                    "access_token",
                    "required",
                    "access_token is required",
                ));
            }
            Some(_) => {
                return Err(Error::validation(
                    "access_token",
                    "invalid_access_token",
                    format!("access_token must be 1-{MAX_TOKEN_LEN} characters without spaces"),
                ));
            }
        };
        Ok(Connect {
            channel,
            provider: WhatsAppProvider::Meta,
            phone_number_id: id,
            waba_id: None,
            access_token: token,
            display_phone_number: None,
            messages_per_second: None,
            token_info: None,
            health: None,
        })
    }
}

fn invalid(field: &str) -> &'static str {
    if field == "page_id" {
        "invalid_page_id"
    } else {
        "invalid_instagram_account_id"
    }
}

/// Connects a page or Instagram account: the token is validated by reading the account
/// on Graph (when configured), then stored like a WhatsApp number's; 409 when the page
/// or account is connected already (to any org).
pub async fn connect(
    svc: &Services,
    billing: &crate::billing::BillingConfig,
    org: &OrgId,
    req: Connect,
) -> Result<Account> {
    crate::usecases::billing::admit_number(svc, billing, org).await?;
    let instagram = req.channel == Channel::Instagram;
    let field = if instagram {
        "instagram_account_id"
    } else {
        "page_id"
    };
    let mut name = None;
    if svc.whatsapp_live {
        match svc
            .send_api
            .account_name(&req.access_token, &req.phone_number_id, instagram)
            .await
        {
            Ok(n) => name = n,
            Err(GraphError::Api {
                code, http_status, ..
            }) if code == 190 || http_status == 401 => {
                return Err(Error::validation(
                    "access_token",
                    "invalid_access_token",
                    "Meta rejected the access token (expired, revoked or malformed)",
                ));
            }
            Err(GraphError::Api {
                http_status: 400..=499,
                ..
            }) => {
                return Err(Error::validation(
                    field,
                    "account_not_found",
                    format!("Meta does not know this {field}, or the token cannot access it"),
                ));
            }
            Err(_) => {
                return Err(Error::Provider {
                    code: "meta_unavailable",
                    message: "Meta could not be reached to validate the account; try again".into(),
                    retryable: true,
                });
            }
        }
    }
    let account = integrations::store(svc, org, req, name).await?;
    info!(org_id = %org, account_id = %account.id, channel = account.channel.as_str(), "connected a Meta messaging account");
    Ok(account)
}

// ------------------------------------------------------------------------- sending

/// The message types these channels take through the API: text, and files by URL.
const SENDABLE: [&str; 5] = ["text", "image", "video", "audio", "document"];

/// Checks a send on a Messenger or Instagram conversation: the content, and that the
/// person wrote within the last 7 days (24 hours for anything but a person's reply,
/// which is every send through the API).
pub fn admit(conversation: &Conversation, content: &Value, now: DateTime<Utc>) -> Result<()> {
    let kind = content.get("type").and_then(Value::as_str).unwrap_or("");
    if !SENDABLE.contains(&kind) {
        return Err(Error::validation(
            "type",
            "unsupported_on_channel",
            format!(
                "{} conversations take text, image, video, audio and document messages; {kind} is WhatsApp's",
                conversation.channel.as_str()
            ),
        ));
    }
    if kind != "text" && content[kind].get("link").and_then(Value::as_str).is_none() {
        return Err(Error::validation(
            format!("{kind}.link"),
            "link_required",
            format!(
                "{} takes files by URL: set {kind}.link",
                conversation.channel.as_str()
            ),
        ));
    }
    if messaging_type(conversation.last_inbound_at, now).is_none() {
        return Err(Error::validation(
            "type",
            "outside_messaging_window",
            format!(
                "the person last wrote {}; {} allows replies within {HUMAN_AGENT_WINDOW_DAYS} days (a person's reply after {STANDARD_WINDOW_HOURS} hours, with the HUMAN_AGENT tag)",
                conversation
                    .last_inbound_at
                    .map(crate::clock::fmt_time)
                    .unwrap_or_else(|| "never".into()),
                conversation.channel.as_str()
            ),
        ));
    }
    Ok(())
}

/// The Send API's `messaging_type` and tag for a person's reply sent at `now`: `RESPONSE`
/// within 24 hours of their last message, `MESSAGE_TAG`/`HUMAN_AGENT` up to 7 days,
/// `None` after.
pub fn messaging_type(
    last_inbound: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<(&'static str, Option<&'static str>)> {
    let since = now - last_inbound?;
    if since <= Duration::hours(STANDARD_WINDOW_HOURS) {
        Some((RESPONSE, None))
    } else if since <= Duration::days(HUMAN_AGENT_WINDOW_DAYS) {
        Some((MESSAGE_TAG, Some(HUMAN_AGENT)))
    } else {
        None
    }
}

/// [`messaging_type`] for a message about to be sent: the HUMAN_AGENT tag is for a
/// person's replies, so a message no person sent (an AI auto-reply) goes only within the
/// standard 24-hour window.
pub fn send_window(
    last_inbound: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    automatic: bool,
) -> Option<(&'static str, Option<&'static str>)> {
    messaging_type(last_inbound, now).filter(|(_, tag)| !(automatic && tag.is_some()))
}

/// The Send API `message` object of stored content.
pub fn send_message_body(content: &Value) -> Value {
    let kind = content.get("type").and_then(Value::as_str).unwrap_or("");
    if kind == "text" {
        return json!({"text": content["text"]["body"]});
    }
    let attachment = if kind == "document" { "file" } else { kind };
    json!({"attachment": {"type": attachment, "payload": {"url": content[kind]["link"], "is_reusable": true}}})
}

/// Sends a stored message through the Send API; the window is checked again at send time
/// (a send that waited past it fails as a closed window, like WhatsApp's 131047).
pub async fn send(
    svc: &Services,
    token: &SecretString,
    account: &Account,
    conversation: &Conversation,
    message: &Message,
) -> std::result::Result<String, GraphError> {
    let automatic = message.origin.as_ref().is_some_and(|o| o.is_automatic());
    let Some((messaging_type, tag)) =
        send_window(conversation.last_inbound_at, svc.clock.now(), automatic)
    else {
        return Err(GraphError::Api {
            http_status: 400,
            code: 131047,
            subcode: Some(2018278),
            message: "the person's messaging window closed before the message could be sent".into(),
            details: None,
        });
    };
    let body = send_message_body(&message.content);
    svc.send_api
        .send(
            token,
            &SendApiMessage {
                account: &account.phone_number_id,
                recipient: conversation.wa_id.as_str(),
                messaging_type,
                tag,
                message: &body,
            },
        )
        .await
}

// ------------------------------------------------------------------------- inbound

/// An event's time: Meta sends milliseconds (seconds in some older payloads).
fn event_time(ts: Option<i64>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| {
        if t > 100_000_000_000 {
            DateTime::from_timestamp_millis(t)
        } else {
            DateTime::from_timestamp(t, 0)
        }
    })
}

/// The content and preview of an event that becomes an inbound message.
fn inbound_content(e: &Event) -> Option<(String, Value, String, Option<String>)> {
    if let Some(m) = &e.message {
        let reply_to = m
            .reply_to
            .as_ref()
            .and_then(|r| r.get("mid"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut content = if let Some(q) = &m.quick_reply {
            json!({"type": "quick_reply", "quick_reply": {"payload": q.payload, "text": m.text}})
        } else if let Some(a) = m.attachments.first() {
            let kind = match a.kind.as_str() {
                "file" => "document",
                other => other,
            };
            json!({"type": kind, kind: {"link": a.payload.get("url"), "payload": a.payload}, "caption": m.text})
        } else {
            json!({"type": "text", "text": {"body": m.text.clone().unwrap_or_default()}})
        };
        if let Some(story) = m.reply_to.as_ref().and_then(|r| r.get("story")) {
            content["story_reply"] = story.clone();
        }
        if let Some(referral) = &e.referral {
            content["referral"] = referral.clone();
        }
        let preview = match content["type"].as_str() {
            Some("text") => m.text.clone().unwrap_or_default(),
            Some("quick_reply") => m.text.clone().unwrap_or_else(|| "[quick reply]".into()),
            Some(kind) => format!("[{kind}]"),
            None => String::new(),
        };
        return Some((
            m.mid.clone(),
            content,
            preview.chars().take(100).collect(),
            reply_to,
        ));
    }
    if let Some(p) = &e.postback {
        let id = p.mid.clone().unwrap_or_else(|| {
            format!(
                "postback:{}:{}",
                e.sender.id,
                e.timestamp.unwrap_or_default()
            )
        });
        let content =
            json!({"type": "postback", "postback": {"title": p.title, "payload": p.payload}});
        let preview = p.title.clone().unwrap_or_else(|| "[postback]".into());
        return Some((id, content, preview, None));
    }
    if let Some(r) = &e.reaction {
        let id = format!(
            "reaction:{}:{}:{}",
            r.mid,
            e.sender.id,
            e.timestamp.unwrap_or_default()
        );
        let content = json!({"type": "reaction", "reaction": {"message_id": r.mid, "action": r.action, "emoji": r.emoji.clone().or_else(|| r.reaction.clone())}});
        let preview = r.emoji.clone().unwrap_or_else(|| "[reaction]".into());
        return Some((id, content, preview, None));
    }
    None
}

/// Applies a stored Messenger or Instagram event (see the module docs).
pub async fn apply(svc: &Services, event: &mut WebhookEvent) -> Result<Outcome> {
    let channel = channel_of_field(&event.kind)
        .ok_or_else(|| Error::Internal(format!("event {} is not a messaging event", event.key)))?;
    let e: Event = serde_json::from_str(&event.payload).map_err(|err| {
        Error::Internal(format!(
            "messaging event {} does not parse: {err}",
            event.key
        ))
    })?;
    let Ok(account_id) = PhoneNumberId::parse(&event.source_id) else {
        let note = "the event names no page or Instagram account".to_owned();
        finish(svc, event, EventStatus::Ignored, None, Some(note)).await?;
        return Ok(Outcome::Ignored);
    };
    let (route_pk, route_sk) = PhoneRoute::key_of(&account_id);
    let route = load::<PhoneRoute>(&*svc.store, &route_pk, &route_sk)
        .await?
        .map(|r| r.record);
    let account = match &route {
        Some(r) => integrations::get(svc, &r.org_id, &r.account_id)
            .await
            .ok()
            .map(|a| a.record)
            .filter(|a| a.channel == channel),
        None => None,
    };
    let (Some(route), Some(_account)) = (route, account) else {
        info!(account = %account_id, channel = channel.as_str(), event = %event.key, "no org owns this page or account; keeping the event as unroutable");
        let note = format!("{} account {account_id} is not connected", channel.as_str());
        finish(svc, event, EventStatus::Unroutable, None, Some(note)).await?;
        return Ok(Outcome::Unroutable);
    };
    let org = route.org_id.clone();
    let Some(person) = e.person().and_then(|p| WaId::parse(p).ok()) else {
        finish(
            svc,
            event,
            EventStatus::Ignored,
            Some(org),
            Some("no person in the event".into()),
        )
        .await?;
        return Ok(Outcome::Ignored);
    };
    let at = event_time(e.timestamp);
    let mut applied = Outcome::Applied {
        messages: 0,
        duplicates: 0,
        statuses: 0,
    };

    if let Some(m) = e.message.as_ref().filter(|m| m.is_deleted) {
        mark_unsent(svc, &m.mid, at).await?;
    } else if e.message.as_ref().is_some_and(|m| m.is_echo) {
        // The page's own message: ours (already stored, its mid routes to it) or sent from
        // another tool, recorded as an outbound message so the thread is complete.
        let m = e.message.as_ref().expect("checked");
        let (pk, sk) = WamidRoute::key_of(&m.mid);
        if svc.store.get(&pk, &sk).await?.is_none() {
            record_echo(svc, &route, channel, &person, &e, at).await?;
        }
    } else if let Some((id, content, preview, reply_to)) = inbound_content(&e) {
        let kind = content["type"].as_str().unwrap_or("text").to_owned();
        let stored = store_inbound(
            svc,
            &route,
            Incoming {
                channel,
                sender: person.clone(),
                profile_name: None,
                external_id: &id,
                sent_at: at,
                content,
                preview,
                reply_to,
                opt_out: None,
                kind: &kind,
                direction: Direction::Inbound,
            },
        )
        .await?;
        applied = match stored {
            crate::usecases::inbound::Applied::New => Outcome::Applied {
                messages: 1,
                duplicates: 0,
                statuses: 0,
            },
            crate::usecases::inbound::Applied::Duplicate => Outcome::Applied {
                messages: 0,
                duplicates: 1,
                statuses: 0,
            },
        };
    } else if let Some(d) = &e.delivery {
        let when = at.unwrap_or_else(|| svc.clock.now());
        let mut n = 0;
        for mid in &d.mids {
            n += status_by_mid(svc, mid, MessageStatus::Delivered, when).await?;
        }
        if let Some(w) = d.watermark.filter(|_| d.mids.is_empty()) {
            n += status_up_to(svc, &org, &route, &person, w, MessageStatus::Delivered).await?;
        }
        applied = Outcome::Applied {
            messages: 0,
            duplicates: 0,
            statuses: n,
        };
    } else if let Some(r) = &e.read {
        let when = at.unwrap_or_else(|| svc.clock.now());
        let n = match (&r.mid, r.watermark) {
            (Some(mid), _) => status_by_mid(svc, mid, MessageStatus::Read, when).await?,
            (None, Some(w)) => {
                status_up_to(svc, &org, &route, &person, w, MessageStatus::Read).await?
            }
            (None, None) => 0,
        };
        applied = Outcome::Applied {
            messages: 0,
            duplicates: 0,
            statuses: n,
        };
    } else if let Some(edit) = &e.message_edit {
        edit_message(svc, &edit.mid, edit.text.as_deref(), edit.num_edit).await?;
    } else {
        let note = "an event kind Switchboard does not act on".to_owned();
        finish(svc, event, EventStatus::Ignored, Some(org), Some(note)).await?;
        return Ok(Outcome::Ignored);
    }
    finish(svc, event, EventStatus::Processed, Some(org), None).await?;
    Ok(applied)
}

/// Moves the message with Meta id `mid` to `status`; how many moved (0 or 1).
async fn status_by_mid(
    svc: &Services,
    mid: &str,
    status: MessageStatus,
    at: DateTime<Utc>,
) -> Result<usize> {
    let (pk, sk) = WamidRoute::key_of(mid);
    let Some(route) = load::<WamidRoute>(&*svc.store, &pk, &sk).await? else {
        debug!("a receipt for a message Switchboard does not know");
        return Ok(0);
    };
    crate::usecases::inbound::apply_status(svc, &route.record, status, at, None).await?;
    Ok(1)
}

/// Messenger's receipts by watermark: every outbound message of the person's
/// conversation sent up to it moves on (the latest 100 are looked at).
async fn status_up_to(
    svc: &Services,
    org: &OrgId,
    route: &PhoneRoute,
    person: &WaId,
    watermark_ms: i64,
    status: MessageStatus,
) -> Result<usize> {
    let conversation = crate::ids::ConversationId::for_thread(org, &route.phone_number_id, person);
    let Some(upto) = DateTime::from_timestamp_millis(watermark_ms) else {
        return Ok(0);
    };
    let page = svc
        .store
        .query(
            Query::index(Index::Gsi1, Message::list_pk(org, &conversation))
                .descending()
                .limit(100),
        )
        .await?;
    let mut n = 0;
    for m in decode_all::<Message>(&page.items)? {
        if m.direction != Direction::Outbound
            || !matches!(m.status, MessageStatus::Sent | MessageStatus::Delivered)
            || m.timestamp > upto
        {
            continue;
        }
        if let Some(mid) = &m.wamid {
            n += status_by_mid(svc, mid, status, upto).await?;
        }
    }
    Ok(n)
}

/// An echo of a message the page sent from elsewhere (Meta Business Suite, the app).
async fn record_echo(
    svc: &Services,
    route: &PhoneRoute,
    channel: Channel,
    person: &WaId,
    e: &Event,
    at: Option<DateTime<Utc>>,
) -> Result<()> {
    let Some((mid, content, preview, _)) = inbound_content(e) else {
        return Ok(());
    };
    let kind = content["type"].as_str().unwrap_or("text").to_owned();
    store_inbound(
        svc,
        route,
        Incoming {
            channel,
            sender: person.clone(),
            profile_name: None,
            external_id: &mid,
            sent_at: at,
            content,
            preview,
            reply_to: None,
            opt_out: None,
            kind: &kind,
            direction: Direction::Outbound,
        },
    )
    .await?;
    Ok(())
}

/// Changes the stored message with Meta id `mid` (`change` says whether it did); a
/// message Switchboard does not know is left alone.
async fn change_by_mid(
    svc: &Services,
    mid: &str,
    change: impl FnMut(&mut Message) -> bool,
) -> Result<()> {
    let (pk, sk) = WamidRoute::key_of(mid);
    let Some(route) = load::<WamidRoute>(&*svc.store, &pk, &sk).await? else {
        return Ok(());
    };
    let (m_pk, m_sk) = Message::key_of(&route.record.org_id, &route.record.message_id);
    update::<Message>(&*svc.store, &m_pk, &m_sk, change).await?;
    Ok(())
}

/// The person unsent a message: its content is removed, the message stays as a marker.
async fn mark_unsent(svc: &Services, mid: &str, at: Option<DateTime<Utc>>) -> Result<()> {
    let now = svc.clock.now();
    change_by_mid(svc, mid, |m| {
        if m.content["type"] == "unsent" {
            return false;
        }
        m.content = json!({"type": "unsent", "unsent": {"at": at.map(crate::clock::fmt_time)}});
        m.updated_at = now;
        true
    })
    .await
}

/// The person edited a message: the text is replaced, the edit count kept.
async fn edit_message(
    svc: &Services,
    mid: &str,
    text: Option<&str>,
    num_edit: Option<u32>,
) -> Result<()> {
    let now = svc.clock.now();
    change_by_mid(svc, mid, |m| {
        let edits = num_edit.unwrap_or(1);
        if m.content["edits"].as_u64() >= Some(u64::from(edits)) {
            return false;
        }
        if let Some(t) = text {
            m.content["text"] = json!({"body": t});
        }
        m.content["edits"] = json!(edits);
        m.updated_at = now;
        true
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_messages_never_take_the_human_agent_tag() {
        let now = Utc::now();
        let wrote = |hours: i64| Some(now - Duration::hours(hours));
        // Within 24 hours both go as a response.
        assert_eq!(send_window(wrote(2), now, false), Some((RESPONSE, None)));
        assert_eq!(send_window(wrote(2), now, true), Some((RESPONSE, None)));
        // After 24 hours only a person's reply goes, tagged HUMAN_AGENT.
        assert_eq!(
            send_window(wrote(30), now, false),
            Some((MESSAGE_TAG, Some(HUMAN_AGENT)))
        );
        assert_eq!(send_window(wrote(30), now, true), None);
        // After 7 days nothing goes.
        assert_eq!(send_window(wrote(24 * 8), now, false), None);
        assert_eq!(send_window(None, now, true), None);
    }

    #[test]
    fn only_auto_replies_count_as_automatic_among_ai_messages() {
        let id = crate::ids::SuggestionId::from_uuid(uuid::Uuid::nil());
        let auto = crate::model::MessageOrigin::Ai {
            suggestion_id: id.clone(),
            auto: true,
        };
        let accepted = crate::model::MessageOrigin::Ai {
            suggestion_id: id,
            auto: false,
        };
        assert!(auto.is_automatic());
        assert!(!accepted.is_automatic(), "a person accepted the draft");
    }
}
