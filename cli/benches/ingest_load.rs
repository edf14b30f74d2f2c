//! Load generator for the dev server's signed-webhook ingest path.
//!
//! Starts the dev server in-process on the embedded backend (or targets `TARGET`, a
//! running server), posts `REQUESTS` unique signed Meta deliveries (~2 KB, two
//! messages and a status each) from `CONCURRENCY` connections on loopback, and
//! reports the acknowledged rate and latency percentiles; then waits until the inbound
//! consumer has applied every event and reports the end-to-end drain rate. Results go
//! to stdout and, as JSON, to `OUT` (default `bench-results/ingest.json`).
//!
//! Run with `cargo bench -p switchboard-cli --bench ingest_load` or `scripts/bench.sh`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_core::model::Provider;
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::events;

const SECRET: &str = "bench-app-secret";
const PHONE: &str = "106540352242922";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn delivery(i: usize) -> Vec<u8> {
    let from = format!("1650{:07}", i % 2000);
    let ts = 1_763_800_000 + i as i64;
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [
            {"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE},
                "contacts": [{"profile": {"name": format!("Customer {i}")}, "wa_id": from}],
                "messages": [
                    {"from": from, "id": format!("wamid.bench.{i}.a"), "timestamp": ts.to_string(), "type": "text",
                     "text": {"body": "Hi! Do you still have the blue linen shirt in size M? I'd like to pick it up on Saturday morning if possible. Thanks so much for the quick answers yesterday."},
                     "context": {"from": "15550783881", "id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCQjk5QjA3QTM4RjE0QjY4QTMA"}},
                    {"from": from, "id": format!("wamid.bench.{i}.b"), "timestamp": (ts + 1).to_string(), "type": "image",
                     "image": {"caption": "This one, from your catalogue page", "mime_type": "image/jpeg", "sha256": "HgnbDOOnjMDCh4QLy3bBC5Zp1dsDVeBlRbvOVtg8C6o=", "id": "1003383421387256"}}
                ]}},
            {"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE},
                "statuses": [{"id": format!("wamid.bench.out.{i}"), "status": "delivered", "timestamp": ts.to_string(), "recipient_id": from,
                    "conversation": {"id": "d0a4b5f1c3e2b7a8f9e0d1c2b3a4f5e6", "origin": {"type": "service"}},
                    "pricing": {"billable": true, "pricing_model": "PMP", "category": "service", "type": "regular"}}]}}
        ]}]
    }))
    .expect("serialise")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let requests = env_or("REQUESTS", 4000);
    let concurrency = env_or("CONCURRENCY", 16);
    let out = std::env::var("OUT").unwrap_or_else(|_| "bench-results/ingest.json".into());

    // The server: external, or in-process on a fresh embedded backend.
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, app) = match std::env::var("TARGET") {
        Ok(url) => (url, None),
        Err(_) => {
            let mut cfg = switchboard_runtime::config::Config::local(dir.path());
            cfg.dotenv = None;
            let app = switchboard_cli::commands::build_app(cfg)
                .await
                .expect("app");
            let app = rebuild_with_secret(app, dir.path()).await;
            let running =
                switchboard_cli::serve::start(app.clone(), "127.0.0.1:0".parse().unwrap())
                    .await
                    .expect("start");
            let base = format!("http://{}", running.addr);
            std::mem::forget(running);
            (base, Some(app))
        }
    };

    // Connect the benchmark number so events route to an org.
    if let Some(app) = &app {
        let connect = switchboard_core::usecases::integrations::ConnectRequest {
            phone_number_id: Some(PHONE.into()),
            waba_id: Some("102290129340398".into()),
            access_token: Some("EAAG-bench".into()),
            display_phone_number: None,
            messages_per_second: None,
        };
        let org = switchboard_core::ids::OrgId::parse("bench").unwrap();
        let _ = switchboard_core::usecases::integrations::connect(
            app.services(),
            &Default::default(),
            &org,
            connect.validate().unwrap(),
        )
        .await;
    }

    let payloads: Arc<Vec<(Vec<u8>, String)>> = Arc::new(
        (0..requests)
            .map(|i| {
                let body = delivery(i);
                let sig = switchboard_webhooks::meta::sign(SECRET.as_bytes(), &body);
                (body, sig)
            })
            .collect(),
    );
    let avg_bytes = payloads.iter().map(|(b, _)| b.len()).sum::<usize>() / requests.max(1);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{base}/webhooks/whatsapp");
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, payloads, url) =
                (client.clone(), next.clone(), payloads.clone(), url.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, sig)) = payloads.get(i) else {
                        break;
                    };
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-hub-signature-256", sig)
                        .body(body.clone())
                        .send()
                        .await;
                    latencies.push(t.elapsed());
                    match resp {
                        Ok(r) if r.status().is_success() => {}
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let rate = requests as f64 / elapsed.as_secs_f64();

    // End to end: wait until the consumer has applied every stored event.
    let drained = match &app {
        Some(app) => {
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let pending = events::pending(app.services(), Provider::Whatsapp, 1)
                    .await
                    .map(|p| p.len())
                    .unwrap_or(1);
                if pending == 0 || Instant::now() > deadline {
                    break Some(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        None => None,
    };

    let result = json!({
        "requests": requests,
        "concurrency": concurrency,
        "payload_bytes_avg": avg_bytes,
        "events_per_request": 2,
        "errors": errors,
        "ack_rate_per_sec": (rate * 10.0).round() / 10.0,
        "latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p90": percentile(&latencies, 0.90),
            "p99": percentile(&latencies, 0.99),
            "max": percentile(&latencies, 1.0),
        },
        "end_to_end_secs": drained.map(|d| (d.as_secs_f64() * 100.0).round() / 100.0),
        "end_to_end_events_per_sec": drained.map(|d| ((requests * 2) as f64 / d.as_secs_f64()).round()),
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    if let Some(parent) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap() + "\n")
        .expect("write results");
    eprintln!("wrote {out}");
}

/// The in-process server needs the benchmark secret; the App's secrets come from the
/// environment, so rebuild its services with explicit ones.
async fn rebuild_with_secret(
    app: switchboard_runtime::App,
    _dir: &std::path::Path,
) -> switchboard_runtime::App {
    let mut services = app.services().clone();
    services.secrets = Arc::new(switchboard_local::EnvSecrets::from_pairs([(
        SecretName::WhatsAppAppSecret,
        SECRET,
    )]));
    switchboard_runtime::App::from_parts(
        app.config().clone(),
        services,
        switchboard_runtime::app::http_client(),
    )
    .expect("app")
}
