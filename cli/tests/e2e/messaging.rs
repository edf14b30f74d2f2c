//! Messenger and Instagram inboxes: connecting a page and an Instagram account against a
//! wiremock Graph that checks the token, real-shaped webhook payloads (text, attachment,
//! quick reply, story reply, postback, reaction, echo, delivery, read, edit, unsend)
//! through `/webhooks/meta-messaging` into conversations, and agent replies through the
//! Send API with Meta's window rules moved by the injectable clock.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::Role;
use switchboard_core::queue::QueueName;
use switchboard_testkit::fixtures;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::outbound::{drain, graph_error, message};
use crate::support::{Backend, Harness, Options};

const PAGE: &str = "104512345678901";
const IG: &str = "17841400000000001";
const PAGE_TOKEN: &str = "EAAG-page-token";
const IG_TOKEN: &str = "EAAG-instagram-token";
const PSID: &str = "6873012345678901";
const IGSID: &str = "5612345678901234";

struct Setup {
    h: Harness,
    graph: MockServer,
    clock: Arc<FixedClock>,
}

async fn setup(backend: Backend) -> Setup {
    let graph = MockServer::start().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let h = Harness::with(Options {
        backend,
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        clock: Some(clock.clone()),
        workers: false,
        ..Options::default()
    })
    .await;
    Setup { h, graph, clock }
}

async fn graph_knows(graph: &MockServer, id: &str, token: &str, fields: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{id}")))
        .and(query_param("fields", fields))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(graph)
        .await;
}

async fn connect_both(s: &Setup) {
    graph_knows(
        &s.graph,
        PAGE,
        PAGE_TOKEN,
        "id,name",
        json!({"id": PAGE, "name": "Acme Linen"}),
    )
    .await;
    graph_knows(
        &s.graph,
        IG,
        IG_TOKEN,
        "id,username",
        json!({"id": IG, "username": "acmelinen"}),
    )
    .await;
    let admin = s.h.token("acme", Role::Admin);
    let (st, page) =
        s.h.post(
            "/v1/integrations/messenger/connect",
            &admin,
            &json!({"page_id": PAGE, "access_token": PAGE_TOKEN}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{page}");
    assert_eq!(
        (
            page["channel"].as_str(),
            page["page_id"].as_str(),
            page["verified_name"].as_str()
        ),
        (Some("messenger"), Some(PAGE), Some("Acme Linen"))
    );
    assert_eq!(page["phone_number_id"], Value::Null);
    let (st, ig) =
        s.h.post(
            "/v1/integrations/instagram/connect",
            &admin,
            &json!({"instagram_account_id": IG, "access_token": IG_TOKEN}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{ig}");
    assert_eq!(
        (ig["channel"].as_str(), ig["instagram_account_id"].as_str()),
        (Some("instagram"), Some(IG))
    );
}

async fn hook(h: &Harness, body: &Value) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    h.http
        .post(h.url("/webhooks/meta-messaging"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", fixtures::sign(&bytes))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

fn envelope(object: &str, id: &str, events: Vec<Value>) -> Value {
    json!({"object": object, "entry": [{"id": id, "time": 1_763_800_000_000_i64, "messaging": events}]})
}

fn from(person: &str, to: &str, ms: i64, rest: Value) -> Value {
    let mut e = json!({"sender": {"id": person}, "recipient": {"id": to}, "timestamp": ms});
    for (k, v) in rest.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

async fn deliver(h: &Harness, body: Value) {
    let r = hook(h, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    drain(h, QueueName::Inbound).await;
}

async fn conversation_on(h: &Harness, channel: &str) -> Value {
    let (_, list) = h
        .get(
            "/v1/conversations?limit=100",
            &h.token("acme", Role::Viewer),
        )
        .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .cloned()
        .unwrap_or_else(|| panic!("no {channel} conversation in {list}"))
}

async fn messages(h: &Harness, conv: &str) -> Vec<Value> {
    let (_, list) = h
        .get(
            &format!("/v1/conversations/{conv}/messages?limit=100"),
            &h.token("acme", Role::Viewer),
        )
        .await;
    list["items"].as_array().unwrap().clone()
}

async fn inboxes_receive_every_event_kind(backend: Backend) {
    let s = setup(backend).await;
    connect_both(&s).await;
    let t = s.clock.now().timestamp_millis();

    // Messenger: text, image, quick reply, postback, reaction, and an echo of a message
    // the page sent from Meta Business Suite.
    deliver(
        &s.h,
        envelope(
            "page",
            PAGE,
            vec![
                from(PSID, PAGE, t, json!({"message": {"mid": "m_text1", "text": "Do you ship to Ghent?"}})),
                from(PSID, PAGE, t + 1, json!({"message": {"mid": "m_img1", "attachments": [{"type": "image", "payload": {"url": "https://scontent.example/shirt.jpg"}}]}})),
                from(PSID, PAGE, t + 2, json!({"message": {"mid": "m_qr1", "text": "Yes please", "quick_reply": {"payload": "SHIP_BE"}}})),
                from(PSID, PAGE, t + 3, json!({"postback": {"title": "Talk to a person", "payload": "HUMAN"}})),
                from(PSID, PAGE, t + 4, json!({"reaction": {"mid": "m_text1", "action": "react", "reaction": "love", "emoji": "❤"}})),
                from(PAGE, PSID, t + 5, json!({"message": {"mid": "m_echo1", "text": "Sent from the app", "is_echo": true}})),
            ],
        ),
    )
    .await;
    let conv = conversation_on(&s.h, "messenger").await;
    let cid = conv["id"].as_str().unwrap().to_owned();
    assert_eq!(conv["contact"]["channel"], "messenger");
    assert_eq!(conv["contact"]["user_id"], PSID);
    assert_eq!(conv["contact"]["wa_id"], Value::Null);
    assert_eq!(
        conv["unread_count"], 5,
        "the echo is the page's own: {conv}"
    );
    let msgs = messages(&s.h, &cid).await;
    let kinds: Vec<(&str, &str)> = msgs
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["content"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("inbound", "text"),
            ("inbound", "image"),
            ("inbound", "quick_reply"),
            ("inbound", "postback"),
            ("inbound", "reaction"),
            ("outbound", "text"),
        ]
    );
    assert!(msgs.iter().all(|m| m["channel"] == "messenger"));
    assert_eq!(
        msgs[1]["content"]["image"]["link"],
        "https://scontent.example/shirt.jpg"
    );
    assert_eq!(msgs[2]["content"]["quick_reply"]["payload"], "SHIP_BE");
    assert_eq!(msgs[3]["content"]["postback"]["payload"], "HUMAN");
    assert_eq!(msgs[4]["content"]["reaction"]["message_id"], "m_text1");
    assert_eq!(msgs[5]["status"], "sent");
    // A redelivery changes nothing.
    let again = envelope(
        "page",
        PAGE,
        vec![from(
            PSID,
            PAGE,
            t,
            json!({"message": {"mid": "m_text1", "text": "Do you ship to Ghent?"}}),
        )],
    );
    let r = hook(&s.h, &again).await;
    assert_eq!(r.json::<Value>().await.unwrap()["duplicates"], 1);

    // Instagram: a story reply, then the person edits and unsends messages.
    deliver(
        &s.h,
        envelope(
            "instagram",
            IG,
            vec![
                from(IGSID, IG, t, json!({"message": {"mid": "ig_m1", "text": "Love this one!", "reply_to": {"story": {"url": "https://lookaside.example/story", "id": "1793"}}}})),
                from(IGSID, IG, t + 1, json!({"message": {"mid": "ig_m2", "text": "Is it in M?"}})),
            ],
        ),
    )
    .await;
    deliver(
        &s.h,
        envelope(
            "instagram",
            IG,
            vec![
                from(IGSID, IG, t + 2, json!({"message_edit": {"mid": "ig_m2", "text": "Is it in size M?", "num_edit": 1}})),
                from(IGSID, IG, t + 3, json!({"message": {"mid": "ig_m1", "is_deleted": true}})),
            ],
        ),
    )
    .await;
    let ig = conversation_on(&s.h, "instagram").await;
    let ig_msgs = messages(&s.h, ig["id"].as_str().unwrap()).await;
    assert_eq!(ig_msgs.len(), 2, "{ig_msgs:?}");
    assert_eq!(ig_msgs[0]["content"]["type"], "unsent", "{:?}", ig_msgs[0]);
    assert!(
        !ig_msgs[0].to_string().contains("Love this one"),
        "unsent text is gone"
    );
    assert_eq!(ig_msgs[1]["content"]["text"]["body"], "Is it in size M?");
    assert_eq!(ig_msgs[1]["content"]["edits"], 1);

    // The agent answers on Messenger: the Send API with the page token.
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PAGE}/messages")))
        .and(header("authorization", format!("Bearer {PAGE_TOKEN}").as_str()))
        .and(body_json(json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "Yes, we ship to Belgium."}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"recipient_id": PSID, "message_id": "m_out1"})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let agent = s.h.token("acme", Role::Agent);
    let (st, sent) =
        s.h.post(
            &format!("/v1/conversations/{cid}/messages"),
            &agent,
            &json!({"type": "text", "text": {"body": "Yes, we ship to Belgium."}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{sent}");
    drain(&s.h, QueueName::Outbound).await;
    let m = message(&s.h, &agent, &cid, sent["id"].as_str().unwrap()).await;
    assert_eq!(
        (m["status"].as_str(), m["wamid"].as_str()),
        (Some("sent"), Some("m_out1")),
        "{m}"
    );
    // Delivery by mid, read by watermark.
    deliver(
        &s.h,
        envelope(
            "page",
            PAGE,
            vec![from(
                PSID,
                PAGE,
                t + 10,
                json!({"delivery": {"mids": ["m_out1"], "watermark": t + 10}}),
            )],
        ),
    )
    .await;
    assert_eq!(
        message(&s.h, &agent, &cid, sent["id"].as_str().unwrap()).await["status"],
        "delivered"
    );
    let later = s.clock.now().timestamp_millis() + 60_000;
    deliver(
        &s.h,
        envelope(
            "page",
            PAGE,
            vec![from(
                PSID,
                PAGE,
                later,
                json!({"read": {"watermark": later}}),
            )],
        ),
    )
    .await;
    assert_eq!(
        message(&s.h, &agent, &cid, sent["id"].as_str().unwrap()).await["status"],
        "read"
    );

    // An attachment by URL on Instagram.
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{IG}/messages")))
        .and(header("authorization", format!("Bearer {IG_TOKEN}").as_str()))
        .and(body_json(json!({"recipient": {"id": IGSID}, "messaging_type": "RESPONSE", "message": {"attachment": {"type": "image", "payload": {"url": "https://cdn.example/m.jpg", "is_reusable": true}}}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"recipient_id": IGSID, "message_id": "ig_out1"})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let (st, _) =
        s.h.post(
            &format!("/v1/conversations/{}/messages", ig["id"].as_str().unwrap()),
            &agent,
            &json!({"type": "image", "image": {"link": "https://cdn.example/m.jpg"}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    drain(&s.h, QueueName::Outbound).await;

    // Unknown pages are kept as unroutable, bad signatures and other objects refused.
    deliver(
        &s.h,
        envelope(
            "page",
            "999999999",
            vec![from(
                PSID,
                "999999999",
                t,
                json!({"message": {"mid": "m_x", "text": "hi"}}),
            )],
        ),
    )
    .await;
    let body = serde_json::to_vec(&envelope("page", PAGE, vec![])).unwrap();
    let r =
        s.h.http
            .post(s.h.url("/webhooks/meta-messaging"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
            .body(body)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let wrong = json!({"object": "whatsapp_business_account", "entry": []});
    assert_eq!(hook(&s.h, &wrong).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inboxes_receive_every_event_kind_sqlite() {
    inboxes_receive_every_event_kind(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inboxes_receive_every_event_kind_dynamodb() {
    inboxes_receive_every_event_kind(Backend::Aws).await;
}

/// The person writes to the page; returns their conversation.
async fn person_writes(s: &Setup, mid: &str, text: &str) -> Value {
    let t = s.clock.now().timestamp_millis();
    let message = json!({"message": {"mid": mid, "text": text}});
    deliver(
        &s.h,
        envelope("page", PAGE, vec![from(PSID, PAGE, t, message)]),
    )
    .await;
    conversation_on(&s.h, "messenger").await
}

async fn replies_follow_the_messaging_windows(backend: Backend) {
    let s = setup(backend).await;
    connect_both(&s).await;
    let conv = person_writes(&s, "m_w1", "Hello?").await;
    let cid = conv["id"].as_str().unwrap().to_owned();
    let agent = s.h.token("acme", Role::Agent);
    let send = |text: &'static str| {
        let h = &s.h;
        let cid = cid.clone();
        let agent = agent.clone();
        async move {
            h.post(
                &format!("/v1/conversations/{cid}/messages"),
                &agent,
                &json!({"type": "text", "text": {"body": text}}),
            )
            .await
        }
    };
    // WhatsApp-only types are refused.
    let (st, e) =
        s.h.post(
            &format!("/v1/conversations/{cid}/messages"),
            &agent,
            &json!({"type": "template", "template": {"name": "x", "language": {"code": "en"}}}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("unsupported_on_channel")
        )
    );

    // 23 h 59 min: a standard response.
    s.clock.advance(chrono::Duration::minutes(23 * 60 + 59));
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PAGE}/messages")))
        .and(body_json(json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "within a day"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message_id": "m_r1"})))
        .expect(1)
        .mount(&s.graph)
        .await;
    assert_eq!(send("within a day").await.0, StatusCode::ACCEPTED);
    drain(&s.h, QueueName::Outbound).await;

    // Past 24 h: a person's reply carries the HUMAN_AGENT tag.
    s.clock.advance(chrono::Duration::hours(2));
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PAGE}/messages")))
        .and(body_json(json!({"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT", "message": {"text": "a day later"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message_id": "m_r2"})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let (_, second) = send("a day later").await;
    drain(&s.h, QueueName::Outbound).await;
    assert_eq!(
        message(&s.h, &agent, &cid, second["id"].as_str().unwrap()).await["status"],
        "sent"
    );

    // Meta's own refusal (the person blocked the page) fails the send for good.
    s.graph.reset().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PAGE}/messages")))
        .respond_with(graph_error(551, 400))
        .expect(1)
        .mount(&s.graph)
        .await;
    let (_, third) = send("are you there?").await;
    drain(&s.h, QueueName::Outbound).await;
    assert_eq!(
        message(&s.h, &agent, &cid, third["id"].as_str().unwrap()).await["status"],
        "failed"
    );

    // Past 7 days: nothing may be sent.
    s.clock.advance(chrono::Duration::days(7));
    let (st, e) = send("too late").await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("outside_messaging_window")
        ),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_follow_the_messaging_windows_sqlite() {
    replies_follow_the_messaging_windows(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_follow_the_messaging_windows_dynamodb() {
    replies_follow_the_messaging_windows(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_validates_and_keeps_one_account_per_org() {
    let s = setup(Backend::Local).await;
    let admin = s.h.token("acme", Role::Admin);
    for (path_, body, field) in [
        (
            "/v1/integrations/messenger/connect",
            json!({"access_token": PAGE_TOKEN}),
            "page_id",
        ),
        (
            "/v1/integrations/messenger/connect",
            json!({"page_id": "abc", "access_token": PAGE_TOKEN}),
            "page_id",
        ),
        (
            "/v1/integrations/messenger/connect",
            json!({"page_id": PAGE}),
            "access_token",
        ),
        (
            "/v1/integrations/instagram/connect",
            json!({"page_id": PAGE, "access_token": IG_TOKEN}),
            "page_id",
        ),
    ] {
        let (st, e) = s.h.post(path_, &admin, &body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    // Graph refuses the token: 422 naming it; nothing connected.
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PAGE}")))
        .respond_with(graph_error(190, 401))
        .up_to_n_times(1)
        .mount(&s.graph)
        .await;
    let (st, e) =
        s.h.post(
            "/v1/integrations/messenger/connect",
            &admin,
            &json!({"page_id": PAGE, "access_token": "EAAG-bad"}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("access_token"))
    );
    connect_both(&s).await;
    let other = s.h.token("other", Role::Admin);
    let (st, _) =
        s.h.post(
            "/v1/integrations/messenger/connect",
            &other,
            &json!({"page_id": PAGE, "access_token": PAGE_TOKEN}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let agent = s.h.token("acme", Role::Agent);
    let (st, _) =
        s.h.post(
            "/v1/integrations/instagram/connect",
            &agent,
            &json!({"instagram_account_id": IG, "access_token": IG_TOKEN}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Verification uses the WhatsApp verify token.
    let r =
        s.h.http
            .get(s.h.url(&format!(
                "/webhooks/meta-messaging?hub.mode=subscribe&hub.verify_token={}&hub.challenge=77",
                fixtures::TEST_VERIFY_TOKEN
            )))
            .send()
            .await
            .unwrap();
    assert_eq!(
        (r.status(), r.text().await.unwrap()),
        (StatusCode::OK, "77".to_owned())
    );
}

async fn a_messenger_contact_is_exported_and_erased(backend: Backend) {
    let s = setup(backend).await;
    connect_both(&s).await;
    let conv = person_writes(&s, "m_gdpr1", "My address is Veldstraat 12").await;
    let contact = conv["contact"]["id"].as_str().unwrap().to_owned();
    let admin = s.h.token("acme", Role::Admin);
    let (st, doc) =
        s.h.get(&format!("/v1/contacts/{contact}/export"), &admin)
            .await;
    assert_eq!(st, StatusCode::OK, "{doc}");
    assert!(doc.to_string().contains("Veldstraat 12"), "{doc}");
    assert_eq!(doc["contact"]["channel"], "messenger", "{doc}");
    let (st, _) = s.h.delete(&format!("/v1/contacts/{contact}"), &admin).await;
    assert!(
        st == StatusCode::NO_CONTENT || st == StatusCode::ACCEPTED,
        "{st}"
    );
    let (st, _) =
        s.h.get(&format!("/v1/contacts/{contact}/export"), &admin)
            .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, msgs) =
        s.h.get(
            &format!(
                "/v1/conversations/{}/messages",
                conv["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert!(!msgs.to_string().contains("Veldstraat"), "{msgs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messenger_contact_is_exported_and_erased_sqlite() {
    a_messenger_contact_is_exported_and_erased(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messenger_contact_is_exported_and_erased_dynamodb() {
    a_messenger_contact_is_exported_and_erased(Backend::Aws).await;
}
