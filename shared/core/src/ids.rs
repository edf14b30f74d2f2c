//! Identifiers that can only hold valid values ("parse, don't validate").
//!
//! Org ids come from verified tokens, provider ids from verified webhooks or validated
//! requests; once parsed they flow through the code without re-checking. Resource ids
//! carry a short type prefix (`acc_`, `ct_`, `cv_`, `msg_`) so a log line or support
//! ticket says what an id names.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a value is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(pub String);

/// `TryFrom<String>` (through `parse`), `From<Id> for String` and `Display` for a
/// string-backed identifier.
macro_rules! text_id_impls {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A tenant. Comes only from a verified token (API) or a look-up (webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgId(String);

impl OrgId {
    /// Parses an org id: 1–64 of `[A-Za-z0-9_.:-]` (covers Clerk `org_…`, UUIDs, slugs).
    /// `#` is excluded because it separates key parts in the item store.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId(
                "org id must be 1-64 characters of letters, digits, '_', '-', '.', ':'".into(),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_id_impls!(OrgId);

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The type prefix, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// Wraps a UUID.
            pub fn from_uuid(u: Uuid) -> Self {
                Self(format!("{}{}", $prefix, u.simple()))
            }

            /// Parses `<prefix><32 hex>`; anything else (including another type's id)
            /// is refused, so a path parameter can never reach the store unchecked.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                match s.strip_prefix($prefix) {
                    Some(rest) if rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) => Ok(Self(s.to_owned())),
                    _ => Err(InvalidId(format!("not a valid {} id", $prefix.trim_end_matches('_')))),
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        text_id_impls!($name);
    };
}

prefixed_id!(
    /// A connected provider account (a WhatsApp business number).
    AccountId, "acc_"
);
prefixed_id!(
    /// A customer of an org, identified on WhatsApp by their wa_id.
    ContactId, "ct_"
);
prefixed_id!(
    /// The thread between one business number and one contact.
    ConversationId, "cv_"
);
prefixed_id!(
    /// One message, inbound or outbound.
    MessageId, "msg_"
);
prefixed_id!(
    /// A contact import (one uploaded CSV file and its progress).
    ImportId, "imp_"
);
prefixed_id!(
    /// A note an agent wrote about a contact.
    NoteId, "nt_"
);
prefixed_id!(
    /// A broadcast campaign.
    CampaignId, "cmp_"
);
prefixed_id!(
    /// A drip sequence.
    SequenceId, "seq_"
);
prefixed_id!(
    /// A quick reply: a saved answer agents insert by its shortcut.
    QuickReplyId, "qr_"
);
prefixed_id!(
    /// An email Switchboard sends (derived from its cause, so a cause emails once).
    EmailId, "em_"
);
prefixed_id!(
    /// A contact's appointment, with its reminders.
    AppointmentId, "apt_"
);
prefixed_id!(
    /// One AI reply to a customer's message: a draft, a sent auto-reply, or the record of
    /// a reply the models could not give (derived from the message it answers).
    SuggestionId, "sg_"
);

/// Namespace for ids derived from provider identities (UUIDv5): the same provider fact
/// always maps to the same id, which makes inbound processing idempotent by construction.
const NAMESPACE: Uuid = Uuid::from_u128(0x5b0a_2d1e_7c3f_4e8a_9d6b_1f2e_3a4c_5d6e);

/// Derives a stable id from parts (joined with a separator that cannot occur in them).
pub fn derived_uuid(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&NAMESPACE, parts.join("\u{1f}").as_bytes())
}

impl ContactId {
    /// The contact of `wa_id` in `org`.
    pub fn for_wa_id(org: &OrgId, wa_id: &WaId) -> Self {
        Self::from_uuid(derived_uuid(&["contact", org.as_str(), wa_id.as_str()]))
    }

    /// The contact of a person on `channel` (`whatsapp`, `messenger`, `instagram`): their
    /// WhatsApp id, or the page-scoped id Meta gives them on Messenger and Instagram. The
    /// channel is part of the derivation, so a page-scoped id never meets a phone number.
    pub fn for_user(org: &OrgId, channel: &str, user: &WaId) -> Self {
        if channel == "whatsapp" {
            return Self::for_wa_id(org, user);
        }
        Self::from_uuid(derived_uuid(&[
            "contact",
            org.as_str(),
            channel,
            user.as_str(),
        ]))
    }
}

impl ConversationId {
    /// The conversation between a business number and a customer in `org`. Keyed by the
    /// phone number id rather than the account id, so reconnecting a number continues
    /// its threads.
    pub fn for_thread(org: &OrgId, phone_number_id: &PhoneNumberId, wa_id: &WaId) -> Self {
        Self::from_uuid(derived_uuid(&[
            "conversation",
            org.as_str(),
            phone_number_id.as_str(),
            wa_id.as_str(),
        ]))
    }
}

impl MessageId {
    /// The message that a provider message id (wamid) maps to in `org`.
    pub fn for_wamid(org: &OrgId, wamid: &str) -> Self {
        Self::from_uuid(derived_uuid(&["message", org.as_str(), wamid]))
    }
}

macro_rules! digits_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses a string of digits of plausible length.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                let s = s.trim();
                if (($min)..=($max)).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidId(format!(
                        "{} must be {}-{} digits",
                        $what, $min, $max
                    )))
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        text_id_impls!($name);
    };
}

digits_id!(
    /// Graph id of a WhatsApp business phone number.
    PhoneNumberId, "phone_number_id", 5, 32
);
digits_id!(
    /// Graph id of a WhatsApp Business Account.
    WabaId, "waba_id", 5, 32
);
digits_id!(
    /// A customer's WhatsApp id: their number in international form, digits only.
    WaId, "wa_id", 5, 20
);

impl WaId {
    /// The number masked to its last four digits, for logs.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Masks a phone number to its last four digits (`••••1234`): logs never hold a full
/// customer number.
pub fn mask_phone(s: &str) -> String {
    let digits: Vec<char> = s.chars().collect();
    let keep = digits.len().min(4);
    let tail: String = digits[digits.len() - keep..].iter().collect();
    format!("••••{tail}")
}

/// What a caller may do inside their org. Ordered: each role can do all that the ones
/// below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads conversations, contacts, integrations and billing.
    Viewer,
    /// Also sends messages.
    Agent,
    /// Also manages integrations.
    Admin,
    /// Also manages billing.
    Owner,
}

impl Role {
    /// Parses a role claim. Accepts the bare names and the `org:`-prefixed form Clerk
    /// uses (`org:admin`); `member` (Clerk's default) maps to agent, and `manager` (what
    /// some identity providers call the people who run an org's setup) to admin.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("org:").unwrap_or(&s);
        match s {
            "viewer" | "read_only" | "readonly" => Some(Role::Viewer),
            "agent" | "member" | "basic_member" => Some(Role::Agent),
            "admin" | "manager" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids() {
        assert!(OrgId::parse("acme").is_ok());
        assert!(OrgId::parse("org_2abcXYZ").is_ok());
        assert!(OrgId::parse("").is_err());
        assert!(OrgId::parse("a#b").is_err());
        assert!(OrgId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn prefixed_ids_refuse_other_types() {
        let id = ContactId::from_uuid(Uuid::now_v7());
        assert!(ContactId::parse(id.as_str()).is_ok());
        assert!(ConversationId::parse(id.as_str()).is_err());
        assert!(ContactId::parse("ct_123").is_err());
        assert!(ContactId::parse(&id.as_str().to_uppercase()).is_err());
    }

    #[test]
    fn derived_ids_are_stable_and_org_scoped() {
        let acme = OrgId::parse("acme").unwrap();
        let beta = OrgId::parse("beta").unwrap();
        let wa = WaId::parse("16505551234").unwrap();
        assert_eq!(
            ContactId::for_wa_id(&acme, &wa),
            ContactId::for_wa_id(&acme, &wa)
        );
        assert_ne!(
            ContactId::for_wa_id(&acme, &wa),
            ContactId::for_wa_id(&beta, &wa)
        );
        assert_ne!(
            MessageId::for_wamid(&acme, "w1"),
            MessageId::for_wamid(&acme, "w2")
        );
    }

    #[test]
    fn phone_masking_and_digits() {
        assert_eq!(WaId::parse("16505551234").unwrap().masked(), "••••1234");
        assert_eq!(mask_phone("12"), "••••12");
        assert!(WaId::parse("+16505551234").is_err());
        assert!(PhoneNumberId::parse("106540352242922").is_ok());
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(
            Role::Owner > Role::Admin && Role::Admin > Role::Agent && Role::Agent > Role::Viewer
        );
        assert_eq!(Role::parse("org:admin"), Some(Role::Admin));
        assert_eq!(Role::parse("Owner"), Some(Role::Owner));
        assert_eq!(Role::parse("member"), Some(Role::Agent));
        assert_eq!(Role::parse("manager"), Some(Role::Admin));
        assert_eq!(Role::parse("org:Manager"), Some(Role::Admin));
        assert!(Role::parse("manager").unwrap() < Role::Owner);
        assert_eq!(Role::parse("superuser"), None);
    }
}
