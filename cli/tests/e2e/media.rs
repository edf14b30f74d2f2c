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
