//! Broadcast campaign benchmark on the embedded backend: `RECIPIENTS` (default 20,000)
//! contacts tagged `vip` are imported, a campaign to them is created and started through
//! the campaigns use case, `worker-campaigns` fans it out and `WORKERS` (default 8)
//! `worker-outbound` pollers send it against the fake Graph of `fake_graph.rs`, which
//! enforces `LIMIT` messages per second (default 80; the number is connected with the same
//! `messages_per_second`), the pair rate and Graph's latency.
//!
//! While the broadcast runs, an agent answers one of `AGENTS` (default 20) customers who
//! wrote in, once a second; each reply's latency is the time from the send API accepting
//! it to Graph accepting it. At `KILL_AT` (default 0.5) of the campaign every poller is
//! aborted mid-flight, like a crashed process, and a new app on the same data dir takes
//! over: the figures are the time to the first send after the restart and to the
//! campaign's fan-out moving again (a chunk in flight at the kill comes back after the
//! queue's visibility timeout, 60 s on the dev server as on a 60-s SQS setting).
//!
//! Like Meta, the fake reports each accepted message's `sent` status through the webhook
//! path (with Switchboard's message id in `biz_opaque_callback_data`), so a send that was
//! accepted just before the kill is recorded from its status rather than sent again.
//!
//! Reports the campaign's achieved rate as a fraction of the limit (before the kill),
//! throughput and pair-rate errors, duplicates, dead letters, the agent-reply latency
//! p50/p99 and the resume times; writes them to `OUT`
//! (default `bench-results/campaign.json`).
//!
//! Run with `cargo bench -p switchboard-cli --bench campaign_sim` or `scripts/bench.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_core::ids::{ConversationId, OrgId, PhoneNumberId, WaId};
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::{campaigns, imports, ingest, integrations, outbound};
use switchboard_runtime::App;
use switchboard_runtime::local::run_poller;

#[path = "fake_graph.rs"]
mod fake_graph;
use fake_graph::FakeGraph;

const PHONE: &str = "106540352242933";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An app on `dir` whose Graph is the fake.
async fn app_on(dir: &std::path::Path, fake: &FakeGraph) -> App {
    let config = switchboard_runtime::config::Config::local(dir);
    let base = switchboard_cli::commands::build_app(config.clone())
        .await
        .expect("app");
    let mut services = base.services().clone();
    services.whatsapp = Arc::new(fake.clone());
    services.whatsapp_live = true;
    services.secrets = Arc::new(switchboard_local::EnvSecrets::from_pairs([
        (SecretName::WhatsAppAppSecret, "x"),
        (SecretName::PseudonymKey, "bench-pseudonyms"),
    ]));
    App::from_parts(config, services, switchboard_runtime::app::http_client()).expect("app")
}

/// Runs a queue's consumer until the queue is empty (set-up only).
async fn drain(app: &App, queue: QueueName) {
    let consumer = switchboard_cli::routes::consumers()
        .into_iter()
        .find(|c| c.queue == queue)
        .expect("consumer");
    loop {
        let q = &app.services().queue;
        let batch = q
            .receive(queue, 10, Duration::from_secs(60), Duration::ZERO)
            .await
            .unwrap();
        if batch.is_empty() {
            return;
        }
        let outcome = (consumer.handler)(app.clone(), batch.clone()).await;
        switchboard_runtime::queue::settle(&**q, queue, &batch, &outcome, true).await;
    }
}

struct Pollers {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start(app: &App, workers: usize) -> Pollers {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for c in switchboard_cli::routes::consumers() {
        let n = match c.queue {
            QueueName::Outbound => workers,
            QueueName::Campaign | QueueName::Inbound => 1,
            _ => 0,
        };
        for _ in 0..n {
            tasks.push(tokio::spawn(run_poller(
                app.clone(),
                c.queue,
                c.handler.clone(),
                rx.clone(),
            )));
        }
    }
    Pollers { stop, tasks }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i] * 10.0).round() / 10.0
}

#[tokio::main]
async fn main() {
    let recipients = env_or("RECIPIENTS", 20_000);
    let workers = env_or("WORKERS", 8);
    let limit = env_or("LIMIT", 80);
    let agents = env_or("AGENTS", 20).max(1);
    let kill_at: f64 = std::env::var("KILL_AT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.5);
    let out = std::env::var("OUT").unwrap_or_else(|_| "bench-results/campaign.json".into());

    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeGraph::new(limit);
    let app = app_on(dir.path(), &fake).await;
    let svc = app.services().clone();
    let org = OrgId::parse("sim").unwrap();
    let connect = integrations::ConnectRequest {
        phone_number_id: Some(PHONE.into()),
        waba_id: Some("102290129340398".into()),
        access_token: Some("EAAG-sim".into()),
        display_phone_number: None,
        messages_per_second: Some(json!(limit)),
    };
    let account =
        integrations::connect(&svc, &Default::default(), &org, connect.validate().unwrap())
            .await
            .expect("connect");

    // Customers who wrote in (open windows) for the agent to answer.
    let now = chrono::Utc::now().timestamp();
    let changes: Vec<_> = (0..agents)
        .map(|i| {
            switchboard_testkit::fixtures::text_change(
                PHONE,
                &format!("1666{i:07}"),
                "Customer",
                &format!("wamid.agent.in.{i}"),
                now,
                "hi",
            )
        })
        .collect();
    ingest::accept_whatsapp(
        &svc,
        switchboard_webhooks::meta::split(&switchboard_testkit::fixtures::delivery(changes))
            .unwrap(),
        None,
    )
    .await
    .unwrap();
    drain(&app, QueueName::Inbound).await;

    eprintln!("importing {recipients} contacts…");
    let mut csv = String::from("phone,name,tags\n");
    for i in 0..recipients {
        csv.push_str(&format!("+1555{i:07},Customer {i},vip\n"));
    }
    imports::accept::accept(
        &svc,
        imports::accept::Upload {
            org: &org,
            body: csv.as_bytes(),
            idempotency_key: None,
            uploader: None,
            correlation_id: None,
        },
    )
    .await
    .expect("import");
    drain(&app, QueueName::Import).await;

    let campaign = campaigns::create(
        &svc,
        &org,
        None,
        &json!({
            "name": "bench",
            "integration_id": account.id,
            "template": {"name": "spring_sale", "language": "en_US", "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "{{contact.name}}"}]}]},
            "audience": {"tags_any": ["vip"]},
        }),
    )
    .await
    .expect("campaign");

    eprintln!("broadcasting to {recipients} at {limit}/s with {workers} workers…");
    let started = Instant::now();
    campaigns::act(&svc, &org, &campaign.id, campaigns::Action::Start)
        .await
        .expect("start");
    let mut pollers = start(&app, workers);
    let mut app = app;
    let phone = PhoneNumberId::parse(PHONE).unwrap();
    let mut replies: Vec<(String, Instant)> = Vec::new();
    let kill_after = ((recipients as f64) * kill_at) as u64;
    let mut killed: Option<(Instant, u64)> = None;
    let mut resumed_first_send: Option<f64> = None;
    let mut rate_before_kill: Option<f64> = None;
    let mut next_reply = Instant::now();
    let deadline =
        Instant::now() + Duration::from_secs((recipients as u64 / limit as u64) * 3 + 300);
    loop {
        let sent = {
            let s = fake.state.lock().unwrap();
            s.sent
        };
        let replies_done = {
            let s = fake.state.lock().unwrap();
            replies
                .iter()
                .filter(|(id, _)| s.accepted_at.contains_key(id))
                .count()
        };
        if sent >= (recipients + replies.len()) as u64 && replies_done == replies.len() {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("deadline reached");
            break;
        }
        // The agent answers someone once a second while the broadcast runs.
        if Instant::now() >= next_reply && (sent as usize) < recipients {
            let i = replies.len() % agents;
            let conv = ConversationId::for_thread(
                &org,
                &phone,
                &WaId::parse(&format!("1666{i:07}")).unwrap(),
            );
            let accepted = outbound::send(
                &app.services().clone(),
                outbound::SendRequest {
                    org: &org,
                    conversation: &conv,
                    body: &json!({"type": "text", "text": {"body": "On it!"}}),
                    idempotency_key: None,
                    sender: Some("agent"),
                    billing: &Default::default(),
                    correlation_id: None,
                    origin: None,
                },
            )
            .await
            .expect("reply");
            replies.push((accepted.message.id.to_string(), Instant::now()));
            next_reply += Duration::from_secs(1);
        }
        // The crash: every poller dropped mid-flight, then a new process on the same data.
        if killed.is_none() && kill_at > 0.0 && sent >= kill_after {
            {
                let s = fake.state.lock().unwrap();
                if let Some(first) = s.first {
                    rate_before_kill =
                        Some(s.sent as f64 / Instant::now().duration_since(first).as_secs_f64());
                }
            }
            for t in &pollers.tasks {
                t.abort();
            }
            let sent_at_kill = fake.state.lock().unwrap().sent;
            eprintln!("killed at {sent_at_kill} sent; restarting…");
            app = app_on(dir.path(), &fake).await;
            killed = Some((Instant::now(), sent_at_kill));
            pollers = start(&app, workers);
        }
        if let Some((at, sent_at_kill)) = killed
            && resumed_first_send.is_none()
            && fake.state.lock().unwrap().sent > sent_at_kill
        {
            resumed_first_send = Some(at.elapsed().as_secs_f64());
        }
        // Meta's `sent` statuses, as its webhooks deliver them.
        let reported: Vec<(String, String, String)> =
            std::mem::take(&mut fake.state.lock().unwrap().unreported);
        if !reported.is_empty() {
            let ts = chrono::Utc::now().timestamp();
            let changes: Vec<_> = reported
                .iter()
                .map(|(wamid, id, to)| {
                    let mut c = switchboard_testkit::fixtures::status_change(
                        PHONE,
                        wamid,
                        "sent",
                        to,
                        ts,
                        json!([]),
                    );
                    c["value"]["statuses"][0]["biz_opaque_callback_data"] = json!(id);
                    c
                })
                .collect();
            for chunk in changes.chunks(50) {
                let body = switchboard_testkit::fixtures::delivery(chunk.to_vec());
                if let Ok(events) = switchboard_webhooks::meta::split(&body) {
                    let _ = ingest::accept_whatsapp(app.services(), events, None).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = pollers.stop.send(true);
    for t in pollers.tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let view = campaigns::view(
        app.services(),
        &campaigns::get(app.services(), &org, &campaign.id)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let dead_lettered = app
        .services()
        .queue
        .dead_letters(QueueName::Outbound, recipients.max(1))
        .await
        .map(|d| d.len())
        .unwrap_or(usize::MAX);
    let s = fake.state.lock().unwrap();
    // Replies while the broadcast ran steadily (before the kill; the ones in flight at the
    // kill wait for the queue's visibility timeout, reported as the overall maximum).
    let kill_at_instant = killed.map(|(at, _)| at);
    let latency_of = |(id, at): &(String, Instant)| {
        s.accepted_at
            .get(id)
            .map(|g| g.duration_since(*at).as_secs_f64() * 1000.0)
    };
    let mut latencies: Vec<f64> = replies
        .iter()
        .filter(|(_, at)| kill_at_instant.is_none_or(|k| *at + Duration::from_secs(5) < k))
        .filter_map(latency_of)
        .collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let overall_max = replies.iter().filter_map(latency_of).fold(0.0f64, f64::max);
    let window = match (s.first, s.last) {
        (Some(a), Some(b)) if b > a => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let overall = if window > 0.0 {
        s.sent as f64 / window
    } else {
        0.0
    };
    let before = rate_before_kill.unwrap_or(overall);
    let result = json!({
        "recipients": recipients,
        "workers": workers,
        "limit_per_sec": limit,
        "sent_total": s.sent,
        "agent_replies": replies.len(),
        "campaign_status": view["status"],
        "progress": view["progress"],
        "achieved_rate_per_sec_before_kill": (before * 10.0).round() / 10.0,
        "fraction_of_limit_before_kill": (before / limit as f64 * 1000.0).round() / 1000.0,
        "achieved_rate_per_sec_overall": (overall * 10.0).round() / 10.0,
        "max_in_any_1s_window": s.max_in_window,
        "throughput_errors": s.throughput_errors,
        "pair_rate_errors": s.pair_errors,
        "duplicates": s.duplicates,
        "dead_lettered": dead_lettered,
        "agent_reply_latency_ms_p50": percentile(&latencies, 0.5),
        "agent_reply_latency_ms_p99": percentile(&latencies, 0.99),
        "agent_reply_latency_ms_max": latencies.last().copied().unwrap_or(0.0),
        "agent_replies_timed_before_kill": latencies.len(),
        "agent_reply_latency_ms_max_incl_kill": (overall_max * 10.0).round() / 10.0,
        "killed_at_sent": killed.map(|(_, n)| n),
        "first_send_after_restart_secs": resumed_first_send.map(|v| (v * 100.0).round() / 100.0),
        "elapsed_secs": (elapsed * 10.0).round() / 10.0,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    if let Some(parent) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap() + "\n")
        .expect("write results");
    eprintln!("wrote {out}");
}
