//! The webhook hot path: verify the signature, split the delivery into changes and
//! parse the `messages` values, on a realistic 2 KB Meta payload and a Stripe event.
//! `scripts/bench.sh` runs this and writes the figures to `bench-results/`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard_webhooks::{kapso, messaging, meta, stripe};

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

/// Kapso signs Meta's payloads its own way: the same body, another header.
fn kapso_path(c: &mut Criterion) {
    let secret = b"bench-kapso-secret";
    let header = kapso::sign(secret, META_BODY);
    let mut group = c.benchmark_group("kapso");
    group.throughput(Throughput::Bytes(META_BODY.len() as u64));
    group.bench_function("verify_split_2kb", |b| {
        b.iter(|| {
            kapso::verify_signature(secret, Some(&header), black_box(META_BODY)).unwrap();
            black_box(meta::split(black_box(META_BODY)).unwrap().len())
        })
    });
    group.finish();
}

/// A Messenger delivery of about 2 KB: text, image, quick reply, postback, reaction,
/// echo, delivery and read events of one page.
fn messenger_body() -> Vec<u8> {
    let t = 1_763_800_000_000_i64;
    let from = |i: i64, rest: &str| {
        format!(
            r#"{{"sender":{{"id":"68730123456789{i:02}"}},"recipient":{{"id":"104512345678901"}},"timestamp":{},{rest}}}"#,
            t + i
        )
    };
    let events = [
        from(
            1,
            r#""message":{"mid":"m_AbCdEfGhIjKlMnOp1","text":"Do you ship to Ghent? I would like the blue linen shirt in size M, please."}"#,
        ),
        from(
            2,
            r#""message":{"mid":"m_AbCdEfGhIjKlMnOp2","attachments":[{"type":"image","payload":{"url":"https://scontent.example/v/t1.15752-9/123456789_photo.jpg?stp=dst-jpg&_nc_cat=1"}}]}"#,
        ),
        from(
            3,
            r#""message":{"mid":"m_AbCdEfGhIjKlMnOp3","text":"Yes please","quick_reply":{"payload":"SHIP_BE"}}"#,
        ),
        from(
            4,
            r#""postback":{"title":"Talk to a person","payload":"HUMAN","mid":"m_AbCdEfGhIjKlMnOp4"}"#,
        ),
        from(
            5,
            r#""reaction":{"mid":"m_AbCdEfGhIjKlMnOp1","action":"react","reaction":"love","emoji":"❤"}"#,
        ),
        from(
            6,
            r#""message":{"mid":"m_AbCdEfGhIjKlMnOp6","text":"Sent from the app","is_echo":true}"#,
        ),
        from(
            7,
            r#""delivery":{"mids":["m_AbCdEfGhIjKlMnOp6"],"watermark":1763800000007}"#,
        ),
        from(8, r#""read":{"watermark":1763800000008}"#),
    ];
    format!(
        r#"{{"object":"page","entry":[{{"id":"104512345678901","time":{t},"messaging":[{}]}}]}}"#,
        events.join(",")
    )
    .into_bytes()
}

fn messenger_path(c: &mut Criterion) {
    let secret = b"bench-app-secret";
    let body = messenger_body();
    let header = meta::sign(secret, &body);
    let mut group = c.benchmark_group("messenger");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify_split_parse_8_events", |b| {
        b.iter(|| {
            meta::verify_signature(secret, Some(&header), black_box(&body)).unwrap();
            let changes = messaging::split(black_box(&body)).unwrap();
            let mut n = 0;
            for change in &changes {
                let event: messaging::Event = serde_json::from_str(&change.value).unwrap();
                n += usize::from(event.message.is_some());
            }
            black_box(n)
        })
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

criterion_group!(benches, meta_path, kapso_path, messenger_path, stripe_path);
criterion_main!(benches);
