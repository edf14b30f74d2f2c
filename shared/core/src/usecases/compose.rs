//! Validating an outbound message body against WhatsApp's documented limits.
//!
//! The body mirrors Graph's own message object (`{"type": t, t: {...}}`), so frontend
//! developers who know Meta's docs need nothing new; what Meta would refuse is refused
//! here first, with a 422 naming the field (`text.body`, `interactive.action.buttons`…).
//! Limits (Meta Cloud API docs): text 4,096 characters; captions 1,024; reply buttons
//! ≤ 3 with titles ≤ 20; lists ≤ 10 sections and ≤ 10 rows in total, row titles ≤ 24,
//! descriptions ≤ 72, button label ≤ 20; header text ≤ 60; footer ≤ 60.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A validated outbound body.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    /// Content in Meta's shape.
    pub content: Value,
    /// The message this one replies to (Switchboard id or wamid), from `reply_to`.
    pub reply_to: Option<String>,
    /// For reactions: the message reacted to (Switchboard id or wamid).
    pub reaction_target: Option<String>,
}

impl Composed {
    /// The message type.
    pub fn kind(&self) -> &str {
        self.content
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Templates may be sent outside the customer-service window; nothing else may.
    pub fn is_template(&self) -> bool {
        self.kind() == "template"
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::validation(field, "invalid_message", message)
}

fn obj<'a>(v: Option<&'a Value>, field: &str) -> Result<&'a Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(invalid(field, format!("{field} must be an object"))),
        None => Err(Error::validation(
            field,
            "required",
            format!("{field} is required"),
        )),
    }
}

fn text<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &str,
    max: usize,
    required: bool,
) -> Result<Option<&'a str>> {
    match m.get(key) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(Error::validation(
            field,
            "required",
            format!("{field} is required"),
        )),
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if required && s.trim().is_empty() {
                return Err(invalid(field, format!("{field} must not be empty")));
            }
            if n > max {
                return Err(Error::validation(
                    field,
                    "too_long",
                    format!("{field} is {n} characters; the limit is {max}"),
                ));
            }
            Ok(Some(s))
        }
        Some(_) => Err(invalid(field, format!("{field} must be a string"))),
    }
}

fn array<'a>(m: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a Vec<Value>> {
    match m.get(key) {
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(invalid(field, format!("{field} must be an array"))),
        None => Err(Error::validation(
            field,
            "required",
            format!("{field} is required"),
        )),
    }
}

fn forbid(m: &Map<String, Value>, key: &str, field: &str, why: &str) -> Result<()> {
    if m.contains_key(key) {
        return Err(invalid(field, why.to_owned()));
    }
    Ok(())
}

fn number_in(m: &Map<String, Value>, key: &str, field: &str, lo: f64, hi: f64) -> Result<()> {
    match m.get(key).and_then(Value::as_f64) {
        Some(x) if (lo..=hi).contains(&x) => Ok(()),
        Some(_) => Err(invalid(
            field,
            format!("{field} must be between {lo} and {hi}"),
        )),
        None => Err(Error::validation(
            field,
            "required",
            format!("{field} is required and must be a number"),
        )),
    }
}

const MEDIA: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

/// Validates a send body and returns the content to store and send.
pub fn compose(body: &Value) -> Result<Composed> {
    let root = match body {
        Value::Object(m) => m,
        _ => {
            return Err(invalid(
                "type",
                "the body must be a JSON object with a `type`",
            ));
        }
    };
    let kind = match root.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(invalid("type", "type must be a string")),
        None => return Err(Error::validation("type", "required", "type is required")),
    };
    let reply_to = match root.get("reply_to") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => {
            Some(s.trim().to_owned())
        }
        Some(_) => return Err(invalid("reply_to", "reply_to must be a message id")),
    };
    // `contacts` is the one type whose payload is an array.
    let empty = Map::new();
    let payload = if kind == "contacts" {
        &empty
    } else {
        obj(root.get(kind), kind)?
    };
    let mut reaction_target = None;
    match kind {
        "text" => {
            text(payload, "body", "text.body", 4096, true)?;
            if let Some(v) = payload.get("preview_url")
                && !v.is_boolean()
            {
                return Err(invalid(
                    "text.preview_url",
                    "text.preview_url must be true or false",
                ));
            }
        }
        k if MEDIA.contains(&k) => {
            let id = text(payload, "id", &format!("{k}.id"), 256, false)?;
            let link = text(payload, "link", &format!("{k}.link"), 2048, false)?;
            match (id, link) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(Error::validation(
                        k,
                        "invalid_media",
                        format!("{k} needs exactly one of `id` or `link`"),
                    ));
                }
                (None, Some(l)) if !(l.starts_with("https://") || l.starts_with("http://")) => {
                    return Err(invalid(
                        format!("{k}.link"),
                        format!("{k}.link must be an http(s) URL"),
                    ));
                }
                _ => {}
            }
            if k == "audio" || k == "sticker" {
                forbid(
                    payload,
                    "caption",
                    &format!("{k}.caption"),
                    &format!("{k} messages cannot have a caption"),
                )?;
            } else {
                text(payload, "caption", &format!("{k}.caption"), 1024, false)?;
            }
            if k == "document" {
                text(payload, "filename", "document.filename", 240, false)?;
            } else {
                forbid(
                    payload,
                    "filename",
                    &format!("{k}.filename"),
                    "only documents have a filename",
                )?;
            }
        }
        "location" => {
            number_in(payload, "latitude", "location.latitude", -90.0, 90.0)?;
            number_in(payload, "longitude", "location.longitude", -180.0, 180.0)?;
            text(payload, "name", "location.name", 1000, false)?;
            text(payload, "address", "location.address", 1000, false)?;
        }
        "reaction" => {
            let target = text(payload, "message_id", "reaction.message_id", 256, true)?;
            // An empty emoji removes a reaction.
            let emoji = match payload.get("emoji") {
                Some(Value::String(e)) => e,
                _ => {
                    return Err(Error::validation(
                        "reaction.emoji",
                        "required",
                        "reaction.emoji is required (empty to remove)",
                    ));
                }
            };
            if emoji.chars().count() > 10 {
                return Err(invalid(
                    "reaction.emoji",
                    "reaction.emoji must be a single emoji",
                ));
            }
            reaction_target = target.map(str::to_owned);
        }
        "contacts" => {
            let list = array(root, "contacts", "contacts")?;
            if list.is_empty() || list.len() > 257 {
                return Err(invalid("contacts", "contacts must hold 1-257 contacts"));
            }
            for (i, c) in list.iter().enumerate() {
                let c = obj(Some(c), &format!("contacts[{i}]"))?;
                let name = obj(c.get("name"), &format!("contacts[{i}].name"))?;
                text(
                    name,
                    "formatted_name",
                    &format!("contacts[{i}].name.formatted_name"),
                    1000,
                    true,
                )?;
            }
        }
        "template" => {
            let name = text(payload, "name", "template.name", 512, true)?.unwrap_or_default();
            if !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(invalid(
                    "template.name",
                    "template.name uses lower-case letters, digits and underscores",
                ));
            }
            let lang = obj(payload.get("language"), "template.language")?;
            text(lang, "code", "template.language.code", 15, true)?;
            if let Some(components) = payload.get("components") {
                let Value::Array(list) = components else {
                    return Err(invalid(
                        "template.components",
                        "template.components must be an array",
                    ));
                };
                for (i, c) in list.iter().enumerate() {
                    let c = obj(Some(c), &format!("template.components[{i}]"))?;
                    let t = text(
                        c,
                        "type",
                        &format!("template.components[{i}].type"),
                        20,
                        true,
                    )?
                    .unwrap_or_default();
                    if ![
                        "header",
                        "body",
                        "button",
                        "footer",
                        "carousel",
                        "limited_time_offer",
                    ]
                    .contains(&t)
                    {
                        return Err(invalid(
                            format!("template.components[{i}].type"),
                            format!("unknown component type `{t}`"),
                        ));
                    }
                    if let Some(p) = c.get("parameters")
                        && !p.is_array()
                    {
                        return Err(invalid(
                            format!("template.components[{i}].parameters"),
                            "parameters must be an array",
                        ));
                    }
                }
            }
        }
        "interactive" => interactive(payload)?,
        other => {
            return Err(Error::validation(
                "type",
                "unsupported_type",
                format!(
                    "type `{other}` cannot be sent; use text, image, video, audio, document, sticker, location, contacts, reaction, template or interactive"
                ),
            ));
        }
    }
    let mut content = Map::new();
    content.insert("type".into(), Value::String(kind.to_owned()));
    let key = if kind == "contacts" { "contacts" } else { kind };
    content.insert(key.into(), root.get(key).cloned().unwrap_or(Value::Null));
    Ok(Composed {
        content: Value::Object(content),
        reply_to,
        reaction_target,
    })
}

fn interactive(m: &Map<String, Value>) -> Result<()> {
    let kind = text(m, "type", "interactive.type", 40, true)?.unwrap_or_default();
    if let Some(h) = m.get("header") {
        let h = obj(Some(h), "interactive.header")?;
        let ht = text(h, "type", "interactive.header.type", 20, true)?.unwrap_or_default();
        if ht == "text" {
            text(h, "text", "interactive.header.text", 60, true)?;
        } else if !["image", "video", "document"].contains(&ht) {
            return Err(invalid(
                "interactive.header.type",
                "header type is text, image, video or document",
            ));
        }
    }
    if let Some(f) = m.get("footer") {
        text(
            obj(Some(f), "interactive.footer")?,
            "text",
            "interactive.footer.text",
            60,
            true,
        )?;
    }
    match kind {
        "button" => {
            text(
                obj(m.get("body"), "interactive.body")?,
                "text",
                "interactive.body.text",
                1024,
                true,
            )?;
            let action = obj(m.get("action"), "interactive.action")?;
            let buttons = array(action, "buttons", "interactive.action.buttons")?;
            if buttons.is_empty() || buttons.len() > 3 {
                return Err(Error::validation(
                    "interactive.action.buttons",
                    "too_many_buttons",
                    format!("reply buttons must number 1-3; got {}", buttons.len()),
                ));
            }
            let mut ids = std::collections::HashSet::new();
            let mut titles = std::collections::HashSet::new();
            for (i, b) in buttons.iter().enumerate() {
                let b = obj(Some(b), &format!("interactive.action.buttons[{i}]"))?;
                if b.get("type").and_then(Value::as_str) != Some("reply") {
                    return Err(invalid(
                        format!("interactive.action.buttons[{i}].type"),
                        "button type must be `reply`",
                    ));
                }
                let reply = obj(
                    b.get("reply"),
                    &format!("interactive.action.buttons[{i}].reply"),
                )?;
                let id = text(
                    reply,
                    "id",
                    &format!("interactive.action.buttons[{i}].reply.id"),
                    256,
                    true,
                )?
                .unwrap_or_default();
                let title = text(
                    reply,
                    "title",
                    &format!("interactive.action.buttons[{i}].reply.title"),
                    20,
                    true,
                )?
                .unwrap_or_default();
                if !ids.insert(id.to_owned()) || !titles.insert(title.to_owned()) {
                    return Err(invalid(
                        format!("interactive.action.buttons[{i}]"),
                        "button ids and titles must be unique",
                    ));
                }
            }
        }
        "list" => {
            text(
                obj(m.get("body"), "interactive.body")?,
                "text",
                "interactive.body.text",
                4096,
                true,
            )?;
            let action = obj(m.get("action"), "interactive.action")?;
            text(action, "button", "interactive.action.button", 20, true)?;
            let sections = array(action, "sections", "interactive.action.sections")?;
            if sections.is_empty() || sections.len() > 10 {
                return Err(invalid(
                    "interactive.action.sections",
                    "a list has 1-10 sections",
                ));
            }
            let mut rows_total = 0;
            for (i, s) in sections.iter().enumerate() {
                let s = obj(Some(s), &format!("interactive.action.sections[{i}]"))?;
                text(
                    s,
                    "title",
                    &format!("interactive.action.sections[{i}].title"),
                    24,
                    sections.len() > 1,
                )?;
                let rows = array(s, "rows", &format!("interactive.action.sections[{i}].rows"))?;
                for (j, r) in rows.iter().enumerate() {
                    let r = obj(
                        Some(r),
                        &format!("interactive.action.sections[{i}].rows[{j}]"),
                    )?;
                    text(
                        r,
                        "id",
                        &format!("interactive.action.sections[{i}].rows[{j}].id"),
                        200,
                        true,
                    )?;
                    text(
                        r,
                        "title",
                        &format!("interactive.action.sections[{i}].rows[{j}].title"),
                        24,
                        true,
                    )?;
                    text(
                        r,
                        "description",
                        &format!("interactive.action.sections[{i}].rows[{j}].description"),
                        72,
                        false,
                    )?;
                }
                rows_total += rows.len();
            }
            if rows_total == 0 || rows_total > 10 {
                return Err(Error::validation(
                    "interactive.action.sections",
                    "too_many_rows",
                    format!("a list has 1-10 rows in total; got {rows_total}"),
                ));
            }
        }
        "cta_url"
        | "flow"
        | "location_request_message"
        | "product"
        | "product_list"
        | "address_message" => {
            // Shapes Meta validates in detail; Switchboard checks the common parts.
            obj(m.get("action"), "interactive.action")?;
            if kind != "product" {
                text(
                    obj(m.get("body"), "interactive.body")?,
                    "text",
                    "interactive.body.text",
                    1024,
                    true,
                )?;
            }
        }
        other => {
            return Err(invalid(
                "interactive.type",
                format!("unknown interactive type `{other}`"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(body: Value) -> String {
        match compose(&body) {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a validation error for {body}: {other:?}"),
        }
    }

    #[test]
    fn text_limits() {
        assert!(compose(&json!({"type": "text", "text": {"body": "é".repeat(4096)}})).is_ok());
        assert_eq!(
            field_of(json!({"type": "text", "text": {"body": "é".repeat(4097)}})),
            "text.body"
        );
        assert_eq!(
            field_of(json!({"type": "text", "text": {"body": "  "}})),
            "text.body"
        );
        assert_eq!(field_of(json!({"type": "text", "text": {}})), "text.body");
        assert_eq!(field_of(json!({"type": "text"})), "text");
        assert_eq!(
            field_of(json!({"type": "text", "text": {"body": "x", "preview_url": "yes"}})),
            "text.preview_url"
        );
        assert_eq!(field_of(json!({"text": {"body": "x"}})), "type");
        assert_eq!(field_of(json!({"type": "order", "order": {}})), "type");
        assert_eq!(field_of(json!([1, 2])), "type");
    }

    #[test]
    fn media_rules() {
        assert!(compose(&json!({"type": "image", "image": {"link": "https://x.example/a.jpg", "caption": "c"}})).is_ok());
        assert!(
            compose(
                &json!({"type": "document", "document": {"id": "123", "filename": "invoice.pdf"}})
            )
            .is_ok()
        );
        assert_eq!(field_of(json!({"type": "image", "image": {}})), "image");
        assert_eq!(
            field_of(json!({"type": "image", "image": {"id": "1", "link": "https://x"}})),
            "image"
        );
        assert_eq!(
            field_of(json!({"type": "image", "image": {"link": "ftp://x"}})),
            "image.link"
        );
        assert_eq!(
            field_of(json!({"type": "image", "image": {"id": "1", "caption": "c".repeat(1025)}})),
            "image.caption"
        );
        assert_eq!(
            field_of(json!({"type": "audio", "audio": {"id": "1", "caption": "c"}})),
            "audio.caption"
        );
        assert_eq!(
            field_of(json!({"type": "image", "image": {"id": "1", "filename": "x"}})),
            "image.filename"
        );
    }

    #[test]
    fn interactive_limits() {
        let button = |n: usize, title: &str| {
            let buttons: Vec<Value> = (0..n).map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": format!("{title}{i}")}})).collect();
            json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "Pick one"}, "action": {"buttons": buttons}}})
        };
        assert!(compose(&button(3, "Option")).is_ok());
        assert_eq!(field_of(button(4, "Option")), "interactive.action.buttons");
        assert_eq!(field_of(button(0, "Option")), "interactive.action.buttons");
        assert_eq!(
            field_of(button(1, &"t".repeat(20))),
            "interactive.action.buttons[0].reply.title"
        );
        let list = |rows: usize| {
            let rows: Vec<Value> = (0..rows)
                .map(|i| json!({"id": format!("r{i}"), "title": format!("Row {i}")}))
                .collect();
            json!({"type": "interactive", "interactive": {"type": "list", "body": {"text": "Menu"}, "action": {"button": "See options", "sections": [{"title": "A", "rows": rows}]}}})
        };
        assert!(compose(&list(10)).is_ok());
        assert_eq!(field_of(list(11)), "interactive.action.sections");
        assert_eq!(
            field_of(
                json!({"type": "interactive", "interactive": {"type": "button", "action": {"buttons": []}}})
            ),
            "interactive.body"
        );
        assert_eq!(
            field_of(json!({"type": "interactive", "interactive": {"type": "carousel"}})),
            "interactive.type"
        );
    }

    #[test]
    fn template_location_reaction_contacts() {
        let t = compose(&json!({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}, "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}]}})).unwrap();
        assert!(t.is_template());
        assert_eq!(
            field_of(
                json!({"type": "template", "template": {"name": "Order Update", "language": {"code": "en"}}})
            ),
            "template.name"
        );
        assert_eq!(
            field_of(json!({"type": "template", "template": {"name": "x"}})),
            "template.language"
        );
        assert_eq!(
            field_of(
                json!({"type": "template", "template": {"name": "x", "language": {"code": "en"}, "components": [{"type": "sidebar"}]}})
            ),
            "template.components[0].type"
        );
        assert_eq!(
            field_of(json!({"type": "location", "location": {"latitude": 91, "longitude": 0}})),
            "location.latitude"
        );
        let r = compose(
            &json!({"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "👍"}}),
        )
        .unwrap();
        assert_eq!(r.reaction_target.as_deref(), Some("wamid.x"));
        assert!(
            compose(
                &json!({"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": ""}})
            )
            .is_ok()
        );
        assert_eq!(
            field_of(json!({"type": "contacts", "contacts": [{"name": {}}]})),
            "contacts[0].name.formatted_name"
        );
        let c = compose(&json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana"}, "phones": [{"phone": "+351"}]}], "reply_to": "msg_1"})).unwrap();
        assert_eq!(c.content["contacts"][0]["name"]["formatted_name"], "Ana");
        assert_eq!(c.reply_to.as_deref(), Some("msg_1"));
    }
}
