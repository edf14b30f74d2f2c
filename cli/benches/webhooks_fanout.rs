//! Webhooks to tenants under load, on the dev server: `EVENTS` platform events (default
//! 10,000) of one org fanned out to `ENDPOINTS` endpoints (default 100) — a million
//! signed deliveries — through the real path: each event published (the org's event log and
//! the `webhooks` queue), `worker-webhooks` as the dev server polls it (embedded backend),
//! and the SSRF-guarded client posting to a local receiver that answers 204 at once.
//!
//! Two phases:
//! - **throughput**: every event published first, then the dev server started; the time
//!   until the receiver has every delivery gives deliveries per second;
//! - **latency**: `LATENCY_EVENTS` more events (default 500) published one by one at half
//!   the measured event rate while the dev server runs; per delivery, the time from the
//!   event's publishing to its arrival at the receiver (p50, p99) — what Switchboard adds.
//!
//! Checks that every delivery arrived exactly once, and writes `OUT` (default
//! `bench-results/webhooks_fanout.json`).
//!
//! Run with `cargo bench -p switchboard-cli --bench webhooks_fanout` or `scripts/bench.sh`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};
use switchboard_core::ids::OrgId;
use switchboard_core::usecases::platform_events::{self, EventType};
use switchboard_core::usecases::webhooks_out;

#[derive(Default)]
struct Received {
    count: AtomicUsize,
    /// (endpoint path, webhook-id) pairs seen, to check exactly-once.
    seen: Mutex<HashSet<(String, String)>>,
    duplicates: AtomicUsize,
    /// Milliseconds from publishing to arrival, when measuring latency.
    latencies: Mutex<Vec<f64>>,
    measure: std::sync::atomic::AtomicBool,
}

async fn receive(
    State(r): State<Arc<Received>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::http::StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if r.measure.load(Ordering::Relaxed)
        && let Ok(event) = serde_json::from_slice::<Value>(&body)
        && let Some(at) = event["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        let ms = (Utc::now() - at.with_timezone(&Utc))
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1_000.0;
        r.latencies.lock().unwrap().push(ms);
    }
    if !r.seen.lock().unwrap().insert((uri.path().to_owned(), id)) {
        r.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    r.count.fetch_add(1, Ordering::Relaxed);
    axum::http::StatusCode::NO_CONTENT
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn wait_for(received: &Received, n: usize, limit: Duration) -> bool {
    let started = Instant::now();
    let mut reported = Instant::now();
    while received.count.load(Ordering::Relaxed) < n {
        if started.elapsed() > limit {
            return false;
        }
        if reported.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "  {} of {n} after {:.0} s",
                received.count.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::main]
async fn main() {
    let events = env_or("EVENTS", 10_000);
    let endpoints = env_or("ENDPOINTS", 100);
    let latency_events = env_or("LATENCY_EVENTS", 500);
    let out = std::env::var("OUT").unwrap_or_else(|_| "bench-results/webhooks_fanout.json".into());

    // The receiver: one local server, a path per endpoint.
    let received = Arc::new(Received::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/e/{n}", post(receive))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = switchboard_runtime::config::Config::local(dir.path());
    config.webhooks_allow_loopback = true;
    let app = switchboard_cli::commands::build_app(config)
        .await
        .expect("app");
    let svc = app.services().clone();
    let org = OrgId::parse("bench").unwrap();
    for i in 0..endpoints {
        webhooks_out::create(
            &svc,
            &org,
            true,
            &json!({"url": format!("{receiver}/e/{i}"), "events": ["*"]}),
        )
        .await
        .expect("endpoint");
    }

    eprintln!("publishing {events} events…");
    let t = Instant::now();
    for i in 0..events {
        platform_events::publish(
            &svc,
            &org,
            EventType::MessageReceived,
            &[&format!("m{i}")],
            json!({"message_id": format!("m_{i}"), "conversation_id": "c_1", "channel": "whatsapp"}),
        )
        .await
        .expect("publish");
    }
    let publish_seconds = t.elapsed().as_secs_f64();

    eprintln!(
        "fanning out to {endpoints} endpoints ({} deliveries)…",
        events * endpoints
    );
    let started = Instant::now();
    let running =
        switchboard_cli::serve::start_with(app.clone(), "127.0.0.1:0".parse().unwrap(), true)
            .await
            .expect("dev server");
    let total = events * endpoints;
    assert!(
        wait_for(&received, total, Duration::from_secs(3_600)).await,
        "only {} of {total} deliveries arrived",
        received.count.load(Ordering::Relaxed)
    );
    let wall = started.elapsed().as_secs_f64();
    let per_second = total as f64 / wall;
    let events_per_second = events as f64 / wall;

    // Latency at half the measured event rate.
    let rate = (events_per_second / 2.0).max(1.0);
    eprintln!("latency: {latency_events} events at {rate:.0} a second…");
    received.measure.store(true, Ordering::Relaxed);
    let gap = Duration::from_secs_f64(1.0 / rate);
    let mut next = Instant::now();
    for i in 0..latency_events {
        platform_events::publish(
            &svc,
            &org,
            EventType::ConversationUpdated,
            &[&format!("l{i}")],
            json!({"conversation_id": "c_1", "status": "open"}),
        )
        .await
        .expect("publish");
        next += gap;
        tokio::time::sleep_until(next.into()).await;
    }
    assert!(
        wait_for(
            &received,
            total + latency_events * endpoints,
            Duration::from_secs(600)
        )
        .await,
        "latency phase did not finish"
    );
    running.shutdown().await;
    let mut lat = received.latencies.lock().unwrap().clone();
    lat.sort_by(|a, b| a.total_cmp(b));

    let duplicates = received.duplicates.load(Ordering::Relaxed);
    let result = json!({
        "backend": "local (dev server, SQLite)",
        "events": events,
        "endpoints": endpoints,
        "deliveries": total,
        "publish_seconds": round2(publish_seconds),
        "fan_out_seconds": round2(wall),
        "deliveries_per_second": per_second.round(),
        "events_per_second": round2(events_per_second),
        "latency": {
            "events": latency_events,
            "events_per_second": round2(rate),
            "deliveries": lat.len(),
            "publish_to_arrival_ms": {
                "p50": round2(quantile(&lat, 0.5)),
                "p99": round2(quantile(&lat, 0.99)),
                "max": round2(lat.last().copied().unwrap_or(0.0)),
            },
        },
        "duplicates": duplicates,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    if let Some(parent) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap()).expect("write results");
    assert_eq!(duplicates, 0, "every delivery arrived once");
}
