//! Reminder schedule benchmark: `APPOINTMENTS` (default 10,000) appointments whose email
//! reminder is due are stored, then the reminder schedule (`cron-reminders`' use case)
//! runs as `RUNS` (default 2) overlapping runs at once, as EventBridge would start them
//! if one run were slow. Measures the claims per second (each: the appointment's
//! versioned claim and the email record in one transaction, then the email handed to
//! the `email` queue) and checks exactly once: the runs' `sent` add up to the
//! appointments, the queue holds one message per email, and a further run finds nothing.
//!
//! `BACKEND=local` (default: SQLite) or `BACKEND=aws` (DynamoDB and SQS on moto_server at
//! `SWITCHBOARD_TEST_MOTO_URL`). Writes `OUT` (default `bench-results/reminders_<backend>.json`).
//!
//! Run with `cargo bench -p switchboard-cli --bench reminders_load` or `scripts/bench.sh`.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use futures::{StreamExt, stream};
use serde_json::json;
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::{AppointmentId, OrgId, WaId};
use switchboard_core::model::Contact;
use switchboard_core::queue::QueueName;
use switchboard_core::record::item;
use switchboard_core::store::Condition;
use switchboard_core::usecases::appointments::{
    Appointment, AppointmentStatus, ReminderChannel, build_reminders,
};
use switchboard_core::usecases::reminders;
use switchboard_runtime::App;
use switchboard_testkit::backends;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let n = env_or("APPOINTMENTS", 10_000);
    let runs = env_or("RUNS", 2).max(1);
    let backend = std::env::var("BACKEND").unwrap_or_else(|_| "local".into());
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::new(start));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let ports: switchboard_runtime::app::StoragePorts = match backend.as_str() {
        "aws" => (
            backends::aws_store(dyn_clock.clone()).await,
            backends::aws_queue().await,
            backends::aws_cipher().await,
            backends::local_secrets("bench").await,
        ),
        _ => (
            backends::local_store(dyn_clock.clone()).await,
            backends::local_queue().await,
            backends::local_cipher().await,
            backends::local_secrets("bench").await,
        ),
    };
    let dir = tempfile::tempdir().unwrap();
    let app = App::assemble(
        switchboard_runtime::config::Config::local(dir.path()),
        ports,
        dyn_clock,
        switchboard_runtime::app::http_client(),
    )
    .expect("app");
    let svc = app.services();
    let org = OrgId::parse("bench").unwrap();

    // Set-up: a contact with an address and an appointment at 12:00 with a 1h email
    // reminder, for each of N customers.
    let setup = Instant::now();
    let starts = start + Duration::hours(4);
    let writes = (0..n).map(|i| {
        let org = org.clone();
        let svc = svc.clone();
        async move {
            let mut c = Contact::new(&org, &WaId::parse(&format!("3161{i:07}")).unwrap(), start);
            c.name = Some(format!("Customer {i}"));
            c.email = Some(format!("customer{i}@example.org"));
            svc.store
                .put(item(&c, 1).unwrap(), Condition::Always)
                .await
                .unwrap();
            let a = Appointment {
                id: AppointmentId::from_uuid(uuid::Uuid::now_v7()),
                org_id: org.clone(),
                contact_id: c.id.clone(),
                starts_at: starts,
                timezone: "Europe/Amsterdam".into(),
                title: "Consult".into(),
                location: None,
                notes: None,
                channel: ReminderChannel::Email,
                status: AppointmentStatus::Scheduled,
                generation: 0,
                offsets: vec!["1h".into()],
                reminders: build_reminders(
                    &["1h".into()],
                    starts,
                    chrono_tz::Europe::Amsterdam,
                    ReminderChannel::Email,
                    start,
                ),
                created_by: None,
                created_at: start,
                updated_at: start,
            };
            svc.store
                .put(item(&a, 1).unwrap(), Condition::NotExists)
                .await
                .unwrap();
        }
    });
    stream::iter(writes)
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let setup_secs = setup.elapsed().as_secs_f64();
    eprintln!("set up {n} appointments in {setup_secs:.1} s");

    clock.set(starts - Duration::minutes(55));
    let began = Instant::now();
    let ticks =
        futures::future::join_all((0..runs).map(|_| reminders::tick(svc, &app.config().billing)))
            .await;
    let secs = began.elapsed().as_secs_f64();
    let ticks: Vec<_> = ticks.into_iter().map(|t| t.expect("tick")).collect();
    let sent: usize = ticks.iter().map(|t| t.sent).sum();
    let deferred: usize = ticks.iter().map(|t| t.deferred).sum();
    // Exactly once: one message per email on the queue, nothing left for another run.
    let mut queued = 0usize;
    let mut ids = std::collections::HashSet::new();
    loop {
        let batch = svc
            .queue
            .receive(
                QueueName::Email,
                10,
                std::time::Duration::from_secs(600),
                std::time::Duration::ZERO,
            )
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        for m in &batch {
            queued += 1;
            ids.insert(m.body.clone());
            svc.queue
                .delete(QueueName::Email, &m.receipt)
                .await
                .unwrap();
        }
    }
    let again = reminders::tick(svc, &app.config().billing).await.unwrap();
    let result = json!({
        "backend": backend,
        "appointments": n,
        "overlapping_runs": runs,
        "seconds": secs,
        "reminders_per_second": sent as f64 / secs,
        "sent": sent,
        "deferred": deferred,
        "queue_messages": queued,
        "distinct_emails_queued": ids.len(),
        "sent_by_a_later_run": again.sent,
        "setup_seconds": setup_secs,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    assert_eq!(sent, n, "every reminder claimed once across the runs");
    assert_eq!(ids.len(), n, "one email per reminder on the queue");
    assert_eq!(again.sent, 0);
    let out =
        std::env::var("OUT").unwrap_or_else(|_| format!("bench-results/reminders_{backend}.json"));
    std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap() + "\n").expect("write OUT");
}
