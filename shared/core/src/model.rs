//! The records Switchboard stores, their keys, and the API views built from them.
//!
//! Key layout (one table; see DESIGN.md and the README's data model section):
//!
//! | record | pk | sk | gsi1 (pk / sk) |
//! |---|---|---|---|
//! | account | `ORG#<org>` | `ACCOUNT#<id>` | – |
//! | phone number look-up | `PHONE#<phone_number_id>` | `PHONE` | – |
//! | contact | `ORG#<org>#CONTACT#<id>` | `CONTACT` | `ORG#<org>#CONTACTS` / `<created>#<id>` (gsi2: `ORG#<org>#CONTACTS#STATUS#<status>` / same) |
//! | conversation | `ORG#<org>#CONV#<id>` | `CONV` | `ORG#<org>#CONVS` / `<last activity>#<id>` (gsi2 `SNOOZED#<shard>` / `<until>#<id>` while snoozed) |
//! | conversation list entry | `ORG#<org>#CONV#<id>` | `LIST#<slot>` | `ORG#<org>#CONVS#<list>` / `<last activity>#<id>` (see [`crate::triage`]) |
//! | message | `ORG#<org>#MSG#<id>` | `MSG` | `ORG#<org>#CONV#<conv>#MSGS` / `<time>#<id>` |
//! | wamid look-up | `WAMID#<wamid>` | `WAMID` | – |
//! | early status | `WAMID#<wamid>` | `STATUS#<status>#<time>` | – |
//! | webhook event | `EVENT#<provider>#<key>` | `EVENT` | `UNROUTABLE#<provider>` / `<received>#<key>` while unroutable (gsi2: `PENDING#<provider>` while pending) |
//!
//! Small per-org collections (accounts) share the org partition, so listing them is
//! strongly consistent; large ones (contacts, conversations, messages) get one
//! partition per item and are listed through `gsi1`, which spreads load.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{fmt_time, rfc3339_millis};
use crate::ids::{
    AccountId, ContactId, ConversationId, MessageId, OrgId, PhoneNumberId, WaId, WabaId,
};
use crate::record::Record;
use crate::store::IndexKey;
use crate::triage::{ConversationStatus, Priority};

/// How long after a customer's last message the business may send free-form messages.
pub const CUSTOMER_SERVICE_WINDOW_HOURS: i64 = 24;

/// Partition key prefix of an org's items.
pub fn org_pk(org: &OrgId) -> String {
    format!("ORG#{org}")
}

/// The prefix every position of an org's lists starts with (cursor scope).
pub fn org_scope(org: &OrgId) -> String {
    format!("ORG#{org}#")
}

/// Health of a connected account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Working.
    Active,
    /// The provider rejected the stored token; an admin must reconnect.
    ReauthRequired,
}

/// Where a conversation happens. Conversations, contacts and the send API are one model
/// for every channel; the channel decides the provider API and its messaging rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// WhatsApp (through Meta's Cloud API or Kapso).
    #[default]
    Whatsapp,
    /// Facebook Messenger: a Facebook page's inbox.
    Messenger,
    /// Instagram direct messages of a professional account.
    Instagram,
}

impl Channel {
    /// Name in the API, keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Messenger => "messenger",
            Channel::Instagram => "instagram",
        }
    }

    /// Whether serde should leave the field out (WhatsApp, the default, for items
    /// written before channels existed and after).
    pub fn is_whatsapp(&self) -> bool {
        *self == Channel::Whatsapp
    }
}

/// Who carries a WhatsApp number's traffic. Both speak Meta's Cloud API (message bodies,
/// webhook payloads, error codes); they differ in base URL, credential and webhook
/// signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhatsAppProvider {
    /// Meta's Cloud API directly, with a system-user or business token.
    #[default]
    Meta,
    /// Kapso, a WhatsApp API provider, with the org's Kapso API key.
    Kapso,
}

impl WhatsAppProvider {
    /// Name in the API and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            WhatsAppProvider::Meta => "meta",
            WhatsAppProvider::Kapso => "kapso",
        }
    }
}

/// A connected WhatsApp business number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Owner.
    pub org_id: OrgId,
    /// Graph id of the channel's account: the WhatsApp phone number id, the Facebook
    /// page id (Messenger) or the Instagram professional account id.
    pub phone_number_id: PhoneNumberId,
    /// The channel (accounts stored before channels are WhatsApp's).
    #[serde(default, skip_serializing_if = "Channel::is_whatsapp")]
    pub channel: Channel,
    /// Graph id of the business account (Kapso connects without it).
    #[serde(default)]
    pub waba_id: Option<WabaId>,
    /// Who carries the number's traffic (accounts stored before Kapso are Meta's).
    #[serde(default)]
    pub provider: WhatsAppProvider,
    /// Number as displayed, e.g. `+1 555-078-3881`.
    pub display_phone_number: Option<String>,
    /// Business name Meta verified.
    #[serde(default)]
    pub verified_name: Option<String>,
    /// Health.
    pub status: AccountStatus,
    /// Why the status changed, when not active.
    #[serde(default)]
    pub status_reason: Option<String>,
    /// Envelope-encrypted access token (context: org, account, purpose).
    pub token_envelope: String,
    /// Messages per second this number may send (Meta's default is 80).
    #[serde(default)]
    pub messages_per_second: Option<u32>,
    /// The number's health as Meta last reported it (account sync or its webhooks).
    #[serde(default)]
    pub health: AccountHealth,
    /// When the stored token expires, when Meta reports one (`debug_token`).
    #[serde(default, with = "rfc3339_millis::option")]
    pub token_expires_at: Option<DateTime<Utc>>,
    /// The token's permissions, when Meta reports them.
    #[serde(default)]
    pub token_scopes: Vec<String>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

/// A number's health as Meta reports it: read by `cron-account-sync` and updated at once
/// by the account webhooks (`phone_number_quality_update`, `phone_number_name_update`,
/// `account_update`, `account_review_update`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountHealth {
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    #[serde(default)]
    pub quality_rating: Option<String>,
    /// Meta's messaging limit tier (`TIER_1K`, …): unique customers per rolling 24 h.
    #[serde(default)]
    pub messaging_limit_tier: Option<String>,
    /// The display name's review (`APPROVED`, `PENDING_REVIEW`, `DECLINED`, …).
    #[serde(default)]
    pub name_status: Option<String>,
    /// The number's status (`CONNECTED`, `FLAGGED`, `RESTRICTED`, …).
    #[serde(default)]
    pub number_status: Option<String>,
    /// The latest account event or review decision Meta sent (`VERIFIED_ACCOUNT`,
    /// `DISABLED_UPDATE`, `ACCOUNT_VIOLATION`, review `APPROVED`/`REJECTED`, …).
    #[serde(default)]
    pub account_event: Option<String>,
    /// Why Meta flagged, restricted or disabled the number, when it said.
    #[serde(default)]
    pub restriction: Option<String>,
    /// When Switchboard last read or heard any of this.
    #[serde(default, with = "rfc3339_millis::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl AccountHealth {
    /// Whether Meta has flagged or restricted the number (sends may be limited or fail).
    pub fn is_impaired(&self) -> bool {
        let bad = |v: &Option<String>, words: &[&str]| {
            v.as_deref()
                .is_some_and(|v| words.iter().any(|w| v.eq_ignore_ascii_case(w)))
        };
        bad(
            &self.number_status,
            &["FLAGGED", "RESTRICTED", "BANNED", "DISCONNECTED"],
        ) || bad(&self.quality_rating, &["RED"])
            || bad(
                &self.account_event,
                &[
                    "DISABLED_UPDATE",
                    "ACCOUNT_VIOLATION",
                    "ACCOUNT_RESTRICTION",
                    "REJECTED",
                ],
            )
    }

    /// Unique customers the number may reach per rolling 24 hours under its tier
    /// (`None`: unlimited or not reported yet).
    pub fn daily_unique_limit(&self) -> Option<u64> {
        self.messaging_limit_tier
            .as_deref()
            .and_then(crate::meta_app::tier_limit)
    }
}

/// Purpose of the access-token ciphertext in its encryption context.
pub const ACCESS_TOKEN_PURPOSE: &str = "whatsapp_access_token";

impl Account {
    /// Sort key prefix of accounts in the org partition.
    pub const SK_PREFIX: &'static str = "ACCOUNT#";

    /// Key of an account.
    pub fn key_of(org: &OrgId, id: &AccountId) -> (String, String) {
        (org_pk(org), format!("{}{id}", Self::SK_PREFIX))
    }

    /// The encryption context of this account's token.
    pub fn token_context(org: &OrgId, id: &AccountId) -> crate::cipher::EncryptionContext {
        crate::cipher::EncryptionContext::new(org, ACCESS_TOKEN_PURPOSE)
            .with("account_id", id.as_str())
    }

    /// The API view (never includes the token).
    pub fn view(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "channel": self.channel.as_str(),
            "provider": self.provider.as_str(),
            "phone_number_id": (self.channel == Channel::Whatsapp).then_some(&self.phone_number_id),
            "page_id": (self.channel == Channel::Messenger).then_some(&self.phone_number_id),
            "instagram_account_id": (self.channel == Channel::Instagram).then_some(&self.phone_number_id),
            "waba_id": self.waba_id,
            "display_phone_number": self.display_phone_number,
            "verified_name": self.verified_name,
            "status": self.status,
            "status_reason": self.status_reason,
            "messages_per_second": self.messages_per_second,
            "health": {
                "quality_rating": self.health.quality_rating,
                "messaging_limit_tier": self.health.messaging_limit_tier,
                "daily_unique_limit": self.health.daily_unique_limit(),
                "name_status": self.health.name_status,
                "number_status": self.health.number_status,
                "account_event": self.health.account_event,
                "restriction": self.health.restriction,
                "impaired": self.health.is_impaired(),
                "updated_at": self.health.updated_at.map(fmt_time),
            },
            "token_expires_at": self.token_expires_at.map(fmt_time),
            "token_scopes": self.token_scopes,
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

impl Record for Account {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }
}

/// Global look-up: which org and account own a phone number id. Exists exactly while
/// the number is connected; webhooks route through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneRoute {
    /// The number.
    pub phone_number_id: PhoneNumberId,
    /// Owner.
    pub org_id: OrgId,
    /// Account.
    pub account_id: AccountId,
    /// The number's business account, for account webhooks (which name the WABA).
    #[serde(default)]
    pub waba_id: Option<WabaId>,
}

impl PhoneRoute {
    /// Key of the look-up.
    pub fn key_of(phone_number_id: &PhoneNumberId) -> (String, String) {
        (format!("PHONE#{phone_number_id}"), "PHONE".to_owned())
    }

    /// `gsi1` partition listing every connected number (account sync walks it).
    pub const ALL_PK: &'static str = "PHONES";

    /// `gsi2` partition of the numbers of one business account.
    pub fn waba_pk(waba_id: &WabaId) -> String {
        format!("WABA#{waba_id}")
    }
}

impl Record for PhoneRoute {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.phone_number_id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(
            Self::ALL_PK,
            self.phone_number_id.as_str().to_owned(),
        ))
    }

    fn gsi2(&self) -> Option<IndexKey> {
        self.waba_id
            .as_ref()
            .map(|w| IndexKey::new(Self::waba_pk(w), self.phone_number_id.as_str().to_owned()))
    }
}

/// Where a contact is in the org's sales process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    /// Not qualified yet.
    Lead,
    /// Qualified, not buying yet.
    Prospect,
    /// Buys.
    Customer,
    /// No longer active.
    Inactive,
}

impl ContactStatus {
    /// Every status, in the API's order.
    pub const ALL: [ContactStatus; 4] = [
        ContactStatus::Lead,
        ContactStatus::Prospect,
        ContactStatus::Customer,
        ContactStatus::Inactive,
    ];

    /// The name in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactStatus::Lead => "lead",
            ContactStatus::Prospect => "prospect",
            ContactStatus::Customer => "customer",
            ContactStatus::Inactive => "inactive",
        }
    }

    /// Parses a name (exact, lower-case).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Who last set a contact's marketing opt-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutSource {
    /// An agent, through the API.
    Api,
    /// The customer, with one of the org's opt-out or opt-in keywords.
    Keyword,
    /// The customer, in WhatsApp's own marketing preferences (Meta's webhook).
    WhatsappPreference,
}

/// A customer of an org.
///
/// Fields added after the first release carry `serde(default)`, so every stored
/// version of the record decodes. The contacts use case
/// ([`crate::usecases::contacts`]) writes it together with its index items; write it
/// through that module, never with a bare put, or the filters of `GET /v1/contacts`
/// lose track of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// Id (derived from org and wa_id).
    pub id: ContactId,
    /// Owner.
    pub org_id: OrgId,
    /// WhatsApp id, or the page-scoped id of a Messenger or Instagram user.
    pub wa_id: WaId,
    /// The channel the person writes on.
    #[serde(default, skip_serializing_if = "Channel::is_whatsapp")]
    pub channel: Channel,
    /// Display name: the WhatsApp profile name until someone sets one
    /// (`name_locked`).
    pub name: Option<String>,
    /// WhatsApp profile name, as last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// The name was set through the API or an import: a new profile name no longer
    /// replaces it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub name_locked: bool,
    /// E-mail address (lower-case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Tags (normalised, distinct, in the order they were given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Sales status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ContactStatus>,
    /// Lead score, 0-100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    /// The org's own fields: string, number or boolean values.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom_fields: std::collections::BTreeMap<String, Value>,
    /// The customer does not want marketing messages.
    #[serde(default)]
    pub opted_out: bool,
    /// When `opted_out` was last set (the customer's message time for keywords and
    /// preferences): an older instruction arriving later does not undo a newer one.
    #[serde(
        default,
        with = "rfc3339_millis::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub opt_out_updated_at: Option<DateTime<Utc>>,
    /// Who last set `opted_out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out_source: Option<OptOutSource>,
    /// Version of the index items written for this record (0: written before
    /// contacts had index items; the next write adds them).
    #[serde(default)]
    pub indexed: u32,
    /// Last message from this customer.
    #[serde(default, with = "rfc3339_millis::option")]
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    /// A new contact for a WhatsApp id, with nothing known about them yet.
    pub fn new(org: &OrgId, wa_id: &WaId, now: DateTime<Utc>) -> Self {
        Self::on(Channel::Whatsapp, org, wa_id, now)
    }

    /// A new contact of a person on `channel` (`user`: their WhatsApp id or page-scoped id).
    pub fn on(channel: Channel, org: &OrgId, user: &WaId, now: DateTime<Utc>) -> Self {
        Self {
            id: ContactId::for_user(org, channel.as_str(), user),
            org_id: org.clone(),
            wa_id: user.clone(),
            channel,
            name: None,
            profile_name: None,
            name_locked: false,
            email: None,
            tags: Vec::new(),
            status: None,
            score: None,
            custom_fields: Default::default(),
            opted_out: false,
            opt_out_updated_at: None,
            opt_out_source: None,
            indexed: 0,
            last_inbound_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Key of a contact.
    pub fn key_of(org: &OrgId, id: &ContactId) -> (String, String) {
        (format!("ORG#{org}#CONTACT#{id}"), "CONTACT".to_owned())
    }

    /// `gsi1` partition listing an org's contacts.
    pub fn list_pk(org: &OrgId) -> String {
        format!("ORG#{org}#CONTACTS")
    }

    /// `gsi2` partition listing an org's contacts of one status.
    pub fn status_pk(org: &OrgId, status: ContactStatus) -> String {
        format!("ORG#{org}#CONTACTS#STATUS#{}", status.as_str())
    }

    /// The position of this contact in its lists: created, then id.
    pub fn list_sk(&self) -> String {
        format!("{}#{}", fmt_time(self.created_at), self.id)
    }

    /// Records the WhatsApp profile name; it becomes the display name unless someone
    /// set one.
    pub fn see_profile_name(&mut self, profile: &str) {
        if !self.name_locked {
            self.name = Some(profile.to_owned());
        }
        self.profile_name = Some(profile.to_owned());
    }

    /// Sets the display name (`None` hands it back to the WhatsApp profile name).
    pub fn set_name(&mut self, name: Option<String>) {
        match name {
            Some(n) => {
                self.name = Some(n);
                self.name_locked = true;
            }
            None => {
                self.name = self.profile_name.clone();
                self.name_locked = false;
            }
        }
    }

    /// Sets the marketing opt-out as of `at` unless a newer instruction is recorded;
    /// whether anything changed.
    pub fn set_opted_out(
        &mut self,
        opted_out: bool,
        source: OptOutSource,
        at: DateTime<Utc>,
    ) -> bool {
        // The newest instruction wins, whatever order they arrive in; the same one
        // again (a redelivery) changes nothing.
        if self.opt_out_updated_at.is_some_and(|t| t > at)
            || (self.opted_out == opted_out && self.opt_out_updated_at == Some(at))
        {
            return false;
        }
        self.opted_out = opted_out;
        self.opt_out_updated_at = Some(at);
        self.opt_out_source = Some(source);
        true
    }

    /// The API view.
    pub fn view(&self) -> Value {
        let whatsapp = self.channel == Channel::Whatsapp;
        serde_json::json!({
            "id": self.id,
            "channel": self.channel.as_str(),
            "wa_id": whatsapp.then_some(&self.wa_id),
            "user_id": (!whatsapp).then_some(&self.wa_id),
            "name": self.name,
            "profile_name": self.profile_name,
            "email": self.email,
            "tags": self.tags,
            "status": self.status,
            "score": self.score,
            "custom_fields": self.custom_fields,
            "opted_out": self.opted_out,
            "opt_out_updated_at": self.opt_out_updated_at.map(fmt_time),
            "opt_out_source": self.opt_out_source,
            "last_inbound_at": self.last_inbound_at.map(fmt_time),
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

impl Record for Contact {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(Self::list_pk(&self.org_id), self.list_sk()))
    }

    /// Contacts with a status are listed by it, so `?status=` is a query.
    fn gsi2(&self) -> Option<IndexKey> {
        self.status
            .map(|s| IndexKey::new(Self::status_pk(&self.org_id, s), self.list_sk()))
    }
}

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// From the business.
    Outbound,
}

/// The thread between one business number and one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Id (derived from org, number and customer).
    pub id: ConversationId,
    /// Owner.
    pub org_id: OrgId,
    /// The business number's account (at the time of the last message).
    pub account_id: AccountId,
    /// The business number.
    pub phone_number_id: PhoneNumberId,
    /// The customer.
    pub contact_id: ContactId,
    /// The customer's WhatsApp id (or page-scoped id on Messenger and Instagram).
    pub wa_id: WaId,
    /// The channel.
    #[serde(default, skip_serializing_if = "Channel::is_whatsapp")]
    pub channel: Channel,
    /// The customer's profile name (denormalised for lists).
    pub contact_name: Option<String>,
    /// Time of the latest message (provider time).
    #[serde(default, with = "rfc3339_millis::option")]
    pub last_message_at: Option<DateTime<Utc>>,
    /// Id of the latest message (ties on time are broken by id).
    #[serde(default)]
    pub last_message_id: Option<MessageId>,
    /// Preview of the latest message.
    #[serde(default)]
    pub last_message_preview: Option<String>,
    /// Direction of the latest message.
    #[serde(default)]
    pub last_message_direction: Option<Direction>,
    /// The customer's latest message: opens the customer-service window.
    #[serde(default, with = "rfc3339_millis::option")]
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Inbound messages since the conversation was last marked read.
    pub unread_count: u32,
    /// Where it stands as a ticket (records from before the workflow read as open).
    #[serde(default)]
    pub status: ConversationStatus,
    /// While snoozed: when it reopens.
    #[serde(default, with = "rfc3339_millis::option")]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The user it is assigned to (a token subject), if anyone.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Labels, normalised (see [`crate::triage::normalise_label`]).
    #[serde(default)]
    pub labels: Vec<String>,
    /// How urgent it is.
    #[serde(default)]
    pub priority: Priority,
    /// The latest campaign that messaged the customer here: their next message counts
    /// as its reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_campaign: Option<crate::ids::CampaignId>,
    /// When a person last sent a message here (AI auto-replies pause while the
    /// conversation's assignee is answering).
    #[serde(
        default,
        with = "rfc3339_millis::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_agent_reply_at: Option<DateTime<Utc>>,
    /// What the AI made of the customer's latest analysed message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insight: Option<crate::usecases::ai::Insight>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl Conversation {
    /// Key of a conversation.
    pub fn key_of(org: &OrgId, id: &ConversationId) -> (String, String) {
        (format!("ORG#{org}#CONV#{id}"), "CONV".to_owned())
    }

    /// `gsi1` partition listing an org's conversations by activity.
    pub fn list_pk(org: &OrgId) -> String {
        format!("ORG#{org}#CONVS")
    }

    /// A new, empty thread between a business number and a customer.
    pub fn open(
        org: &OrgId,
        account_id: &AccountId,
        phone_number_id: &PhoneNumberId,
        wa_id: &WaId,
        now: DateTime<Utc>,
    ) -> Self {
        Self::open_on(
            Channel::Whatsapp,
            org,
            account_id,
            phone_number_id,
            wa_id,
            now,
        )
    }

    /// A new conversation on `channel` between an account (`channel_account`: its phone
    /// number, page or Instagram account id) and a person.
    pub fn open_on(
        channel: Channel,
        org: &OrgId,
        account_id: &AccountId,
        channel_account: &PhoneNumberId,
        user: &WaId,
        now: DateTime<Utc>,
    ) -> Self {
        let (phone_number_id, wa_id) = (channel_account, user);
        Self {
            id: ConversationId::for_thread(org, phone_number_id, wa_id),
            org_id: org.clone(),
            account_id: account_id.clone(),
            phone_number_id: phone_number_id.clone(),
            contact_id: ContactId::for_user(org, channel.as_str(), wa_id),
            wa_id: wa_id.clone(),
            channel,
            contact_name: None,
            last_message_at: None,
            last_message_id: None,
            last_message_preview: None,
            last_message_direction: None,
            last_inbound_at: None,
            unread_count: 0,
            status: ConversationStatus::Open,
            snoozed_until: None,
            assignee: None,
            labels: Vec::new(),
            priority: Priority::Normal,
            last_campaign: None,
            last_agent_reply_at: None,
            insight: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Reopens a resolved or snoozed conversation (the customer wrote again, or the
    /// snooze is over); returns whether it changed.
    pub fn reopen(&mut self, now: DateTime<Utc>) -> bool {
        if !matches!(
            self.status,
            ConversationStatus::Resolved | ConversationStatus::Snoozed
        ) {
            return false;
        }
        self.status = ConversationStatus::Open;
        self.snoozed_until = None;
        self.updated_at = now;
        true
    }

    /// When the customer-service window closes (24 h after the last inbound message).
    pub fn window_expires_at(&self) -> Option<DateTime<Utc>> {
        self.last_inbound_at
            .map(|t| t + Duration::hours(CUSTOMER_SERVICE_WINDOW_HOURS))
    }

    /// Whether free-form messages may be sent at `now`.
    pub fn window_open(&self, now: DateTime<Utc>) -> bool {
        self.window_expires_at().is_some_and(|end| now < end)
    }

    /// Records a message in the thread: moves the activity time forward only (messages
    /// can arrive out of order), counts unread inbound messages.
    pub fn record_message(
        &mut self,
        id: &MessageId,
        at: DateTime<Utc>,
        direction: Direction,
        preview: String,
        now: DateTime<Utc>,
    ) {
        let newer = match (&self.last_message_at, &self.last_message_id) {
            (None, _) => true,
            (Some(t), last_id) => at > *t || (at == *t && last_id.as_ref().is_none_or(|l| id > l)),
        };
        if newer {
            self.last_message_at = Some(at);
            self.last_message_id = Some(id.clone());
            self.last_message_preview = Some(preview);
            self.last_message_direction = Some(direction);
        }
        if direction == Direction::Inbound {
            self.unread_count = self.unread_count.saturating_add(1);
            if self.last_inbound_at.is_none_or(|t| at > t) {
                self.last_inbound_at = Some(at);
            }
        }
        self.updated_at = now;
    }

    /// The API view at `now` (the window's openness depends on the time).
    pub fn view(&self, now: DateTime<Utc>) -> Value {
        let whatsapp = self.channel == Channel::Whatsapp;
        serde_json::json!({
            "id": self.id,
            "channel": self.channel.as_str(),
            "account_id": self.account_id,
            "phone_number_id": whatsapp.then_some(&self.phone_number_id),
            "page_id": (self.channel == Channel::Messenger).then_some(&self.phone_number_id),
            "instagram_account_id": (self.channel == Channel::Instagram).then_some(&self.phone_number_id),
            "contact": {
                "id": self.contact_id,
                "channel": self.channel.as_str(),
                "wa_id": whatsapp.then_some(&self.wa_id),
                "user_id": (!whatsapp).then_some(&self.wa_id),
                "name": self.contact_name,
            },
            "last_message": self.last_message_at.map(|at| serde_json::json!({
                "id": self.last_message_id,
                "at": fmt_time(at),
                "preview": self.last_message_preview,
                "direction": self.last_message_direction,
            })),
            "unread_count": self.unread_count,
            "customer_service_window": {
                "open": self.window_open(now),
                "expires_at": self.window_expires_at().map(fmt_time),
            },
            "status": self.status,
            "snoozed_until": self.snoozed_until.map(fmt_time),
            "assignee": self.assignee,
            "labels": self.labels,
            "priority": self.priority,
            "insight": self.insight.as_ref().map(crate::usecases::ai::Insight::view),
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }

    /// The API view with the version a client names in `If-Match`.
    pub fn view_versioned(&self, now: DateTime<Utc>, version: u64) -> Value {
        let mut view = self.view(now);
        view["version"] = Value::from(version);
        view
    }
}

impl Record for Conversation {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        let activity = self.last_message_at.unwrap_or(self.created_at);
        Some(IndexKey::new(
            Self::list_pk(&self.org_id),
            format!("{}#{}", fmt_time(activity), self.id),
        ))
    }

    /// Snoozed conversations are listed on `gsi2` by the time they reopen, so the sweep
    /// finds the due ones with a query.
    fn gsi2(&self) -> Option<IndexKey> {
        match (self.status, self.snoozed_until) {
            (ConversationStatus::Snoozed, Some(until)) => Some(IndexKey::new(
                crate::triage::snoozed_pk(crate::triage::snooze_shard(&self.id)),
                format!("{}#{}", fmt_time(until), self.id),
            )),
            _ => None,
        }
    }
}

/// Delivery state of a message. Ordered for outbound progress: a status only moves
/// forward (a late `delivered` never overwrites `read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Inbound: stored.
    Received,
    /// Outbound: accepted by Switchboard, waiting to be sent.
    Queued,
    /// Outbound: a send attempt failed transiently; `next_attempt_at` says when the
    /// next one is due.
    Retrying,
    /// Outbound: accepted by WhatsApp.
    Sent,
    /// Outbound: on the customer's device.
    Delivered,
    /// Outbound: read by the customer. Inbound: marked read by an agent.
    Read,
    /// Outbound: WhatsApp or Switchboard gave up; see `error`.
    Failed,
}

impl MessageStatus {
    /// Parses Meta's status names.
    pub fn from_meta(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// The name used in the API and in Meta's payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Queued => "queued",
            Self::Retrying => "retrying",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::Received | Self::Queued | Self::Retrying => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed => 0,
        }
    }

    /// Whether moving from `self` to `next` is progress. `failed` can only follow
    /// `queued`, `retrying` or `sent`; nothing follows `failed`; otherwise only forward
    /// moves.
    pub fn may_become(self, next: MessageStatus) -> bool {
        match (self, next) {
            (Self::Failed, _) => false,
            (cur, Self::Failed) => matches!(cur, Self::Queued | Self::Retrying | Self::Sent),
            (cur, next) => next.rank() > cur.rank(),
        }
    }
}

/// An error a provider reported for a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageError {
    /// Provider code (131047, …) or a Switchboard code.
    pub code: i64,
    /// Short title.
    pub title: Option<String>,
    /// Longer explanation.
    pub message: Option<String>,
    /// Provider details.
    #[serde(default)]
    pub details: Option<String>,
    /// Whether trying again may succeed (a redrive retries such failures).
    #[serde(default)]
    pub retryable: bool,
}

/// Times at which each delivery status was reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusTimes {
    /// Accepted by WhatsApp.
    #[serde(
        default,
        with = "rfc3339_millis::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub sent_at: Option<DateTime<Utc>>,
    /// Delivered to the device.
    #[serde(
        default,
        with = "rfc3339_millis::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Read.
    #[serde(
        default,
        with = "rfc3339_millis::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_at: Option<DateTime<Utc>>,
    /// Failed.
    #[serde(
        default,
        with = "rfc3339_millis::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub failed_at: Option<DateTime<Utc>>,
}

impl StatusTimes {
    /// Records the time of a status (the first report wins).
    pub fn record(&mut self, status: MessageStatus, at: DateTime<Utc>) {
        let slot = match status {
            MessageStatus::Sent => &mut self.sent_at,
            MessageStatus::Delivered => &mut self.delivered_at,
            MessageStatus::Read => &mut self.read_at,
            MessageStatus::Failed => &mut self.failed_at,
            MessageStatus::Received | MessageStatus::Queued | MessageStatus::Retrying => return,
        };
        if slot.is_none() {
            *slot = Some(at);
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Owner.
    pub org_id: OrgId,
    /// Thread.
    pub conversation_id: ConversationId,
    /// Business number's account.
    pub account_id: AccountId,
    /// The channel.
    #[serde(default, skip_serializing_if = "Channel::is_whatsapp")]
    pub channel: Channel,
    /// Customer.
    pub contact_id: ContactId,
    /// Inbound or outbound.
    pub direction: Direction,
    /// WhatsApp's message id, once known.
    #[serde(default)]
    pub wamid: Option<String>,
    /// Content in Meta's own shape: `{"type": t, t: {...}}`.
    pub content: Value,
    /// Delivery state.
    pub status: MessageStatus,
    /// When each status was reported.
    #[serde(default)]
    pub status_times: StatusTimes,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<MessageError>,
    /// wamid of the message this one replies to.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Conversation time: provider timestamp for inbound, acceptance time for outbound.
    #[serde(with = "rfc3339_millis")]
    pub timestamp: DateTime<Utc>,
    /// Created.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
    /// Outbound: send attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Outbound: the pacing slot reserved for it (microseconds since the epoch).
    #[serde(default)]
    pub scheduled_at_us: Option<i64>,
    /// Outbound: who sent it (the token's subject).
    #[serde(default)]
    pub sent_by: Option<String>,
    /// Outbound: stored but not yet handed to the queue (indexed on `gsi2` so the
    /// sweep can hand it over if the enqueue never happened).
    #[serde(default)]
    pub awaiting_queue: bool,
    /// Outbound: the usage period billing reserved this message in, if it reserved
    /// one; a message that fails for good gives back exactly that.
    #[serde(default)]
    pub reserved_period: Option<i64>,
    /// Outbound: when the next send attempt is due (while `retrying`).
    #[serde(default, with = "rfc3339_millis::option")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Outbound: when the current run of transient failures began; retries stop a
    /// horizon after it.
    #[serde(default, with = "rfc3339_millis::option")]
    pub first_failed_at: Option<DateTime<Utc>>,
    /// Outbound: new pacing slots reserved because the queue handed the message back
    /// late for its slot (bounded; see `queue::MAX_LATE_REPACES`).
    #[serde(default)]
    pub late_repaces: u32,
    /// Outbound: the API request that accepted it, for following it through the logs to
    /// the Graph call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Outbound: the pacing lane it waits in on its number (messages stored before lanes
    /// read as priority, which is how they were sent).
    #[serde(default, skip_serializing_if = "Lane::is_priority")]
    pub lane: Lane,
    /// Outbound: times a lower lane found its number's throughput taken by the lanes
    /// above it and waited (bounded; see `queue::MAX_LANE_WAITS`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lane_waits: u32,
    /// Outbound: the campaign or sequence that sent it, whose progress follows its
    /// statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<MessageOrigin>,
    /// Outbound: when the latest send attempt called Graph and has not come back yet. A
    /// redelivery that finds it set waits for Meta's status (which names the message) before
    /// sending again: the attempt may have been accepted just before its process died.
    #[serde(
        default,
        with = "rfc3339_millis::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub sending_since: Option<DateTime<Utc>>,
    /// Media messages: the file as archived in object storage (Meta's download URLs
    /// expire in minutes and its media ids after weeks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<StoredMedia>,
}

/// A message's file in object storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMedia {
    /// The object's key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type.
    pub content_type: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Which of a number's pacing lanes an outbound message waits in. A lane takes the
/// number's throughput only while the lanes above it leave some: agent replies and
/// authentication codes go first, notifications next, marketing last (see
/// [`crate::usecases::outbound::deliver`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Agent replies, free-form messages and authentication templates.
    #[default]
    Priority,
    /// Utility templates: order updates, reminders, other notifications.
    Transactional,
    /// Marketing templates and broadcast campaigns.
    Marketing,
}

impl Lane {
    /// The lane of a template of Meta's `category` (`MARKETING`, `UTILITY`,
    /// `AUTHENTICATION`); an unknown category is treated as a notification.
    pub fn of_category(category: Option<&str>) -> Self {
        match category.map(str::to_ascii_uppercase).as_deref() {
            Some("AUTHENTICATION") => Lane::Priority,
            Some("MARKETING") => Lane::Marketing,
            _ => Lane::Transactional,
        }
    }

    /// The name in the API and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Priority => "priority",
            Lane::Transactional => "transactional",
            Lane::Marketing => "marketing",
        }
    }

    fn is_priority(&self) -> bool {
        *self == Lane::Priority
    }
}

/// What sent an outbound message, when it was not a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageOrigin {
    /// A broadcast campaign, to one of its recipients.
    Campaign {
        /// The campaign.
        campaign_id: crate::ids::CampaignId,
    },
    /// A drip sequence, one step to one enrolled contact.
    Sequence {
        /// The sequence.
        sequence_id: crate::ids::SequenceId,
        /// The step (from 0).
        step: usize,
    },
    /// An appointment reminder.
    Reminder {
        /// The appointment.
        appointment_id: crate::ids::AppointmentId,
    },
    /// An AI reply: sent on its own (`auto`) or a draft a person accepted.
    Ai {
        /// The suggestion it came from.
        suggestion_id: crate::ids::SuggestionId,
        /// Sent without a person (auto mode). Such a message is automated messaging:
        /// on Messenger and Instagram it goes only within the 24-hour standard window,
        /// never with the `HUMAN_AGENT` tag that is reserved for people.
        auto: bool,
    },
}

impl MessageOrigin {
    /// Whether no person sent it (campaigns, sequences, reminders, AI auto-replies).
    pub fn is_automatic(&self) -> bool {
        match self {
            MessageOrigin::Ai { auto, .. } => *auto,
            _ => true,
        }
    }
}

impl Message {
    /// Key of a message.
    pub fn key_of(org: &OrgId, id: &MessageId) -> (String, String) {
        (format!("ORG#{org}#MSG#{id}"), "MSG".to_owned())
    }

    /// `gsi1` partition listing a conversation's messages in order.
    pub fn list_pk(org: &OrgId, conversation: &ConversationId) -> String {
        format!("ORG#{org}#CONV#{conversation}#MSGS")
    }

    /// Partitions of the `gsi2` index of sends awaiting the queue. Every accepted send
    /// passes through it, so it is spread over several partitions rather than one hot
    /// key.
    pub const PENDING_SHARDS: u8 = 16;

    /// `gsi2` partition `shard` of sends awaiting the queue.
    pub fn pending_pk(shard: u8) -> String {
        format!("PENDING#OUTBOUND#{shard:02}")
    }

    fn pending_shard(&self) -> u8 {
        // The id ends in random hex digits (UUIDv7); the last one picks the shard.
        self.id
            .as_str()
            .bytes()
            .last()
            .and_then(|b| (b as char).to_digit(16))
            .unwrap_or(0) as u8
            % Self::PENDING_SHARDS
    }

    /// The content's type.
    pub fn kind(&self) -> &str {
        self.content
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
    }

    /// Applies a delivery status if it is progress; always records its time.
    /// Returns whether the status changed.
    pub fn apply_status(
        &mut self,
        status: MessageStatus,
        at: DateTime<Utc>,
        error: Option<MessageError>,
        now: DateTime<Utc>,
    ) -> bool {
        self.status_times.record(status, at);
        self.updated_at = now;
        if self.status.may_become(status) {
            self.status = status;
            if status == MessageStatus::Failed {
                self.error = error;
            }
            true
        } else {
            false
        }
    }

    /// Who or what wrote it: `customer` (inbound), `ai` (an AI reply, auto or accepted),
    /// `campaign`, `sequence`, `reminder`, or `agent` (a person through the API or another
    /// tool).
    pub fn source(&self) -> &'static str {
        match (&self.direction, &self.origin) {
            (Direction::Inbound, _) => "customer",
            (_, Some(MessageOrigin::Ai { .. })) => "ai",
            (_, Some(MessageOrigin::Campaign { .. })) => "campaign",
            (_, Some(MessageOrigin::Sequence { .. })) => "sequence",
            (_, Some(MessageOrigin::Reminder { .. })) => "reminder",
            (_, None) => "agent",
        }
    }

    /// The API view.
    pub fn view(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "conversation_id": self.conversation_id,
            "channel": self.channel.as_str(),
            "direction": self.direction,
            "type": self.kind(),
            "content": self.content,
            "status": self.status,
            "status_times": self.status_times,
            "error": self.error,
            "wamid": self.wamid,
            "reply_to": self.reply_to,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.map(fmt_time),
            "sent_by": self.sent_by,
            "lane": (self.direction == Direction::Outbound).then_some(self.lane.as_str()),
            "origin": self.origin,
            "source": self.source(),
            "timestamp": fmt_time(self.timestamp),
            "created_at": fmt_time(self.created_at),
            "updated_at": fmt_time(self.updated_at),
        })
    }
}

impl Record for Message {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(
            Self::list_pk(&self.org_id, &self.conversation_id),
            format!("{}#{}", fmt_time(self.timestamp), self.id),
        ))
    }

    fn gsi2(&self) -> Option<IndexKey> {
        (self.awaiting_queue
            && matches!(self.status, MessageStatus::Queued | MessageStatus::Retrying))
        .then(|| {
            IndexKey::new(
                Self::pending_pk(self.pending_shard()),
                format!("{}#{}", fmt_time(self.created_at), self.id),
            )
        })
    }
}

/// Global look-up from a WhatsApp message id to the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WamidRoute {
    /// WhatsApp's id.
    pub wamid: String,
    /// Owner.
    pub org_id: OrgId,
    /// The message.
    pub message_id: MessageId,
}

impl WamidRoute {
    /// Key of the look-up.
    pub fn key_of(wamid: &str) -> (String, String) {
        (format!("WAMID#{wamid}"), "WAMID".to_owned())
    }
}

impl Record for WamidRoute {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.wamid)
    }
}

/// A delivery status that arrived before Switchboard knew the wamid (the webhook can
/// beat the send response). Applied when the wamid is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStatus {
    /// WhatsApp's id.
    pub wamid: String,
    /// The org the webhook routed to.
    pub org_id: OrgId,
    /// The status.
    pub status: MessageStatus,
    /// Provider time.
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    /// Error, for `failed`.
    #[serde(default)]
    pub error: Option<MessageError>,
    /// When Switchboard stops keeping it (Unix seconds): 30 days after it arrived.
    pub expires_at: i64,
}

impl EarlyStatus {
    /// How long an early status waits for its message.
    pub const KEEP_DAYS: i64 = 30;

    /// Sort-key prefix under the wamid partition.
    pub const SK_PREFIX: &'static str = "STATUS#";
}

impl Record for EarlyStatus {
    fn key(&self) -> (String, String) {
        (
            WamidRoute::key_of(&self.wamid).0,
            format!(
                "{}{}#{}",
                Self::SK_PREFIX,
                self.status.as_str(),
                fmt_time(self.at)
            ),
        )
    }

    fn ttl(&self) -> Option<i64> {
        // A send that has not produced its wamid within 30 days never will.
        Some(self.expires_at)
    }
}

/// Which provider sent a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Meta WhatsApp Cloud API.
    Whatsapp,
    /// Stripe.
    Stripe,
    /// Resend's email delivery events.
    Resend,
    /// SendGrid's Event Webhook.
    Sendgrid,
}

impl Provider {
    /// Name in keys and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Whatsapp => "whatsapp",
            Provider::Stripe => "stripe",
            Provider::Resend => "resend",
            Provider::Sendgrid => "sendgrid",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "whatsapp" => Some(Provider::Whatsapp),
            "stripe" => Some(Provider::Stripe),
            "resend" => Some(Provider::Resend),
            "sendgrid" => Some(Provider::Sendgrid),
            _ => None,
        }
    }
}

/// Processing state of a stored webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored and queued, not yet applied.
    Pending,
    /// Applied.
    Processed,
    /// Kept but not acted on (a field or type Switchboard does not handle yet).
    Ignored,
    /// No org owns the receiving number; kept until redriven.
    Unroutable,
}

/// A verified webhook event, stored before it is acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Sender.
    pub provider: Provider,
    /// Idempotency key (hash of the change, or the provider's event id).
    pub key: String,
    /// Meta `field` or Stripe event type.
    pub kind: String,
    /// Meta WABA id / Stripe account (may be empty).
    #[serde(default)]
    pub source_id: String,
    /// Receiving number, when known.
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// Queue group the event was sent under.
    pub group_id: String,
    /// The raw payload of this event, as received.
    pub payload: String,
    /// State.
    pub status: EventStatus,
    /// The org it routed to, once routed.
    #[serde(default)]
    pub org_id: Option<OrgId>,
    /// Why it was ignored or unroutable.
    #[serde(default)]
    pub note: Option<String>,
    /// Received.
    #[serde(with = "rfc3339_millis")]
    pub received_at: DateTime<Utc>,
    /// Last changed.
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
    /// The request that delivered it (kept so a requeue or redrive still follows it).
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// When the store forgets it (Unix seconds): set once it is settled (processed,
    /// ignored or unroutable), a retention period later, because the raw payload holds
    /// personal data (numbers, names, message text) that the records built from it
    /// already keep. `None` while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl WebhookEvent {
    /// Key of an event.
    pub fn key_of(provider: Provider, key: &str) -> (String, String) {
        (
            format!("EVENT#{}#{key}", provider.as_str()),
            "EVENT".to_owned(),
        )
    }

    /// `gsi2` partition of a provider's pending events.
    pub fn pending_pk(provider: Provider) -> String {
        format!("PENDING#{}", provider.as_str())
    }

    /// `gsi1` partition of a provider's unroutable events.
    pub fn unroutable_pk(provider: Provider) -> String {
        format!("UNROUTABLE#{}", provider.as_str())
    }
}

impl Record for WebhookEvent {
    fn key(&self) -> (String, String) {
        Self::key_of(self.provider, &self.key)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        (self.status == EventStatus::Unroutable).then(|| {
            IndexKey::new(
                Self::unroutable_pk(self.provider),
                format!("{}#{}", fmt_time(self.received_at), self.key),
            )
        })
    }

    /// Pending events are listed on `gsi2` so that one whose enqueue never happened
    /// (the provider stopped retrying) can be found and queued again.
    fn gsi2(&self) -> Option<IndexKey> {
        (self.status == EventStatus::Pending).then(|| {
            IndexKey::new(
                Self::pending_pk(self.provider),
                format!("{}#{}", fmt_time(self.received_at), self.key),
            )
        })
    }
    fn ttl(&self) -> Option<i64> {
        self.expires_at
    }
}

/// The body of a queue message that points at a stored webhook event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    /// Sender.
    pub provider: Provider,
    /// Idempotency key.
    pub event: String,
    /// The request that delivered the event, for following it through the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_750_000_000 + s, 0).unwrap()
    }

    #[test]
    fn statuses_only_move_forward() {
        use MessageStatus::*;
        assert!(Queued.may_become(Sent));
        assert!(Sent.may_become(Read));
        assert!(!Read.may_become(Delivered));
        assert!(!Delivered.may_become(Delivered));
        assert!(Sent.may_become(Failed));
        assert!(!Delivered.may_become(Failed));
        assert!(!Failed.may_become(Read));
    }

    fn conversation() -> Conversation {
        let org = OrgId::parse("acme").unwrap();
        let wa = WaId::parse("16505551234").unwrap();
        let pn = PhoneNumberId::parse("106540352242922").unwrap();
        Conversation::open(
            &org,
            &AccountId::from_uuid(uuid::Uuid::nil()),
            &pn,
            &wa,
            t(0),
        )
    }

    #[test]
    fn activity_only_moves_forward_and_window_follows_inbound() {
        let mut c = conversation();
        let org = c.org_id.clone();
        let m2 = MessageId::for_wamid(&org, "w2");
        let m1 = MessageId::for_wamid(&org, "w1");
        c.record_message(&m2, t(20), Direction::Inbound, "second".into(), t(30));
        c.record_message(&m1, t(10), Direction::Inbound, "first".into(), t(31));
        assert_eq!(c.last_message_preview.as_deref(), Some("second"));
        assert_eq!(c.unread_count, 2);
        assert_eq!(c.last_inbound_at, Some(t(20)));
        assert!(c.window_open(t(20) + Duration::hours(23)));
        assert!(!c.window_open(t(20) + Duration::hours(24)));
        let gsi = c.gsi1().unwrap();
        assert!(gsi.sk.starts_with(&fmt_time(t(20))));
    }
}
