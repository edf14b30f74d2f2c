//! Template variables filled per recipient: a campaign's template components are
//! Graph's send-time components (`{"type": "body", "parameters": [...]}`), and any text
//! parameter may hold placeholders such as `{{contact.name}}` or
//! `{{contact.custom.city}}`. A placeholder the contact cannot fill skips that
//! recipient with the placeholder's name: a broken message is never sent.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::Contact;

/// The placeholders a campaign may use besides `contact.custom.<key>`.
pub const NAMED: [&str; 3] = ["contact.name", "contact.email", "contact.phone"];

/// Longest filled parameter text (Meta refuses longer body parameters).
pub const MAX_PARAMETER_CHARS: usize = 1024;

/// Each `{{...}}` placeholder in `text`, trimmed, with its byte range.
fn placeholders(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{") {
        let start = from + open;
        let Some(close) = text[start + 2..].find("}}") else {
            break;
        };
        let end = start + 2 + close + 2;
        out.push((start..end, text[start + 2..end - 2].trim()));
        from = end;
    }
    out
}

fn known(name: &str) -> bool {
    NAMED.contains(&name)
        || name
            .strip_prefix("contact.custom.")
            .is_some_and(crate::usecases::contacts::fields::valid_custom_field_key)
}

/// Every text in the components that may carry placeholders, with its field path.
fn texts(components: &Value) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    let Some(list) = components.as_array() else {
        return out;
    };
    for (i, c) in list.iter().enumerate() {
        let Some(params) = c.get("parameters").and_then(Value::as_array) else {
            continue;
        };
        for (j, p) in params.iter().enumerate() {
            if let Some(t) = p.get("text").and_then(Value::as_str) {
                out.push((format!("template.components[{i}].parameters[{j}].text"), t));
            }
        }
    }
    out
}

/// Checks a campaign's components: an array of objects with a `type`, and only known
/// placeholders (422 naming the parameter).
pub fn validate(components: &Value) -> Result<()> {
    let Some(list) = components.as_array() else {
        return Err(Error::validation(
            "template.components",
            "invalid_components",
            "components must be an array",
        ));
    };
    for (i, c) in list.iter().enumerate() {
        if c.get("type").and_then(Value::as_str).is_none() {
            return Err(Error::validation(
                format!("template.components[{i}].type"),
                "invalid_component",
                "every component names its type (header, body, button)",
            ));
        }
    }
    for (field, text) in texts(components) {
        for (_, name) in placeholders(text) {
            if !known(name) {
                return Err(Error::validation(
                    field,
                    "unknown_variable",
                    format!(
                        "{{{{{name}}}}} is not a variable; use contact.name, contact.email, contact.phone or contact.custom.<key>"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn value_of(contact: &Contact, name: &str) -> Option<String> {
    let text = match name {
        "contact.name" => contact.name.clone(),
        "contact.email" => contact.email.clone(),
        "contact.phone" => Some(format!("+{}", contact.wa_id.as_str())),
        other => match contact
            .custom_fields
            .get(other.strip_prefix("contact.custom.")?)?
        {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            v => Some(v.to_string()),
        },
    }?;
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The components filled for `contact`, or why they cannot be:
/// `missing_variable:<name>` for the first placeholder it cannot fill, `invalid_variables`
/// for a parameter left empty or too long.
pub fn fill(components: &Value, contact: &Contact) -> std::result::Result<Value, String> {
    let mut out = components.clone();
    let Some(list) = out.as_array_mut() else {
        return Ok(out);
    };
    for c in list.iter_mut() {
        let Some(params) = c.get_mut("parameters").and_then(Value::as_array_mut) else {
            continue;
        };
        for p in params.iter_mut() {
            let Some(text) = p.get("text").and_then(Value::as_str) else {
                continue;
            };
            let mut filled = String::with_capacity(text.len());
            let mut last = 0;
            for (range, name) in placeholders(text) {
                let value =
                    value_of(contact, name).ok_or_else(|| format!("missing_variable:{name}"))?;
                filled.push_str(&text[last..range.start]);
                filled.push_str(&value);
                last = range.end;
            }
            filled.push_str(&text[last..]);
            if filled.trim().is_empty() || filled.chars().count() > MAX_PARAMETER_CHARS {
                return Err("invalid_variables".to_owned());
            }
            p["text"] = Value::String(filled);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrgId, WaId};
    use serde_json::json;

    fn contact() -> Contact {
        let org = OrgId::parse("acme").unwrap();
        let mut c = Contact::new(
            &org,
            &WaId::parse("15551230001").unwrap(),
            chrono::Utc::now(),
        );
        c.name = Some("Ana".into());
        c.custom_fields.insert("city".into(), json!("Utrecht"));
        c.custom_fields.insert("visits".into(), json!(3));
        c
    }

    #[test]
    fn fills_names_custom_fields_and_numbers() {
        let components = json!([{"type": "body", "parameters": [
            {"type": "text", "text": "{{contact.name}} from {{ contact.custom.city }}"},
            {"type": "text", "text": "{{contact.custom.visits}} visits"},
            {"type": "text", "text": "plain"}
        ]}]);
        validate(&components).unwrap();
        let filled = fill(&components, &contact()).unwrap();
        let p = &filled[0]["parameters"];
        assert_eq!(p[0]["text"], "Ana from Utrecht");
        assert_eq!(p[1]["text"], "3 visits");
        assert_eq!(p[2]["text"], "plain");
    }

    #[test]
    fn a_missing_value_names_the_variable() {
        let components = json!([{"type": "body", "parameters": [
            {"type": "text", "text": "Hi {{contact.email}}"}
        ]}]);
        assert_eq!(
            fill(&components, &contact()).unwrap_err(),
            "missing_variable:contact.email"
        );
        let components = json!([{"type": "body", "parameters": [
            {"type": "text", "text": "{{contact.custom.plan}}"}
        ]}]);
        assert_eq!(
            fill(&components, &contact()).unwrap_err(),
            "missing_variable:contact.custom.plan"
        );
    }

    #[test]
    fn unknown_placeholders_are_refused_naming_the_parameter() {
        let components = json!([{"type": "body", "parameters": [
            {"type": "text", "text": "ok"},
            {"type": "text", "text": "{{contact.password}}"}
        ]}]);
        match validate(&components) {
            Err(Error::Validation { field, .. }) => {
                assert_eq!(field, "template.components[0].parameters[1].text")
            }
            other => panic!("{other:?}"),
        }
        assert!(validate(&json!({"type": "body"})).is_err());
        assert!(validate(&json!([{"parameters": []}])).is_err());
    }
}
