//! What a row of an import means: the header's columns, one row's validated contact
//! fields (or the reasons it is refused), and the upsert that applies them.
//!
//! Rows are validated by the worker, not the API: the API only needs the file's shape
//! (columns, record count) to accept it, and a bad row must never stop the good ones, so
//! each row's problems become `{row, field, message}` entries of the import.
//!
//! Messages never echo a value: the import record is kept for a month and read by admins,
//! and phone numbers, e-mail addresses and names stay out of it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::{ContactId, OrgId, WaId};
use crate::model::{Contact, ContactStatus};
use crate::record::load;
use crate::services::Services;
use crate::store::StoreError;

/// Most tags a contact may have.
pub const MAX_TAGS: usize = 50;
/// Longest tag.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest custom field key (after `cf_`).
pub const MAX_CUSTOM_FIELD_KEY: usize = 40;
/// Longest custom field value.
pub const MAX_CUSTOM_FIELD_VALUE: usize = 1000;
/// Longest name.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The contact statuses.
pub const STATUSES: [&str; 4] = ["lead", "prospect", "customer", "inactive"];

/// What a header column means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "key")]
pub enum Column {
    /// `phone`.
    Phone,
    /// `name`.
    Name,
    /// `email`.
    Email,
    /// `tags`, `;`-separated.
    Tags,
    /// `status`.
    Status,
    /// `cf_<key>`: a custom field.
    Custom(String),
    /// Anything else: ignored (and listed in the import's `ignored_columns`).
    Ignored,
}

/// Reads the header row: each column's meaning, in order. Names are compared trimmed
/// and case-insensitively. Refused (422 naming the column): no `phone` column, a column
/// named twice, a `cf_` column whose key is not `[a-z0-9_]{1,40}`.
pub fn columns(header: &[String]) -> Result<Vec<Column>> {
    let mut out = Vec::with_capacity(header.len());
    let mut seen = std::collections::BTreeSet::new();
    for raw in header {
        let name = raw.trim().to_ascii_lowercase();
        let column = match name.as_str() {
            "phone" => Column::Phone,
            "name" => Column::Name,
            "email" => Column::Email,
            "tags" => Column::Tags,
            "status" => Column::Status,
            other => match other.strip_prefix("cf_") {
                Some(key) if valid_custom_key(key) => Column::Custom(key.to_owned()),
                Some(_) => {
                    return Err(Error::validation(
                        raw.trim(),
                        "invalid_custom_field_key",
                        format!(
                            "custom field columns are cf_ and a key of 1-{MAX_CUSTOM_FIELD_KEY} lower-case letters, digits or '_'"
                        ),
                    ));
                }
                None => Column::Ignored,
            },
        };
        if column != Column::Ignored && !name.is_empty() && !seen.insert(name.clone()) {
            return Err(Error::validation(
                raw.trim(),
                "duplicate_column",
                "this column appears twice in the header",
            ));
        }
        out.push(column);
    }
    if !out.contains(&Column::Phone) {
        return Err(Error::validation(
            "phone",
            "missing_column",
            "the header has no phone column (required: the contact's number with its country code)",
        ));
    }
    Ok(out)
}

fn valid_custom_key(key: &str) -> bool {
    (1..=MAX_CUSTOM_FIELD_KEY).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// One problem of one row: `{row, field, message}` in the import's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The record number (the header is 1).
    pub row: u32,
    /// The column (`phone`, `cf_plan`, …; `row` for the row's own shape).
    pub field: String,
    /// What is wrong, without the value.
    pub message: String,
}

/// A row's contact fields, validated and normalised. `None` and empty collections mean
/// "not given": the upsert leaves those fields as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactRow {
    /// The number as a wa_id.
    pub wa_id: Option<WaId>,
    /// Name.
    pub name: Option<String>,
    /// E-mail, lower-cased.
    pub email: Option<String>,
    /// Tags to add, normalised, without duplicates, in file order.
    pub tags: Vec<String>,
    /// Status.
    pub status: Option<String>,
    /// Custom fields to set.
    pub custom_fields: BTreeMap<String, String>,
}

/// Validates one record against the header's columns: the row's fields, or every problem
/// it has (a row with any problem is not applied at all).
pub fn validate(
    number: u32,
    columns: &[Column],
    fields: &[String],
) -> Result<ContactRow, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: String| {
        errors.push(RowError {
            row: number,
            field: field.to_owned(),
            message,
        })
    };
    if fields.len() > columns.len() && fields[columns.len()..].iter().any(|f| !f.trim().is_empty())
    {
        err(
            "row",
            format!(
                "the row has {} fields and the header {} columns",
                fields.len(),
                columns.len()
            ),
        );
    }
    let mut row = ContactRow::default();
    for (i, column) in columns.iter().enumerate() {
        // Missing trailing fields are empty (spreadsheets drop trailing blanks).
        let value = fields.get(i).map(|s| s.trim()).unwrap_or("");
        match column {
            Column::Phone => match normalise_phone(value) {
                Ok(wa) => row.wa_id = Some(wa),
                Err(m) => err("phone", m.into()),
            },
            Column::Name if !value.is_empty() => {
                if value.chars().count() > MAX_NAME_CHARS {
                    err(
                        "name",
                        format!("name is longer than {MAX_NAME_CHARS} characters"),
                    );
                } else {
                    row.name = Some(value.to_owned());
                }
            }
            Column::Email if !value.is_empty() => match normalise_email(value) {
                Some(e) => row.email = Some(e),
                None => err("email", "email is not an e-mail address".into()),
            },
            Column::Tags if !value.is_empty() => match normalise_tags(value) {
                Ok(tags) => row.tags = tags,
                Err(m) => err("tags", m),
            },
            Column::Status if !value.is_empty() => {
                let s = value.to_ascii_lowercase();
                if STATUSES.contains(&s.as_str()) {
                    row.status = Some(s);
                } else {
                    err(
                        "status",
                        format!("status must be one of {}", STATUSES.join(", ")),
                    );
                }
            }
            Column::Custom(key) if !value.is_empty() => {
                if value.chars().count() > MAX_CUSTOM_FIELD_VALUE {
                    err(
                        &format!("cf_{key}"),
                        format!(
                            "custom field values are at most {MAX_CUSTOM_FIELD_VALUE} characters"
                        ),
                    );
                } else {
                    row.custom_fields.insert(key.clone(), value.to_owned());
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(row)
    } else {
        Err(errors)
    }
}

/// A phone number in E.164 (`+16505551234`) or as digits with the country code, with the
/// usual separators (spaces, `-`, `.`, `(`, `)`) and an optional `00` international
/// prefix, as the wa_id Switchboard keys contacts by (digits only).
pub fn normalise_phone(value: &str) -> Result<WaId, &'static str> {
    if value.is_empty() {
        return Err("phone is required");
    }
    let rest = value.strip_prefix('+').unwrap_or(value);
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            _ => return Err("phone may hold only digits, spaces, '+', '-', '.', '(' and ')'"),
        }
    }
    let digits = match digits.strip_prefix("00") {
        Some(d) if !value.starts_with('+') => d.to_owned(),
        _ => digits,
    };
    // E.164: a country code (never starting with 0) and at most 15 digits in all.
    if digits.starts_with('0') || !(8..=15).contains(&digits.len()) {
        return Err(
            "phone must be an international number with its country code (E.164: 8-15 digits)",
        );
    }
    WaId::parse(&digits).map_err(|_| "phone is not a valid WhatsApp number")
}

/// A plausible e-mail address, lower-cased: one `@`, a non-empty local part, a domain
/// with a dot and no empty label, no spaces, at most 254 characters. Deliverability is
/// the mail provider's business.
pub fn normalise_email(value: &str) -> Option<String> {
    let e = value.to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && e.chars().count() <= MAX_EMAIL_CHARS
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    ok.then_some(e)
}

/// One tag normalised: trimmed, lower-cased, 1-64 of letters, digits, `-`, `_`, `:`.
pub fn normalise_tag(tag: &str) -> Option<String> {
    let t = tag.trim().to_lowercase();
    let ok = !t.is_empty()
        && t.chars().count() <= MAX_TAG_CHARS
        && t.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':'));
    ok.then_some(t)
}

/// A `;`-separated list of tags, normalised, duplicates dropped, at most 50.
pub fn normalise_tags(value: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for raw in value.split(';').filter(|t| !t.trim().is_empty()) {
        let Some(tag) = normalise_tag(raw) else {
            return Err(format!(
                "tags are 1-{MAX_TAG_CHARS} letters, digits, '-', '_' or ':', separated by ';'"
            ));
        };
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("a contact has at most {MAX_TAGS} tags"));
    }
    Ok(tags)
}

/// What applying a row did to its contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The contact did not exist.
    Created,
    /// The contact changed.
    Updated,
    /// The contact already held every given value; nothing was written.
    Unchanged,
}

/// Attempts at an optimistic upsert before the chunk is retried.
const UPSERT_ATTEMPTS: usize = 8;

/// Upserts the row's contact: the id derives from org and wa_id, so the same number
/// always names the same contact (a re-run creates nothing). Only given fields are
/// written; tags are added to the contact's (up to 50), custom fields merged into its own
/// (up to 50); nothing else (the opt-out flag above all, which is the customer's word,
/// not a file's) is touched. A name from the file is the contact's name from then on: a
/// new WhatsApp profile name does not replace it. Written through the contacts module,
/// so the tag, status and name indexes change in the same transaction.
pub async fn upsert_contact(
    svc: &Services,
    org: &OrgId,
    row: &ContactRow,
    now: DateTime<Utc>,
) -> Result<(Applied, Contact)> {
    let wa_id = row
        .wa_id
        .clone()
        .ok_or_else(|| Error::Internal("a validated row has a phone".into()))?;
    let id = ContactId::for_wa_id(org, &wa_id);
    let (pk, sk) = Contact::key_of(org, &id);
    for _ in 0..UPSERT_ATTEMPTS {
        let existing = load::<Contact>(&*svc.store, &pk, &sk).await?;
        let (mut contact, version, applied) = match &existing {
            Some(v) => (v.record.clone(), v.version, Applied::Updated),
            None => (Contact::new(org, &wa_id, now), 0, Applied::Created),
        };
        let changed = merge(&mut contact, row);
        if applied == Applied::Updated && !changed {
            return Ok((Applied::Unchanged, contact));
        }
        contact.updated_at = now;
        let prev = existing.as_ref().map(|v| &v.record);
        match crate::usecases::contacts::index::save(svc, prev, version, &contact).await {
            Ok(_) => return Ok((applied, contact)),
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Store(StoreError::Conflict))
}

/// Merges the given fields into a contact; whether anything changed.
fn merge(c: &mut Contact, row: &ContactRow) -> bool {
    let before = c.clone();
    if let Some(name) = &row.name {
        c.set_name(Some(name.clone()));
    }
    if let Some(email) = &row.email {
        c.email = Some(email.clone());
    }
    if let Some(status) = row.status.as_deref().and_then(ContactStatus::parse) {
        c.status = Some(status);
    }
    for t in &row.tags {
        if !c.tags.contains(t) && c.tags.len() < MAX_TAGS {
            c.tags.push(t.clone());
        }
    }
    for (k, v) in &row.custom_fields {
        if c.custom_fields.contains_key(k)
            || c.custom_fields.len() < crate::usecases::contacts::fields::MAX_CUSTOM_FIELDS
        {
            c.custom_fields.insert(k.clone(), Value::String(v.clone()));
        }
    }
    *c != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn header_rules() {
        let cols = columns(&s(&[" Phone ", "NAME", "cf_plan", "Notes", ""])).unwrap();
        assert_eq!(
            cols,
            [
                Column::Phone,
                Column::Name,
                Column::Custom("plan".into()),
                Column::Ignored,
                Column::Ignored
            ]
        );
        let field = |r: Result<Vec<Column>>| match r {
            Err(Error::Validation { field, code, .. }) => (field, code),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(columns(&s(&["name", "email"]))),
            ("phone".into(), "missing_column")
        );
        assert_eq!(
            field(columns(&s(&["phone", "Phone"]))),
            ("Phone".into(), "duplicate_column")
        );
        assert_eq!(
            field(columns(&s(&["phone", "cf_Plan-Type"]))),
            ("cf_Plan-Type".into(), "invalid_custom_field_key")
        );
    }

    #[test]
    fn phones() {
        for ok in [
            "+1 (650) 555-1234",
            "16505551234",
            "0016505551234",
            "+44 20 7946 0958",
        ] {
            assert!(normalise_phone(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            normalise_phone("+1 650 555 1234").unwrap().as_str(),
            "16505551234"
        );
        for bad in [
            "",
            "555-1234",
            "06505551234",
            "+1 650 555 123456789",
            "call me",
            "+1650555123x",
        ] {
            assert!(normalise_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_tags_and_rows() {
        assert_eq!(
            normalise_email("Ana@Example.COM").as_deref(),
            Some("ana@example.com")
        );
        for bad in [
            "ana",
            "ana@",
            "@x.com",
            "ana@x",
            "a b@x.com",
            "a@x..com",
            "a@@x.com",
        ] {
            assert!(normalise_email(bad).is_none(), "{bad}");
        }
        assert_eq!(
            normalise_tags(" VIP; vip ;;Lead:2026").unwrap(),
            ["vip", "lead:2026"]
        );
        assert!(normalise_tags("a b").is_err());
        assert!(
            normalise_tags(
                &(0..51)
                    .map(|i| format!("t{i}"))
                    .collect::<Vec<_>>()
                    .join(";")
            )
            .is_err()
        );

        let cols = columns(&s(&["phone", "email", "status", "cf_plan", "tags"])).unwrap();
        let row = validate(2, &cols, &s(&["+16505551234", "", "Customer", "gold"])).unwrap();
        assert_eq!(row.status.as_deref(), Some("customer"));
        assert_eq!(row.email, None);
        assert_eq!(row.custom_fields["plan"], "gold");
        let errs = validate(3, &cols, &s(&["12", "nope", "vip", "", "", "extra"])).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["row", "phone", "email", "status"]);
        assert!(
            errs.iter()
                .all(|e| e.row == 3 && !e.message.contains("nope"))
        );
    }
}
