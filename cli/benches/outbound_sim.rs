//! Broadcast simulation: a 10,000-recipient template campaign through the real send
//! API use case and `worker-outbound`, against the in-process fake Graph of
//! `fake_graph.rs` (Meta's throughput limit of `LIMIT`, default 80, its pair rate and
//! its latency).
//!
//! `WORKERS` pollers (default 8) stand in for concurrent Lambda instances; they share
//! one pacing budget through the item store. Reports the achieved send rate as a
//! fraction of the limit, the throughput and pair-rate errors received and duplicate
//! sends (targets: ≥ 95 %, 0, 0), the messages dead-lettered and the most receives any
//! message took against the queue's `maxReceiveCount` (the embedded queue applies the
//! same redrive rule as SQS; target: 0 dead-lettered), and writes them to `OUT`
//! (default `bench-results/outbound.json`).
//!
//! Run with `cargo bench -p switchboard-cli --bench outbound_sim` or `scripts/bench.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_core::ids::{ConversationId, OrgId, PhoneNumberId, WaId};
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::{integrations, outbound};
use switchboard_runtime::local::{queue_fn, run_poller};

#[path = "fake_graph.rs"]
mod fake_graph;
#[path = "seed.rs"]
mod seed;
use fake_graph::FakeGraph;

const PHONE: &str = "106540352242922";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let recipients = env_or("RECIPIENTS", 10_000);
    let workers = env_or("WORKERS", 8);
    let limit = env_or("LIMIT", 80);
    let out = std::env::var("OUT").unwrap_or_else(|_| "bench-results/outbound.json".into());

    let dir = tempfile::tempdir().expect("tempdir");
    let config = switchboard_runtime::config::Config::local(dir.path());
    let base = switchboard_cli::commands::build_app(config.clone())
        .await
        .expect("app");
    let fake = FakeGraph::new(limit);
    let mut services = base.services().clone();
    services.whatsapp = Arc::new(fake.clone());
    services.whatsapp_live = true;
    services.secrets = Arc::new(switchboard_local::EnvSecrets::from_pairs([(
        SecretName::WhatsAppAppSecret,
        "x",
    )]));
    let app = switchboard_runtime::App::from_parts(
        config,
        services,
        switchboard_runtime::app::http_client(),
    )
    .expect("app");
    let svc = app.services().clone();
    let org = OrgId::parse("sim").unwrap();
    let connect = integrations::ConnectRequest {
        phone_number_id: Some(PHONE.into()),
        waba_id: Some("102290129340398".into()),
        access_token: Some("EAAG-sim".into()),
        display_phone_number: None,
        messages_per_second: Some(json!(limit)),
    };
    integrations::connect(&svc, &Default::default(), &org, connect.validate().unwrap())
        .await
        .expect("connect");

    // Every recipient has written once (so conversations exist), through the real
    // inbound path.
    eprintln!("setting up {recipients} conversations…");
    seed::customers_write(&app, PHONE, recipients, "hi").await;

    // The campaign: one template message per recipient through the send use case.
    eprintln!("queueing the campaign…");
    let phone = PhoneNumberId::parse(PHONE).unwrap();
    let template = json!({"type": "template", "template": {"name": "spring_sale", "language": {"code": "en_US"}}});
    for i in 0..recipients {
        let conv =
            ConversationId::for_thread(&org, &phone, &WaId::parse(&format!("1555{i:07}")).unwrap());
        outbound::send(
            &svc,
            outbound::SendRequest {
                org: &org,
                conversation: &conv,
                body: &template,
                idempotency_key: None,
                sender: None,
                billing: &Default::default(),
                correlation_id: None,
                origin: None,
            },
        )
        .await
        .expect("send");
    }

    eprintln!("sending with {workers} workers (limit {limit}/s)…");
    let started = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The most receives any message took: SQS counts every one (pacing deferrals too)
    // against the redrive policy's maxReceiveCount.
    let max_receives = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = max_receives.clone();
    let handler = queue_fn(move |app, batch| {
        let most = batch.iter().map(|m| m.receive_count).max().unwrap_or(0);
        seen.fetch_max(most, std::sync::atomic::Ordering::Relaxed);
        async move { worker_outbound::handle(&app, batch).await }
    });
    let pollers: Vec<_> = (0..workers)
        .map(|_| {
            tokio::spawn(run_poller(
                app.clone(),
                QueueName::Outbound,
                handler.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    let deadline =
        Instant::now() + Duration::from_secs((recipients as u64 / limit as u64) * 3 + 120);
    loop {
        let sent = fake.state.lock().unwrap().sent as usize;
        if sent >= recipients || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop_tx.send(true);
    for p in pollers {
        let _ = p.await;
    }
    let dead_lettered = svc
        .queue
        .dead_letters(QueueName::Outbound, recipients.max(1))
        .await
        .map(|d| d.len())
        .unwrap_or(usize::MAX);
    let s = fake.state.lock().unwrap();
    let window = match (s.first, s.last) {
        (Some(a), Some(b)) if b > a => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if window > 0.0 {
        (s.sent.saturating_sub(1)) as f64 / window
    } else {
        0.0
    };
    let result = json!({
        "recipients": recipients,
        "workers": workers,
        "limit_per_sec": limit,
        "sent": s.sent,
        "achieved_rate_per_sec": (rate * 10.0).round() / 10.0,
        "fraction_of_limit": (rate / limit as f64 * 1000.0).round() / 1000.0,
        "max_in_any_1s_window": s.max_in_window,
        "throughput_errors": s.throughput_errors,
        "pair_rate_errors": s.pair_errors,
        "duplicates": s.duplicates,
        "dead_lettered": dead_lettered,
        "max_receives_per_message": max_receives.load(std::sync::atomic::Ordering::Relaxed),
        "max_receive_count": QueueName::Outbound.spec().max_receive_count,
        "elapsed_secs": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    if let Some(parent) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap() + "\n")
        .expect("write results");
    eprintln!("wrote {out}");
}
