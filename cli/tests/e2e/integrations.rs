//! Connected accounts: connect (validated with a faked Graph), list, 409 on a number
//! already connected, roles, tenancy, disconnect and unroutable events.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_core::ids::Role;
use switchboard_core::model::{Account, Provider};
use switchboard_core::usecases::events;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID, WABA_ID};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Harness, Options};

fn connect_body(pnid: &str, token: &str) -> serde_json::Value {
    json!({"phone_number_id": pnid, "waba_id": WABA_ID, "access_token": token})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_list_conflict_and_token_never_returned() {
    let h = Harness::start().await;
    let admin = h.token("acme", Role::Admin);
    let (status, account) = h
        .post("/v1/integrations/whatsapp/connect", &admin, &json!({"phone_number_id": PHONE_NUMBER_ID, "waba_id": WABA_ID, "access_token": "EAAG-super-secret", "display_phone_number": "+1 555-078-3881"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["display_phone_number"], "+1 555-078-3881");
    assert_eq!(account["status"], "active");
    assert!(!account.to_string().contains("EAAG-super-secret"));

    let (status, list) = h
        .get("/v1/integrations", &h.token("acme", Role::Viewer))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("EAAG-super-secret"));

    // The token is stored encrypted, not in clear.
    let id = switchboard_core::ids::AccountId::parse(account["id"].as_str().unwrap()).unwrap();
    let (pk, sk) = Account::key_of(&switchboard_core::ids::OrgId::parse("acme").unwrap(), &id);
    let stored = h.app.services().store.get(&pk, &sk).await.unwrap().unwrap();
    assert!(!stored.data.to_string().contains("EAAG-super-secret"));
    let record: Account = stored.decode().unwrap();
    let token = switchboard_core::usecases::integrations::access_token(h.app.services(), &record)
        .await
        .unwrap();
    assert_eq!(token.expose(), "EAAG-super-secret");

    // Same number again, from this org or another: 409.
    let (status, err) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &admin,
            &connect_body(PHONE_NUMBER_ID, "EAAG-2"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"]["code"], "already_connected");
    let (status, _) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &h.token("other", Role::Owner),
            &connect_body(PHONE_NUMBER_ID, "EAAG-3"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_tenancy() {
    let h = Harness::start().await;
    let (status, err) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &h.token("acme", Role::Agent),
            &connect_body(PHONE_NUMBER_ID, "t"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["error"]["code"], "forbidden");
    let (status, _) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &h.token("acme", Role::Viewer),
            &connect_body(PHONE_NUMBER_ID, "t"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let account = h.connect("acme", PHONE_NUMBER_ID).await;
    let id = account["id"].as_str().unwrap();
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.t1",
        1_750_000_000,
        "hi",
    )]);
    h.webhook(&body).await;
    let acme = h.token("acme", Role::Viewer);
    let list = h.wait_for_items("/v1/conversations", &acme, 1).await;
    let conv = list["items"][0]["id"].as_str().unwrap();
    let contact = list["items"][0]["contact"]["id"].as_str().unwrap();

    // Another org sees nothing and gets 404 for every id, exactly like a missing one.
    let other = h.token("other", Role::Owner);
    for path in [
        format!("/v1/conversations/{conv}"),
        format!("/v1/conversations/{conv}/messages"),
        format!("/v1/contacts/{contact}"),
    ] {
        let (status, err) = h.get(&path, &other).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(err["error"]["code"], "not_found");
    }
    let zeros = "0".repeat(32);
    for path in [
        format!("/v1/conversations/cv_{zeros}"),
        format!("/v1/conversations/cv_{zeros}/messages"),
        format!("/v1/contacts/ct_{zeros}"),
    ] {
        let (status, _) = h.get(&path, &acme).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    for path in ["/v1/conversations", "/v1/contacts", "/v1/integrations"] {
        let (status, page) = h.get(path, &other).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["items"], json!([]), "{path}");
    }
    let (status, _) = h.delete(&format!("/v1/integrations/{id}"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .delete(
            &format!("/v1/integrations/{id}"),
            &h.token("acme", Role::Agent),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h
        .delete("/v1/integrations/not-an-id", &h.token("acme", Role::Admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_keeps_later_webhooks_as_unroutable_and_redrive_delivers_them() {
    let h = Harness::start().await;
    let account = h.connect("acme", PHONE_NUMBER_ID).await;
    let admin = h.token("acme", Role::Admin);
    let (status, _) = h
        .delete(
            &format!("/v1/integrations/{}", account["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = h.get("/v1/integrations", &admin).await;
    assert_eq!(list["items"], json!([]));

    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.orphan",
        1_750_000_000,
        "anyone there?",
    )]);
    assert_eq!(
        h.webhook(&body).await.status(),
        StatusCode::OK,
        "acknowledged, not dropped"
    );
    let svc = h.app.services().clone();
    let kept = h
        .eventually("an unroutable event", || {
            let svc = svc.clone();
            async move {
                let list = events::unroutable(&svc, Provider::Whatsapp, 10)
                    .await
                    .ok()?;
                (!list.is_empty()).then_some(list)
            }
        })
        .await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].phone_number_id.as_deref(), Some(PHONE_NUMBER_ID));

    // Reconnect (to another org, say) and redrive: the message lands there, once.
    h.connect("beta", PHONE_NUMBER_ID).await;
    assert_eq!(
        events::redrive_unroutable(&svc, Provider::Whatsapp, 10)
            .await
            .unwrap(),
        1
    );
    let beta = h.token("beta", Role::Viewer);
    let list = h.wait_for_items("/v1/conversations", &beta, 1).await;
    assert_eq!(list["items"][0]["last_message"]["preview"], "anyone there?");
    assert!(
        events::unroutable(&svc, Provider::Whatsapp, 10)
            .await
            .unwrap()
            .is_empty()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_validates_the_token_with_graph() {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}")))
        .and(query_param("fields", "display_phone_number,verified_name"))
        .and(header("authorization", "Bearer EAAG-good"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"display_phone_number": "+1 555-078-3881", "verified_name": "Acme Shoes", "id": PHONE_NUMBER_ID})))
        .expect(1)
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer EAAG-expired"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190, "error_subcode": 463}})))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v23.0/999999999"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "Unsupported get request.", "type": "GraphMethodException", "code": 100, "error_subcode": 33}})))
        .mount(&graph)
        .await;
    let h = Harness::with(Options {
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);

    let (status, err) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &admin,
            &connect_body(PHONE_NUMBER_ID, "EAAG-expired"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["field"], "access_token");
    assert!(!err.to_string().contains("EAAG-expired"));
    let (status, err) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &admin,
            &connect_body("999999999", "EAAG-good"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["field"], "phone_number_id");

    let (status, account) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &admin,
            &connect_body(PHONE_NUMBER_ID, "EAAG-good"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["display_phone_number"], "+1 555-078-3881");
    assert_eq!(account["verified_name"], "Acme Shoes");
    drop(graph);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_unreachable_is_a_502_not_a_500() {
    let h = Harness::with(Options {
        graph_url: Some("http://127.0.0.1:9/v23.0".into()),
        ..Options::default()
    })
    .await;
    let (status, err) = h
        .post(
            "/v1/integrations/whatsapp/connect",
            &h.token("acme", Role::Admin),
            &connect_body(PHONE_NUMBER_ID, "EAAG"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{err}");
    assert_eq!(err["error"]["code"], "whatsapp_unavailable");
    let (_, list) = h
        .get("/v1/integrations", &h.token("acme", Role::Admin))
        .await;
    assert_eq!(list["items"], json!([]), "nothing partially written");
    h.stop().await;
}

async fn admins_set_throughput_and_tier(backend: crate::support::Backend) {
    let h = Harness::with(Options {
        backend,
        workers: false,
        ..Options::default()
    })
    .await;
    let account = h.connect("acme", PHONE_NUMBER_ID).await;
    let id = account["id"].as_str().unwrap();
    let admin = h.token("acme", Role::Admin);
    let patch = |token: String, body: serde_json::Value| {
        let h = &h;
        let path = format!("/v1/integrations/{id}");
        async move {
            let r = h
                .http
                .patch(h.url(&path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = r.status();
            (st, r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let (st, a) = patch(
        admin.clone(),
        json!({"messages_per_second": 250, "messaging_limit_tier": "TIER_10K"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(
        (
            a["messages_per_second"].as_u64(),
            a["health"]["messaging_limit_tier"].as_str(),
            a["health"]["daily_unique_limit"].as_u64()
        ),
        (Some(250), Some("TIER_10K"), Some(10_000))
    );
    let (_, list) = h.get("/v1/integrations", &admin).await;
    assert_eq!(list["items"][0]["messages_per_second"], 250, "stored");
    // Back to the default; the tier stays.
    let (_, a) = patch(admin.clone(), json!({"messages_per_second": null})).await;
    assert_eq!(
        (
            &a["messages_per_second"],
            a["health"]["messaging_limit_tier"].as_str()
        ),
        (&serde_json::Value::Null, Some("TIER_10K"))
    );
    for (body, field) in [
        (json!({"messages_per_second": 0}), "messages_per_second"),
        (json!({"messages_per_second": 1001}), "messages_per_second"),
        (
            json!({"messaging_limit_tier": "TIER_5"}),
            "messaging_limit_tier",
        ),
        (json!({"status": "active"}), "status"),
    ] {
        let (st, e) = patch(admin.clone(), body.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    let (st, _) = patch(
        h.token("acme", Role::Agent),
        json!({"messages_per_second": 10}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = patch(
        h.token("other", Role::Admin),
        json!({"messages_per_second": 10}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_set_throughput_and_tier_sqlite() {
    admins_set_throughput_and_tier(crate::support::Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_set_throughput_and_tier_dynamodb() {
    admins_set_throughput_and_tier(crate::support::Backend::Aws).await;
}
