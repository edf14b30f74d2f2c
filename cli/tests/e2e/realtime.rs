//! The realtime inbox: a WebSocket client on the dev server's `GET /v1/realtime` receives
//! an org's platform events (message.received within a second of the webhook), in either
//! auth form, with a user token or an API key; and the use case on both backends —
//! connection records expire with their two hours, gone connections are dropped, and an
//! org's events never reach another org's connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeZone;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::FixedClock;
use switchboard_core::ids::{OrgId, Role};
use switchboard_core::realtime::{PushOutcome, RealtimePush};
use switchboard_core::services::Services;
use switchboard_core::usecases::platform_events::{self, EventMessage, EventType};
use switchboard_core::usecases::realtime;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::support::{Backend, Harness, Options};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_url(h: &Harness, query: &str) -> String {
    format!(
        "{}/v1/realtime{query}",
        h.base.replacen("http://", "ws://", 1)
    )
}

/// Connects with `?token=`.
async fn connect_query(h: &Harness, token: &str) -> Socket {
    let (socket, resp) = tokio_tungstenite::connect_async(ws_url(h, &format!("?token={token}")))
        .await
        .expect("connects");
    assert_eq!(resp.status().as_u16(), 101);
    socket
}

/// The HTTP status a refused handshake got.
async fn refused(request: tokio_tungstenite::tungstenite::handshake::client::Request) -> u16 {
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("refused otherwise: {e}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

/// Waits until the org has `n` recorded connections (the record is written right after
/// the upgrade).
async fn wait_for_connections(h: &Harness, org: &str, n: usize) {
    let org = OrgId::parse(org).unwrap();
    h.eventually("the connection records", || async {
        let conns = realtime::connections(h.app.services(), &org).await.unwrap();
        (conns.len() == n).then_some(())
    })
    .await;
}

/// The next text frame, as JSON, within `within`.
async fn next_event(socket: &mut Socket, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("an event in time")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_receives_message_received_within_a_second_of_the_webhook() {
    let h = Harness::start().await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let token = h.token("acme", Role::Viewer);
    let mut socket = connect_query(&h, &token).await;
    // Another org's inbox is open too, and must hear nothing of acme.
    let mut other = connect_query(&h, &h.token("globex", Role::Admin)).await;
    wait_for_connections(&h, "acme", 1).await;
    wait_for_connections(&h, "globex", 1).await;

    let wamid = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgB=";
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "Sheena Nelson",
        wamid,
        chrono::Utc::now().timestamp() - 5,
        "Is the blue shirt in stock?",
    )]);
    let resp = h.webhook(&body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let event = next_event(&mut socket, Duration::from_secs(1)).await;
    assert_eq!(event["type"], "message.received", "{event}");
    assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{event}");
    assert!(event["timestamp"].is_string(), "{event}");
    // The message it names is the webhook's.
    let message_id = event["data"]["message_id"].as_str().unwrap();
    let conversation_id = event["data"]["conversation_id"].as_str().unwrap();
    let (status, msgs) = h
        .get(
            &format!("/v1/conversations/{conversation_id}/messages"),
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{msgs}");
    assert_eq!(msgs["items"][0]["id"], message_id);
    assert_eq!(msgs["items"][0]["wamid"], wamid);
    // No message text or phone number rides on the event.
    let text = event.to_string();
    assert!(
        !text.contains("blue shirt") && !text.contains("16505551234"),
        "{text}"
    );

    // globex heard nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other.next())
            .await
            .is_err(),
        "another org's connection received acme's event"
    );

    // Closing the socket forgets the connection.
    socket.close(None).await.unwrap();
    wait_for_connections(&h, "acme", 0).await;
    other.close(None).await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_a_bad_one_is_refused_before_the_upgrade() {
    let h = Harness::start().await;
    assert_eq!(
        refused(ws_url(&h, "").into_client_request().unwrap()).await,
        401
    );
    assert_eq!(
        refused(
            ws_url(&h, "?token=not-a-token")
                .into_client_request()
                .unwrap()
        )
        .await,
        401
    );
    assert_eq!(
        refused(
            ws_url(&h, "?token=sk_live_0000")
                .into_client_request()
                .unwrap()
        )
        .await,
        401
    );
    // A bad token in the subprotocol form, too.
    let mut req = ws_url(&h, "").into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("switchboard.v1, eyJhbGciOiJub25lIn0.e30."),
    );
    assert_eq!(refused(req).await, 401);
    // A plain GET with a good token is not a WebSocket: refused without a 500.
    let r = h
        .http
        .get(h.url("/v1/realtime"))
        .bearer_auth(h.token("acme", Role::Viewer))
        .query(&[("token", h.token("acme", Role::Viewer))])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subprotocol_form_and_an_api_key_work() {
    let h = Harness::start().await;
    let admin = h.token("acme", Role::Admin);
    let (status, made) = h
        .post(
            "/v1/api-keys",
            &admin,
            &json!({"name": "wallboard", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();

    // The subprotocol form with a user token: the server selects switchboard.v1 and
    // never echoes the token.
    let token = h.token("acme", Role::Agent);
    let mut req = ws_url(&h, "").into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("switchboard.v1, {token}")).unwrap(),
    );
    let (mut by_protocol, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap()),
        Some("switchboard.v1")
    );
    // An API key in the query.
    let mut by_key = connect_query(&h, &key).await;
    // An API key in the subprotocol list.
    let mut req = ws_url(&h, "").into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("switchboard.v1, {key}")).unwrap(),
    );
    let (mut key_by_protocol, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    wait_for_connections(&h, "acme", 3).await;
    let conns = realtime::connections(h.app.services(), &OrgId::parse("acme").unwrap())
        .await
        .unwrap();
    let key_id = made["id"].as_str().unwrap();
    assert_eq!(
        conns
            .iter()
            .filter(|c| c.who.as_deref() == Some(&format!("key:{key_id}")))
            .count(),
        2,
        "{conns:?}"
    );

    // All three get an event published directly.
    let org = OrgId::parse("acme").unwrap();
    let published = platform_events::publish(
        h.app.services(),
        &org,
        EventType::ConversationUpdated,
        &["c_1", "1"],
        json!({"conversation_id": "c_1", "status": "closed"}),
    )
    .await
    .unwrap();
    for socket in [&mut by_protocol, &mut by_key, &mut key_by_protocol] {
        let event = next_event(socket, Duration::from_secs(2)).await;
        assert_eq!(event["id"], published.id.as_str());
        assert_eq!(event["type"], "conversation.updated");
        assert_eq!(event["data"]["status"], "closed");
    }
    // The socket accepts (and ignores) what the client sends.
    by_key.send(Message::Text("hello".into())).await.unwrap();
    for s in [by_protocol, by_key, key_by_protocol] {
        let mut s = s;
        s.close(None).await.unwrap();
    }
    wait_for_connections(&h, "acme", 0).await;
    h.stop().await;
}

// ------------------------------------------------------------------ the use case

/// Records pushes; answers Gone for the ids it is told, Failed for others it is told.
#[derive(Debug, Default)]
struct FakePush {
    pushed: Mutex<Vec<(String, String)>>,
    answers: Mutex<HashMap<String, PushOutcome>>,
}

#[async_trait]
impl RealtimePush for FakePush {
    async fn push(&self, connection_id: &str, payload: &str) -> PushOutcome {
        self.pushed
            .lock()
            .unwrap()
            .push((connection_id.to_owned(), payload.to_owned()));
        self.answers
            .lock()
            .unwrap()
            .get(connection_id)
            .cloned()
            .unwrap_or(PushOutcome::Delivered)
    }
}

fn message(org: &OrgId, n: u32) -> String {
    serde_json::to_string(&EventMessage {
        org_id: org.clone(),
        event: platform_events::PlatformEvent {
            id: platform_events::event_id(org, &["test", &n.to_string()]),
            kind: EventType::MessageReceived,
            timestamp: chrono::Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap(),
            data: json!({"message_id": format!("m_{n}")}),
        },
    })
    .unwrap()
}

async fn connections_expire_gone_ones_drop_and_orgs_stay_apart(backend: Backend) {
    let clock = Arc::new(FixedClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap(),
    ));
    let h = Harness::with(Options {
        backend,
        serve: false,
        workers: false,
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let fake = Arc::new(FakePush::default());
    let svc = Services {
        realtime: fake.clone(),
        ..h.app.services().clone()
    };
    let acme = OrgId::parse("acme").unwrap();
    let globex = OrgId::parse("globex").unwrap();
    realtime::connect(&svc, &acme, "A1aaaaaaaaaaaa1=", Some("ana"), Role::Agent)
        .await
        .unwrap();
    realtime::connect(
        &svc,
        &acme,
        "A2aaaaaaaaaaaa2=",
        Some("key:k1"),
        Role::Viewer,
    )
    .await
    .unwrap();
    realtime::connect(&svc, &globex, "G1gggggggggggg1=", Some("gus"), Role::Admin)
        .await
        .unwrap();
    // A bad connection id is a validation error, not a record.
    assert!(
        realtime::connect(&svc, &acme, "no spaces", None, Role::Viewer)
            .await
            .is_err()
    );

    // acme's event reaches acme's two connections and never globex's.
    let d = realtime::deliver(&svc, &message(&acme, 1)).await.unwrap();
    assert_eq!((d.delivered, d.gone, d.failed), (2, 0, 0));
    let pushed: Vec<String> = fake.pushed.lock().unwrap().drain(..).map(|p| p.0).collect();
    assert!(
        !pushed.contains(&"G1gggggggggggg1=".to_owned()),
        "{pushed:?}"
    );
    assert_eq!(pushed.len(), 2);

    // The frame is the webhook envelope {id, type, timestamp, data}.
    realtime::deliver(&svc, &message(&globex, 2)).await.unwrap();
    let (to, payload) = fake.pushed.lock().unwrap().pop().unwrap();
    assert_eq!(to, "G1gggggggggggg1=");
    let frame: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        frame,
        json!({"id": platform_events::event_id(&globex, &["test", "2"]), "type": "message.received", "timestamp": "2026-06-01T12:00:00.000Z", "data": {"message_id": "m_2"}})
    );

    // A gone connection is dropped; a failing one is skipped, kept, and not a failure.
    fake.answers
        .lock()
        .unwrap()
        .insert("A1aaaaaaaaaaaa1=".into(), PushOutcome::Gone);
    fake.answers.lock().unwrap().insert(
        "A2aaaaaaaaaaaa2=".into(),
        PushOutcome::Failed("http_500".into()),
    );
    let d = realtime::deliver(&svc, &message(&acme, 3)).await.unwrap();
    assert_eq!((d.delivered, d.gone, d.failed), (0, 1, 1));
    let left: Vec<String> = realtime::connections(&svc, &acme)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.connection_id)
        .collect();
    assert_eq!(left, ["A2aaaaaaaaaaaa2="]);
    // Its look-up went with it: a late $disconnect finds nothing.
    assert_eq!(
        realtime::disconnect(&svc, "A1aaaaaaaaaaaa1=")
            .await
            .unwrap(),
        None
    );
    fake.answers.lock().unwrap().clear();

    // $disconnect knows only the id.
    assert_eq!(
        realtime::disconnect(&svc, "G1gggggggggggg1=")
            .await
            .unwrap(),
        Some(globex.clone())
    );
    assert!(
        realtime::connections(&svc, &globex)
            .await
            .unwrap()
            .is_empty()
    );

    // Two hours after connecting, a connection is gone whether or not $disconnect came.
    clock.advance(chrono::Duration::seconds(
        realtime::CONNECTION_TTL_SECS - 60,
    ));
    assert_eq!(realtime::connections(&svc, &acme).await.unwrap().len(), 1);
    clock.advance(chrono::Duration::seconds(61));
    assert!(realtime::connections(&svc, &acme).await.unwrap().is_empty());
    fake.pushed.lock().unwrap().clear();
    let d = realtime::deliver(&svc, &message(&acme, 4)).await.unwrap();
    assert_eq!((d.delivered, d.gone, d.failed), (0, 0, 0));
    assert!(fake.pushed.lock().unwrap().is_empty());
    assert_eq!(
        realtime::disconnect(&svc, "A2aaaaaaaaaaaa2=")
            .await
            .unwrap(),
        None,
        "the look-up expired with it"
    );

    // Not an event: an error the queue does not retry.
    let e = realtime::deliver(&svc, "{}").await.unwrap_err();
    assert!(!e.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_expire_gone_ones_drop_and_orgs_stay_apart_sqlite() {
    connections_expire_gone_ones_drop_and_orgs_stay_apart(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_expire_gone_ones_drop_and_orgs_stay_apart_dynamodb() {
    connections_expire_gone_ones_drop_and_orgs_stay_apart(Backend::Aws).await;
}

/// `ws-connect` and `ws-disconnect` take API Gateway's WebSocket events; a refused
/// `$connect` is a 401, an accepted one in the subprotocol form selects `switchboard.v1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_handlers_connect_refuse_and_disconnect() {
    use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
    let h = Harness::with(Options {
        serve: false,
        workers: false,
        ..Options::default()
    })
    .await;
    let event = |route: &str, headers: Value, query: Value| -> ApiGatewayWebsocketProxyRequest {
        serde_json::from_value(json!({
            "headers": headers,
            "queryStringParameters": query,
            "requestContext": {
                "routeKey": route,
                "eventType": if route == "$connect" { "CONNECT" } else { "DISCONNECT" },
                "connectionId": "L0SM9cOFvHcCIhw=",
                "connectedAt": 1_795_514_400_000_i64,
                "requestTimeEpoch": 1_795_514_400_000_i64,
                "stage": "prod",
                "apiId": "abc123",
                "requestId": "req-1"
            },
            "isBase64Encoded": false
        }))
        .unwrap()
    };
    let refused = ws_connect::handle(
        &h.app,
        event("$connect", json!({}), json!({"token": "nope"})),
    )
    .await;
    assert_eq!(refused.status_code, 401);
    let refused = ws_connect::handle(&h.app, event("$connect", json!({}), json!({}))).await;
    assert_eq!(refused.status_code, 401);
    let token = h.token("acme", Role::Viewer);
    let ok = ws_connect::handle(
        &h.app,
        event(
            "$connect",
            json!({"Sec-WebSocket-Protocol": format!("switchboard.v1, {token}")}),
            json!({}),
        ),
    )
    .await;
    assert_eq!(ok.status_code, 200);
    assert_eq!(
        ok.headers
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap()),
        Some("switchboard.v1")
    );
    let acme = OrgId::parse("acme").unwrap();
    assert_eq!(
        realtime::connections(h.app.services(), &acme)
            .await
            .unwrap()
            .len(),
        1
    );
    let gone = ws_disconnect::handle(&h.app, event("$disconnect", json!({}), json!({}))).await;
    assert_eq!(gone.status_code, 200);
    assert!(
        realtime::connections(h.app.services(), &acme)
            .await
            .unwrap()
            .is_empty()
    );
}
