//! AI reply overhead: what Switchboard itself spends on one AI auto-reply, from the `ai`
//! queue job to the reply stored and handed to the outbound queue, with the model's own
//! time taken out (an in-process model that answers at once).
//!
//! `CONVERSATIONS` customers (default 2,000) each write once through the real inbound
//! path, which queues one AI job each; then the `ai` queue is drained through `worker-ai`'s
//! use case and each job's time is measured: the settings, conversation, message and
//! history reads, the contact and known answers for the prompt, the caps and the plan's
//! admission, the reply record, the send path's transaction and the outbound enqueue,
//! and the AI log entries. `ANALYSIS=1` also runs the per-message analysis call (a
//! second model call and the conversation's insight write).
//!
//! Reports p50, p99 and mean per job and jobs per second on the embedded backend (SQLite),
//! checks one outbound message per conversation, and writes `OUT` (default
//! `bench-results/ai_overhead.json`).
//!
//! Run with `cargo bench -p switchboard-cli --bench ai_overhead` or `scripts/bench.sh`.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::json;
use switchboard_core::ids::OrgId;
use switchboard_core::llm::{ChatRequest, Completion, LlmApi, LlmError, LlmProvider};
use switchboard_core::queue::QueueName;
use switchboard_core::usecases::ai::reply::{self, JobOutcome};
use switchboard_core::usecases::ai::settings;
use switchboard_core::usecases::integrations;

#[path = "seed.rs"]
mod seed;

const PHONE: &str = "106540352242922";

/// A model that answers at once: the benchmark measures Switchboard, not the model.
#[derive(Debug)]
struct InstantModel;

#[async_trait]
impl LlmApi for InstantModel {
    async fn complete(&self, req: &ChatRequest) -> Result<Completion, LlmError> {
        let content = if req.json {
            r#"{"sentiment": "neutral", "score": 0.1, "category": null, "language": "en"}"#
        } else {
            "Thanks for your message! We are open from 9 to 5."
        };
        Ok(Completion {
            content: content.into(),
            prompt_tokens: 400,
            completion_tokens: 20,
            finish_reason: Some("stop".into()),
        })
    }

    fn configured(&self, _: LlmProvider) -> bool {
        true
    }
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

#[tokio::main]
async fn main() {
    let n = env_or("CONVERSATIONS", 2_000);
    let analysis = env_or("ANALYSIS", 0) == 1;
    let out = std::env::var("OUT").unwrap_or_else(|_| "bench-results/ai_overhead.json".into());

    let dir = tempfile::tempdir().expect("tempdir");
    let config = switchboard_runtime::config::Config::local(dir.path());
    let base = switchboard_cli::commands::build_app(config.clone())
        .await
        .expect("app");
    let mut services = base.services().clone();
    services.llm = Arc::new(InstantModel);
    let app = switchboard_runtime::App::from_parts(
        config,
        services,
        switchboard_runtime::app::http_client(),
    )
    .expect("app");
    let svc = app.services().clone();
    let billing = app.config().billing.clone();
    let org = OrgId::parse("bench").unwrap();
    let connect = integrations::ConnectRequest {
        phone_number_id: Some(PHONE.into()),
        waba_id: Some("102290129340398".into()),
        access_token: Some("EAAG-bench".into()),
        display_phone_number: None,
        messages_per_second: None,
    };
    integrations::connect(&svc, &Default::default(), &org, connect.validate().unwrap())
        .await
        .expect("connect");
    settings::put_settings(
        &svc,
        &org,
        &json!({"enabled": true, "mode": "auto", "analysis": analysis,
            "system_prompt": "You are the assistant of a bakery. Be brief and friendly.",
            "caps": {"per_conversation_per_day": 5}}),
    )
    .await
    .expect("settings");

    eprintln!("setting up {n} conversations…");
    seed::customers_write(&app, PHONE, n, "Hello, when are you open tomorrow?").await;

    eprintln!("answering {n} AI jobs (analysis {analysis})…");
    let mut per_job_ms = Vec::with_capacity(n);
    let mut sent = 0usize;
    let mut other = 0usize;
    let started = Instant::now();
    while let Some(batch) = seed::next_batch(&svc, QueueName::Ai).await {
        for m in &batch {
            let t = Instant::now();
            let outcome = reply::process(&svc, &billing, &m.body).await.expect("job");
            per_job_ms.push(t.elapsed().as_secs_f64() * 1_000.0);
            match outcome {
                JobOutcome::Sent => sent += 1,
                _ => other += 1,
            }
            svc.queue.delete(QueueName::Ai, &m.receipt).await.unwrap();
        }
    }
    let wall = started.elapsed().as_secs_f64();
    // Every reply is on the outbound queue once.
    let mut queued = 0usize;
    while let Some(batch) = seed::next_batch(&svc, QueueName::Outbound).await {
        queued += batch.len();
        for m in &batch {
            svc.queue
                .delete(QueueName::Outbound, &m.receipt)
                .await
                .unwrap();
        }
    }
    per_job_ms.sort_by(|a, b| a.total_cmp(b));
    let mean = per_job_ms.iter().sum::<f64>() / per_job_ms.len().max(1) as f64;
    let result = json!({
        "backend": "local",
        "conversations": n,
        "analysis": analysis,
        "jobs": per_job_ms.len(),
        "sent": sent,
        "not_sent": other,
        "outbound_queued": queued,
        "per_job_ms": {
            "p50": (quantile(&per_job_ms, 0.5) * 100.0).round() / 100.0,
            "p99": (quantile(&per_job_ms, 0.99) * 100.0).round() / 100.0,
            "mean": (mean * 100.0).round() / 100.0,
        },
        "jobs_per_second": (per_job_ms.len() as f64 / wall * 10.0).round() / 10.0,
        "wall_seconds": (wall * 100.0).round() / 100.0,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    if let Some(parent) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap()).expect("write results");
    assert_eq!(sent, n, "every job sent one reply");
    assert_eq!(queued, n, "one outbound message per reply");
}
