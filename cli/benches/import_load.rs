//! Contact import, end to end on the embedded backend: a `ROWS`-row CSV file (default
//! 100,000; phone, name, email, tags, status and a custom field per row, about 8 MB)
//! posted to the dev server's `POST /v1/contacts/imports`, then `GET` polled until the
//! import reads `completed` while the dev server's poller runs `worker-import` chunk by
//! chunk. Reports rows per second from the POST to completion, the POST's own time
//! (parse, chunk, store, queue), and the same for a second upload of the same file (every
//! row found unchanged); writes them to `OUT` (default `bench-results/import.json`).
//!
//! Run with `cargo bench -p switchboard-cli --bench import_load` or `scripts/bench.sh`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_core::ids::{OrgId, Role};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn file(rows: usize) -> String {
    let statuses = ["lead", "prospect", "customer", "inactive"];
    let mut csv = String::from("phone,name,email,tags,status,cf_plan\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "+1 650 {:03} {:04},Customer {i},customer{i}@example.com,newsletter;batch-{},{},{}\n",
            200 + i / 10_000,
            i % 10_000,
            i % 7,
            statuses[i % 4],
            ["free", "basic", "gold"][i % 3],
        ));
    }
    csv
}

struct Run {
    post_ms: f64,
    total_s: f64,
    result: Value,
}

async fn run(client: &reqwest::Client, base: &str, token: &str, body: &str) -> Run {
    let started = Instant::now();
    let resp = client
        .post(format!("{base}/v1/contacts/imports"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .expect("post");
    let post_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(
        resp.status(),
        202,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let accepted: Value = resp.json().await.expect("json");
    let id = accepted["id"].as_str().expect("id").to_owned();
    loop {
        let v: Value = client
            .get(format!("{base}/v1/contacts/imports/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        match v["status"].as_str() {
            Some("completed") => {
                return Run {
                    post_ms,
                    total_s: started.elapsed().as_secs_f64(),
                    result: v,
                };
            }
            Some("failed") => panic!("the import failed: {v}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::main]
async fn main() {
    let rows = env_or("ROWS", 100_000);
    let out = std::env::var("OUT").unwrap_or_else(|_| "bench-results/import.json".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = switchboard_runtime::config::Config::local(dir.path());
    cfg.dotenv = None;
    let app = switchboard_cli::commands::build_app(cfg)
        .await
        .expect("app");
    let running = switchboard_cli::serve::start(app.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("start");
    let base = format!("http://{}", running.addr);
    let claims = switchboard_runtime::auth::dev_claims(
        app.auth().config(),
        &OrgId::parse("bench").unwrap(),
        Role::Admin,
        "bench-user",
        chrono::Utc::now().timestamp(),
        Duration::from_secs(3600),
    );
    let token = app
        .auth()
        .dev_key()
        .expect("dev key")
        .sign(&claims)
        .expect("token");
    let body = file(rows);
    let client = reqwest::Client::new();

    println!("importing {rows} rows ({} bytes)", body.len());
    let first = run(&client, &base, &token, &body).await;
    println!(
        "first run: {:.1} s, {:.0} rows/s (POST {:.0} ms): {}",
        first.total_s,
        rows as f64 / first.total_s,
        first.post_ms,
        first.result
    );
    assert_eq!(
        first.result["created"], rows as u64,
        "every row is a new contact"
    );
    let second = run(&client, &base, &token, &body).await;
    println!(
        "same file again: {:.1} s, {:.0} rows/s (POST {:.0} ms)",
        second.total_s,
        rows as f64 / second.total_s,
        second.post_ms
    );
    assert_eq!(
        second.result["unchanged"], rows as u64,
        "a re-run changes nothing"
    );

    let result = json!({
        "backend": "embedded (SQLite)",
        "rows": rows,
        "file_bytes": body.len(),
        "chunks": rows.div_ceil(switchboard_core::usecases::imports::CHUNK_ROWS),
        "first_run": {
            "seconds_post_to_completed": (first.total_s * 100.0).round() / 100.0,
            "rows_per_second": (rows as f64 / first.total_s).round(),
            "post_ms": first.post_ms.round(),
            "created": first.result["created"],
        },
        "same_file_again": {
            "seconds_post_to_completed": (second.total_s * 100.0).round() / 100.0,
            "rows_per_second": (rows as f64 / second.total_s).round(),
            "post_ms": second.post_ms.round(),
            "unchanged": second.result["unchanged"],
        },
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap() + "\n")
        .expect("write results");
    running.shutdown().await;
}
