//! A WhatsApp message arrives, is verified, stored and queued; the consumer turns it into
//! a contact, a conversation and a message the frontend reads.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::model::{EarlyStatus, WamidRoute};
use switchboard_core::store::{Query, SortKey};
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};

use crate::support::{Backend, Harness, Options};

async fn message_flow(h: &Harness) {
    h.connect("acme", PHONE_NUMBER_ID).await;
    let token = h.token("acme", Role::Viewer);
    let now = chrono::Utc::now().timestamp();
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "Sheena Nelson",
        "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        now - 60,
        "Hi! Is the blue shirt in stock?",
    )]);
    let resp = h.webhook(&body).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let list = h.wait_for_items("/v1/conversations", &token, 1).await;
    let conv = &list["items"][0];
    assert_eq!(conv["contact"]["wa_id"], "16505551234");
    assert_eq!(conv["contact"]["name"], "Sheena Nelson");
    assert_eq!(conv["unread_count"], 1);
    assert_eq!(
        conv["last_message"]["preview"],
        "Hi! Is the blue shirt in stock?"
    );
    assert_eq!(conv["last_message"]["direction"], "inbound");
    assert_eq!(conv["customer_service_window"]["open"], true);
    assert_eq!(list["next_cursor"], json!(null));

    let id = conv["id"].as_str().unwrap();
    let (status, one) = h.get(&format!("/v1/conversations/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], conv["id"]);

    let (status, msgs) = h
        .get(&format!("/v1/conversations/{id}/messages"), &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{msgs}");
    let m = &msgs["items"][0];
    assert_eq!(m["type"], "text");
    assert_eq!(
        m["content"]["text"]["body"],
        "Hi! Is the blue shirt in stock?"
    );
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["status"], "received");
    assert_eq!(
        m["wamid"],
        "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    );

    let (status, contacts) = h.get("/v1/contacts", &token).await;
    assert_eq!(status, StatusCode::OK);
    let contact_id = contacts["items"][0]["id"].as_str().unwrap();
    assert_eq!(contact_id, conv["contact"]["id"].as_str().unwrap());
    let (status, contact) = h.get(&format!("/v1/contacts/{contact_id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contact["name"], "Sheena Nelson");
    assert!(contact["last_inbound_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_becomes_contact_conversation_and_message() {
    let h = Harness::start().await;
    message_flow(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_flow_on_the_aws_backend() {
    let h = Harness::with(Options {
        backend: Backend::Aws,
        ..Options::default()
    })
    .await;
    message_flow(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivery_gives_one_message() {
    let h = Harness::start().await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let token = h.token("acme", Role::Viewer);
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.dup1",
        1_750_000_000,
        "once",
    )]);
    for _ in 0..3 {
        assert_eq!(h.webhook(&body).await.status(), StatusCode::OK);
    }
    let list = h.wait_for_items("/v1/conversations", &token, 1).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    // Give the consumer time to (not) apply the copies.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, msgs) = h
        .get(&format!("/v1/conversations/{id}/messages"), &token)
        .await;
    assert_eq!(msgs["items"].as_array().unwrap().len(), 1);
    let (_, conv) = h.get(&format!("/v1/conversations/{id}"), &token).await;
    assert_eq!(
        conv["unread_count"], 1,
        "a duplicate does not count as unread twice"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_pagination_and_message_types() {
    let h = Harness::start().await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let token = h.token("acme", Role::Viewer);
    // Five customers, each writing at a different time; one delivery.
    let changes = (0..5)
        .map(|i| {
            fixtures::text_change(
                PHONE_NUMBER_ID,
                &format!("1650555000{i}"),
                &format!("C{i}"),
                &format!("wamid.order{i}"),
                1_750_000_000 + i * 10,
                &format!("hello {i}"),
            )
        })
        .collect();
    assert_eq!(
        h.webhook(&fixtures::delivery(changes)).await.status(),
        StatusCode::OK
    );
    h.wait_for_items("/v1/conversations?limit=100", &token, 5)
        .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/conversations?limit=2&cursor={c}"),
            None => "/v1/conversations?limit=2".into(),
        };
        let (status, page) = h.get(&path, &token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for c in page["items"].as_array().unwrap() {
            seen.push(c["contact"]["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["C4", "C3", "C2", "C1", "C0"],
        "newest activity first, each once"
    );

    // One customer sends several types, out of order; messages list in conversation order.
    let from = "16505550000";
    let changes = vec![
        fixtures::message_change(
            PHONE_NUMBER_ID,
            from,
            "wamid.t3",
            1_750_000_300,
            "reaction",
            json!({"message_id": "wamid.order0", "emoji": "👍"}),
        ),
        fixtures::message_change(
            PHONE_NUMBER_ID,
            from,
            "wamid.t1",
            1_750_000_100,
            "image",
            json!({"id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "HgnbDOO=", "caption": "receipt"}),
        ),
        fixtures::message_change(
            PHONE_NUMBER_ID,
            from,
            "wamid.t2",
            1_750_000_200,
            "location",
            json!({"latitude": 38.7, "longitude": -9.1, "name": "Shop"}),
        ),
        fixtures::message_change(
            PHONE_NUMBER_ID,
            from,
            "wamid.t4",
            1_750_000_400,
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes please"}}),
        ),
        fixtures::message_change(
            PHONE_NUMBER_ID,
            from,
            "wamid.t5",
            1_750_000_500,
            "unsupported",
            json!({}),
        ),
    ];
    assert_eq!(
        h.webhook(&fixtures::delivery(changes)).await.status(),
        StatusCode::OK
    );
    let (_, list) = h.get("/v1/conversations?limit=100", &token).await;
    let id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contact"]["wa_id"] == from)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let msgs = h
        .wait_for_items(&format!("/v1/conversations/{id}/messages"), &token, 6)
        .await;
    let kinds: Vec<&str> = msgs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "text",
            "image",
            "location",
            "reaction",
            "interactive",
            "unsupported"
        ]
    );
    let image = &msgs["items"][1]["content"]["image"];
    assert_eq!(
        (
            image["id"].as_str(),
            image["mime_type"].as_str(),
            image["caption"].as_str()
        ),
        (
            Some("1003383421387256"),
            Some("image/jpeg"),
            Some("receipt")
        )
    );
    let (_, conv) = h.get(&format!("/v1/conversations/{id}"), &token).await;
    assert_eq!(conv["unread_count"], 6);
    assert_eq!(conv["last_message"]["preview"], "[unsupported]");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_for_unknown_wamids_are_kept() {
    let h = Harness::start().await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let body = fixtures::delivery(vec![fixtures::status_change(
        PHONE_NUMBER_ID,
        "wamid.outbound-not-yet-known",
        "delivered",
        "16505551234",
        1_750_000_000,
        json!([]),
    )]);
    assert_eq!(h.webhook(&body).await.status(), StatusCode::OK);
    let store = h.app.services().store.clone();
    let (pk, _) = WamidRoute::key_of("wamid.outbound-not-yet-known");
    let kept = h
        .eventually("the early status", || {
            let store = store.clone();
            let pk = pk.clone();
            async move {
                let page = store
                    .query(
                        Query::table(pk).sort(SortKey::BeginsWith(EarlyStatus::SK_PREFIX.into())),
                    )
                    .await
                    .ok()?;
                page.items.first().cloned()
            }
        })
        .await;
    let early: EarlyStatus = kept.decode().unwrap();
    assert_eq!(early.org_id.as_str(), "acme");
    assert_eq!(early.status.as_str(), "delivered");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_changes_in_three_megabytes_are_accepted() {
    let h = Harness::start().await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let filler = "x".repeat(2_900);
    let changes = (0..1000)
        .map(|i| {
            fixtures::text_change(
                PHONE_NUMBER_ID,
                &format!("1650600{i:04}"),
                "Bulk",
                &format!("wamid.bulk{i}"),
                1_750_000_000 + i,
                &filler,
            )
        })
        .collect();
    let body = fixtures::delivery(changes);
    assert!(
        body.len() > 3_000_000 && body.len() < 4 * 1024 * 1024,
        "{} bytes",
        body.len()
    );
    let resp = h.webhook(&body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ack: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(ack["received"], 1000);
    let token = h.token("acme", Role::Viewer);
    h.eventually("1000 conversations", || async {
        let mut n = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/conversations?limit=100&cursor={c}"),
                None => "/v1/conversations?limit=100".into(),
            };
            let (_, page) = h.get(&path, &token).await;
            n += page["items"].as_array()?.len();
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        (n == 1000).then_some(())
    })
    .await;
    h.stop().await;
}
