//! Broadcast simulation: a 10,000-recipient template campaign through the real send
//! API use case and `worker-outbound`, against an in-process fake Graph that enforces
//! Meta's limits the way Meta reports them:
//!
//! - throughput: more than `LIMIT` (80) accepted messages per phone number in any
//!   trailing one-second window → error 130429;
//! - pair rate: per recipient, a burst of 5 then one message per 6 s → error 131056;
//! - latency: a one-way network delay of 30 ± 5 ms before Meta counts the message, then
//!   40–100 ms of processing before the answer, like Graph from a nearby region.
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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use switchboard_core::ids::{ConversationId, OrgId, PhoneNumberId, WaId};
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::{SecretName, SecretString};
use switchboard_core::usecases::{ingest, integrations, outbound};
use switchboard_core::whatsapp::{
    GraphError, MediaInfo, OutboundMessage, PhoneNumberInfo, WhatsAppApi,
};
use switchboard_runtime::local::{queue_fn, run_poller};

const PHONE: &str = "106540352242922";

#[derive(Default)]
struct FakeState {
    accepted: VecDeque<Instant>,
    pairs: HashMap<String, (Instant, u32)>,
    seen: HashSet<String>,
    sent: u64,
    duplicates: u64,
    throughput_errors: u64,
    pair_errors: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    max_in_window: usize,
}

#[derive(Clone)]
struct FakeGraph {
    limit: usize,
    state: Arc<Mutex<FakeState>>,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeGraph")
    }
}

fn api_error(code: i64) -> GraphError {
    GraphError::Api {
        http_status: 400,
        code,
        subcode: None,
        message: format!("limit {code}"),
        details: None,
    }
}

#[async_trait]
impl WhatsAppApi for FakeGraph {
    async fn phone_number(
        &self,
        _t: &SecretString,
        _p: &PhoneNumberId,
    ) -> Result<PhoneNumberInfo, GraphError> {
        Ok(PhoneNumberInfo::default())
    }

    async fn send_message(
        &self,
        _t: &SecretString,
        msg: &OutboundMessage<'_>,
    ) -> Result<String, GraphError> {
        let r = uuid::Uuid::new_v4().as_u128();
        let (network, processing) = (25 + (r % 11) as u64, 40 + ((r >> 8) % 61) as u64);
        tokio::time::sleep(Duration::from_millis(network)).await;
        let result = {
            let mut s = self.state.lock().unwrap();
            let now = Instant::now();
            while s
                .accepted
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
            {
                s.accepted.pop_front();
            }
            // Pair rate: a burst of 5, then one per 6 s (a token bucket).
            let to = msg.to.to_string();
            let (since, used) = s.pairs.get(&to).copied().unwrap_or((now, 0));
            let refilled = (now.duration_since(since).as_secs() / 6) as u32;
            let used = used.saturating_sub(refilled);
            if s.accepted.len() >= self.limit {
                s.throughput_errors += 1;
                Err(api_error(130429))
            } else if used >= 5 {
                s.pair_errors += 1;
                Err(api_error(131056))
            } else {
                s.pairs.insert(to, (now, used + 1));
                s.accepted.push_back(now);
                s.max_in_window = s.max_in_window.max(s.accepted.len());
                s.sent += 1;
                s.first.get_or_insert(now);
                s.last = Some(now);
                if let Some(id) = msg.callback_data
                    && !s.seen.insert(id.to_owned())
                {
                    s.duplicates += 1;
                }
                Ok(format!("wamid.sim.{}", uuid::Uuid::now_v7().simple()))
            }
        };
        tokio::time::sleep(Duration::from_millis(processing)).await;
        result
    }

    async fn mark_read(
        &self,
        _t: &SecretString,
        _p: &PhoneNumberId,
        _w: &str,
    ) -> Result<(), GraphError> {
        Ok(())
    }

    async fn media_info(&self, _t: &SecretString, _m: &str) -> Result<MediaInfo, GraphError> {
        Err(api_error(100))
    }

    async fn download(
        &self,
        _t: &SecretString,
        _u: &str,
        _m: usize,
    ) -> Result<Vec<u8>, GraphError> {
        Err(api_error(100))
    }
}

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
    let fake = FakeGraph {
        limit,
        state: Arc::new(Mutex::new(FakeState::default())),
    };
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
    let now = chrono::Utc::now().timestamp();
    for chunk in (0..recipients).collect::<Vec<_>>().chunks(1000) {
        let changes: Vec<_> = chunk
            .iter()
            .map(|i| {
                switchboard_testkit::fixtures::text_change(
                    PHONE,
                    &format!("1555{i:07}"),
                    "Customer",
                    &format!("wamid.sim.in.{i}"),
                    now,
                    "hi",
                )
            })
            .collect();
        let body = switchboard_testkit::fixtures::delivery(changes);
        ingest::accept_whatsapp(
            &svc,
            switchboard_webhooks::meta::split(&body).unwrap(),
            None,
        )
        .await
        .unwrap();
    }
    loop {
        let batch = svc
            .queue
            .receive(
                QueueName::Inbound,
                10,
                Duration::from_secs(60),
                Duration::ZERO,
            )
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        let outcome = worker_inbound::handle(&app, batch.clone()).await;
        switchboard_runtime::queue::settle(&*svc.queue, QueueName::Inbound, &batch, &outcome, true)
            .await;
    }

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
