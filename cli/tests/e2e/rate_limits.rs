//! API rate limits through the dev server, on both backends, with the clock moved by
//! hand: a caller's bucket empties into 429 `rate_limited` with `Retry-After` and the
//! `RateLimit-*` headers on every answer, refills with time, leaves other callers and
//! other orgs alone, the org's bucket stops many callers together, concurrent requests
//! share one bucket, and sends have their own class.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::json;
use switchboard_core::clock::FixedClock;
use switchboard_core::ids::Role;
use switchboard_core::usecases::rate_limits::{RateLimitConfig, RateLimits};

use crate::support::{Backend, Harness, Options};

async fn setup(backend: Backend) -> (Harness, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap(),
    ));
    let h = Harness::with(Options {
        backend,
        clock: Some(clock.clone()),
        workers: false,
        rate_limits: Some(RateLimitConfig {
            enforce: true,
            overrides: HashMap::from([(
                None,
                RateLimits {
                    reads_per_minute: 5,
                    writes_per_minute: 2,
                    sends_per_minute: 3,
                },
            )]),
        }),
        ..Options::default()
    })
    .await;
    (h, clock)
}

/// A read as `user` of `org`: status, `RateLimit-Remaining`, `Retry-After`.
async fn read(h: &Harness, org: &str, user: &str) -> (StatusCode, Option<u64>, Option<u64>) {
    let r = h
        .http
        .get(h.url("/v1/conversations"))
        .bearer_auth(h.token_as(org, Role::Agent, user))
        .send()
        .await
        .unwrap();
    let num = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let out = (r.status(), num("ratelimit-remaining"), num("retry-after"));
    // The limit of the bucket that answered: the caller's 5, or the org's 20.
    assert!(
        matches!(num("ratelimit-limit"), Some(5) | Some(20)),
        "{:?}",
        r.headers()
    );
    if out.0 == StatusCode::TOO_MANY_REQUESTS {
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    }
    out
}

async fn buckets_limit_callers_and_orgs(backend: Backend) {
    let (h, clock) = setup(backend).await;
    // Five reads a minute: remaining counts down, the sixth is refused.
    for left in (0..5).rev() {
        assert_eq!(
            read(&h, "acme", "ana").await,
            (StatusCode::OK, Some(left), None)
        );
    }
    let (st, remaining, retry) = read(&h, "acme", "ana").await;
    assert_eq!((st, remaining), (StatusCode::TOO_MANY_REQUESTS, Some(0)));
    assert_eq!(retry, Some(12), "one read comes back every 12 s");
    // Another person of the org, and another org, are not held back.
    assert_eq!(read(&h, "acme", "ben").await.0, StatusCode::OK);
    assert_eq!(read(&h, "globex", "ana").await.0, StatusCode::OK);
    // Twelve seconds later one read goes again.
    clock.advance(chrono::Duration::seconds(12));
    assert_eq!(
        read(&h, "acme", "ana").await,
        (StatusCode::OK, Some(0), None)
    );
    assert_eq!(
        read(&h, "acme", "ana").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    // The org's bucket holds four callers' worth (20 reads): many people together stop.
    let mut served = 0;
    for user in ["c1", "c2", "c3", "c4", "c5"] {
        for _ in 0..5 {
            if read(&h, "initech", user).await.0 == StatusCode::OK {
                served += 1;
            }
        }
    }
    assert_eq!(served, 20, "the org's 20 a minute, whoever asks");
    let (st, _, retry) = read(&h, "initech", "c6").await;
    assert_eq!(
        (st, retry),
        (StatusCode::TOO_MANY_REQUESTS, Some(3)),
        "60 s / 20"
    );

    // Sends and writes have buckets of their own.
    let admin = h.token_as("acme", Role::Admin, "ana");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (st, _) = h
            .put_json(
                "/v1/settings/opt-out",
                &admin,
                &json!({"opt_out_keywords": ["stop"], "opt_in_keywords": ["start"]}),
            )
            .await;
        statuses.push(st);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        1,
        "two writes a minute: {statuses:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn buckets_limit_callers_and_orgs_sqlite() {
    buckets_limit_callers_and_orgs(Backend::Local).await;
}

#[tokio::test]
async fn buckets_limit_callers_and_orgs_dynamodb() {
    buckets_limit_callers_and_orgs(Backend::Aws).await;
}

async fn concurrent_requests_share_one_bucket(backend: Backend) {
    let (h, _clock) = setup(backend).await;
    let token = h.token_as("acme", Role::Agent, "ana");
    let url = h.url("/v1/conversations");
    let requests = (0..12).map(|_| {
        let http = h.http.clone();
        let (url, token) = (url.clone(), token.clone());
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let statuses = futures::future::join_all(requests).await;
    let ok = statuses
        .iter()
        .filter(|s| *s.as_ref().unwrap() == StatusCode::OK)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| *s.as_ref().unwrap() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, limited), (5, 7), "{statuses:?}");
    h.stop().await;
}

#[tokio::test]
async fn concurrent_requests_share_one_bucket_sqlite() {
    concurrent_requests_share_one_bucket(Backend::Local).await;
}

#[tokio::test]
async fn concurrent_requests_share_one_bucket_dynamodb() {
    concurrent_requests_share_one_bucket(Backend::Aws).await;
}
