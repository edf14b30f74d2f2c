//! Every email Switchboard sends: its subject, HTML part and plain-text part, in English or
//! Dutch, rendered from templates kept in this crate's `templates/` directory.
//!
//! Why templates in files: the wording of an email is reviewed and changed far more often than
//! the code that sends it, and a translator can edit `templates/nl/*.txt` without reading Rust.
//! Why compiled in: the templates are embedded with `include_str!`, so a Lambda binary carries
//! them and needs no files (or a file loader) at run time. They are parsed once per process
//! (a [`OnceLock`]) and a test renders every [`Email`] in every [`Locale`], so a template that
//! does not parse or names a variable that does not exist fails `cargo test`, not a send.
//!
//! Layout of `templates/`:
//! - `layout.html` and `layout.txt`: the frame every email shares (the organisation's name as
//!   the header, the body, a footer saying why the reader gets the email);
//! - `button.html`: the one link button, as table markup that Outlook also draws;
//! - `<lang>/<kind>.subject.txt`, `<lang>/<kind>.html`, `<lang>/<kind>.txt` per [`Email`]
//!   kind (see [`Email::kind`]) and [`Locale`].
//!
//! Safety of the values put into an email (most of them come from contacts or calendars, not
//! from us): the HTML templates auto-escape every value (minijinja picks HTML escaping from
//! the `.html` extension); the plain-text part is not escaped, but every value loses its
//! control characters other than newline and tab; the subject is flattened to one trimmed line
//! of at most 200 characters, so no CR/LF reaches the mail header; and a URL is rendered as a
//! link only when it is `https://` (or `http://localhost` for local development), otherwise
//! the link and the sentence or button around it are left out.
//!
//! Tone: contact-facing email (the appointment reminder) addresses the reader formally in
//! Dutch (`u`), as a dentist or notary would; email to Switchboard's own users (billing, team)
//! uses the informal `je`, as Dutch software products do.

mod format;
mod sanitize;

use std::sync::OnceLock;

use chrono::DateTime;
use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State, UndefinedBehavior, context};
use serde::Serialize;

pub use format::{format_date, format_date_time, format_time};

/// A language Switchboard writes email in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    /// English: the fallback for every language without its own templates.
    #[default]
    En,
    /// Dutch.
    Nl,
}

impl Locale {
    /// Every locale, for callers (and tests) that go through all of them.
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Nl];

    /// The locale for a BCP 47 language tag or POSIX-style locale name as stored on a contact
    /// or user (`"nl"`, `"nl-NL"`, `"nl_BE"`, `"NL"`): only the language part counts, in any
    /// case. A tag for a language without templates, an empty tag or `None` is English.
    pub fn from_tag(tag: Option<&str>) -> Locale {
        let Some(tag) = tag else {
            return Locale::En;
        };
        let language = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if language.eq_ignore_ascii_case("nl") {
            Locale::Nl
        } else {
            Locale::En
        }
    }

    /// The language's ISO 639-1 code (`"en"`, `"nl"`): the templates' directory and the
    /// HTML part's `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Nl => "nl",
        }
    }
}

/// An email to render, with the values it shows. Each variant is one kind of email.
///
/// Strings are borrowed: the caller has them already, and rendering copies what it uses.
/// Optional values are left out of the email (with the sentence around them) when `None`.
#[derive(Debug, Clone, Copy)]
pub enum Email<'a> {
    /// To a contact: a reminder of an upcoming appointment with the organisation.
    AppointmentReminder {
        /// The organisation the appointment is with (the email's header).
        org_name: &'a str,
        /// The contact's name, as greeted.
        contact_name: &'a str,
        /// What the appointment is (its calendar title).
        title: &'a str,
        /// When it starts, already in the contact's time zone: the email prints this
        /// wall-clock time and names the zone.
        starts_at: DateTime<Tz>,
        /// Where it takes place.
        location: Option<&'a str>,
        /// Notes for the contact; may span several lines.
        notes: Option<&'a str>,
    },
    /// To an organisation's administrators: the free trial ends soon.
    TrialEnding {
        /// The organisation whose trial ends.
        org_name: &'a str,
        /// When the trial ends, in the organisation's time zone.
        trial_end: DateTime<Tz>,
        /// Where to choose a plan (the billing page or a checkout link).
        billing_url: Option<&'a str>,
    },
    /// To an organisation's administrators: a subscription payment failed.
    PaymentFailed {
        /// The organisation whose payment failed.
        org_name: &'a str,
        /// The amount, already formatted with its currency (`"€49.00"`).
        amount: Option<&'a str>,
        /// Where to update the payment method.
        billing_url: Option<&'a str>,
    },
    /// To an organisation's administrators: the subscription was cancelled.
    SubscriptionCancelled {
        /// The organisation whose subscription ended.
        org_name: &'a str,
        /// Where to subscribe again.
        billing_url: Option<&'a str>,
    },
    /// To a team member: a conversation was assigned to them.
    ConversationAssigned {
        /// The organisation the conversation belongs to.
        org_name: &'a str,
        /// The team member's name, as greeted.
        assignee_name: Option<&'a str>,
        /// The contact the conversation is with.
        contact_name: &'a str,
        /// Where to open the conversation in the app.
        conversation_url: Option<&'a str>,
    },
    /// To an organisation's administrators: Switchboard disabled one of its webhook
    /// endpoints because every delivery to it failed for days.
    WebhookEndpointDisabled {
        /// The organisation the endpoint belongs to.
        org_name: &'a str,
        /// Which endpoint: its description, or its URL's scheme and host. Never the whole
        /// URL: a path or query can hold a token, and email is not a place for secrets.
        endpoint: &'a str,
        /// When its deliveries began failing, in the zone the email should show.
        failing_since: DateTime<Tz>,
        /// Where to look at the endpoint and enable it again (the webhook settings).
        settings_url: Option<&'a str>,
    },
}

impl Email<'_> {
    /// The kind's stable snake_case name (`"appointment_reminder"`): the templates' file
    /// names, and a label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Email::AppointmentReminder { .. } => "appointment_reminder",
            Email::TrialEnding { .. } => "trial_ending",
            Email::PaymentFailed { .. } => "payment_failed",
            Email::SubscriptionCancelled { .. } => "subscription_cancelled",
            Email::ConversationAssigned { .. } => "conversation_assigned",
            Email::WebhookEndpointDisabled { .. } => "webhook_endpoint_disabled",
        }
    }

    /// The values the kind's templates read, cleaned (see the crate docs), with dates
    /// already formatted for `locale`.
    fn fields(&self, locale: Locale) -> Fields {
        let text = |value: &str| sanitize::clean_text(value);
        let optional_text = |value: Option<&str>| value.map(sanitize::clean_text);
        let link = |value: Option<&str>| value.and_then(sanitize::safe_link);
        match *self {
            Email::AppointmentReminder {
                org_name,
                contact_name,
                title,
                starts_at,
                location,
                notes,
            } => Fields::AppointmentReminder {
                org_name: text(org_name),
                contact_name: text(contact_name),
                title: text(title),
                date: format_date(&starts_at, locale),
                time: format_time(&starts_at, locale),
                date_time: format_date_time(&starts_at, locale),
                time_zone: starts_at.timezone().name(),
                location: optional_text(location),
                notes: optional_text(notes),
            },
            Email::TrialEnding {
                org_name,
                trial_end,
                billing_url,
            } => Fields::TrialEnding {
                org_name: text(org_name),
                date: format_date(&trial_end, locale),
                date_time: format_date_time(&trial_end, locale),
                time_zone: trial_end.timezone().name(),
                billing_url: link(billing_url),
            },
            Email::PaymentFailed {
                org_name,
                amount,
                billing_url,
            } => Fields::PaymentFailed {
                org_name: text(org_name),
                amount: optional_text(amount),
                billing_url: link(billing_url),
            },
            Email::SubscriptionCancelled {
                org_name,
                billing_url,
            } => Fields::SubscriptionCancelled {
                org_name: text(org_name),
                billing_url: link(billing_url),
            },
            Email::ConversationAssigned {
                org_name,
                assignee_name,
                contact_name,
                conversation_url,
            } => Fields::ConversationAssigned {
                org_name: text(org_name),
                assignee_name: optional_text(assignee_name),
                contact_name: text(contact_name),
                conversation_url: link(conversation_url),
            },
            Email::WebhookEndpointDisabled {
                org_name,
                endpoint,
                failing_since,
                settings_url,
            } => Fields::WebhookEndpointDisabled {
                org_name: text(org_name),
                endpoint: text(endpoint),
                date_time: format_date_time(&failing_since, locale),
                time_zone: failing_since.timezone().name(),
                settings_url: link(settings_url),
            },
        }
    }
}

/// The template variables of each kind. Serialized untagged, so a template sees the fields
/// as top-level names (`{{ org_name }}`); an absent optional is `none`, which templates test
/// with `{% if %}` (printing it is an error, see [`format_value`]).
#[derive(Serialize)]
#[serde(untagged)]
enum Fields {
    AppointmentReminder {
        org_name: String,
        contact_name: String,
        title: String,
        date: String,
        time: String,
        date_time: String,
        time_zone: &'static str,
        location: Option<String>,
        notes: Option<String>,
    },
    TrialEnding {
        org_name: String,
        date: String,
        date_time: String,
        time_zone: &'static str,
        billing_url: Option<String>,
    },
    PaymentFailed {
        org_name: String,
        amount: Option<String>,
        billing_url: Option<String>,
    },
    SubscriptionCancelled {
        org_name: String,
        billing_url: Option<String>,
    },
    ConversationAssigned {
        org_name: String,
        assignee_name: Option<String>,
        contact_name: String,
        conversation_url: Option<String>,
    },
    WebhookEndpointDisabled {
        org_name: String,
        endpoint: String,
        date_time: String,
        time_zone: &'static str,
        settings_url: Option<String>,
    },
}

/// A rendered email, ready to hand to the email provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject: one line, no control characters, at most 200 characters.
    pub subject: String,
    /// The HTML part: a complete document with inline styles only.
    pub html: String,
    /// The plain-text part, for clients that do not show HTML (and for spam filters, which
    /// distrust HTML-only email).
    pub text: String,
}

/// A template failed to parse or to render. This is a bug in a template (the tests render
/// every template), never a problem with the values passed in.
#[derive(Debug, thiserror::Error)]
#[error("email template {template}: {source}")]
pub struct RenderError {
    template: String,
    #[source]
    source: minijinja::Error,
}

impl RenderError {
    /// The name of the template that failed, e.g. `nl/trial_ending.html`.
    pub fn template(&self) -> &str {
        &self.template
    }
}

/// Renders `email` in `locale`: subject, HTML part and plain-text part.
///
/// The subject is rendered first and then handed to the HTML part as its `<title>`.
pub fn render(email: &Email<'_>, locale: Locale) -> Result<Rendered, RenderError> {
    let env = environment()?;
    let lang = locale.tag();
    let kind = email.kind();
    let fields = Value::from_serialize(email.fields(locale));

    let subject_name = format!("{lang}/{kind}.subject.txt");
    let raw_subject = render_template(env, &subject_name, context! { lang, ..fields.clone() })?;
    let subject = sanitize::subject(&raw_subject);

    let body = context! { lang, subject => &subject, ..fields };
    let html = render_template(env, &format!("{lang}/{kind}.html"), body.clone())?;
    let text = render_template(env, &format!("{lang}/{kind}.txt"), body)?;
    Ok(Rendered {
        subject,
        html,
        text,
    })
}

fn render_template(
    env: &Environment<'static>,
    name: &str,
    ctx: Value,
) -> Result<String, RenderError> {
    let error = |source| RenderError {
        template: name.to_owned(),
        source,
    };
    env.get_template(name)
        .map_err(error)?
        .render(ctx)
        .map_err(error)
}

/// The three templates of one kind in one language: `(name, source)` pairs, the name being
/// the path under `templates/`.
macro_rules! kind_templates {
    ($($lang:literal / $kind:literal),* $(,)?) => {
        [$(
            (
                concat!($lang, "/", $kind, ".subject.txt"),
                include_str!(concat!("../templates/", $lang, "/", $kind, ".subject.txt")),
            ),
            (
                concat!($lang, "/", $kind, ".html"),
                include_str!(concat!("../templates/", $lang, "/", $kind, ".html")),
            ),
            (
                concat!($lang, "/", $kind, ".txt"),
                include_str!(concat!("../templates/", $lang, "/", $kind, ".txt")),
            ),
        )*]
    };
}

/// The shared templates, which the kinds' templates extend or include.
const SHARED_TEMPLATES: [(&str, &str); 3] = [
    ("layout.html", include_str!("../templates/layout.html")),
    ("layout.txt", include_str!("../templates/layout.txt")),
    ("button.html", include_str!("../templates/button.html")),
];

/// Every kind's templates. A kind or language added to [`Email`] or [`Locale`] without its
/// files here fails the render-everything test (the template is missing); a file added to
/// `templates/` without a line here fails `every_template_file_is_compiled_in`.
const KIND_TEMPLATES: [(&str, &str); 36] = kind_templates![
    "en" / "appointment_reminder",
    "en" / "trial_ending",
    "en" / "payment_failed",
    "en" / "subscription_cancelled",
    "en" / "conversation_assigned",
    "en" / "webhook_endpoint_disabled",
    "nl" / "appointment_reminder",
    "nl" / "trial_ending",
    "nl" / "payment_failed",
    "nl" / "subscription_cancelled",
    "nl" / "conversation_assigned",
    "nl" / "webhook_endpoint_disabled",
];

/// The names of every template compiled into the crate (for the tests).
#[cfg(test)]
pub(crate) fn template_names() -> impl Iterator<Item = &'static str> {
    SHARED_TEMPLATES
        .iter()
        .chain(KIND_TEMPLATES.iter())
        .map(|(name, _)| *name)
}

/// The environment with every template parsed, built on first use. A parse error is kept
/// (and returned by every render) rather than panicking: a panic aborts the Lambda sandbox,
/// while an error lets the caller log it and carry on without the email.
fn environment() -> Result<&'static Environment<'static>, RenderError> {
    static ENVIRONMENT: OnceLock<Result<Environment<'static>, RenderError>> = OnceLock::new();
    match ENVIRONMENT.get_or_init(build_environment) {
        Ok(env) => Ok(env),
        // minijinja's error is not `Clone`: hand out a copy of its kind and message.
        Err(error) => Err(RenderError {
            template: error.template.clone(),
            source: minijinja::Error::new(error.source.kind(), error.source.to_string()),
        }),
    }
}

fn build_environment() -> Result<Environment<'static>, RenderError> {
    let mut env = Environment::new();
    // A template that reads a variable its kind does not have is an error, not an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // `{% if %}` and `{% block %}` lines leave no blank lines behind in the plain-text part.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_formatter(format_value);
    env.add_filter("nl2br", nl2br);
    for (name, source) in SHARED_TEMPLATES.into_iter().chain(KIND_TEMPLATES) {
        env.add_template(name, source)
            .map_err(|source| RenderError {
                template: name.to_owned(),
                source,
            })?;
    }
    Ok(env)
}

/// How a template prints `{{ value }}`.
///
/// - `none` or undefined is an error: an optional value printed without an `{% if %}` around
///   it would otherwise show up as the word "none" (or nothing) in a customer's inbox.
/// - In an `.html` template (minijinja chooses the auto-escape mode from the extension), a
///   value not marked safe is escaped with [`sanitize::escape_html`], which leaves `/` alone.
/// - Anything else (plain text, and HTML marked safe by [`nl2br`]) is written as minijinja
///   would.
fn format_value(out: &mut Output, state: &State, value: &Value) -> Result<(), minijinja::Error> {
    if value.is_none() || value.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "printed an absent optional value; guard it with {% if %}",
        ));
    }
    if state.auto_escape() == AutoEscape::Html && !value.is_safe() {
        match value.as_str() {
            Some(text) => sanitize::escape_html(out, text)?,
            None => sanitize::escape_html(out, &value.to_string())?,
        }
        return Ok(());
    }
    minijinja::escape_formatter(out, state, value)
}

/// The `nl2br` filter: `value` HTML-escaped, with each line break as `<br>`, so that
/// multi-line notes keep their lines in every mail client (Outlook ignores CSS `white-space`).
fn nl2br(value: &str) -> Value {
    let mut html = String::with_capacity(value.len());
    for (i, line) in value.split('\n').enumerate() {
        if i > 0 {
            html.push_str("<br>\n");
        }
        // Writing into a String cannot fail.
        let _ = sanitize::escape_html(&mut html, line);
    }
    Value::from_safe_string(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `templates/` is compiled in: one added without a line in
    /// [`KIND_TEMPLATES`] or [`SHARED_TEMPLATES`] would otherwise be silently unused.
    #[test]
    fn every_template_file_is_compiled_in() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, found);
                } else {
                    let relative = path.strip_prefix(root).unwrap();
                    found.push(relative.to_str().unwrap().replace('\\', "/"));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut compiled: Vec<String> = template_names().map(str::to_owned).collect();
        compiled.sort();
        assert_eq!(on_disk, compiled);
    }

    #[test]
    fn every_template_parses() {
        environment().unwrap();
    }

    /// The environment keeps minijinja's default auto-escape callback, which escapes by file
    /// extension: every `.html` template escapes, and no `.txt` one does. (The rendering
    /// tests check the escaping itself.)
    #[test]
    fn html_templates_escape_and_text_templates_do_not() {
        for name in template_names() {
            let expected = if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                assert!(name.ends_with(".txt"), "{name}");
                AutoEscape::None
            };
            assert_eq!(
                minijinja::default_auto_escape_callback(name),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn printing_an_absent_optional_is_an_error() {
        let mut env = Environment::new();
        env.set_formatter(format_value);
        env.add_template("t.txt", "[{{ missing }}]").unwrap();
        let error = env
            .get_template("t.txt")
            .unwrap()
            .render(context! { missing => None::<String> })
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidOperation);
    }

    #[test]
    fn nl2br_escapes_each_line() {
        assert_eq!(
            nl2br("a <b>\nc & d\n").as_str(),
            Some("a &lt;b&gt;<br>\nc &amp; d<br>\n")
        );
    }
}
