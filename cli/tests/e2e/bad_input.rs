//! Bad input gets a clear error and loses nothing: one test per rule.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::Error;
use switchboard_core::ids::{ConversationId, OrgId, Role};
use switchboard_core::model::{Provider, org_scope};
use switchboard_core::page::PageRequest;
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_core::services::Services;
use switchboard_core::store::{Index, Query, SortKey, StoreError};
use switchboard_core::usecases::{events, inbox};
use switchboard_runtime::http::ApiError;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID, TEST_VERIFY_TOKEN};

use crate::support::{Backend, Harness, Options, StoreHooks};

async fn nothing_stored(h: &Harness) {
    let svc = h.app.services();
    assert!(
        events::pending(svc, Provider::Whatsapp, 10)
            .await
            .unwrap()
            .is_empty(),
        "no event stored"
    );
    let queued = svc
        .queue
        .receive(
            QueueName::Inbound,
            10,
            std::time::Duration::from_secs(1),
            std::time::Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(queued.is_empty(), "nothing queued");
}

async fn raw_post(
    h: &Harness,
    signature: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = h
        .http
        .post(h.url("/webhooks/whatsapp"))
        .header("content-type", content_type)
        .body(body);
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_rejections() {
    let h = Harness::start().await;
    let good = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.x",
        1,
        "hi",
    )]);

    let (s, e) = raw_post(&h, None, "application/json", good.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_signature"))
    );
    let wrong = switchboard_webhooks::meta::sign(b"another-secret", &good);
    let (s, _) = raw_post(&h, Some(&wrong), "application/json", good.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = raw_post(&h, Some("sha256=zz"), "application/json", good.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let mut tampered = good.clone();
    let n = tampered.len() - 10;
    tampered[n] ^= 1;
    let (s, _) = raw_post(
        &h,
        Some(&fixtures::sign(&good)),
        "application/json",
        tampered,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let not_json = b"{this is not json".to_vec();
    let (s, e) = raw_post(
        &h,
        Some(&fixtures::sign(&not_json)),
        "application/json",
        not_json,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
    let other_json = br#"{"hello":"world"}"#.to_vec();
    let (s, e) = raw_post(
        &h,
        Some(&fixtures::sign(&other_json)),
        "application/json",
        other_json,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_payload"))
    );
    let (s, e) = raw_post(&h, Some(&fixtures::sign(&good)), "text/plain", good.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let (s, e) = raw_post(&h, Some(&fixtures::sign(&huge)), "application/json", huge).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );

    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_deliveries_store_and_queue_nothing() {
    let h = Harness::with(Options {
        serve: true,
        ..Options::default()
    })
    .await;
    let good = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.y",
        1,
        "hi",
    )]);
    raw_post(&h, None, "application/json", good.clone()).await;
    raw_post(
        &h,
        Some(&switchboard_webhooks::meta::sign(b"nope", &good)),
        "application/json",
        good.clone(),
    )
    .await;
    raw_post(&h, Some(&fixtures::sign(&good)), "text/plain", good.clone()).await;
    nothing_stored(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_verification() {
    let h = Harness::start().await;
    let ok = h
        .http
        .get(h.url(&format!("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={TEST_VERIFY_TOKEN}&hub.challenge=1158201444")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=switchboard-test-verify-token&hub.challenge=1",
        "",
    ] {
        let r = h
            .http
            .get(h.url(&format!("/webhooks/whatsapp?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{query}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_provider_answers_503_and_accepts_nothing() {
    let h = Harness::with(Options {
        secrets: vec![],
        ..Options::default()
    })
    .await;
    let body = fixtures::delivery(vec![]);
    let (s, e) = raw_post(&h, Some(&fixtures::sign(&body)), "application/json", body).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_configured"))
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WHATSAPP_APP_SECRET")
    );
    let r = h
        .http
        .get(h.url("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    nothing_stored(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_authentication() {
    let h = Harness::start().await;
    let r = h.http.get(h.url("/v1/conversations")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["request_id"].is_string());
    for bad in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJvcmdfaWQiOiJhY21lIn0.",
    ] {
        let (s, _) = h.get("/v1/conversations", bad).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad}");
    }
    // A token from another data dir's key is not trusted.
    let other = Harness::with(Options {
        serve: false,
        ..Options::default()
    })
    .await;
    let (s, _) = h
        .get("/v1/conversations", &other.token("acme", Role::Owner))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_body_and_parameter_validation() {
    let h = Harness::start().await;
    let admin = h.token("acme", Role::Admin);
    let url = h.url("/v1/integrations/whatsapp/connect");
    let send = |ct: &'static str, body: Vec<u8>| {
        let req = h
            .http
            .post(url.clone())
            .bearer_auth(&admin)
            .header("content-type", ct)
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, e) = send("application/json", b"{nope".to_vec()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
    let (s, _) = send("text/plain", b"{}".to_vec()).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = send("application/json", vec![b' '; 300 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);

    let cases = [
        (
            json!({"waba_id": "102290129340398", "access_token": "t"}),
            "phone_number_id",
        ),
        (
            json!({"phone_number_id": "+1 555", "waba_id": "102290129340398", "access_token": "t"}),
            "phone_number_id",
        ),
        (
            json!({"phone_number_id": 106540352242922u64, "waba_id": "102290129340398", "access_token": "t"}),
            "phone_number_id",
        ),
        (
            json!({"phone_number_id": "106540352242922", "access_token": "t"}),
            "waba_id",
        ),
        (
            json!({"phone_number_id": "106540352242922", "waba_id": "102290129340398"}),
            "access_token",
        ),
        (
            json!({"phone_number_id": "106540352242922", "waba_id": "102290129340398", "access_token": "has spaces"}),
            "access_token",
        ),
        (
            json!({"phone_number_id": "106540352242922", "waba_id": "102290129340398", "access_token": "t", "display_phone_number": 5}),
            "display_phone_number",
        ),
    ];
    for (body, field) in cases {
        let (s, e) = h
            .post("/v1/integrations/whatsapp/connect", &admin, &body)
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(e["error"]["field"], field, "{body}");
    }
    let (_, list) = h.get("/v1/integrations", &admin).await;
    assert_eq!(
        list["items"],
        json!([]),
        "no invalid request wrote anything"
    );

    for (path, field) in [
        ("/v1/conversations?limit=0", "limit"),
        ("/v1/conversations?limit=101", "limit"),
        ("/v1/conversations?limit=abc", "limit"),
        ("/v1/contacts?cursor=not-a-cursor", "cursor"),
        ("/v1/conversations?cursor=eyJwayI6IkVWRU5UI3gifQ", "cursor"),
    ] {
        let (s, e) = h.get(path, &admin).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(e["error"]["field"], field, "{path}");
    }
    let (s, e) = h.get("/v1/nothing-here", &admin).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    h.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary signed bytes never panic the webhook or cause a 5xx: they are accepted
    /// (200) or refused as the caller's mistake (400).
    #[test]
    fn arbitrary_signed_bytes_never_5xx(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let h = Harness::with(Options { serve: false, ..Options::default() }).await;
            let req = http::Request::builder()
                .method("POST")
                .uri("/webhooks/whatsapp")
                .header("content-type", "application/json")
                .header("x-hub-signature-256", fixtures::sign(&body))
                .body(bytes::Bytes::from(body.clone()))
                .unwrap();
            let resp = webhook_whatsapp::handle(&h.app, req).await;
            let status = resp.status().as_u16();
            assert!(status == 200 || status == 400, "status {status} for {body:?}");
        });
    }
}

/// A `Stripe-Signature` listing more `v1` signatures than any sender sends is refused
/// unchecked, with the same 401 as any other bad signature (never a 5xx), even when
/// the valid one is among them; nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_header_with_many_signatures_is_401() {
    let whsec = "whsec_bad_input_test";
    let mut secrets = Options::default().secrets;
    secrets.push((SecretName::StripeWebhookSecret, whsec.into()));
    let h = Harness::with(Options {
        secrets,
        ..Options::default()
    })
    .await;
    let body = br#"{"id":"evt_many","object":"event","created":1,"livemode":false,"type":"invoice.paid","data":{"object":{"object":"invoice","customer":"cus_1"}}}"#;
    let good =
        switchboard_webhooks::stripe::sign(whsec.as_bytes(), body, chrono::Utc::now().timestamp());
    let many = format!(
        "{good}{}",
        format!(",v1={}", "ab".repeat(32)).repeat(switchboard_webhooks::MAX_SIGNATURES * 6)
    );
    let r = h
        .http
        .post(h.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", many)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let e: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_signature"))
    );
    assert!(
        events::pending(h.app.services(), Provider::Stripe, 10)
            .await
            .unwrap()
            .is_empty(),
        "no event stored"
    );
    h.stop().await;
}

/// A cursor tampered into another shape (a valid position of another kind, a missing
/// or empty index sort key, empty or oversized keys) is the caller's 422
/// `invalid_cursor`, on every list, never a store error's 500.
async fn tampered_cursors_answer_422(backend: Backend) {
    let h = Harness::with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let conv = seed_inbox(&h, 1).await;
    let admin = h.token("acme", Role::Admin);
    let cursors = [
        // In scope, but no index sort key for these index queries.
        json!({"pk": format!("ORG#acme#CONV#{conv}"), "sk": "CONV"}),
        json!({"pk": format!("ORG#acme#CONV#{conv}"), "sk": "CONV", "index_sk": null}),
        // Empty keys, which DynamoDB refuses in a start key.
        json!({"pk": "ORG#acme#X", "sk": "", "index_sk": ""}),
        json!({"pk": "ORG#acme#X", "sk": "CONV", "index_sk": ""}),
        // Keys longer than DynamoDB takes.
        json!({"pk": "ORG#acme#X", "sk": "s".repeat(1025), "index_sk": "k"}),
        json!({"pk": "ORG#acme#X", "sk": "s", "index_sk": "k".repeat(1025)}),
    ];
    for path in [
        "/v1/conversations".to_owned(),
        format!("/v1/conversations/{conv}/messages"),
        "/v1/contacts".to_owned(),
    ] {
        for pos in &cursors {
            let cursor = URL_SAFE_NO_PAD.encode(pos.to_string());
            let (s, e) = h.get(&format!("{path}?cursor={cursor}"), &admin).await;
            assert_eq!(
                (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("invalid_cursor"),
                    Some("cursor")
                ),
                "{path} after {pos}: {e}"
            );
        }
        // A cursor the list itself handed out still works.
        let (s, first) = h.get(&format!("{path}?limit=1"), &admin).await;
        assert_eq!(s, StatusCode::OK, "{first}");
        if let Some(next) = first["next_cursor"].as_str() {
            let (s, e) = h
                .get(&format!("{path}?limit=1&cursor={next}"), &admin)
                .await;
            assert_eq!(s, StatusCode::OK, "{path}: {e}");
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_cursors_answer_422_invalid_cursor() {
    tampered_cursors_answer_422(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_cursors_answer_422_invalid_cursor_on_the_aws_backend() {
    tampered_cursors_answer_422(Backend::Aws).await;
}

/// Connects acme's number and delivers two messages from each of `customers`
/// customers; returns the id of the first conversation once everything is listed.
async fn seed_inbox(h: &Harness, customers: usize) -> String {
    h.connect("acme", PHONE_NUMBER_ID).await;
    let changes = (0..customers)
        .flat_map(|c| {
            (0..2).map(move |m| {
                fixtures::text_change(
                    PHONE_NUMBER_ID,
                    &format!("1650555100{c}"),
                    &format!("Customer {c}"),
                    &format!("wamid.cursor{c}.{m}"),
                    1_750_000_000 + (c * 10 + m) as i64,
                    &format!("message {m}"),
                )
            })
        })
        .collect();
    assert_eq!(
        h.webhook(&fixtures::delivery(changes)).await.status(),
        StatusCode::OK
    );
    let token = h.token("acme", Role::Viewer);
    let list = h
        .wait_for_items("/v1/conversations?limit=100", &token, customers)
        .await;
    let conv = list["items"][0]["id"].as_str().unwrap().to_owned();
    h.wait_for_items(&format!("/v1/conversations/{conv}/messages"), &token, 2)
        .await;
    conv
}

/// The table keys of the positions each list hands out after its first item: the
/// in-scope values the cursor property draws from.
async fn real_keys(svc: &Services, org: &OrgId, conv: &ConversationId) -> Vec<String> {
    let first = || PageRequest {
        limit: 1,
        after: None,
    };
    let pages = [
        inbox::list_conversations(svc, org, first()).await.unwrap(),
        inbox::list_messages(svc, org, conv, first()).await.unwrap(),
        inbox::list_contacts(svc, org, first()).await.unwrap(),
    ];
    let mut keys = Vec::new();
    for cursor in pages.iter().filter_map(|p| p.next_cursor.as_deref()) {
        let pos: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).unwrap()).unwrap();
        for field in ["pk", "sk", "index_sk"] {
            if let Some(k) = pos[field].as_str() {
                keys.push(k.to_owned());
            }
        }
    }
    assert!(keys.len() >= 9, "each list has a second page: {keys:?}");
    keys
}

/// A value for one key of a tampered position: absent, not a string, a real key, in
/// scope, out of scope, empty, or longer than DynamoDB takes.
fn key_value(real: Vec<String>) -> impl Strategy<Value = Option<Value>> {
    let text = |s: String| Some(Value::String(s));
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => any::<i64>().prop_map(|n| Some(json!(n))),
        6 => proptest::sample::select(real).prop_map(text),
        3 => "ORG#acme#[A-Z#_0-9a-z:.-]{0,24}".prop_map(text),
        2 => proptest::sample::select(vec![
            String::new(),
            "ORG#acme#".into(),
            "ORG#acme#CONVS".into(),
            "ORG#other#CONV#x".into(),
            "EVENT#x".into(),
            "\u{0}".into(),
            format!("ORG#acme#{}", "x".repeat(2100)),
            "é".repeat(600),
        ])
        .prop_map(text),
        1 => ".{0,24}".prop_map(text),
    ]
}

/// Arbitrary cursors: arbitrary text, base64url of arbitrary bytes, and base64url (or
/// padded standard base64) of JSON objects whose keys are drawn by [`key_value`].
fn tampered_cursor(real: Vec<String>) -> impl Strategy<Value = String> {
    let object = (
        key_value(real.clone()),
        key_value(real.clone()),
        key_value(real),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(pk, sk, isk, extra, padded)| {
            let mut obj = serde_json::Map::new();
            for (name, v) in [("pk", pk), ("sk", sk), ("index_sk", isk)] {
                if let Some(v) = v {
                    obj.insert(name.into(), v);
                }
            }
            if extra {
                obj.insert("extra".into(), json!({"pk": "ORG#other#"}));
            }
            let json = Value::Object(obj).to_string();
            if padded {
                base64::engine::general_purpose::STANDARD.encode(json)
            } else {
                URL_SAFE_NO_PAD.encode(json)
            }
        });
    prop_oneof![
        1 => ".{0,64}",
        1 => proptest::collection::vec(any::<u8>(), 0..96).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        6 => object,
    ]
}

/// The embedded store, refusing a query's start position where DynamoDB refuses its
/// `ExclusiveStartKey` (the SQLite store takes some of those), so the cursor property
/// holds for both backends without a moto server.
#[derive(Debug)]
struct DynamoStartKeyRules;

impl DynamoStartKeyRules {
    fn refuses(q: &Query) -> bool {
        let Some(after) = &q.after else { return false };
        // Key attributes may not be empty; partition keys take 2048 bytes, sort keys 1024.
        let partition = |k: &str| !k.is_empty() && k.len() <= 2048;
        let sort = |k: &str| !k.is_empty() && k.len() <= 1024;
        let range_key = match q.index {
            Index::Table => Some(after.sk.as_str()),
            Index::Gsi1 | Index::Gsi2 => after.index_sk.as_deref(),
        };
        let Some(range_key) = range_key else {
            return true;
        };
        // The start key must match the range key predicate.
        let in_range = match &q.sort {
            SortKey::Any => true,
            SortKey::BeginsWith(p) => range_key.starts_with(p.as_str()),
            SortKey::Between(a, b) => a.as_str() <= range_key && range_key <= b.as_str(),
            SortKey::AtLeast(a) => a.as_str() <= range_key,
            SortKey::AtMost(b) => range_key <= b.as_str(),
        };
        !(partition(&after.pk) && sort(&after.sk) && sort(range_key) && in_range)
    }
}

/// Whatever the cursor, each list path of the use-case layer (on the embedded SQLite
/// store, with DynamoDB's start-key rules) answers a page or a 422 `invalid_cursor`,
/// never another error.
#[test]
fn arbitrary_cursors_answer_a_page_or_invalid_cursor() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(Harness::with(Options {
        wrap_store: Some(
            StoreHooks {
                query: Some(Box::new(|q| {
                    if DynamoStartKeyRules::refuses(q) {
                        return Err(StoreError::Invalid(
                            "The provided starting key is invalid".into(),
                        ));
                    }
                    Ok(())
                })),
                ..StoreHooks::default()
            }
            .wrap(),
        ),
        ..Options::default()
    }));
    let conv = rt.block_on(seed_inbox(&h, 3));
    let org = OrgId::parse("acme").unwrap();
    let conv = ConversationId::parse(&conv).unwrap();
    let svc = h.app.services().clone();
    let real = rt.block_on(real_keys(&svc, &org, &conv));
    let scope = org_scope(&org);

    let mut runner = TestRunner::new(ProptestConfig::with_cases(256));
    let outcome = runner.run(&(tampered_cursor(real), 1usize..=3), |(cursor, limit)| {
        rt.block_on(async {
            let limit = limit.to_string();
            for list in ["conversations", "messages", "contacts"] {
                let result = match PageRequest::parse(Some(&limit), Some(&cursor), &scope) {
                    Err(e) => Err(e),
                    Ok(page) => match list {
                        "conversations" => inbox::list_conversations(&svc, &org, page).await,
                        "messages" => inbox::list_messages(&svc, &org, &conv, page).await,
                        _ => inbox::list_contacts(&svc, &org, page).await,
                    },
                };
                let Err(e) = result else { continue };
                let shown = format!("{e:?}");
                let invalid_cursor = matches!(
                    &e,
                    Error::Validation { field, code: "invalid_cursor", .. } if field == "cursor"
                );
                let status = ApiError::from(e).status;
                prop_assert!(
                    invalid_cursor && status == StatusCode::UNPROCESSABLE_ENTITY,
                    "{list} after cursor {cursor:?}: {shown} ({status})"
                );
            }
            Ok(())
        })
    });
    rt.block_on(h.stop());
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
