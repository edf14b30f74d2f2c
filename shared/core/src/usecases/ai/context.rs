//! What a model is told.
//!
//! A reply prompt is, in order: one system message (the org's own prompt first, then
//! Switchboard's rules, the contact's name, tags and custom fields, the business's known
//! answers from its quick replies, and the contact's notes when the org allows it), then
//! the conversation's recent messages oldest first — the customer's as `user`, the
//! business's as `assistant` — within a token budget, ending with the message being
//! answered.
//!
//! Never sent: the customer's phone number (or page-scoped id), their email, and anything
//! of another contact. Every text that goes out passes [`redact`], which also masks phone
//! numbers a customer or an agent typed into a message, a note or a field.

use serde_json::Value;

use crate::error::Result;
use crate::ids::{ConversationId, OrgId};
use crate::llm::{ChatMessage, ChatRole};
use crate::model::{Contact, Direction, Message};
use crate::record::{decode_all, load};
use crate::services::Services;
use crate::store::{Index, Query, SortKey};

use super::AiSettings;

/// Rough size of the conversation history sent, in tokens (~4 characters each).
pub const HISTORY_TOKEN_BUDGET: usize = 3_000;
/// Most messages looked at for the history.
pub const HISTORY_MESSAGES: usize = 40;
/// Most characters of known answers (quick replies).
pub const KNOWN_ANSWERS_CHARS: usize = 6_000;
/// Most characters of notes.
pub const NOTES_CHARS: usize = 3_000;
/// What the model answers, alone, to hand the conversation to a person.
pub const HANDOFF_MARKER: &str = "[HANDOFF]";

/// Characters per token, for budgets (an estimate; providers count exactly).
const CHARS_PER_TOKEN: usize = 4;

/// `text` with every phone-number-like run (7 or more digits, possibly broken by spaces,
/// dots, dashes, slashes or brackets, possibly after a `+`) replaced by `[phone]`.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if starts && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            // The longest run of digits and separators from here.
            let mut j = i + usize::from(chars[i] == '+');
            let mut digits = 0;
            let mut end = j;
            while j < chars.len() {
                let c = chars[j];
                if c.is_ascii_digit() {
                    digits += 1;
                    end = j + 1;
                } else if !matches!(c, ' ' | '-' | '.' | '/' | '(' | ')') {
                    break;
                }
                j += 1;
            }
            if digits >= 7 {
                out.push_str("[phone]");
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The text a message carries for a model: its body, a caption, a button's title, or
/// `[image]`-style placeholders for what has no text.
pub fn message_text(m: &Message) -> String {
    let c = &m.content;
    let kind = c.get("type").and_then(Value::as_str).unwrap_or("");
    let pick = |ptr: &str| c.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
    let text = match kind {
        "text" => pick("/text/body"),
        "button" => pick("/button/text"),
        "interactive" => pick("/interactive/button_reply/title")
            .or_else(|| pick("/interactive/list_reply/title")),
        "quick_reply" => pick("/quick_reply/text"),
        "postback" => pick("/postback/title"),
        "template" => pick("/template/name").map(|n| format!("[template {n}]")),
        "image" | "video" | "document" | "audio" | "sticker" => Some(
            pick(&format!("/{kind}/caption"))
                .or_else(|| pick("/caption"))
                .map(|cap| format!("[{kind}] {cap}"))
                .unwrap_or_else(|| format!("[{kind}]")),
        ),
        "" => None,
        other => Some(format!("[{other}]")),
    };
    text.unwrap_or_default()
}

/// Whether `text` asks for a person: one of `keywords` as a whole word (any case).
pub fn asks_for_person(text: &str, keywords: &[String]) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    keywords.iter().any(|k| {
        let k_words: Vec<&str> = k
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        !k_words.is_empty()
            && words
                .windows(k_words.len())
                .any(|w| w == k_words.as_slice())
    })
}

/// The conversation's latest messages, newest first.
pub async fn recent_messages(
    svc: &Services,
    org: &OrgId,
    conversation: &ConversationId,
    limit: usize,
) -> Result<Vec<Message>> {
    let page = svc
        .store
        .query(
            Query::index(Index::Gsi1, Message::list_pk(org, conversation))
                .descending()
                .limit(limit),
        )
        .await?;
    Ok(decode_all(&page.items)?)
}

/// The history part of a prompt: oldest first, within the budget, ending with the
/// newest message. Empty texts are left out.
pub fn history(newest_first: &[Message], budget_tokens: usize) -> Vec<ChatMessage> {
    let mut budget = budget_tokens * CHARS_PER_TOKEN;
    let mut out = Vec::new();
    for m in newest_first {
        let text = redact(&message_text(m));
        if text.trim().is_empty() {
            continue;
        }
        let size = text.chars().count();
        if size > budget {
            if out.is_empty() {
                // The message being answered always goes, cut to the budget.
                out.push(ChatMessage::new(
                    role_of(m),
                    text.chars().take(budget).collect::<String>(),
                ));
            }
            break;
        }
        budget -= size;
        out.push(ChatMessage::new(role_of(m), text));
    }
    out.reverse();
    out
}

fn role_of(m: &Message) -> ChatRole {
    match m.direction {
        Direction::Inbound => ChatRole::User,
        Direction::Outbound => ChatRole::Assistant,
    }
}

fn push_limited(out: &mut String, line: &str, used: &mut usize, limit: usize) -> bool {
    let n = line.chars().count();
    if *used + n > limit {
        return false;
    }
    *used += n;
    out.push_str(line);
    true
}

/// The system message of a reply prompt.
pub async fn system_message(
    svc: &Services,
    settings: &AiSettings,
    contact: Option<&Contact>,
) -> Result<String> {
    let mut s = String::new();
    if !settings.system_prompt.trim().is_empty() {
        s.push_str(settings.system_prompt.trim());
        s.push_str("\n\n");
    }
    s.push_str(
        "You reply on behalf of the business to a customer in a chat. Write only the reply \
         itself, in the customer's language, short and friendly. Do not invent prices, \
         dates or promises the business has not stated. If the customer asks for a person, \
         is upset, or you cannot help, answer with exactly ",
    );
    s.push_str(HANDOFF_MARKER);
    s.push_str(" and nothing else.\n");
    if let Some(c) = contact {
        s.push_str("\nAbout the customer:\n");
        if let Some(name) = &c.name {
            s.push_str(&format!("- name: {}\n", redact(name)));
        }
        if !c.tags.is_empty() {
            s.push_str(&format!("- tags: {}\n", c.tags.join(", ")));
        }
        for (k, v) in &c.custom_fields {
            let v = match v {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            s.push_str(&format!("- {k}: {}\n", redact(&v)));
        }
        if settings.use_notes {
            let notes = notes_of(svc, c).await?;
            if !notes.is_empty() {
                s.push_str("\nNotes the team wrote about the customer:\n");
                s.push_str(&notes);
            }
        }
    }
    let answers = known_answers(svc, &contact.map(|c| c.org_id.clone())).await?;
    if !answers.is_empty() {
        s.push_str("\nThe business's known answers (use them when they fit):\n");
        s.push_str(&answers);
    }
    Ok(s)
}

async fn known_answers(svc: &Services, org: &Option<OrgId>) -> Result<String> {
    let Some(org) = org else {
        return Ok(String::new());
    };
    let page = svc
        .store
        .query(
            Query::index(
                Index::Gsi1,
                crate::usecases::quick_replies::QuickReply::list_pk(org),
            )
            .limit(100),
        )
        .await?;
    let mut out = String::new();
    let mut used = 0;
    for q in decode_all::<crate::usecases::quick_replies::QuickReply>(&page.items)? {
        let line = format!("- /{}: {}\n", q.shortcut, redact(q.body.trim()));
        if !push_limited(&mut out, &line, &mut used, KNOWN_ANSWERS_CHARS) {
            break;
        }
    }
    Ok(out)
}

async fn notes_of(svc: &Services, c: &Contact) -> Result<String> {
    let (pk, _) = Contact::key_of(&c.org_id, &c.id);
    let page = svc
        .store
        .query(
            Query::table(pk)
                .sort(SortKey::BeginsWith(
                    crate::usecases::notes::SK_PREFIX.into(),
                ))
                .descending()
                .limit(20),
        )
        .await?;
    let mut out = String::new();
    let mut used = 0;
    for n in decode_all::<crate::usecases::notes::Note>(&page.items)? {
        let line = format!("- {}\n", redact(n.body.trim()));
        if !push_limited(&mut out, &line, &mut used, NOTES_CHARS) {
            break;
        }
    }
    Ok(out)
}

/// The contact of a conversation, if stored.
pub async fn contact_of(
    svc: &Services,
    org: &OrgId,
    id: &crate::ids::ContactId,
) -> Result<Option<Contact>> {
    let (pk, sk) = Contact::key_of(org, id);
    Ok(load::<Contact>(&*svc.store, &pk, &sk)
        .await?
        .map(|v| v.record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_masked_and_short_numbers_kept() {
        assert_eq!(
            redact("call me on +31 6 1234 5678 or 020-555-0199, order 12345"),
            "call me on [phone] or [phone], order 12345"
        );
        assert_eq!(redact("+447700900123"), "[phone]");
        assert_eq!(redact("room 42, 3 people"), "room 42, 3 people");
        assert_eq!(
            redact("A1234567"),
            "A1234567",
            "part of a word is not a number"
        );
    }

    #[test]
    fn handoff_keywords_match_whole_words() {
        let k = vec!["human".to_owned(), "echt mens".to_owned()];
        assert!(asks_for_person("Can I talk to a HUMAN please?", &k));
        assert!(asks_for_person("ik wil een echt mens", &k));
        assert!(!asks_for_person("humanity is great", &k));
        assert!(!asks_for_person("mens sana", &k[..1]));
    }
}
