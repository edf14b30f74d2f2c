//! Bad input gets a clear error and loses nothing: one test per rule.

use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_core::model::Provider;
use switchboard_core::queue::QueueName;
use switchboard_core::usecases::events;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID, TEST_VERIFY_TOKEN};

use crate::support::{Harness, Options};

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
