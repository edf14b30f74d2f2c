//! A local SMTP server for tests: it speaks just enough SMTP (no TLS) for a real client
//! such as lettre, records what it accepts, and can be scripted to refuse recipients.
//!
//! Why not a mock of the SMTP client: the SMTP provider's value is in what goes over the
//! wire (envelope, AUTH, the MIME message, how reply codes are classified), so tests run
//! the real client against a real socket. Why not Mailpit or another sink: tests must
//! run offline without an extra binary, and need scripted 4xx/5xx replies.
//!
//! What it speaks: the greeting, `EHLO`/`HELO` (advertising `AUTH PLAIN LOGIN`, or the
//! mechanisms set with [`SmtpSinkBuilder::auth_mechanisms`]), `AUTH PLAIN` and
//! `AUTH LOGIN`, `MAIL FROM`, `RCPT TO` (scripted with
//! [`SmtpSinkBuilder::reject_recipient`] and [`SmtpSinkBuilder::defer_recipient`]),
//! `DATA`, `RSET`, `NOOP` and `QUIT`. `STARTTLS` is refused, so a client that requires
//! TLS fails against it.
//!
//! ```no_run
//! # async fn demo() {
//! use switchboard_testkit::smtp_sink::SmtpSink;
//! let sink = SmtpSink::builder()
//!     .credentials("user", "pass")
//!     .reject_recipient("gone@example.org")
//!     .start()
//!     .await;
//! let url = format!("smtp://user:pass@127.0.0.1:{}?tls=none", sink.port());
//! // … send through `url` …
//! assert_eq!(sink.messages().len(), 1);
//! # }
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The host name the sink announces in its greeting and `EHLO` reply.
pub const SINK_HOSTNAME: &str = "sink.switchboard.test";

/// Largest command line or message the sink reads, so a broken client cannot make a test
/// allocate without bound.
const MAX_BYTES: usize = 10 * 1024 * 1024;

/// One message the sink accepted (a `250` after `DATA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The `MAIL FROM` address, without angle brackets or parameters.
    pub mail_from: String,
    /// The accepted `RCPT TO` addresses, in order.
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA` (dot-stuffing undone, terminating `.` removed),
    /// with its CRLF line ends.
    pub data: String,
    /// The queue id the sink answered with (`250 2.0.0 Ok: queued as <id>`).
    pub queue_id: String,
}

impl ReceivedMessage {
    /// The header section (before the first empty line).
    pub fn head(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or(self.data.as_str(), |(head, _)| head)
    }

    /// The first header of this name (case-insensitive), with folded lines joined, or
    /// `None`. Values are returned as sent (still RFC 2047-encoded when they were).
    pub fn header(&self, name: &str) -> Option<String> {
        let mut unfolded: Vec<String> = Vec::new();
        for line in self.head().split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = unfolded.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim_start());
                }
            } else {
                unfolded.push(line.to_owned());
            }
        }
        unfolded.into_iter().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// Credentials a client presented with `AUTH`, whether or not they were accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenAuth {
    /// `PLAIN` or `LOGIN`.
    pub mechanism: String,
    /// The user name (authentication identity).
    pub username: String,
    /// The password.
    pub password: String,
    /// Whether the sink accepted them (`235`).
    pub accepted: bool,
}

#[derive(Debug, Default)]
struct Script {
    credentials: Option<(String, String)>,
    mechanisms: String,
    reject: HashSet<String>,
    defer: HashSet<String>,
}

#[derive(Debug, Default)]
struct Recorded {
    messages: Vec<ReceivedMessage>,
    auth: Vec<SeenAuth>,
    connections: usize,
}

/// Configures an [`SmtpSink`] before it starts.
#[derive(Debug)]
pub struct SmtpSinkBuilder {
    script: Script,
}

impl SmtpSinkBuilder {
    /// Requires `AUTH` with these credentials before `MAIL FROM` (without this call the
    /// sink accepts mail from anyone and any credentials offered).
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        self.script.credentials = Some((username.to_owned(), password.to_owned()));
        self
    }

    /// The mechanisms advertised after `AUTH` in the `EHLO` reply (`"PLAIN LOGIN"` by
    /// default; `"LOGIN"` tests a client's fallback).
    pub fn auth_mechanisms(mut self, mechanisms: &str) -> Self {
        self.script.mechanisms = mechanisms.to_owned();
        self
    }

    /// Answers `RCPT TO` for this address with `550 5.1.1` (a permanent refusal; the
    /// reply text names the address, as real servers' do).
    pub fn reject_recipient(mut self, address: &str) -> Self {
        self.script.reject.insert(address.to_ascii_lowercase());
        self
    }

    /// Answers `RCPT TO` for this address with `451 4.3.0` (a transient failure).
    pub fn defer_recipient(mut self, address: &str) -> Self {
        self.script.defer.insert(address.to_ascii_lowercase());
        self
    }

    /// Binds `127.0.0.1:0` and serves connections until the sink is dropped.
    pub async fn start(self) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the SMTP sink");
        let addr = listener.local_addr().expect("the sink's address");
        let script = Arc::new(self.script);
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let task = {
            let recorded = recorded.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    recorded.lock().unwrap().connections += 1;
                    let (script, recorded) = (script.clone(), recorded.clone());
                    tokio::spawn(async move {
                        // A client hanging up mid-session is not the sink's failure.
                        let _ = Session::new(script, recorded).run(stream).await;
                    });
                }
            })
        };
        SmtpSink {
            addr,
            recorded,
            task,
        }
    }
}

/// A running SMTP sink on a loopback port; stops accepting connections when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    recorded: Arc<Mutex<Recorded>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// A builder with no credentials required and no scripted refusals.
    pub fn builder() -> SmtpSinkBuilder {
        SmtpSinkBuilder {
            script: Script {
                mechanisms: "PLAIN LOGIN".to_owned(),
                ..Script::default()
            },
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.recorded.lock().unwrap().messages.clone()
    }

    /// Every `AUTH` attempt so far, in order.
    pub fn auth_seen(&self) -> Vec<SeenAuth> {
        self.recorded.lock().unwrap().auth.clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.recorded.lock().unwrap().connections
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection's state.
struct Session {
    script: Arc<Script>,
    recorded: Arc<Mutex<Recorded>>,
    authenticated: bool,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

/// What a command asks the connection loop to do next.
enum Next {
    Continue,
    Quit,
}

type Lines = BufReader<tokio::net::tcp::OwnedReadHalf>;
type Writer = tokio::net::tcp::OwnedWriteHalf;

impl Session {
    fn new(script: Arc<Script>, recorded: Arc<Mutex<Recorded>>) -> Self {
        Self {
            script,
            recorded,
            authenticated: false,
            mail_from: None,
            rcpt_to: Vec::new(),
        }
    }

    async fn run(mut self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        reply(
            &mut write,
            &format!("220 {SINK_HOSTNAME} ESMTP Switchboard test sink"),
        )
        .await?;
        while let Some(line) = read_line(&mut lines).await? {
            if let Next::Quit = self.command(&line, &mut lines, &mut write).await? {
                break;
            }
        }
        Ok(())
    }

    async fn command(
        &mut self,
        line: &str,
        lines: &mut Lines,
        write: &mut Writer,
    ) -> std::io::Result<Next> {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.reset();
                let ehlo = format!(
                    "250-{SINK_HOSTNAME} greets {rest}\r\n250-AUTH {}\r\n250-8BITMIME\r\n250 SIZE {MAX_BYTES}",
                    self.script.mechanisms
                );
                reply(write, &ehlo).await?;
            }
            "HELO" => {
                self.reset();
                reply(write, &format!("250 {SINK_HOSTNAME}")).await?;
            }
            "AUTH" => self.auth(rest, lines, write).await?,
            "MAIL" => {
                if self.script.credentials.is_some() && !self.authenticated {
                    reply(write, "530 5.7.0 Authentication required").await?;
                } else if self.mail_from.is_some() {
                    reply(write, "503 5.5.1 Nested MAIL command").await?;
                } else if let Some(from) = path_argument(rest, "FROM:") {
                    self.mail_from = Some(from);
                    reply(write, "250 2.1.0 Ok").await?;
                } else {
                    reply(write, "501 5.5.4 Syntax: MAIL FROM:<address>").await?;
                }
            }
            "RCPT" => match path_argument(rest, "TO:") {
                _ if self.mail_from.is_none() => {
                    reply(write, "503 5.5.1 Need MAIL before RCPT").await?;
                }
                Some(to) if self.script.reject.contains(&to.to_ascii_lowercase()) => {
                    let text =
                        format!("550 5.1.1 <{to}>: Recipient address rejected: User unknown");
                    reply(write, &text).await?;
                }
                Some(to) if self.script.defer.contains(&to.to_ascii_lowercase()) => {
                    let text = format!("451 4.3.0 <{to}>: Temporary failure, try again later");
                    reply(write, &text).await?;
                }
                Some(to) => {
                    self.rcpt_to.push(to);
                    reply(write, "250 2.1.5 Ok").await?;
                }
                None => reply(write, "501 5.5.4 Syntax: RCPT TO:<address>").await?,
            },
            "DATA" => self.data(lines, write).await?,
            "RSET" => {
                self.reset();
                reply(write, "250 2.0.0 Ok").await?;
            }
            "NOOP" => reply(write, "250 2.0.0 Ok").await?,
            "STARTTLS" => reply(write, "454 4.7.0 TLS not available").await?,
            "QUIT" => {
                reply(write, "221 2.0.0 Bye").await?;
                return Ok(Next::Quit);
            }
            _ => reply(write, "502 5.5.2 Command not recognized").await?,
        }
        Ok(Next::Continue)
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    async fn auth(
        &mut self,
        args: &str,
        lines: &mut Lines,
        write: &mut Writer,
    ) -> std::io::Result<()> {
        let mut args = args.split_whitespace();
        let mechanism = args.next().unwrap_or_default().to_ascii_uppercase();
        let initial = args.next().map(str::to_owned);
        let advertised = self
            .script
            .mechanisms
            .split_whitespace()
            .any(|m| m.eq_ignore_ascii_case(&mechanism));
        if !advertised {
            return reply(write, "504 5.5.4 Unrecognized authentication type").await;
        }
        let (username, password) = match mechanism.as_str() {
            "PLAIN" => {
                // RFC 4616: authzid NUL authcid NUL passwd, base64 encoded.
                let response = match initial {
                    Some(r) => r,
                    None => {
                        reply(write, "334 ").await?;
                        read_line(lines).await?.unwrap_or_default()
                    }
                };
                let decoded = decode(&response);
                let mut parts = decoded.split('\0').skip(1);
                (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                )
            }
            _ => {
                // LOGIN: the user name and the password, each after its own prompt.
                let username = match initial {
                    Some(u) => decode(&u),
                    None => {
                        reply(write, "334 VXNlcm5hbWU6").await?;
                        decode(&read_line(lines).await?.unwrap_or_default())
                    }
                };
                reply(write, "334 UGFzc3dvcmQ6").await?;
                let password = decode(&read_line(lines).await?.unwrap_or_default());
                (username, password)
            }
        };
        let accepted = match &self.script.credentials {
            Some((u, p)) => *u == username && *p == password,
            None => true,
        };
        self.recorded.lock().unwrap().auth.push(SeenAuth {
            mechanism,
            username,
            password,
            accepted,
        });
        if accepted {
            self.authenticated = true;
            reply(write, "235 2.7.0 Authentication successful").await
        } else {
            reply(write, "535 5.7.8 Authentication credentials invalid").await
        }
    }

    async fn data(&mut self, lines: &mut Lines, write: &mut Writer) -> std::io::Result<()> {
        let Some(mail_from) = self.mail_from.clone() else {
            return reply(write, "503 5.5.1 Need MAIL command").await;
        };
        if self.rcpt_to.is_empty() {
            return reply(write, "554 5.5.1 No valid recipients").await;
        }
        reply(write, "354 End data with <CR><LF>.<CR><LF>").await?;
        let mut data = String::new();
        loop {
            let Some(line) = read_line(lines).await? else {
                // The client hung up inside DATA: nothing is accepted.
                return Ok(());
            };
            if line == "." {
                break;
            }
            // Undo dot-stuffing (RFC 5321 4.5.2).
            let line = line.strip_prefix('.').unwrap_or(&line);
            data.push_str(line);
            data.push_str("\r\n");
            if data.len() > MAX_BYTES {
                return reply(write, "552 5.3.4 Message too big").await;
            }
        }
        let queue_id = {
            let mut recorded = self.recorded.lock().unwrap();
            let queue_id = format!("SINK{:04X}", recorded.messages.len() + 1);
            recorded.messages.push(ReceivedMessage {
                mail_from,
                rcpt_to: std::mem::take(&mut self.rcpt_to),
                data,
                queue_id: queue_id.clone(),
            });
            queue_id
        };
        self.reset();
        reply(write, &format!("250 2.0.0 Ok: queued as {queue_id}")).await
    }
}

/// Reads one line without its line end; `None` at end of stream.
async fn read_line(lines: &mut Lines) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *lines)
        .take(MAX_BYTES as u64)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

async fn reply(write: &mut Writer, text: &str) -> std::io::Result<()> {
    write.write_all(text.as_bytes()).await?;
    write.write_all(b"\r\n").await?;
    write.flush().await
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>` (`<>` is the null sender, kept as
/// an empty string).
fn path_argument(rest: &str, keyword: &str) -> Option<String> {
    let rest = rest.trim_start();
    if rest.len() < keyword.len() || !rest[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let path = rest[keyword.len()..].trim_start();
    let inner = path.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

fn decode(b64: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn say(write: &mut Writer, lines: &mut Lines, line: &str) -> String {
        reply(write, line).await.unwrap();
        let mut answer = String::new();
        // Multi-line replies use `250-`; the last line has a space after the code.
        loop {
            let l = read_line(lines).await.unwrap().unwrap();
            answer.push_str(&l);
            answer.push('\n');
            if l.as_bytes().get(3) != Some(&b'-') {
                return answer;
            }
        }
    }

    #[tokio::test]
    async fn a_scripted_session_is_recorded() {
        let sink = SmtpSink::builder()
            .credentials("u", "p")
            .reject_recipient("Gone@Example.org")
            .defer_recipient("later@example.org")
            .start()
            .await;
        let (read, mut write) = TcpStream::connect(sink.addr()).await.unwrap().into_split();
        let mut lines = BufReader::new(read);
        assert!(
            read_line(&mut lines)
                .await
                .unwrap()
                .unwrap()
                .starts_with("220 ")
        );
        let ehlo = say(&mut write, &mut lines, "EHLO client.test").await;
        assert!(ehlo.contains("250-AUTH PLAIN LOGIN"), "{ehlo}");
        assert!(
            say(&mut write, &mut lines, "MAIL FROM:<a@b.test>")
                .await
                .starts_with("530")
        );
        let bad = base64::engine::general_purpose::STANDARD.encode("\0u\0wrong");
        assert!(
            say(&mut write, &mut lines, &format!("AUTH PLAIN {bad}"))
                .await
                .starts_with("535")
        );
        assert!(
            say(&mut write, &mut lines, "AUTH LOGIN")
                .await
                .starts_with("334 VXNlcm5hbWU6")
        );
        assert!(
            say(&mut write, &mut lines, "dQ==")
                .await
                .starts_with("334 UGFzc3dvcmQ6")
        );
        assert!(say(&mut write, &mut lines, "cA==").await.starts_with("235"));
        assert!(
            say(&mut write, &mut lines, "MAIL FROM:<a@b.test> BODY=8BITMIME")
                .await
                .starts_with("250")
        );
        assert!(
            say(&mut write, &mut lines, "RCPT TO:<gone@example.org>")
                .await
                .starts_with("550 5.1.1")
        );
        assert!(
            say(&mut write, &mut lines, "RCPT TO:<later@example.org>")
                .await
                .starts_with("451")
        );
        assert!(
            say(&mut write, &mut lines, "RCPT TO:<ok@example.org>")
                .await
                .starts_with("250")
        );
        assert!(say(&mut write, &mut lines, "NOOP").await.starts_with("250"));
        assert!(say(&mut write, &mut lines, "DATA").await.starts_with("354"));
        reply(&mut write, "Subject: hi\r\n\r\n..dot\r\nbody")
            .await
            .unwrap();
        assert_eq!(
            say(&mut write, &mut lines, ".").await,
            "250 2.0.0 Ok: queued as SINK0001\n"
        );
        assert!(say(&mut write, &mut lines, "RSET").await.starts_with("250"));
        assert!(say(&mut write, &mut lines, "QUIT").await.starts_with("221"));

        let messages = sink.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].mail_from, "a@b.test");
        assert_eq!(messages[0].rcpt_to, vec!["ok@example.org".to_string()]);
        assert_eq!(messages[0].data, "Subject: hi\r\n\r\n.dot\r\nbody\r\n");
        assert_eq!(messages[0].header("subject").as_deref(), Some("hi"));
        let auth = sink.auth_seen();
        assert_eq!(auth.len(), 2);
        assert!(!auth[0].accepted);
        assert_eq!(
            (
                auth[1].mechanism.as_str(),
                auth[1].username.as_str(),
                auth[1].password.as_str(),
                auth[1].accepted
            ),
            ("LOGIN", "u", "p", true)
        );
        assert_eq!(sink.connections(), 1);
    }
}
