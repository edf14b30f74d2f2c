//! What a signature header with many candidates costs on a large body.
//!
//! A `Stripe-Signature` (or Standard Webhooks `webhook-signature`) header may list one
//! signature per active secret. A hostile one can list thousands; the verifiers refuse
//! more than [`MAX_SIGNATURES`] and compute the MAC once, so every case here should cost
//! about one MAC over the body (the refusal, none at all):
//!
//! - `one_4mib`: one valid signature, the honest case;
//! - `max_valid_last_4mib`: [`MAX_SIGNATURES`] entries with the valid one last, the most
//!   a header may carry and still be checked;
//! - `5000_refused_4mib`: 5,000 entries with the valid one last, refused.
//!
//! `scripts/bench.sh` runs this and writes the figures to
//! `bench-results/signature_candidates.txt`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard_webhooks::{MAX_SIGNATURES, SignatureError, standard, stripe};

/// The body size of the reported attack (5,000 entries on 4 MiB took 13 s).
const BODY_BYTES: usize = 4 << 20;
const HOSTILE_ENTRIES: usize = 5_000;
const T: i64 = 1_700_000_000;

/// A 4 MiB JSON body: the MAC's cost depends on the length only.
fn large_body() -> Vec<u8> {
    let mut body = br#"{"id":"evt_big","object":"event","data":{"object":{"blob":""#.to_vec();
    body.resize(BODY_BYTES - 4, b'a');
    body.extend_from_slice(br#""}}}"#);
    body
}

fn stripe_candidates(c: &mut Criterion) {
    let secret = b"whsec_bench_secret";
    let body = large_body();
    let good = stripe::sign(secret, &body, T);
    let good_v1 = good.split(",v1=").nth(1).unwrap().to_owned();
    // Entries the attacker cannot make valid: well-formed, so none is skipped unparsed.
    let bad_v1 = "ab".repeat(32);
    let header = |entries: usize| {
        let mut h = format!("t={T}");
        for _ in 1..entries {
            h.push_str(&format!(",v1={bad_v1}"));
        }
        h.push_str(&format!(",v1={good_v1}"));
        h
    };
    let (one, max, hostile) = (header(1), header(MAX_SIGNATURES), header(HOSTILE_ENTRIES));
    let verify = |h: &str| stripe::verify_signature(secret, Some(h), black_box(&body), T, 300);
    assert_eq!(verify(&one), Ok(T));
    assert_eq!(verify(&max), Ok(T));
    assert_eq!(verify(&hostile), Err(SignatureError::TooManySignatures));

    let mut group = c.benchmark_group("stripe_candidates");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("one_4mib", |b| b.iter(|| verify(black_box(&one))));
    group.bench_function("max_valid_last_4mib", |b| {
        b.iter(|| verify(black_box(&max)))
    });
    group.bench_function("5000_refused_4mib", |b| {
        b.iter(|| verify(black_box(&hostile)))
    });
    group.finish();
}

fn standard_candidates(c: &mut Criterion) {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = large_body();
    let good = standard::sign(secret, "msg_1", T, &body).unwrap();
    let bad = format!("v1,{}", "A".repeat(43) + "=");
    let list = |entries: usize| {
        let mut l = vec![bad.as_str(); entries - 1];
        l.push(&good);
        l.join(" ")
    };
    let (one, max, hostile) = (list(1), list(MAX_SIGNATURES), list(HOSTILE_ENTRIES));
    let t_text = T.to_string();
    let verify = |sigs: &str| {
        let h = standard::Headers {
            id: Some("msg_1"),
            timestamp: Some(&t_text),
            signature: Some(sigs),
        };
        standard::verify_signature(secret, h, black_box(&body), T, 300)
    };
    assert_eq!(verify(&one), Ok(T));
    assert_eq!(verify(&max), Ok(T));
    assert_eq!(verify(&hostile), Err(SignatureError::TooManySignatures));

    let mut group = c.benchmark_group("standard_candidates");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("one_4mib", |b| b.iter(|| verify(black_box(&one))));
    group.bench_function("max_valid_last_4mib", |b| {
        b.iter(|| verify(black_box(&max)))
    });
    group.bench_function("5000_refused_4mib", |b| {
        b.iter(|| verify(black_box(&hostile)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // A MAC over 4 MiB takes milliseconds: fewer samples keep the run short.
    config = Criterion::default().sample_size(20);
    targets = stripe_candidates, standard_candidates
}
criterion_main!(benches);
