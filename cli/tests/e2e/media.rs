//! Media uploads: the file goes to the number's `/media` edge on a wiremock Graph that
//! checks the token and the multipart body; WhatsApp's types and sizes are enforced first.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_testkit::fixtures::PHONE_NUMBER_ID;
use wiremock::matchers::{header, header_regex, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::support::{Backend, Harness, Options};

async fn upload(
    h: &Harness,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
    query: &str,
) -> (StatusCode, Value) {
    let r = h
        .http
        .post(h.url(&format!("/v1/media{query}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or_default())
}

async fn files_are_checked_then_uploaded_to_the_number(backend: Backend) {
    let graph = crate::support::graph_knowing_the_number().await;
    let h = Harness::with(Options {
        backend,
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        ..Options::default()
    })
    .await;
    let agent = h.token("acme", Role::Agent);
    // No number yet: 409.
    let (st, _) = upload(&h, &agent, "image/png", vec![1, 2, 3], "").await;
    assert_eq!(st, StatusCode::CONFLICT);
    let account = h.connect("acme", PHONE_NUMBER_ID).await;
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\nswitchboard-test-image".to_vec();
    let expected = png.clone();
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/media")))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .and(header_regex(
            "content-type",
            "^multipart/form-data; boundary=",
        ))
        .and(move |req: &Request| {
            let body = &req.body;
            let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
            has(b"name=\"messaging_product\"\r\n\r\nwhatsapp")
                && has(b"name=\"type\"\r\n\r\nimage/png")
                && has(b"Content-Type: image/png")
                && has(&expected)
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1480512345678901"})))
        .expect(1)
        .mount(&graph)
        .await;
    let (st, m) = upload(&h, &agent, "image/png", png, "").await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    assert_eq!(
        (
            m["id"].as_str(),
            m["type"].as_str(),
            m["mime_type"].as_str(),
            &m["integration_id"]
        ),
        (
            Some("1480512345678901"),
            Some("image"),
            Some("image/png"),
            &account["id"]
        )
    );

    // Refused before Graph: a type WhatsApp does not send, a file over the limit, empty.
    let (st, e) = upload(&h, &agent, "image/gif", vec![1; 10], "").await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );
    let (st, e) = upload(&h, &agent, "image/webp", vec![0; 500 * 1024 + 1], "").await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("sticker"));
    let (st, e) = upload(&h, &agent, "image/jpeg", Vec::new(), "").await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("body"))
    );
    // Roles and tenancy.
    let (st, _) = upload(&h, &h.token("acme", Role::Viewer), "image/png", vec![1], "").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let other = h.token("other", Role::Agent);
    let query = format!("?integration_id={}", account["id"].as_str().unwrap());
    let (st, _) = upload(&h, &other, "image/png", vec![1], &query).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Graph refusing the file is the caller's problem, not a 500.
    graph.reset().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/media")))
        .respond_with(crate::outbound::graph_error(131053, 400))
        .mount(&graph)
        .await;
    let (st, e) = upload(&h, &agent, "application/pdf", b"%PDF-1.7".to_vec(), &query).await;
    assert!(
        st.is_client_error() || st == StatusCode::BAD_GATEWAY,
        "{st}: {e}"
    );
    assert_ne!(st, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_checked_then_uploaded_to_the_number_sqlite() {
    files_are_checked_then_uploaded_to_the_number(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_checked_then_uploaded_to_the_number_dynamodb() {
    files_are_checked_then_uploaded_to_the_number(Backend::Aws).await;
}

/// The path and query of a signed object URL, on the harness's own server (the URL names
/// `SWITCHBOARD_PUBLIC_URL`, the dev server's default address; the harness listens on
/// another port).
fn on_harness(h: &Harness, url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    assert_eq!(u.path().split('/').nth(1), Some("objects"), "{url}");
    h.url(&format!("{}?{}", u.path(), u.query().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_media_is_archived_and_large_files_are_served_by_signed_url() {
    let graph = crate::support::graph_knowing_the_number().await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    Mock::given(method("GET"))
        .and(path("/v23.0/4400123"))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"url": format!("{}/lookaside/4400123", graph.uri()), "mime_type": "video/mp4", "file_size": 300_000, "id": "4400123"})))
        .expect(1)
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/lookaside/4400123"))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(big.clone()))
        .expect(1)
        .mount(&graph)
        .await;
    let h = Harness::with(Options {
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        max_media_bytes: Some(100_000),
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let video = switchboard_testkit::fixtures::delivery(vec![
        switchboard_testkit::fixtures::message_change(
            PHONE_NUMBER_ID,
            "15551234567",
            "wamid.video",
            chrono::Utc::now().timestamp(),
            "video",
            json!({"id": "4400123", "mime_type": "video/mp4", "sha256": "x"}),
        ),
    ]);
    assert_eq!(h.webhook(&video).await.status(), StatusCode::OK);
    h.drain(switchboard_core::queue::QueueName::Inbound).await;
    let viewer = h.token("acme", Role::Viewer);
    let (_, convs) = h.get("/v1/conversations", &viewer).await;
    let conv = convs["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, msgs) = h
        .get(&format!("/v1/conversations/{conv}/messages"), &viewer)
        .await;
    let id = msgs["items"][0]["id"].as_str().unwrap().to_owned();

    // Larger than a response may carry: a 302 to a signed URL of the archived file.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..2 {
        let r = no_redirects
            .get(h.url(&format!("/v1/messages/{id}/media")))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.contains(&format!("/objects/media/acme/{id}?")),
            "{location}"
        );
        let file = h.http.get(on_harness(&h, &location)).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.headers()["content-type"], "video/mp4");
        assert_eq!(file.bytes().await.unwrap().as_ref(), big.as_slice());
        // A URL altered to name another object is refused.
        let other = on_harness(&h, &location).replace(&id, "msg_00000000000000000000000000000000");
        assert_eq!(
            h.http.get(other).send().await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
    }
    // Another org does not get it.
    let r = no_redirects
        .get(h.url(&format!("/v1/messages/{id}/media")))
        .bearer_auth(h.token("other", Role::Owner))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Archived on arrival: Graph was asked once, however often the file is read.
    graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_go_through_an_upload_url() {
    let graph = crate::support::graph_knowing_the_number().await;
    let pdf: Vec<u8> = [b"%PDF-1.7\n".as_slice(), &vec![b'x'; 6_000_000]].concat();
    let expected = pdf.clone();
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/media")))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .and(move |req: &Request| {
            let body = &req.body;
            body.windows(b"application/pdf".len())
                .any(|w| w == b"application/pdf")
                && body
                    .windows(64)
                    .any(|w| w == &expected[expected.len() - 64..])
                && body.len() > expected.len()
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1700000000001"})))
        .expect(1)
        .mount(&graph)
        .await;
    let h = Harness::with(Options {
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let agent = h.token("acme", Role::Agent);
    for (body, field) in [
        (
            json!({"content_type": "image/gif", "size": 10}),
            "content_type",
        ),
        (
            json!({"content_type": "application/pdf", "size": 200_000_000u64}),
            "size",
        ),
        (json!({"content_type": "application/pdf"}), "size"),
    ] {
        let (st, err) = h.post("/v1/media/uploads", &agent, &body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["error"]["field"], field);
    }
    let (st, _) = h
        .post(
            "/v1/media/uploads",
            &h.token("acme", Role::Viewer),
            &json!({"content_type": "application/pdf", "size": pdf.len()}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, up) = h
        .post(
            "/v1/media/uploads",
            &agent,
            &json!({"content_type": "application/pdf", "size": pdf.len()}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{up}");
    assert_eq!(up["type"], "document");
    assert_eq!(up["status"], "pending");
    let id = up["id"].as_str().unwrap().to_owned();
    let complete = format!("/v1/media/uploads/{id}/complete");
    let (st, err) = h.post(&complete, &agent, &json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "upload_missing");

    let url = on_harness(&h, up["upload_url"].as_str().unwrap());
    let wrong_type = h
        .http
        .put(&url)
        .header("content-type", "image/png")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::FORBIDDEN);
    let put = h
        .http
        .put(&url)
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    // Another org cannot complete it.
    let (st, _) = h
        .post(&complete, &h.token("other", Role::Owner), &json!({}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, done) = h.post(&complete, &agent, &json!({})).await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["media_id"], "1700000000001");
    assert_eq!(done["status"], "completed");
    // A second completion answers the same without a second upload to Graph.
    let (st, again) = h.post(&complete, &agent, &json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again["media_id"], "1700000000001");
    // WhatsApp has the file: the copy in storage is gone.
    let key = format!("uploads/acme/{id}");
    assert!(h.app.services().objects.head(&key).await.unwrap().is_none());
    graph.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bucket_upload_urls_answer_503() {
    // A deployment without MEDIA_BUCKET gets the stand-in that refuses.
    let mut opts = Options {
        workers: false,
        serve: false,
        ..Options::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let app = crate::support::build_app(&mut opts, dir.path()).await;
    let mut services = app.services().clone();
    services.objects = std::sync::Arc::new(switchboard_runtime::objects::NoObjects);
    let org = switchboard_core::ids::OrgId::parse("acme").unwrap();
    let connect = switchboard_core::usecases::integrations::ConnectRequest {
        phone_number_id: Some(PHONE_NUMBER_ID.into()),
        waba_id: Some(switchboard_testkit::fixtures::WABA_ID.into()),
        access_token: Some("EAAG-test-token".into()),
        display_phone_number: None,
        messages_per_second: None,
    };
    switchboard_core::usecases::integrations::connect(
        &services,
        &Default::default(),
        &org,
        connect.validate().unwrap(),
    )
    .await
    .unwrap();
    let err = switchboard_core::usecases::media::create_upload(
        &services,
        &org,
        &json!({"content_type": "application/pdf", "size": 1000}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            switchboard_core::Error::Unavailable {
                code: "storage_unavailable",
                ..
            }
        ),
        "{err:?}"
    );
}
