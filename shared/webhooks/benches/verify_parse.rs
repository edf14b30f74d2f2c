//! The webhook hot path: verify the signature, split the delivery into changes and
//! parse the `messages` values, on a realistic 2 KB Meta payload and a Stripe event.
//! `scripts/bench.sh` runs this and writes the figures to `bench-results/`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard_webhooks::{meta, stripe};

const META_BODY: &[u8] = include_bytes!("../fixtures/meta_2kb_delivery.json");
const STRIPE_BODY: &[u8] = include_bytes!("../fixtures/stripe_subscription_updated.json");

fn meta_path(c: &mut Criterion) {
    let secret = b"bench-app-secret";
    let header = meta::sign(secret, META_BODY);
    let mut group = c.benchmark_group("meta");
    group.throughput(Throughput::Bytes(META_BODY.len() as u64));
    group.bench_function("verify_split_parse_2kb", |b| {
        b.iter(|| {
            meta::verify_signature(secret, Some(&header), black_box(META_BODY)).unwrap();
            let changes = meta::split(black_box(META_BODY)).unwrap();
            let mut n = 0;
            for change in &changes {
                let value: meta::MessagesValue = serde_json::from_str(&change.value).unwrap();
                n += value.messages.len() + value.statuses.len();
            }
            black_box(n)
        })
    });
    group.bench_function("verify_only_2kb", |b| {
        b.iter(|| meta::verify_signature(secret, Some(&header), black_box(META_BODY)).unwrap())
    });
    group.finish();
}

fn stripe_path(c: &mut Criterion) {
    let secret = b"whsec_bench_secret";
    let t = 1_700_000_000;
    let header = stripe::sign(secret, STRIPE_BODY, t);
    let mut group = c.benchmark_group("stripe");
    group.throughput(Throughput::Bytes(STRIPE_BODY.len() as u64));
    group.bench_function("verify_parse_event", |b| {
        b.iter(|| {
            stripe::verify_signature(secret, Some(&header), black_box(STRIPE_BODY), t, 300)
                .unwrap();
            let event = stripe::Event::parse(black_box(STRIPE_BODY)).unwrap();
            black_box((event.customer(), event))
        })
    });
    group.bench_function("verify_parse_full_tree", |b| {
        b.iter(|| {
            stripe::verify_signature(secret, Some(&header), black_box(STRIPE_BODY), t, 300)
                .unwrap();
            let event: serde_json::Value = serde_json::from_slice(black_box(STRIPE_BODY)).unwrap();
            black_box(event)
        })
    });
    group.finish();
}

criterion_group!(benches, meta_path, stripe_path);
criterion_main!(benches);
