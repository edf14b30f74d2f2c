//! The webhook hot path: verify the signature, split the delivery into changes and
//! parse the `messages` values, on a realistic 2 KB Meta payload and a Stripe event; and
//! SendGrid's ECDSA P-256 verification plus event normalisation on a batch of events.
//! `scripts/bench.sh` runs this and writes the figures to `bench-results/`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard_webhooks::{email_events, kapso, messaging, meta, sendgrid, stripe};

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

/// A SendGrid Event Webhook batch of about 2 KB: one email's processed, delivered, open
/// and click events and another's bounce, with Switchboard's custom args on each.
fn sendgrid_body() -> Vec<u8> {
    let t = 1_700_000_000_i64;
    let event = |i: i64, email: &str, rest: &str| {
        format!(
            r#"{{"email":"{email}","timestamp":{},"smtp-id":"<W86EgYT6SQKk0lRflfLRsA@geopod-ismtpd-4>","category":["reminder"],"sg_event_id":"ZGVsaXZlcmVkLTAtMjQ{i:03}","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.filterdrecv-p3las1-5bf99c48d-2fxhb-18-5F3FA3A5-{i}.0","switchboard_email_id":"em_01JD2X8Q{i:02}","org_id":"org_42",{rest}}}"#,
            t + i
        )
    };
    let events = [
        event(1, "ana@example.com", r#""event":"processed""#),
        event(
            2,
            "ana@example.com",
            r#""event":"delivered","response":"250 2.0.0 OK  1700000002 x12si123456qkb.42 - gsmtp","ip":"149.72.123.24","tls":1"#,
        ),
        event(
            3,
            "ana@example.com",
            r#""event":"open","sg_machine_open":false,"useragent":"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)","ip":"66.102.6.1""#,
        ),
        event(
            4,
            "ana@example.com",
            r#""event":"click","url":"https://book.example.com/appointments/confirm?id=8812&utm_source=email","url_offset":{"index":0,"type":"html"},"useragent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)","ip":"203.0.113.7""#,
        ),
        event(
            5,
            "bo@example.net",
            r#""event":"bounce","type":"bounce","status":"5.1.1","reason":"550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.","bounce_classification":"Invalid Address""#,
        ),
    ];
    format!("[{}]", events.join(",")).into_bytes()
}

/// ECDSA P-256 verification dominates here: unlike the HMAC schemes its cost hardly
/// depends on the body.
fn sendgrid_path(c: &mut Criterion) {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    let body = sendgrid_body();
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    spki.extend_from_slice(pair.public_key().as_ref());
    let key_text = STANDARD.encode(&spki);
    let key = sendgrid::PublicKey::from_base64(&key_text).unwrap();
    let t = 1_700_000_000;
    let ts = t.to_string();
    let signed = [ts.as_bytes(), &body].concat();
    let signature = STANDARD.encode(pair.sign(&rng, &signed).unwrap());
    let headers = sendgrid::Headers {
        signature: Some(&signature),
        timestamp: Some(&ts),
    };

    let mut group = c.benchmark_group("sendgrid");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify_parse_5_events", |b| {
        b.iter(|| {
            sendgrid::verify_signature(&key, headers, black_box(&body), t, 300).unwrap();
            let events = email_events::parse_sendgrid(black_box(&body)).unwrap();
            black_box(events)
        })
    });
    group.bench_function("verify_only", |b| {
        b.iter(|| sendgrid::verify_signature(&key, headers, black_box(&body), t, 300).unwrap())
    });
    // Parsed once per cold start, not per delivery: counted in keys, not body bytes.
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_key", |b| {
        b.iter(|| sendgrid::PublicKey::from_base64(black_box(&key_text)).unwrap())
    });
    group.finish();
}

criterion_group!(
    benches,
    meta_path,
    kapso_path,
    messenger_path,
    stripe_path,
    sendgrid_path
);
criterion_main!(benches);
