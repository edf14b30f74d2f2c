//! The rules of a contact's editable fields, and `PATCH /v1/contacts/{id}` as a typed
//! change.
//!
//! The rules live here once so that every writer of contacts (the API, imports) normalises
//! the same way: a tag typed `VIP` by an agent and `vip` in a CSV file are one tag, and
//! the index items that make `?tag=vip` a query are keyed by the normalised form.
//!
//! Validation messages never echo a value: they end up in logs and audit-adjacent tooling,
//! and the values are personal data (names, e-mail addresses).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::{Contact, ContactStatus, OptOutSource};

/// Most tags a contact may have.
pub const MAX_TAGS: usize = 50;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Most custom fields a contact may have.
pub const MAX_CUSTOM_FIELDS: usize = 50;
/// Longest custom field key.
pub const MAX_CUSTOM_FIELD_KEY: usize = 40;
/// Longest custom field string value, in characters.
pub const MAX_CUSTOM_FIELD_VALUE: usize = 1000;
/// Highest lead score.
pub const MAX_SCORE: u64 = 100;

/// The fields `PATCH /v1/contacts/{id}` takes.
pub const PATCH_FIELDS: [&str; 7] = [
    "name",
    "email",
    "tags",
    "status",
    "score",
    "custom_fields",
    "opted_out",
];

/// A name: trimmed, 1-256 characters, no control characters.
pub fn normalise_name(value: &str) -> Option<String> {
    let n = value.trim();
    let ok =
        !n.is_empty() && n.chars().count() <= MAX_NAME_CHARS && !n.chars().any(char::is_control);
    ok.then(|| n.to_owned())
}

/// A plausible e-mail address, lower-cased: a local part of at most 64 characters
/// from the RFC 5322 atom set (dots not leading, trailing or doubled), one `@`, a
/// domain of at least two labels of letters, digits and inner hyphens, at most 254
/// characters in all. Whether it receives mail is the mail provider's business.
pub fn normalise_email(value: &str) -> Option<String> {
    let e = value.trim().to_lowercase();
    if e.chars().count() > MAX_EMAIL_CHARS {
        return None;
    }
    let (local, domain) = e.split_once('@')?;
    let local_ok = !local.is_empty()
        && local.chars().count() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        // A top-level domain is never all digits (that would be an IP address).
        && labels
            .last()
            .is_some_and(|t| t.chars().any(|c| !c.is_ascii_digit()));
    (local_ok && domain_ok).then_some(e)
}

/// One tag normalised: trimmed, lower-cased, 1-64 letters, digits, `-`, `_` or `:`.
pub fn normalise_tag(tag: &str) -> Option<String> {
    let t = tag.trim().to_lowercase();
    let ok = !t.is_empty()
        && t.chars().count() <= MAX_TAG_CHARS
        && t.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':'));
    ok.then_some(t)
}

/// Whether a custom field key is `[a-z0-9_]{1,40}`.
pub fn valid_custom_field_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_CUSTOM_FIELD_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether a custom field value may be stored: a string of at most 1,000 characters, a
/// number or a boolean.
pub fn valid_custom_field_value(value: &Value) -> bool {
    match value {
        Value::String(s) => s.chars().count() <= MAX_CUSTOM_FIELD_VALUE,
        Value::Number(_) | Value::Bool(_) => true,
        _ => false,
    }
}

/// A change to a contact: each field is `None` when the request leaves it alone;
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    /// Display name (`Some(None)`: back to the WhatsApp profile name).
    pub name: Option<Option<String>>,
    /// E-mail address.
    pub email: Option<Option<String>>,
    /// The whole tag list.
    pub tags: Option<Vec<String>>,
    /// Status.
    pub status: Option<Option<ContactStatus>>,
    /// Lead score.
    pub score: Option<Option<u8>>,
    /// Custom fields to set (`Some`) or delete (`None`); `custom_fields: null` deletes
    /// them all.
    pub custom_fields: Option<CustomFieldsPatch>,
    /// Marketing opt-out.
    pub opted_out: Option<bool>,
}

/// The custom-field part of a patch.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomFieldsPatch {
    /// Remove every custom field.
    Clear,
    /// Merge: set the `Some` values, delete the `None` ones.
    Merge(BTreeMap<String, Option<Value>>),
}

fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Error {
    Error::validation(field, code, message)
}

impl ContactPatch {
    /// Parses a request body. Every problem is a 422 naming the field: an unknown field
    /// names itself (`unknown_field`), so a typo never passes as "nothing to change".
    pub fn parse(body: &Value) -> Result<Self> {
        let Value::Object(map) = body else {
            return Err(invalid(
                "body",
                "invalid_body",
                "the body must be a JSON object of the fields to change",
            ));
        };
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|k| !PATCH_FIELDS.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(first) = unknown.first() {
            return Err(invalid(
                first.as_str(),
                "unknown_field",
                format!(
                    "unknown field{} {}; a contact's editable fields are {}",
                    if unknown.len() > 1 { "s" } else { "" },
                    unknown
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    PATCH_FIELDS.join(", ")
                ),
            ));
        }
        let mut patch = ContactPatch::default();
        if let Some(v) = map.get("name") {
            patch.name = Some(match v {
                Value::Null => None,
                Value::String(s) => Some(normalise_name(s).ok_or_else(|| {
                    invalid(
                        "name",
                        "invalid_name",
                        format!(
                            "name must be 1-{MAX_NAME_CHARS} characters without control characters, or null"
                        ),
                    )
                })?),
                _ => return Err(invalid("name", "invalid_name", "name must be a string or null")),
            });
        }
        if let Some(v) = map.get("email") {
            patch.email = Some(match v {
                Value::Null => None,
                Value::String(s) => Some(normalise_email(s).ok_or_else(|| {
                    invalid("email", "invalid_email", "email is not an e-mail address")
                })?),
                _ => {
                    return Err(invalid(
                        "email",
                        "invalid_email",
                        "email must be a string or null",
                    ));
                }
            });
        }
        if let Some(v) = map.get("tags") {
            patch.tags = Some(parse_tags(v)?);
        }
        if let Some(v) = map.get("status") {
            patch.status = Some(match v {
                Value::Null => None,
                Value::String(s) => Some(
                    ContactStatus::parse(s)
                        .ok_or_else(|| invalid("status", "invalid_status", status_message()))?,
                ),
                _ => return Err(invalid("status", "invalid_status", status_message())),
            });
        }
        if let Some(v) = map.get("score") {
            patch.score = Some(match v {
                Value::Null => None,
                _ => match v.as_u64() {
                    Some(n) if n <= MAX_SCORE => Some(n as u8),
                    _ => {
                        return Err(invalid(
                            "score",
                            "invalid_score",
                            format!("score must be a whole number from 0 to {MAX_SCORE}, or null"),
                        ));
                    }
                },
            });
        }
        if let Some(v) = map.get("custom_fields") {
            patch.custom_fields = Some(parse_custom_fields(v)?);
        }
        if let Some(v) = map.get("opted_out") {
            patch.opted_out = Some(v.as_bool().ok_or_else(|| {
                invalid(
                    "opted_out",
                    "invalid_opted_out",
                    "opted_out must be true or false",
                )
            })?);
        }
        Ok(patch)
    }

    /// Applies the patch to a contact at `now`; whether anything changed. Fails (422)
    /// only for what depends on the stored contact: more than 50 custom fields once
    /// merged.
    pub fn apply(&self, c: &mut Contact, now: DateTime<Utc>) -> Result<bool> {
        let before = c.clone();
        if let Some(name) = &self.name {
            c.set_name(name.clone());
        }
        if let Some(email) = &self.email {
            c.email = email.clone();
        }
        if let Some(tags) = &self.tags {
            c.tags = tags.clone();
        }
        if let Some(status) = self.status {
            c.status = status;
        }
        if let Some(score) = self.score {
            c.score = score;
        }
        match &self.custom_fields {
            None => {}
            Some(CustomFieldsPatch::Clear) => c.custom_fields.clear(),
            Some(CustomFieldsPatch::Merge(changes)) => {
                for (k, v) in changes {
                    match v {
                        Some(v) => {
                            c.custom_fields.insert(k.clone(), v.clone());
                        }
                        None => {
                            c.custom_fields.remove(k);
                        }
                    }
                }
                if c.custom_fields.len() > MAX_CUSTOM_FIELDS {
                    *c = before;
                    return Err(invalid(
                        "custom_fields",
                        "too_many_custom_fields",
                        format!("a contact has at most {MAX_CUSTOM_FIELDS} custom fields"),
                    ));
                }
            }
        }
        if let Some(opted_out) = self.opted_out
            && c.opted_out != opted_out
        {
            // An agent records what the customer said elsewhere (a call, an e-mail):
            // as of now, so a keyword the customer sends later still counts.
            c.set_opted_out(opted_out, OptOutSource::Api, now);
        }
        let changed = *c != before;
        if changed {
            c.updated_at = now;
        }
        Ok(changed)
    }
}

fn status_message() -> String {
    let names: Vec<&str> = ContactStatus::ALL.iter().map(|s| s.as_str()).collect();
    format!("status must be one of {}, or null", names.join(", "))
}

/// A tag list: an array of strings (or null, which clears it), each normalised,
/// duplicates dropped, at most 50.
pub fn parse_tags(v: &Value) -> Result<Vec<String>> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => {
            return Err(invalid(
                "tags",
                "invalid_tags",
                "tags must be an array of strings",
            ));
        }
    };
    let mut tags: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let tag = item.as_str().and_then(normalise_tag).ok_or_else(|| {
            invalid(
                "tags",
                "invalid_tag",
                format!("tags[{i}]: a tag is 1-{MAX_TAG_CHARS} letters, digits, '-', '_' or ':'"),
            )
        })?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(invalid(
            "tags",
            "too_many_tags",
            format!("a contact has at most {MAX_TAGS} tags"),
        ));
    }
    Ok(tags)
}

fn parse_custom_fields(v: &Value) -> Result<CustomFieldsPatch> {
    let map: &Map<String, Value> = match v {
        Value::Null => return Ok(CustomFieldsPatch::Clear),
        Value::Object(m) => m,
        _ => {
            return Err(invalid(
                "custom_fields",
                "invalid_custom_fields",
                "custom_fields must be an object (a value of null deletes that field)",
            ));
        }
    };
    if map.len() > MAX_CUSTOM_FIELDS {
        return Err(invalid(
            "custom_fields",
            "too_many_custom_fields",
            format!("a contact has at most {MAX_CUSTOM_FIELDS} custom fields"),
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in map {
        if !valid_custom_field_key(k) {
            return Err(invalid(
                "custom_fields",
                "invalid_custom_field_key",
                format!(
                    "custom field keys are 1-{MAX_CUSTOM_FIELD_KEY} lower-case letters, digits or '_'"
                ),
            ));
        }
        let value = match v {
            Value::Null => None,
            v if valid_custom_field_value(v) => Some(v.clone()),
            _ => {
                return Err(invalid(
                    format!("custom_fields.{k}"),
                    "invalid_custom_field_value",
                    format!(
                        "a custom field is a string of at most {MAX_CUSTOM_FIELD_VALUE} characters, a number, a boolean, or null to delete it"
                    ),
                ));
            }
        };
        out.insert(k.clone(), value);
    }
    Ok(CustomFieldsPatch::Merge(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrgId, WaId};
    use serde_json::json;

    fn field_of(r: Result<ContactPatch>) -> (String, &'static str) {
        match r {
            Err(Error::Validation { field, code, .. }) => (field, code),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalise_email(" Ana.Silva+crm@Example.COM ").as_deref(),
            Some("ana.silva+crm@example.com")
        );
        assert!(normalise_email("jo@sub.example.co.uk").is_some());
        assert!(normalise_email("zé@exemplo.pt").is_some());
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            ".a@b.com",
            "a.@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b-.com",
            "a@b..com",
            "a@1.2.3.4",
            "a<b>@c.com",
            "a@b_c.com",
        ] {
            assert!(normalise_email(bad).is_none(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(normalise_email(&long).is_none());
    }

    #[test]
    fn tags_are_normalised_deduplicated_and_bounded() {
        assert_eq!(
            parse_tags(&json!([" VIP", "vip", "Lead:2026", "b2b_eu-west"])).unwrap(),
            ["vip", "lead:2026", "b2b_eu-west"]
        );
        assert_eq!(parse_tags(&json!(null)).unwrap(), Vec::<String>::new());
        assert!(parse_tags(&json!(["a b"])).is_err());
        assert!(parse_tags(&json!(["x".repeat(65)])).is_err());
        assert!(parse_tags(&json!([""])).is_err());
        assert!(parse_tags(&json!([1])).is_err());
        assert!(parse_tags(&json!("vip")).is_err());
        let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        assert_eq!(parse_tags(&json!(fifty)).unwrap().len(), 50);
        let many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(&json!(many)).is_err());
    }

    #[test]
    fn every_problem_names_its_field() {
        let cases = [
            (json!({"nmae": "x"}), "nmae", "unknown_field"),
            (
                json!({"zz": 1, "aa": 2, "name": "x"}),
                "aa",
                "unknown_field",
            ),
            (json!({"name": ""}), "name", "invalid_name"),
            (json!({"name": 3}), "name", "invalid_name"),
            (json!({"email": "nope"}), "email", "invalid_email"),
            (json!({"tags": ["ok", "not ok"]}), "tags", "invalid_tag"),
            (json!({"status": "won"}), "status", "invalid_status"),
            (json!({"score": 101}), "score", "invalid_score"),
            (json!({"score": -1}), "score", "invalid_score"),
            (json!({"score": 5.5}), "score", "invalid_score"),
            (
                json!({"custom_fields": {"Bad-Key": 1}}),
                "custom_fields",
                "invalid_custom_field_key",
            ),
            (
                json!({"custom_fields": {"plan": [1]}}),
                "custom_fields.plan",
                "invalid_custom_field_value",
            ),
            (
                json!({"custom_fields": {"plan": "x".repeat(1001)}}),
                "custom_fields.plan",
                "invalid_custom_field_value",
            ),
            (
                json!({"custom_fields": []}),
                "custom_fields",
                "invalid_custom_fields",
            ),
            (
                json!({"opted_out": "yes"}),
                "opted_out",
                "invalid_opted_out",
            ),
            (json!([]), "body", "invalid_body"),
        ];
        for (body, field, code) in cases {
            assert_eq!(
                field_of(ContactPatch::parse(&body)),
                (field.to_owned(), code),
                "{body}"
            );
        }
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let org = OrgId::parse("acme").unwrap();
        let t0 = chrono::Utc::now();
        let mut c = Contact::new(&org, &WaId::parse("16505551234").unwrap(), t0);
        c.see_profile_name("Sheena");
        c.custom_fields.insert("plan".into(), json!("gold"));
        let patch = ContactPatch::parse(&json!({
            "email": "S@Example.com", "tags": ["VIP"], "status": "customer", "score": 80,
            "custom_fields": {"plan": null, "seats": 3, "vat": true}, "opted_out": true
        }))
        .unwrap();
        let t1 = t0 + chrono::Duration::seconds(5);
        assert!(patch.apply(&mut c, t1).unwrap());
        assert_eq!(c.name.as_deref(), Some("Sheena"));
        assert_eq!(c.email.as_deref(), Some("s@example.com"));
        assert_eq!(c.tags, ["vip"]);
        assert_eq!(c.status, Some(ContactStatus::Customer));
        assert_eq!(c.score, Some(80));
        assert_eq!(c.custom_fields.len(), 2);
        assert!(c.opted_out);
        assert_eq!(c.opt_out_source, Some(OptOutSource::Api));
        assert_eq!(c.updated_at, t1);
        // The same patch again changes nothing.
        assert!(
            !patch
                .apply(&mut c, t1 + chrono::Duration::seconds(1))
                .unwrap()
        );
        assert_eq!(c.updated_at, t1);
        // A name set by hand survives the next profile name; clearing it hands it back.
        let named = ContactPatch::parse(&json!({"name": "  Sheena Nelson "})).unwrap();
        named.apply(&mut c, t1).unwrap();
        c.see_profile_name("Sheena N.");
        assert_eq!(c.name.as_deref(), Some("Sheena Nelson"));
        ContactPatch::parse(&json!({"name": null}))
            .unwrap()
            .apply(&mut c, t1)
            .unwrap();
        assert_eq!(c.name.as_deref(), Some("Sheena N."));
    }

    #[test]
    fn custom_fields_are_bounded_after_merging() {
        let org = OrgId::parse("acme").unwrap();
        let mut c = Contact::new(
            &org,
            &WaId::parse("16505551234").unwrap(),
            chrono::Utc::now(),
        );
        for i in 0..49 {
            c.custom_fields.insert(format!("f{i}"), json!(i));
        }
        let before = c.clone();
        let two = ContactPatch::parse(&json!({"custom_fields": {"a": 1, "b": 2}})).unwrap();
        assert!(two.apply(&mut c, chrono::Utc::now()).is_err());
        assert_eq!(c, before, "a refused patch leaves the contact as it was");
        let swap = ContactPatch::parse(&json!({"custom_fields": {"f0": null, "a": 1}})).unwrap();
        assert!(swap.apply(&mut c, chrono::Utc::now()).unwrap());
        assert_eq!(c.custom_fields.len(), 49);
    }
}
