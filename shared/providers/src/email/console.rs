//! The console provider: the local default, which sends nothing.
//!
//! Why it is the default: a developer running Switchboard locally with real contact data
//! must never email a real person by accident. It logs a one-line summary that carries
//! no personal data (ids, the masked address, sizes: never the subject or body), and,
//! when an outbox directory is set, writes each email as `<outbox>/<email id>.eml`, the
//! exact RFC 5322 message the SMTP provider would send, which any mail client opens.
//!
//! It still builds the message, so an address SMTP would refuse is refused here too
//! (553) and the local run shows the failure a real provider would report.

use std::path::PathBuf;

use async_trait::async_trait;
use switchboard_core::email::{Accepted, EmailError, EmailSender, OutgoingEmail};
use switchboard_core::privacy::mask_email;
use tracing::info;

use super::smtp::{build_message, safe_id};

const NAME: &str = "console";

/// The console provider.
#[derive(Debug, Clone)]
pub struct ConsoleSender {
    outbox: Option<PathBuf>,
}

impl ConsoleSender {
    /// A console sender; with `outbox`, each email is also written there as an `.eml`
    /// file (the directory is created when missing).
    pub fn new(outbox: Option<PathBuf>) -> Self {
        Self { outbox }
    }
}

#[async_trait]
impl EmailSender for ConsoleSender {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, EmailError> {
        let message = build_message(email)?;
        let file = match &self.outbox {
            Some(dir) => {
                // The id is reduced to `[A-Za-z0-9_-]`, so the file stays inside `dir`.
                let path = dir.join(format!("{}.eml", safe_id(&email.id)));
                let written = async {
                    tokio::fs::create_dir_all(dir).await?;
                    tokio::fs::write(&path, message.formatted()).await
                }
                .await;
                written.map_err(|e| {
                    EmailError::Transient(format!("console: the outbox cannot be written ({e})"))
                })?;
                Some(path)
            }
            None => None,
        };
        info!(
            email_id = %email.id,
            org_id = %email.org_id,
            to = %mask_email(&email.to),
            subject_chars = email.subject.chars().count(),
            text_bytes = email.text.len(),
            html_bytes = email.html.len(),
            reply_to = email.reply_to.is_some(),
            eml = file.as_ref().map(|p| p.display().to_string()).as_deref().unwrap_or("-"),
            "email not sent (console provider)"
        );
        Ok(Accepted {
            provider: NAME,
            provider_id: Some(email.id.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::testing::email;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// Collects formatted log lines.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn writes_the_eml_and_logs_no_personal_data() {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        // tracing caches whether a log call is enabled when it is first hit. With a single
        // subscriber registered, a test on another thread (which has none) hitting it
        // first would cache it as disabled; a second live subscriber makes tracing ask
        // every registered one instead.
        let _second = tracing::Dispatch::new(tracing_subscriber::registry());

        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox").join("nested");
        let sender = ConsoleSender::new(Some(outbox.clone()));
        let accepted = sender
            .send(&email("em_1", "ann.smith@example.org"))
            .await
            .unwrap();
        assert_eq!(
            accepted,
            Accepted {
                provider: "console",
                provider_id: Some("em_1".into())
            }
        );

        let eml = std::fs::read_to_string(outbox.join("em_1.eml")).unwrap();
        for expected in [
            "From: \"Clinic Reminders\" <reminders@clinic.example>",
            "To: ann.smith@example.org",
            "Subject: Your appointment tomorrow",
            "Reply-To: front-desk@clinic.example",
            "X-Switchboard-Email-Id: em_1",
            "Message-ID: <em_1@clinic.example>",
            "Content-Type: multipart/alternative",
            "See you at 10:00.",
            "<p>See you at <b>10:00</b>.</p>",
        ] {
            assert!(eml.contains(expected), "{expected} missing from:\n{eml}");
        }

        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("a***@example.org"), "{logged}");
        assert!(logged.contains("em_1"), "{logged}");
        for private in [
            "ann.smith@example.org",
            "Your appointment",
            "See you at",
            "front-desk@",
        ] {
            assert!(!logged.contains(private), "{private} logged: {logged}");
        }
    }

    #[tokio::test]
    async fn without_outbox_nothing_is_written_and_ids_cannot_escape_it() {
        let sender = ConsoleSender::new(None);
        assert_eq!(sender.name(), "console");
        sender.send(&email("em_1", "a@x.org")).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let sender = ConsoleSender::new(Some(dir.path().join("out")));
        sender
            .send(&email("../../escape", "a@x.org"))
            .await
            .unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["______escape.eml".to_string()]);

        let err = sender
            .send(&email("em_2", "not-an-address"))
            .await
            .unwrap_err();
        assert!(matches!(err, EmailError::Rejected { status: 553, .. }));
    }
}
