//! The conversation as a ticket: its status, priority, labels and assignee, and the index
//! items that list an org's conversations by each of them.
//!
//! The unfiltered inbox lists conversations through the conversation item's own `gsi1`
//! key (`ORG#<org>#CONVS` / `<activity>#<id>`). A filtered inbox must be a query too,
//! never a scan, so every conversation keeps one small *list entry* per list it belongs
//! to, each with a `gsi1` key of that list and the same activity sort key:
//!
//! | entry (sk, in the conversation's partition) | `gsi1` partition |
//! |---|---|
//! | `LIST#STATUS` | `ORG#<org>#CONVS#STATUS#<status>` |
//! | `LIST#PRIORITY` | `ORG#<org>#CONVS#PRIORITY#<priority>` |
//! | `LIST#ASSIGNEE` | `ORG#<org>#CONVS#ASSIGNEE#<user>` or `ORG#<org>#CONVS#UNASSIGNED` |
//! | `LIST#LABEL#<label>` | `ORG#<org>#CONVS#LABEL#<label>` |
//! | `LIST#SENTIMENT` | `ORG#<org>#CONVS#SENTIMENT#<sentiment>` (once analysed) |
//!
//! Status, priority and assignee are one entry each whose index partition follows the
//! value, so changing them (a reopen by an inbound message, say) is a put of the same
//! key, never a delete. Entries are written in the same transaction as the conversation
//! whenever its activity time or one of these fields changes, and they live in the
//! conversation's partition so that deleting the partition (an erasure) takes them along.
//! They hold ids only: no names, numbers or message text.
//!
//! A snoozed conversation is also on `gsi2` (`SNOOZED#<shard>` / `<until>#<id>`) while it
//! is snoozed, which is how the sweep finds the snoozes that are due.

use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, OrgId};
use crate::model::Conversation;
use crate::record::{Record, item};
use crate::store::{Condition, IndexKey, StoreError, Write};

/// Most labels a conversation carries.
pub const MAX_LABELS: usize = 20;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// Longest assignee (user id), in characters.
pub const MAX_ASSIGNEE_CHARS: usize = 256;

/// Where a conversation stands as a ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// Needs the business's attention (every new conversation starts here).
    #[default]
    Open,
    /// Waiting on someone else (the customer, a colleague).
    Pending,
    /// Done; the customer's next message reopens it.
    Resolved,
    /// Out of the way until `snoozed_until` (or the customer's next message).
    Snoozed,
}

impl ConversationStatus {
    /// Every status, in the order the API documents them.
    pub const ALL: [Self; 4] = [Self::Open, Self::Pending, Self::Resolved, Self::Snoozed];

    /// The name in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Resolved => "resolved",
            Self::Snoozed => "snoozed",
        }
    }

    /// Parses an API name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How urgent a conversation is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Whenever there is time.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before the normal ones.
    High,
    /// Now.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Self; 4] = [Self::Low, Self::Normal, Self::High, Self::Urgent];

    /// The name in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    /// Parses an API name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A label in its stored form: trimmed, lower-case, 1–64 of `[a-z0-9_:-]`. `None` when
/// `raw` cannot be one (`#` in particular would break the keys it goes into).
pub fn normalise_label(raw: &str) -> Option<String> {
    let label = raw.trim().to_lowercase();
    let ok = !label.is_empty()
        && label.chars().count() <= MAX_LABEL_CHARS
        && label.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b':')
        });
    ok.then_some(label)
}

/// Whether `s` can be an assignee: a user id as identity providers issue them (Clerk
/// `user_…`, Auth0 `auth0|…`, UUIDs, e-mail-like subjects), 1–256 printable ASCII
/// characters without `#` (the key separator) or whitespace.
pub fn valid_assignee(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ASSIGNEE_CHARS
        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

/// One list a conversation can be narrowed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFilter {
    /// Conversations in this status.
    Status(ConversationStatus),
    /// Conversations assigned to this user.
    Assignee(String),
    /// Conversations assigned to nobody.
    Unassigned,
    /// Conversations carrying this label.
    Label(String),
    /// Conversations of this priority.
    Priority(Priority),
    /// Conversations whose latest analysed customer message had this sentiment.
    Sentiment(crate::usecases::ai::Sentiment),
}

impl ListFilter {
    /// The `gsi1` partition of the list in `org`.
    pub fn list_pk(&self, org: &OrgId) -> String {
        let base = Conversation::list_pk(org);
        match self {
            Self::Status(s) => format!("{base}#STATUS#{}", s.as_str()),
            Self::Assignee(user) => format!("{base}#ASSIGNEE#{user}"),
            Self::Unassigned => format!("{base}#UNASSIGNED"),
            Self::Label(label) => format!("{base}#LABEL#{label}"),
            Self::Priority(p) => format!("{base}#PRIORITY#{}", p.as_str()),
            Self::Sentiment(s) => format!("{base}#SENTIMENT#{}", s.as_str()),
        }
    }

    /// Whether the conversation belongs to the list.
    pub fn matches(&self, c: &Conversation) -> bool {
        match self {
            Self::Status(s) => c.status == *s,
            Self::Assignee(user) => c.assignee.as_deref() == Some(user.as_str()),
            Self::Unassigned => c.assignee.is_none(),
            Self::Label(label) => c.labels.iter().any(|l| l == label),
            Self::Priority(p) => c.priority == *p,
            Self::Sentiment(s) => c.insight.as_ref().is_some_and(|i| i.sentiment == *s),
        }
    }

    /// How large the list is expected to be relative to the others (smaller is more
    /// selective). With several filters the smallest list is queried and the others are
    /// checked on the records, so the guess decides how many records a page reads. A
    /// person's queue and a label are usually small; most conversations end resolved,
    /// normal and, in a small team, unassigned.
    pub fn expected_size(&self) -> u8 {
        match self {
            Self::Assignee(_) => 1,
            Self::Label(_) => 2,
            Self::Status(ConversationStatus::Pending | ConversationStatus::Snoozed) => 3,
            Self::Priority(Priority::Urgent | Priority::High) => 3,
            Self::Status(ConversationStatus::Open) => 4,
            Self::Priority(Priority::Low) => 5,
            Self::Unassigned => 6,
            Self::Status(ConversationStatus::Resolved) => 7,
            Self::Priority(Priority::Normal) => 8,
            Self::Sentiment(crate::usecases::ai::Sentiment::Negative) => 3,
            Self::Sentiment(crate::usecases::ai::Sentiment::Positive) => 5,
            Self::Sentiment(crate::usecases::ai::Sentiment::Neutral) => 7,
        }
    }
}

/// Sort-key prefix of list entries in a conversation's partition.
pub const ENTRY_SK_PREFIX: &str = "LIST#";

/// One entry of a filtered list (see the module doc). The document says which
/// conversation it lists; the keys say where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEntry {
    /// Owner.
    pub org_id: OrgId,
    /// The conversation listed.
    pub conversation_id: ConversationId,
    /// The entry's slot: `STATUS`, `PRIORITY`, `ASSIGNEE` or `LABEL#<label>`.
    pub slot: String,
    /// The list's `gsi1` partition.
    pub list_pk: String,
    /// The conversation's activity sort key (`<last activity>#<id>`).
    pub activity: String,
}

impl Record for ListEntry {
    fn key(&self) -> (String, String) {
        (
            Conversation::key_of(&self.org_id, &self.conversation_id).0,
            format!("{ENTRY_SK_PREFIX}{}", self.slot),
        )
    }

    fn gsi1(&self) -> Option<IndexKey> {
        Some(IndexKey::new(self.list_pk.clone(), self.activity.clone()))
    }
}

/// The entries a conversation has in its current state.
pub fn entries(c: &Conversation) -> Vec<ListEntry> {
    let activity = c.gsi1().map(|k| k.sk).unwrap_or_default();
    let entry = |slot: String, filter: ListFilter| ListEntry {
        org_id: c.org_id.clone(),
        conversation_id: c.id.clone(),
        slot,
        list_pk: filter.list_pk(&c.org_id),
        activity: activity.clone(),
    };
    let assignee = match &c.assignee {
        Some(user) => ListFilter::Assignee(user.clone()),
        None => ListFilter::Unassigned,
    };
    let mut out = vec![
        entry("STATUS".into(), ListFilter::Status(c.status)),
        entry("PRIORITY".into(), ListFilter::Priority(c.priority)),
        entry("ASSIGNEE".into(), assignee),
    ];
    for label in &c.labels {
        out.push(entry(
            format!("LABEL#{label}"),
            ListFilter::Label(label.clone()),
        ));
    }
    if let Some(insight) = &c.insight {
        out.push(entry(
            "SENTIMENT".into(),
            ListFilter::Sentiment(insight.sentiment),
        ));
    }
    out
}

/// The writes that bring a conversation's entries up to date, to go in the transaction
/// that writes the conversation: every current entry is put (its activity key moves with
/// each message, and a put also repairs an entry an older release never wrote), and the
/// label entries `before` had and `after` no longer has are deleted. The writes are
/// unconditional: the conversation's own version condition guards the transaction.
pub fn entry_writes(
    before: Option<&Conversation>,
    after: &Conversation,
) -> Result<Vec<Write>, StoreError> {
    let current = entries(after);
    let mut writes = Vec::with_capacity(current.len());
    for e in &current {
        writes.push(Write::put(item(e, 1)?, Condition::Always));
    }
    if let Some(before) = before {
        for old in entries(before) {
            if !current.iter().any(|e| e.slot == old.slot) {
                let (pk, sk) = old.key();
                writes.push(Write::delete(pk, sk, Condition::Always));
            }
        }
    }
    Ok(writes)
}

/// Partitions of the `gsi2` index of snoozed conversations: spread so that a busy org's
/// snoozes do not all land on one key.
pub const SNOOZE_SHARDS: u8 = 16;

/// `gsi2` partition `shard` of snoozed conversations.
pub fn snoozed_pk(shard: u8) -> String {
    format!("SNOOZED#{shard:02}")
}

/// The snooze shard of a conversation: its id ends in hex digits (a UUID), the last one
/// picks the shard.
pub fn snooze_shard(id: &ConversationId) -> u8 {
    id.as_str()
        .bytes()
        .last()
        .and_then(|b| (b as char).to_digit(16))
        .unwrap_or(0) as u8
        % SNOOZE_SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_normalise_or_are_refused() {
        assert_eq!(normalise_label(" VIP ").as_deref(), Some("vip"));
        assert_eq!(
            normalise_label("order:late-2_x").as_deref(),
            Some("order:late-2_x")
        );
        for bad in ["", " ", "a b", "a#b", "é", &"x".repeat(65)] {
            assert_eq!(normalise_label(bad), None, "{bad}");
        }
        assert!(normalise_label(&"x".repeat(64)).is_some());
    }

    #[test]
    fn assignees_exclude_key_separators() {
        assert!(valid_assignee("user_2abc"));
        assert!(valid_assignee("auth0|5f7c"));
        assert!(!valid_assignee(""));
        assert!(!valid_assignee("a#b"));
        assert!(!valid_assignee("a b"));
        assert!(!valid_assignee(&"u".repeat(257)));
    }

    fn conversation() -> Conversation {
        use crate::ids::{AccountId, PhoneNumberId, WaId};
        let org = OrgId::parse("acme").unwrap();
        Conversation::open(
            &org,
            &AccountId::from_uuid(uuid::Uuid::nil()),
            &PhoneNumberId::parse("106540352242922").unwrap(),
            &WaId::parse("16505551234").unwrap(),
            chrono::Utc::now(),
        )
    }

    #[test]
    fn entries_follow_the_fields_and_a_removed_label_is_deleted() {
        let mut c = conversation();
        let keys = |c: &Conversation| -> Vec<(String, String)> {
            entries(c)
                .iter()
                .map(|e| (e.key().1, e.gsi1().unwrap().pk))
                .collect()
        };
        assert_eq!(
            keys(&c),
            [
                ("LIST#STATUS".into(), "ORG#acme#CONVS#STATUS#open".into()),
                (
                    "LIST#PRIORITY".into(),
                    "ORG#acme#CONVS#PRIORITY#normal".into()
                ),
                ("LIST#ASSIGNEE".into(), "ORG#acme#CONVS#UNASSIGNED".into()),
            ]
        );
        let activity = c.gsi1().unwrap().sk;
        assert!(entries(&c).iter().all(|e| e.gsi1().unwrap().sk == activity));
        let before = {
            c.labels = vec!["vip".into(), "late".into()];
            c.clone()
        };
        c.labels = vec!["vip".into()];
        c.assignee = Some("user_1".into());
        c.status = ConversationStatus::Resolved;
        assert!(keys(&c).contains(&(
            "LIST#ASSIGNEE".into(),
            "ORG#acme#CONVS#ASSIGNEE#user_1".into()
        )));
        let writes = entry_writes(Some(&before), &c).unwrap();
        let deletes: Vec<&str> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Delete { sk, .. } => Some(sk.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deletes, ["LIST#LABEL#late"]);
        assert_eq!(writes.len(), 5, "4 puts and the delete");
        for f in [
            ListFilter::Status(ConversationStatus::Resolved),
            ListFilter::Assignee("user_1".into()),
            ListFilter::Label("vip".into()),
            ListFilter::Priority(Priority::Normal),
        ] {
            assert!(f.matches(&c), "{f:?}");
        }
        assert!(!ListFilter::Unassigned.matches(&c));
        assert!(!ListFilter::Label("late".into()).matches(&c));
    }

    #[test]
    fn only_a_snoozed_conversation_is_on_the_sweep_index() {
        let mut c = conversation();
        assert!(c.gsi2().is_none());
        let until = chrono::Utc::now() + chrono::Duration::hours(1);
        c.status = ConversationStatus::Snoozed;
        c.snoozed_until = Some(until);
        let key = c.gsi2().unwrap();
        assert_eq!(key.pk, snoozed_pk(snooze_shard(&c.id)));
        assert!(key.sk.starts_with(&crate::clock::fmt_time(until)));
        assert!(c.reopen(chrono::Utc::now()));
        assert!(c.gsi2().is_none() && c.snoozed_until.is_none());
        assert!(!c.reopen(chrono::Utc::now()), "open stays open");
    }

    #[test]
    fn names_round_trip() {
        for s in ConversationStatus::ALL {
            assert_eq!(ConversationStatus::parse(s.as_str()), Some(s));
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert_eq!(ConversationStatus::parse("closed"), None);
    }
}
