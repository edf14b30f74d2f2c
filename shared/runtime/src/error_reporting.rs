//! Error tracking with Sentry, when `SENTRY_DSN` is set; without it, logs only.
//!
//! What is reported (every one, no sampling): an HTTP handler's 5xx answer (function,
//! method, status, error code, request id and the scrubbed cause, never a body), every
//! queue message moved to the dead-letter queue (queue, function, message id, receive
//! count, and whether it was poison or ran out of retries, never the body), and a panic.
//! Traces: one transaction per HTTP request and per queue batch, sampled at
//! `SENTRY_TRACES_SAMPLE_RATE` (1.0 on the embedded backend, 0.1 on AWS by default).
//!
//! Nothing leaves the process unscrubbed: [`scrub`] masks phone numbers and redacts
//! tokens and quoted free text in every message, exception, tag, extra and breadcrumb,
//! and `before_send` drops request data, cookies, headers and the user (with their IP)
//! from every event. Events are built here from fields the adapters chose, so a body
//! never gets in to begin with.
//!
//! The client is global (one per process, like the tracing subscriber); each request and
//! batch runs on its own hub ([`isolated`]), so the transaction and tags of one never
//! land on another's events. On Lambda the adapters [`flush`] before an invocation
//! returns, because Lambda freezes the process between invocations.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sentry::protocol::{Breadcrumb, Event, Exception, Level, SpanStatus, Value};
use sentry::types::Dsn;
use sentry::{ClientInitGuard, ClientOptions, Hub, SentryFutureExt};
use switchboard_core::queue::{QueueName, ReceivedMessage};

use crate::config::{Backend, ConfigError};

/// How long a flush may hold an invocation (Lambda) or the shutdown (dev server).
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Default share of requests and batches traced on the embedded backend (the dev server).
pub const DEFAULT_TRACES_SAMPLE_RATE_LOCAL: f32 = 1.0;
/// Default share of requests and batches traced on AWS.
pub const DEFAULT_TRACES_SAMPLE_RATE_AWS: f32 = 0.1;

/// Error-tracking settings (`SENTRY_DSN`, `SENTRY_TRACES_SAMPLE_RATE`,
/// `SWITCHBOARD_STAGE`). Debug never prints the DSN.
#[derive(Clone, PartialEq)]
pub struct ErrorReportingConfig {
    /// Where events go; `None`: error tracking is off (logs only).
    pub dsn: Option<Dsn>,
    /// Share of transactions sent, 0 to 1 (errors are always sent).
    pub traces_sample_rate: f32,
    /// The Sentry environment: the stage, when `SWITCHBOARD_STAGE` is set.
    pub environment: Option<String>,
}

impl std::fmt::Debug for ErrorReportingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorReportingConfig")
            .field("dsn", &self.dsn.as_ref().map(|_| "<set>"))
            .field("traces_sample_rate", &self.traces_sample_rate)
            .field("environment", &self.environment)
            .finish()
    }
}

impl ErrorReportingConfig {
    /// Reads the settings through `var` (trimmed, empty as unset): a DSN that does not
    /// parse, or a sample rate outside 0..=1, is a configuration error naming the variable
    /// (and never echoing the DSN).
    pub fn read(
        var: &impl Fn(&str) -> Option<String>,
        backend: Backend,
    ) -> Result<Self, ConfigError> {
        let dsn = var("SENTRY_DSN")
            .map(|v| {
                v.parse::<Dsn>().map_err(|_| ConfigError::Invalid {
                    var: "SENTRY_DSN",
                    reason: "must be a Sentry DSN such as https://<key>@<host>/<project>".into(),
                })
            })
            .transpose()?;
        let traces_sample_rate = match var("SENTRY_TRACES_SAMPLE_RATE") {
            None if backend == Backend::Aws => DEFAULT_TRACES_SAMPLE_RATE_AWS,
            None => DEFAULT_TRACES_SAMPLE_RATE_LOCAL,
            Some(v) => v
                .parse::<f32>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or(ConfigError::Invalid {
                    var: "SENTRY_TRACES_SAMPLE_RATE",
                    reason: format!("must be a number from 0 to 1, got `{v}`"),
                })?,
        };
        Ok(Self {
            dsn,
            traces_sample_rate,
            environment: var("SWITCHBOARD_STAGE"),
        })
    }
}

/// The client options for `config`, or `None` when no DSN is set. Tests build their own
/// client from these, pointed at a fake ingest.
pub fn client_options(config: &ErrorReportingConfig) -> Option<ClientOptions> {
    let dsn = config.dsn.clone()?;
    Some(ClientOptions {
        dsn: Some(dsn),
        release: Some(Cow::Borrowed(concat!(
            "switchboard@",
            env!("CARGO_PKG_VERSION")
        ))),
        environment: config.environment.clone().map(Cow::Owned),
        sample_rate: 1.0,
        traces_sample_rate: config.traces_sample_rate,
        send_default_pii: false,
        // A host name says nothing on Lambda and names a laptop on the dev server.
        server_name: None,
        attach_stacktrace: false,
        max_breadcrumbs: 20,
        before_send: Some(Arc::new(|event| Some(scrub_event(event)))),
        before_breadcrumb: Some(Arc::new(|crumb| Some(scrub_breadcrumb(crumb)))),
        shutdown_timeout: FLUSH_TIMEOUT,
        // The reqwest transport (rustls), set here so a client built from these options
        // sends without going through `sentry::init`.
        transport: Some(Arc::new(sentry::transports::DefaultTransportFactory)),
        ..Default::default()
    })
}

/// The process's client, kept alive (and so sending) for as long as the process runs.
static GUARD: OnceLock<ClientInitGuard> = OnceLock::new();

/// Starts error tracking when `config` has a DSN; once per process (later calls, such as
/// a second `App` in the same process, do nothing). Returns whether it is on.
pub fn init(config: &ErrorReportingConfig) -> bool {
    if GUARD.get().is_some() {
        return true;
    }
    let Some(options) = client_options(config) else {
        return false;
    };
    let mut first = false;
    GUARD.get_or_init(|| {
        first = true;
        sentry::init(options)
    });
    if first {
        install_panic_hook();
        tracing::info!(
            environment = config.environment.as_deref().unwrap_or("-"),
            traces_sample_rate = config.traces_sample_rate,
            "error tracking on"
        );
    }
    true
}

/// Reports a panic (scrubbed) and flushes before the previous hook runs: release builds
/// abort on a panic, so the event must be on its way before the process ends.
fn install_panic_hook() {
    let next = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let hub = Hub::current();
        if let Some(client) = hub.client().filter(|c| c.is_enabled()) {
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Box<dyn Any>".to_owned());
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            hub.capture_event(Event {
                level: Level::Fatal,
                message: Some(format!("panic at {location}")),
                exception: vec![Exception {
                    ty: "panic".into(),
                    value: Some(payload),
                    ..Default::default()
                }]
                .into(),
                ..Default::default()
            });
            client.flush(Some(FLUSH_TIMEOUT));
        }
        next(info);
    }));
}

/// Whether events of the current hub go anywhere.
pub fn enabled() -> bool {
    Hub::current().client().is_some_and(|c| c.is_enabled())
}

/// Sends what is queued, waiting at most `timeout` (off the async threads). Lambda
/// adapters call this before an invocation returns.
pub async fn flush(timeout: Duration) {
    let Some(client) = Hub::current().client().filter(|c| c.is_enabled()) else {
        return;
    };
    let _ = tokio::task::spawn_blocking(move || client.flush(Some(timeout))).await;
}

/// Runs `fut` on a hub of its own (inheriting the current client), so the transaction
/// and tags one request or batch sets stay off every other's events. The hub is made
/// when the future first runs, from the hub current then.
pub async fn isolated<F: Future>(fut: F) -> F::Output {
    let hub = Arc::new(Hub::new_from_top(Hub::current()));
    fut.bind_hub(hub).await
}

/// A transaction in progress: one HTTP request or queue batch. Inert when error
/// tracking is off (or this one was not sampled, which the client decides).
#[derive(Debug)]
pub struct Trace(Option<sentry::Transaction>);

/// Starts a transaction named `function` (a static name: never a path or an id) with
/// operation `op` (`http.server`, `queue.process`), makes it the current hub's span so
/// errors reported meanwhile join it, and tags the hub's events with the function. Call
/// inside [`isolated`].
pub fn start_trace(function: &str, op: &str) -> Trace {
    if !enabled() {
        return Trace(None);
    }
    let tx = sentry::start_transaction(sentry::TransactionContext::new(function, op));
    tx.set_tag("function", function);
    Hub::current().configure_scope(|scope| {
        scope.set_tag("function", function);
        scope.set_span(Some(tx.clone().into()));
    });
    Trace(Some(tx))
}

impl Trace {
    /// Finishes the transaction with an HTTP status.
    pub fn finish_http(self, status: u16) {
        if let Some(tx) = self.0 {
            tx.set_tag("http.status_code", status);
            tx.set_status(match status {
                s if s < 400 => SpanStatus::Ok,
                401 => SpanStatus::Unauthenticated,
                403 => SpanStatus::PermissionDenied,
                404 => SpanStatus::NotFound,
                409 => SpanStatus::AlreadyExists,
                429 => SpanStatus::ResourceExhausted,
                s if s < 500 => SpanStatus::InvalidArgument,
                503 => SpanStatus::Unavailable,
                _ => SpanStatus::InternalError,
            });
            tx.finish();
        }
    }

    /// Finishes the transaction of a batch: ok unless some message failed.
    pub fn finish_batch(self, failed: usize) {
        if let Some(tx) = self.0 {
            tx.set_tag("failed", failed);
            tx.set_status(if failed == 0 {
                SpanStatus::Ok
            } else {
                SpanStatus::InternalError
            });
            tx.finish();
        }
    }
}

/// A 5xx answer, as reported.
#[derive(Debug, Clone, Copy)]
pub struct HttpFailure<'a> {
    /// The function (route) that answered.
    pub function: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The answer's status.
    pub status: u16,
    /// The error code of the JSON body, when the handler returned an error.
    pub code: Option<&'a str>,
    /// The request id.
    pub request_id: &'a str,
    /// The cause behind an opaque 5xx (scrubbed before it is sent).
    pub cause: Option<&'a str>,
}

/// Reports a 5xx answer (nothing when error tracking is off).
pub fn report_http_failure(f: &HttpFailure<'_>) {
    if !enabled() {
        return;
    }
    let code = f.code.unwrap_or("-");
    let mut event = Event {
        level: Level::Error,
        message: Some(format!("{} answered {} {code}", f.function, f.status)),
        transaction: Some(f.function.to_owned()),
        fingerprint: Cow::Owned(vec![
            "http".into(),
            f.function.to_owned().into(),
            f.status.to_string().into(),
            code.to_owned().into(),
        ]),
        ..Default::default()
    };
    if let Some(cause) = f.cause {
        event.exception = vec![Exception {
            ty: code.to_owned(),
            value: Some(cause.to_owned()),
            ..Default::default()
        }]
        .into();
    }
    for (k, v) in [
        ("function", f.function),
        ("method", f.method),
        ("code", code),
        ("request_id", f.request_id),
    ] {
        event.tags.insert(k.into(), v.into());
    }
    event.tags.insert("status".into(), f.status.to_string());
    Hub::current().capture_event(event);
}

/// Why a consumer gave a message up, noted by [`crate::queue::on_error`] and read back
/// when the message is moved ([`report_dead_letter`]).
static GIVEN_UP: Mutex<Option<HashMap<String, &'static str>>> = Mutex::new(None);
/// More notes than this means they are not being read back: start over.
const MAX_NOTES: usize = 10_000;

/// Notes why a message is about to be dead-lettered: `poison` (a failure that retrying
/// does not cure) or `retries_exhausted`.
pub fn note_given_up(message_id: &str, poison: bool) {
    if !enabled() {
        return;
    }
    let mut notes = GIVEN_UP.lock().unwrap_or_else(|p| p.into_inner());
    let notes = notes.get_or_insert_with(HashMap::new);
    if notes.len() >= MAX_NOTES {
        notes.clear();
    }
    notes.insert(
        message_id.to_owned(),
        if poison {
            "poison"
        } else {
            "retries_exhausted"
        },
    );
}

/// Reports a message moved to `queue`'s dead-letter queue (nothing when error tracking
/// is off): one event each, never with the body.
pub fn report_dead_letter(queue: QueueName, m: &ReceivedMessage) {
    let reason = GIVEN_UP
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_mut()
        .and_then(|notes| notes.remove(&m.id))
        .unwrap_or("given_up");
    if !enabled() {
        return;
    }
    let what = match reason {
        "poison" => "a poison message",
        "retries_exhausted" => "a message that ran out of retries",
        _ => "a message its consumer gave up on",
    };
    let mut event = Event {
        level: Level::Error,
        message: Some(format!("{queue}: dead-lettered {what}")),
        fingerprint: Cow::Owned(vec![
            "dead_letter".into(),
            queue.as_str().into(),
            reason.into(),
        ]),
        ..Default::default()
    };
    for (k, v) in [
        ("queue", queue.as_str().to_owned()),
        ("message_id", m.id.clone()),
        ("receive_count", m.receive_count.to_string()),
        ("reason", reason.to_owned()),
    ] {
        event.tags.insert(k.into(), v);
    }
    Hub::current().capture_event(event);
}

// ---- scrubbing ----

/// Tags whose values Switchboard itself makes (names, statuses, ids it generated or SQS
/// and API Gateway did): left as they are, so a UUID is not mistaken for a number.
const OWN_TAGS: &[&str] = &[
    "function",
    "method",
    "status",
    "code",
    "request_id",
    "queue",
    "message_id",
    "receive_count",
    "reason",
    "http.status_code",
    "failed",
];

/// Strips what must not leave the process from an event: request data (body, cookies,
/// headers, query), the user and their IP address; scrubs every free-text field.
pub fn scrub_event(mut event: Event<'static>) -> Event<'static> {
    event.request = None;
    event.user = None;
    event.server_name = None;
    event.message = event.message.map(|m| scrub(&m));
    if let Some(entry) = event.logentry.as_mut() {
        entry.message = scrub(&entry.message);
        entry.params.iter_mut().for_each(scrub_value);
    }
    event.transaction = event.transaction.map(|t| scrub(&t));
    event.culprit = event.culprit.map(|c| scrub(&c));
    for e in event.exception.values.iter_mut() {
        e.value = e.value.as_deref().map(scrub);
    }
    for (k, v) in event.tags.iter_mut() {
        if !OWN_TAGS.contains(&k.as_str()) {
            *v = scrub(v);
        }
    }
    event.extra.values_mut().for_each(scrub_value);
    let crumbs = std::mem::take(&mut event.breadcrumbs.values);
    event.breadcrumbs.values = crumbs.into_iter().map(scrub_breadcrumb).collect();
    event
}

/// Scrubs a breadcrumb's message and drops its data (which may hold a request's).
pub fn scrub_breadcrumb(mut crumb: Breadcrumb) -> Breadcrumb {
    crumb.message = crumb.message.map(|m| scrub(&m));
    crumb.data.clear();
    crumb
}

fn scrub_value(v: &mut Value) {
    match v {
        Value::String(s) => *s = scrub(s),
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => map.values_mut().for_each(scrub_value),
        _ => {}
    }
}

/// What a redacted token or secret becomes.
const REDACTED: &str = "[redacted]";
/// What quoted free text becomes.
const TEXT: &str = "[text]";

/// Scrubs free text before it leaves the process: quoted text with a space in it (a
/// message a customer wrote, as a parse error quotes it) or over 64 characters becomes
/// `[text]`; tokens (`Bearer …`, Stripe `sk_`/`rk_` keys, `whsec_` secrets, Meta `EAA…`
/// tokens, JWTs, `token=`-style values, long opaque secrets) become `[redacted]`; phone
/// numbers (7 or more digits, with an optional `+`, spaces and dashes) are masked to
/// their last 4 digits like the logs' ([`switchboard_core::ids::mask_phone`]).
pub fn scrub(text: &str) -> String {
    scrub_phones(&scrub_words(&scrub_quoted(text)))
}

/// Replaces quoted free text (`"…"`, `` `…` ``, `“…”`).
fn scrub_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['"', '`', '“']) {
        let open = rest[start..].chars().next().unwrap_or('"');
        let close = if open == '“' { '”' } else { open };
        let inner_start = start + open.len_utf8();
        let Some(len) = rest[inner_start..].find(close) else {
            break;
        };
        let inner = &rest[inner_start..inner_start + len];
        out.push_str(&rest[..inner_start]);
        if inner.chars().any(char::is_whitespace) || inner.chars().count() > 64 {
            out.push_str(TEXT);
        } else {
            out.push_str(inner);
        }
        out.push(close);
        rest = &rest[inner_start + len + close.len_utf8()..];
    }
    out.push_str(rest);
    out
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~' | '+' | '/' | '=')
}

/// Redacts token-shaped words, and the word after `Bearer`/`Basic`.
fn scrub_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_scheme = false;
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if !is_word_char(c) {
            out.push(c);
            chars.next();
            if !c.is_whitespace() {
                after_scheme = false;
            }
            continue;
        }
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if !is_word_char(c) {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        let word = &text[start..end];
        // A sentence's full stop is not part of the token.
        let (core, tail) = match word.strip_suffix('.') {
            Some(core) => (core, "."),
            None => (word, ""),
        };
        if after_scheme {
            out.push_str(REDACTED);
            out.push_str(tail);
            after_scheme = false;
            continue;
        }
        if core.eq_ignore_ascii_case("bearer") || core.eq_ignore_ascii_case("basic") {
            after_scheme = true;
            out.push_str(word);
            continue;
        }
        match secret_value_at(core) {
            Some(0) => out.push_str(REDACTED),
            Some(at) => {
                out.push_str(&core[..at]);
                out.push_str(REDACTED);
            }
            None => out.push_str(core),
        }
        out.push_str(tail);
    }
    out
}

/// Where the secret in a word starts: 0 for a word that is one, the value's offset for
/// `token=…`-style pairs, `None` for a harmless word.
fn secret_value_at(word: &str) -> Option<usize> {
    if let Some((key, value)) = word.split_once('=') {
        let key = key.to_ascii_lowercase();
        let secret_key = [
            "token",
            "secret",
            "password",
            "passwd",
            "api_key",
            "apikey",
            "signature",
            "authorization",
        ]
        .iter()
        .any(|k| key.contains(k));
        if secret_key && !value.is_empty() {
            return Some(key.len() + 1);
        }
        return looks_secret(value).then_some(key.len() + 1);
    }
    looks_secret(word).then_some(0)
}

fn is_uuid(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn looks_secret(word: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_", "sbk_",
    ];
    if PREFIXES
        .iter()
        .any(|p| word.starts_with(p) && word.len() > p.len())
    {
        return true;
    }
    // Meta access tokens (user, system user, page): `EAA` and a long alphanumeric tail.
    if word.starts_with("EAA")
        && word.len() >= 20
        && word.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return true;
    }
    let base64url = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
    };
    let segments: Vec<&str> = word.split('.').collect();
    if segments.len() == 3
        && segments.iter().all(|s| base64url(s))
        && (word.starts_with("eyJ") || segments.iter().all(|s| s.len() >= 16))
    {
        return true;
    }
    // A long opaque string mixing letters and digits: an API key, a signature, a hash.
    word.len() >= 32
        && !is_uuid(word)
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
}

/// Masks runs of 7 or more digits (with an optional leading `+`, spaces and dashes)
/// that stand alone, not inside a word such as an id.
fn scrub_phones(text: &str) -> String {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0; // byte offset up to which `text` is in `out`
    while i < chars.len() {
        let (at, c) = chars[i];
        let starts = (c == '+' || c.is_ascii_digit())
            && (i == 0 || !chars[i - 1].1.is_alphanumeric())
            && (c != '+' || chars.get(i + 1).is_some_and(|(_, n)| n.is_ascii_digit()));
        if !starts {
            i += 1;
            continue;
        }
        // The run: the sign, then digits with single spaces or dashes between them.
        let mut j = i + 1;
        let mut last_digit = if c.is_ascii_digit() { Some(i) } else { None };
        while j < chars.len() {
            let d = chars[j].1;
            if d.is_ascii_digit() {
                last_digit = Some(j);
            } else if !(matches!(d, ' ' | '-')
                && chars.get(j + 1).is_some_and(|(_, n)| n.is_ascii_digit()))
            {
                break;
            }
            j += 1;
        }
        let Some(last) = last_digit else {
            i += 1;
            continue;
        };
        let end = chars.get(last + 1).map_or(text.len(), |(b, _)| *b);
        let digits: String = text[at..end].chars().filter(char::is_ascii_digit).collect();
        let free_standing = chars
            .get(last + 1)
            .is_none_or(|(_, n)| !n.is_alphanumeric());
        if digits.len() >= 7 && free_standing {
            out.push_str(&text[copied..at]);
            out.push_str(&switchboard_core::ids::mask_phone(&digits));
            copied = end;
        }
        i = last + 1;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_masked_to_their_last_four_digits() {
        for (text, number) in [
            ("send to +15551234567 failed", "15551234567"),
            ("send to +1 555 123 4567 failed", "1 555 123 4567"),
            ("recipient 555-123-4567.", "555-123-4567"),
            ("wa_id:4915112345678", "4915112345678"),
        ] {
            let out = scrub(text);
            assert!(!out.contains(number), "{out}");
            assert!(out.contains("••••"), "{out}");
        }
        assert_eq!(scrub("call +1 555 123 4567 now"), "call ••••4567 now");
        // Short numbers, ids and UUIDs stay.
        for keep in [
            "status 503 after 2500 ms",
            "request 8476a536-e9f4-11e8-9739-2dfe598c3fcd",
            "contact ct_01J9Z3K4M5N6P7Q8R9S0T1U2V3",
            "attempt 3 of 12",
        ] {
            assert_eq!(scrub(keep), keep);
        }
    }

    #[test]
    fn tokens_and_secrets_are_redacted() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
        for (text, secret) in [
            ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
            (
                "key sk_live_51HxYzAbCdEf is revoked",
                "sk_live_51HxYzAbCdEf",
            ),
            ("sk_test_abc123.", "sk_test_abc123"),
            (
                "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
            (
                "token EAABsbCS1iHgBAKZCZCZA1x2y3z4 expired",
                "EAABsbCS1iHgBAKZCZCZA1x2y3z4",
            ),
            (&format!("jwt {jwt} bad"), jwt),
            ("GET /x?access_token=abcd1234&x=1", "abcd1234"),
            (
                "api key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
            ),
        ] {
            let out = scrub(text);
            assert!(!out.contains(secret), "{text} → {out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        // Host names and dotted paths are not JWTs.
        assert_eq!(
            scrub("graph.facebook.com timed out in usecases.outbound.send"),
            "graph.facebook.com timed out in usecases.outbound.send"
        );
    }

    #[test]
    fn quoted_free_text_is_removed_but_identifiers_stay() {
        let out = scrub(r#"invalid type: string "hello, my order 42 is late", expected u32"#);
        assert!(!out.contains("hello"), "{out}");
        assert!(out.contains("[text]"), "{out}");
        assert_eq!(
            scrub(r#"unknown variant "foo_bar", expected `text`"#),
            r#"unknown variant "foo_bar", expected `text`"#
        );
        assert_eq!(scrub(r#"unclosed "quote"#), r#"unclosed "quote"#);
    }

    #[test]
    fn events_lose_request_data_user_and_breadcrumb_data() {
        let mut event = Event {
            message: Some("send to +15551234567 failed".into()),
            request: Some(sentry::protocol::Request {
                data: Some(r#"{"text":"secret words"}"#.into()),
                cookies: Some("session=abc".into()),
                ..Default::default()
            }),
            user: Some(sentry::protocol::User {
                ip_address: Some(sentry::protocol::IpAddress::Auto),
                ..Default::default()
            }),
            ..Default::default()
        };
        event.tags.insert(
            "request_id".into(),
            "8476a536-e9f4-11e8-9739-123456789012".into(),
        );
        event.tags.insert("note".into(), "to 15551234567".into());
        event
            .extra
            .insert("nested".into(), serde_json::json!({"a": ["Bearer tok123"]}));
        let mut crumb = Breadcrumb {
            message: Some("to +15551234567".into()),
            ..Default::default()
        };
        crumb.data.insert("body".into(), "hi there".into());
        event.breadcrumbs.values.push(crumb);
        let event = scrub_event(event);
        let text = serde_json::to_string(&event).unwrap();
        for leaked in [
            "15551234567",
            "secret words",
            "session=abc",
            "tok123",
            "hi there",
        ] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
        assert!(event.request.is_none() && event.user.is_none());
        assert_eq!(
            event.tags["request_id"], "8476a536-e9f4-11e8-9739-123456789012",
            "our own ids are left alone"
        );
    }

    #[test]
    fn settings_are_read_and_checked() {
        let read = |pairs: &[(&str, &str)], backend| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            ErrorReportingConfig::read(&|k: &str| map.get(k).cloned(), backend)
        };
        let off = read(&[], Backend::Local).unwrap();
        assert!(off.dsn.is_none() && client_options(&off).is_none());
        assert_eq!(off.traces_sample_rate, 1.0);
        assert_eq!(read(&[], Backend::Aws).unwrap().traces_sample_rate, 0.1);
        let on = read(
            &[
                ("SENTRY_DSN", "https://public@sentry.example.com/7"),
                ("SENTRY_TRACES_SAMPLE_RATE", "0.25"),
                ("SWITCHBOARD_STAGE", "staging"),
            ],
            Backend::Aws,
        )
        .unwrap();
        assert_eq!(on.traces_sample_rate, 0.25);
        assert_eq!(on.environment.as_deref(), Some("staging"));
        assert!(
            !format!("{on:?}").contains("public@"),
            "Debug hides the DSN"
        );
        let options = client_options(&on).unwrap();
        assert!(!options.send_default_pii);
        assert_eq!(options.environment.as_deref(), Some("staging"));
        for (var, value) in [
            ("SENTRY_DSN", "not a dsn"),
            ("SENTRY_TRACES_SAMPLE_RATE", "1.5"),
            ("SENTRY_TRACES_SAMPLE_RATE", "-0.1"),
            ("SENTRY_TRACES_SAMPLE_RATE", "often"),
        ] {
            let err = read(&[(var, value)], Backend::Local).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { var: v, .. } if v == var),
                "{err}"
            );
        }
    }
}
