//! The SMTP provider: any server that takes submissions (Amazon SES SMTP, Postmark, a
//! company relay, Mailpit locally), through lettre over rustls.
//!
//! Why SMTP at all: it is the one protocol every mail service speaks, so a customer
//! whose mail must leave through their own relay is not locked out; and a local sink
//! such as Mailpit shows a developer exactly what Resend or SendGrid would have sent.
//!
//! `SMTP_URL` says where and how:
//!
//! | URL | connection |
//! |---|---|
//! | `smtp://user:pass@host:587` | STARTTLS, required: no credentials or mail ever cross in clear (default port 587) |
//! | `smtp://…?tls=opportunistic` | STARTTLS when the server offers it, else plain |
//! | `smtp://…?tls=none` | plain text: only for a local sink such as Mailpit |
//! | `smtps://user:pass@host:465` | TLS from the first byte (implicit TLS, default port 465) |
//!
//! User and password are percent-decoded (`p%40ss` is `p@ss`). Certificates are checked
//! against the Mozilla roots bundled with `webpki-roots` (a Lambda has no system store
//! to rely on).
//!
//! Each email is sent on its own connection (no pool: a Lambda frozen between
//! invocations would find pooled connections dead). A `5xx` reply is a permanent
//! refusal ([`EmailError::Rejected`] with the reply code); a `4xx` reply, a refused
//! connection, a TLS failure or a timeout may pass ([`EmailError::Transient`]). SMTP has
//! no idempotency key: the `Message-ID` (`<email id@from domain>`) at least lets a
//! receiver or a human recognise a duplicate.
//!
//! The message is `multipart/alternative` (text, then HTML), with `Reply-To` when set and
//! an `X-Switchboard-Email-Id` header. [`build_message`] is shared with the console
//! provider, so its `.eml` files are what SMTP would send.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::response::Response;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use switchboard_core::email::{Accepted, EmailError, EmailSender, OutgoingEmail};
use switchboard_core::secrets::{SecretName, SecretString, Secrets};
use tokio::sync::OnceCell;
use tracing::warn;

use super::sanitise::{display_name, provider_message};

const NAME: &str = "smtp";

/// The header carrying Switchboard's email id.
pub(crate) const EMAIL_ID_HEADER: &str = "X-Switchboard-Email-Id";

/// Default time allowed for each step of a session (connect, each command, the data).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The reply code given when an address does not parse: the code a server answers for
/// a malformed mailbox (RFC 5321 4.2.3, "mailbox name not allowed").
const BAD_MAILBOX: u16 = 553;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// STARTTLS, refusing servers that do not offer it.
    StartTls,
    /// STARTTLS when offered.
    Opportunistic,
    /// Plain text (local sinks).
    Plain,
    /// TLS from connect (`smtps`).
    Implicit,
}

impl Security {
    fn as_str(self) -> &'static str {
        match self {
            Security::StartTls => "starttls",
            Security::Opportunistic => "opportunistic starttls",
            Security::Plain => "no tls",
            Security::Implicit => "implicit tls",
        }
    }
}

/// A parsed `SMTP_URL`.
#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, SecretString)>,
}

impl std::fmt::Debug for Target {
    // The password never prints; the user name does not either (it is often an address).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} ({}{})",
            self.host,
            self.port,
            self.security.as_str(),
            if self.credentials.is_some() {
                ", with credentials"
            } else {
                ""
            }
        )
    }
}

/// Parses an `SMTP_URL`. The reason of a refusal never quotes the URL (it holds the
/// password).
fn parse_url(raw: &str) -> Result<Target, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
    let mut tls: Option<String> = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "tls" if tls.is_none() => tls = Some(value.into_owned()),
            other => return Err(format!("unknown or repeated parameter '{other}'")),
        }
    }
    let (security, default_port) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("required")) => (Security::StartTls, 587),
        ("smtp", Some("opportunistic")) => (Security::Opportunistic, 587),
        ("smtp", Some("none")) => (Security::Plain, 587),
        ("smtp", Some(other)) => {
            return Err(format!(
                "tls={other} is not one of required, opportunistic, none"
            ));
        }
        ("smtps", None) => (Security::Implicit, 465),
        ("smtps", Some(_)) => return Err("smtps:// is always TLS: drop the tls parameter".into()),
        (other, _) => return Err(format!("scheme '{other}' is not smtp or smtps")),
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err("no host".into()),
    };
    let decode = |s: &str| {
        switchboard_core::email::percent_decode(s)
            .ok_or_else(|| "user or password is not valid percent-encoded UTF-8".to_owned())
    };
    let user = decode(url.username())?;
    let credentials = match url.password() {
        Some(password) if !user.is_empty() => Some((user, SecretString::new(decode(password)?))),
        Some(_) => return Err("a password without a user".into()),
        None if !user.is_empty() => return Err("a user without a password".into()),
        None => None,
    };
    if security == Security::Plain && !is_local(&host) {
        // Allowed (a sink in another container is not on loopback), but worth a word.
        warn!(
            host = %host,
            "SMTP_URL asks for no TLS to a host that is not local: credentials and emails cross the network in clear"
        );
    }
    Ok(Target {
        host,
        port: url.port().unwrap_or(default_port),
        security,
        credentials,
    })
}

fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A transport ready to send, with what it was built from.
struct Connected {
    target: Target,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Connected {
    fn build(target: Target, timeout: Duration) -> Result<Self, EmailError> {
        let tls_parameters = || {
            TlsParameters::new(target.host.clone()).map_err(|_| {
                warn!(host = %target.host, "TLS parameters for the SMTP server could not be built");
                EmailError::NotConfigured(NAME)
            })
        };
        let tls = match target.security {
            Security::StartTls => Tls::Required(tls_parameters()?),
            Security::Opportunistic => Tls::Opportunistic(tls_parameters()?),
            Security::Implicit => Tls::Wrapper(tls_parameters()?),
            Security::Plain => Tls::None,
        };
        // `builder_dangerous` only means "no TLS unless asked": TLS is set just above.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&target.host)
            .port(target.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some((user, password)) = &target.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            target,
        })
    }
}

/// Where the sender takes its server from.
enum Source {
    /// A URL given at construction (already parsed).
    Url(Target),
    /// `SMTP_URL` from the secrets port, read on first send.
    Secrets(Arc<dyn Secrets>),
}

/// The SMTP provider.
pub struct SmtpSender {
    source: Source,
    timeout: Duration,
    connected: OnceCell<Connected>,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.connected.get(), &self.source) {
            (Some(c), _) => write!(f, "SmtpSender({:?})", c.target),
            (None, Source::Url(t)) => write!(f, "SmtpSender({t:?})"),
            (None, Source::Secrets(_)) => f.write_str("SmtpSender(SMTP_URL, not read yet)"),
        }
    }
}

impl SmtpSender {
    /// A sender for `url` (see the module doc for its forms). An invalid URL is
    /// [`EmailError::NotConfigured`]; the reason is logged, without the URL.
    pub fn from_url(url: &str) -> Result<Self, EmailError> {
        let target = parse_url(url).map_err(|reason| {
            warn!(%reason, "SMTP_URL is invalid");
            EmailError::NotConfigured(NAME)
        })?;
        Ok(Self {
            source: Source::Url(target),
            timeout: DEFAULT_TIMEOUT,
            connected: OnceCell::new(),
        })
    }

    /// A sender that reads `SMTP_URL` from `secrets` on its first send and keeps the
    /// transport built from it for the life of the process (a changed URL takes effect
    /// with the next cold start). Until the secret is set, sends fail with
    /// [`EmailError::NotConfigured`] and the secret is read again next time.
    pub fn from_secrets(secrets: Arc<dyn Secrets>) -> Self {
        Self {
            source: Source::Secrets(secrets),
            timeout: DEFAULT_TIMEOUT,
            connected: OnceCell::new(),
        }
    }

    /// Sets the time allowed for each step of a session (10 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn connected(&self) -> Result<&Connected, EmailError> {
        self.connected
            .get_or_try_init(|| async {
                let target = match &self.source {
                    Source::Url(target) => target.clone(),
                    Source::Secrets(secrets) => {
                        let url = match secrets.get(SecretName::SmtpUrl).await {
                            Ok(Some(url)) => url,
                            Ok(None) => return Err(EmailError::NotConfigured(NAME)),
                            Err(_) => {
                                return Err(EmailError::Transient(
                                    "smtp: secret store unavailable".into(),
                                ));
                            }
                        };
                        parse_url(url.expose()).map_err(|reason| {
                            warn!(%reason, "SMTP_URL is invalid");
                            EmailError::NotConfigured(NAME)
                        })?
                    }
                };
                Connected::build(target, self.timeout)
            })
            .await
    }
}

/// Builds the RFC 5322 message for `email`: what SMTP sends and the console provider
/// writes. An address that does not parse is a permanent refusal (553).
pub(crate) fn build_message(email: &OutgoingEmail) -> Result<Message, EmailError> {
    let address = |raw: &str, role: &str| {
        raw.trim()
            .parse::<Address>()
            .map_err(|_| EmailError::Rejected {
                status: BAD_MAILBOX,
                message: format!("invalid {role} address"),
            })
    };
    let from = Mailbox::new(
        display_name(email.from_name.as_deref()),
        address(&email.from_address, "sender")?,
    );
    let to = Mailbox::new(None, address(&email.to, "recipient")?);
    // The port promises a subject without line breaks; a break must not start a header.
    let subject: String = email
        .subject
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let id = safe_id(&email.id);
    let domain = from.email.domain().to_ascii_lowercase();
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{id}@{domain}>")))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(EMAIL_ID_HEADER),
            id,
        ));
    if let Some(reply_to) = email.reply_to.as_deref().filter(|r| !r.trim().is_empty()) {
        builder = builder.reply_to(Mailbox::new(None, address(reply_to, "reply-to")?));
    }
    let built = match (email.text.is_empty(), email.html.is_empty()) {
        (false, false) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        )),
        (true, false) => builder.singlepart(SinglePart::html(email.html.clone())),
        _ => builder.singlepart(SinglePart::plain(email.text.clone())),
    };
    built.map_err(|_| EmailError::Rejected {
        status: 554,
        message: "the message could not be built".into(),
    })
}

/// `id` with anything but ASCII letters, digits, `_` and `-` replaced by `_`: safe in a
/// `Message-ID`, a header and a file name. Switchboard's ids (`em_…`) pass unchanged.
pub(crate) fn safe_id(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "email".to_owned()
    } else {
        safe
    }
}

/// The server's queue id from its final reply, where it gives one in a known form:
/// `250 2.0.0 Ok: queued as 4F2A1C` (Postfix, Mailpit) or `250 Ok <id>` (Amazon SES).
fn queue_id(response: &Response) -> Option<String> {
    let line = response.first_line()?.trim();
    let lower = line.to_ascii_lowercase();
    let candidate = if let Some(pos) = lower.find("queued as ") {
        line[pos + "queued as ".len()..].split_whitespace().next()
    } else {
        // Skip an enhanced status code (`2.0.0`).
        let mut words = line.split_whitespace().peekable();
        if words
            .peek()
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit() || c == '.'))
        {
            words.next();
        }
        match (words.next(), words.next(), words.next()) {
            (Some(ok), Some(id), None) if ok.eq_ignore_ascii_case("ok") => Some(id),
            _ => None,
        }
    }?;
    let id = candidate.trim_matches(|c: char| matches!(c, '<' | '>' | ',' | ';' | '.' | ')' | '('));
    let plausible = !id.is_empty()
        && id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    plausible.then(|| id.to_owned())
}

/// Maps lettre's error to the port's, keeping the server's reason with addresses masked.
fn classify(error: &lettre::transport::smtp::Error, target: &Target) -> EmailError {
    let password = target
        .credentials
        .as_ref()
        .map(|(_, p)| p.expose())
        .unwrap_or_default();
    let detail = std::error::Error::source(error)
        .map(|s| provider_message(&s.to_string(), &[password]))
        .unwrap_or_default();
    if let Some(code) = error.status() {
        let code = u16::from(code);
        // 530/534/535: the server refused our login, not the email (an operator fixes the
        // credentials), so it retries like the providers' 401.
        if error.is_permanent() && !matches!(code, 530 | 534 | 535) {
            return EmailError::Rejected {
                status: code,
                message: if detail.is_empty() {
                    format!("smtp {code}")
                } else {
                    detail
                },
            };
        }
        return EmailError::Transient(format!("smtp {code}: {detail}"));
    }
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_tls() {
        "TLS failed"
    } else if error.is_client() {
        // For instance STARTTLS required but not offered, or no common AUTH mechanism.
        "session refused by the client"
    } else {
        "connection failed"
    };
    if detail.is_empty() {
        EmailError::Transient(format!("smtp: {what}"))
    } else {
        EmailError::Transient(format!("smtp: {what}: {detail}"))
    }
}

#[async_trait]
impl EmailSender for SmtpSender {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, EmailError> {
        // Built first: an invalid address is refused without touching the server.
        let message = build_message(email)?;
        let connected = self.connected().await?;
        match connected.transport.send(message).await {
            Ok(response) => Ok(Accepted {
                provider: NAME,
                provider_id: queue_id(&response),
            }),
            Err(e) => Err(classify(&e, &connected.target)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::testing::{FixedSecrets, email};
    use switchboard_testkit::smtp_sink::SmtpSink;

    fn url(sink: &SmtpSink, userinfo: &str) -> String {
        format!("smtp://{userinfo}@127.0.0.1:{}?tls=none", sink.port())
    }

    fn leaks(err: &EmailError, address: &str) -> bool {
        format!("{err} {err:?}").contains(address)
    }

    #[tokio::test]
    async fn sends_multipart_with_headers_over_authenticated_smtp() {
        let sink = SmtpSink::builder()
            .credentials("mailer", "p@ss w/rd")
            .start()
            .await;
        let sender = SmtpSender::from_url(&url(&sink, "mailer:p%40ss%20w%2Frd")).unwrap();
        let accepted = sender
            .send(&email("em_1", "ann@example.org"))
            .await
            .unwrap();
        assert_eq!(
            accepted,
            Accepted {
                provider: "smtp",
                provider_id: Some("SINK0001".into())
            }
        );
        let messages = sink.messages();
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.mail_from, "reminders@clinic.example");
        assert_eq!(m.rcpt_to, vec!["ann@example.org".to_string()]);
        assert_eq!(
            m.header("From").as_deref(),
            Some("\"Clinic Reminders\" <reminders@clinic.example>")
        );
        assert_eq!(m.header("To").as_deref(), Some("ann@example.org"));
        assert_eq!(
            m.header("Subject").as_deref(),
            Some("Your appointment tomorrow")
        );
        assert_eq!(
            m.header("Reply-To").as_deref(),
            Some("front-desk@clinic.example")
        );
        assert_eq!(m.header("X-Switchboard-Email-Id").as_deref(), Some("em_1"));
        assert_eq!(
            m.header("Message-ID").as_deref(),
            Some("<em_1@clinic.example>")
        );
        let content_type = m.header("Content-Type").unwrap();
        assert!(
            content_type.starts_with("multipart/alternative"),
            "{content_type}"
        );
        let plain = m
            .data
            .find("Content-Type: text/plain")
            .expect("a text part");
        let html = m
            .data
            .find("Content-Type: text/html")
            .expect("an HTML part");
        assert!(
            plain < html,
            "text before HTML, as multipart/alternative wants"
        );
        assert!(m.data.contains("See you at 10:00."));
        assert!(m.data.contains("<p>See you at <b>10:00</b>.</p>"));
        let auth = sink.auth_seen();
        assert_eq!(auth.len(), 1);
        assert_eq!(
            (
                auth[0].mechanism.as_str(),
                auth[0].username.as_str(),
                auth[0].password.as_str(),
                auth[0].accepted
            ),
            ("PLAIN", "mailer", "p@ss w/rd", true)
        );
        assert!(!format!("{sender:?}").contains("p@ss"), "{sender:?}");
    }

    #[tokio::test]
    async fn login_is_used_where_plain_is_not_offered() {
        let sink = SmtpSink::builder()
            .credentials("u", "p")
            .auth_mechanisms("LOGIN")
            .start()
            .await;
        let sender = SmtpSender::from_url(&url(&sink, "u:p")).unwrap();
        let mut e = email("em_2", "ann@example.org");
        e.reply_to = None;
        sender.send(&e).await.unwrap();
        assert_eq!(sink.auth_seen()[0].mechanism, "LOGIN");
        let m = &sink.messages()[0];
        assert_eq!(m.header("Reply-To"), None);
    }

    #[tokio::test]
    async fn refusals_are_classified_by_reply_code_without_the_address() {
        let sink = SmtpSink::builder()
            .credentials("u", "p")
            .reject_recipient("gone@example.org")
            .defer_recipient("busy@example.org")
            .start()
            .await;
        let sender = SmtpSender::from_url(&url(&sink, "u:p")).unwrap();

        let err = sender
            .send(&email("em_1", "gone@example.org"))
            .await
            .unwrap_err();
        match &err {
            EmailError::Rejected { status, message } => {
                assert_eq!(*status, 550);
                assert!(message.contains("g***@example.org"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!leaks(&err, "gone@example.org"), "{err}");

        let err = sender
            .send(&email("em_2", "busy@example.org"))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(err.to_string().contains("451"), "{err}");
        assert!(!leaks(&err, "busy@example.org"), "{err}");

        let bad_password = SmtpSender::from_url(&url(&sink, "u:wrong")).unwrap();
        let err = bad_password
            .send(&email("em_3", "ann@example.org"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, EmailError::Transient(ref m) if m.starts_with("smtp 535")),
            "a refused login retries: {err:?}"
        );
        assert!(!leaks(&err, "wrong"), "{err}");
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn nothing_listening_is_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sender = SmtpSender::from_url(&format!("smtp://u:p@127.0.0.1:{port}?tls=none"))
            .unwrap()
            .with_timeout(Duration::from_secs(2));
        let err = sender
            .send(&email("em_1", "ann@example.org"))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(!leaks(&err, "ann@example.org"));
    }

    #[tokio::test]
    async fn required_starttls_never_sends_credentials_in_clear() {
        // The sink offers no STARTTLS: a default `smtp://` URL must not fall back to plain.
        let sink = SmtpSink::builder().credentials("u", "p").start().await;
        let sender =
            SmtpSender::from_url(&format!("smtp://u:p@127.0.0.1:{}", sink.port())).unwrap();
        let err = sender
            .send(&email("em_1", "ann@example.org"))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(
            sink.auth_seen().is_empty(),
            "credentials were sent in clear"
        );
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn an_invalid_address_is_refused_before_connecting() {
        let sink = SmtpSink::builder().start().await;
        let sender = SmtpSender::from_url(&url(&sink, "u:p")).unwrap();
        for (field, value) in [("to", "bob@@example.org"), ("reply_to", "not an address")] {
            let mut e = email("em_1", "ann@example.org");
            match field {
                "to" => e.to = value.into(),
                _ => e.reply_to = Some(value.into()),
            }
            let err = sender.send(&e).await.unwrap_err();
            assert!(
                matches!(err, EmailError::Rejected { status: 553, .. }),
                "{err:?}"
            );
            assert!(!leaks(&err, value));
        }
        assert_eq!(sink.connections(), 0);
    }

    #[tokio::test]
    async fn smtp_url_is_read_from_secrets_once_when_first_needed() {
        let unset = SmtpSender::from_secrets(Arc::new(FixedSecrets::none()));
        assert_eq!(
            unset.send(&email("em_1", "a@x.org")).await.unwrap_err(),
            EmailError::NotConfigured("smtp")
        );
        let sink = SmtpSink::builder().credentials("u", "p").start().await;
        let secrets = Arc::new(FixedSecrets::with(SecretName::SmtpUrl, &url(&sink, "u:p")));
        let sender = SmtpSender::from_secrets(secrets.clone());
        assert!(secrets.reads.lock().unwrap().is_empty(), "read lazily");
        assert_eq!(format!("{sender:?}"), "SmtpSender(SMTP_URL, not read yet)");
        sender.send(&email("em_1", "a@x.org")).await.unwrap();
        sender.send(&email("em_2", "b@x.org")).await.unwrap();
        assert_eq!(*secrets.reads.lock().unwrap(), vec![SecretName::SmtpUrl]);
        assert_eq!(sink.messages().len(), 2);
        assert_eq!(sink.connections(), 2, "one connection per email");
        let shown = format!("{sender:?}");
        assert!(
            shown.contains("127.0.0.1") && !shown.contains(":p@"),
            "{shown}"
        );
    }

    #[test]
    fn urls_choose_tls_port_and_credentials() {
        let t = parse_url("smtp://user%40corp:s%3Acret@mail.example.com").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.security),
            ("mail.example.com", 587, Security::StartTls)
        );
        let (user, password) = t.credentials.clone().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("user@corp", "s:cret"));
        assert!(!format!("{t:?}").contains("cret") && !format!("{t:?}").contains("user"));

        let t = parse_url("smtps://u:p@smtp.example.com").unwrap();
        assert_eq!((t.port, t.security), (465, Security::Implicit));
        let t = parse_url("smtp://u:p@smtp.example.com:2525?tls=required").unwrap();
        assert_eq!((t.port, t.security), (2525, Security::StartTls));
        let t = parse_url("smtp://smtp.example.com?tls=opportunistic").unwrap();
        assert_eq!(t.security, Security::Opportunistic);
        assert!(t.credentials.is_none());
        let t = parse_url("smtp://localhost:1025?tls=none").unwrap();
        assert_eq!((t.port, t.security), (1025, Security::Plain));
        let t = parse_url("smtp://[::1]:25?tls=none").unwrap();
        assert_eq!(t.host, "::1");

        for bad in [
            "mail.example.com",
            "http://u:p@mail.example.com",
            "smtps://u:p@mail.example.com?tls=none",
            "smtp://u:p@mail.example.com?tls=sometimes",
            "smtp://u:p@mail.example.com?tls=none&tls=required",
            "smtp://u:p@mail.example.com?timeout=5",
            "smtp://u@mail.example.com",
            "smtp://:p@mail.example.com",
            "smtp://u:%zz@mail.example.com",
        ] {
            let reason = parse_url(bad).unwrap_err();
            assert!(!reason.contains("u:p"), "{bad}: {reason}");
            assert_eq!(
                SmtpSender::from_url(bad).unwrap_err(),
                EmailError::NotConfigured("smtp"),
                "{bad}"
            );
        }
    }

    #[test]
    fn queue_ids_are_read_from_known_reply_forms() {
        use lettre::transport::smtp::response::{Category, Code, Detail, Severity};
        let reply = |text: &str| {
            Response::new(
                Code::new(
                    Severity::PositiveCompletion,
                    Category::MailSystem,
                    Detail::Zero,
                ),
                vec![text.to_owned()],
            )
        };
        assert_eq!(
            queue_id(&reply("2.0.0 Ok: queued as 4F2A1C0B3")).as_deref(),
            Some("4F2A1C0B3")
        );
        assert_eq!(
            queue_id(&reply("Ok 0100018c-d2a1-4e5b-9f00-000000000000-000000")).as_deref(),
            Some("0100018c-d2a1-4e5b-9f00-000000000000-000000")
        );
        assert_eq!(
            queue_id(&reply("2.0.0 OK  1700000000 d2e1a72fcca58-gsmtp")),
            None
        );
        assert_eq!(queue_id(&reply("2.0.0 Ok: queued as <a@b.c>")), None);
        assert_eq!(queue_id(&reply("Ok")), None);
        assert_eq!(safe_id("em_1"), "em_1");
        assert_eq!(safe_id("../x y"), "___x_y");
        assert_eq!(safe_id(""), "email");
    }
}
