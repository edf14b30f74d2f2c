//! Marketing opt-out in the customer's words: STOP and START messages (the org's own
//! keywords once it sets them), Meta's `user_preferences` / `user_marketing_preferences`
//! webhooks and `user_preference_changed` system messages; idempotent on redelivery and
//! never undone by an older instruction arriving late. And the keyword settings route.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::{ContactId, OrgId, Role, WaId};
use switchboard_core::queue::QueueName;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};

use crate::contacts::call;
use crate::support::{Backend, Harness, Options};

const CUSTOMER: &str = "16505551234";
const T0: i64 = 1_790_000_000;

fn contact_path(org: &str, wa: &str) -> String {
    let id = ContactId::for_wa_id(&OrgId::parse(org).unwrap(), &WaId::parse(wa).unwrap());
    format!("/v1/contacts/{id}")
}

async fn text(h: &Harness, wamid: &str, at: i64, body: &str) {
    let delivery = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "Sheena",
        wamid,
        at,
        body,
    )]);
    assert_eq!(h.webhook(&delivery).await.status(), StatusCode::OK);
    h.drain(QueueName::Inbound).await;
}

fn preference_change(field: &str, wa: &str, value: &str, at: i64) -> Value {
    let mut v = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": wa}],
    });
    let entries = if field == "user_marketing_preferences" {
        "user_marketing_preferences"
    } else {
        "user_preferences"
    };
    v[entries] = json!([{
        "wa_id": wa,
        "detail": format!("User requested to {value} marketing messages"),
        "category": "marketing_messages",
        "value": value,
        "timestamp": at,
    }]);
    json!({"field": field, "value": v})
}

async fn deliver(h: &Harness, change: Value) {
    let delivery = fixtures::delivery(vec![change]);
    assert_eq!(h.webhook(&delivery).await.status(), StatusCode::OK);
    h.drain(QueueName::Inbound).await;
}

async fn harness(backend: Backend) -> Harness {
    let h = Harness::with(Options {
        backend,
        workers: false,
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    h
}

async fn opted_out(h: &Harness, path: &str) -> (bool, Value) {
    let (st, c) = h.get(path, &h.token("acme", Role::Viewer)).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    (c["opted_out"].as_bool().unwrap(), c)
}

async fn keywords(backend: Backend) {
    let h = harness(backend).await;
    let path = contact_path("acme", CUSTOMER);
    let viewer = h.token("acme", Role::Viewer);

    text(&h, "wamid.k1", T0, "Hello, is the shop open?").await;
    assert!(!opted_out(&h, &path).await.0);
    text(&h, "wamid.k2", T0 + 10, "  stop \n").await;
    let (out, c) = opted_out(&h, &path).await;
    assert!(out, "{c}");
    assert_eq!(c["opt_out_source"], "keyword");
    assert_eq!(c["opt_out_updated_at"], "2026-09-21T14:13:30.000Z");
    let (_, list) = h.get("/v1/contacts?opted_out=true", &viewer).await;
    assert_eq!(list["items"][0]["id"], c["id"], "{list}");
    // The STOP message is an ordinary message too.
    let (_, convs) = h.get("/v1/conversations", &viewer).await;
    assert_eq!(convs["items"][0]["last_message"]["preview"], "  stop \n");

    // A redelivery changes nothing: same version.
    let version = c["version"].clone();
    let again = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "Sheena",
        "wamid.k2",
        T0 + 10,
        "  stop \n",
    )]);
    assert_eq!(h.webhook(&again).await.status(), StatusCode::OK);
    h.drain(QueueName::Inbound).await;
    assert_eq!(opted_out(&h, &path).await.1["version"], version);

    // A sentence with the word in it is a conversation, not an instruction.
    text(&h, "wamid.k3", T0 + 20, "stop sending me the blue one").await;
    assert!(opted_out(&h, &path).await.0);
    text(&h, "wamid.k4", T0 + 30, "Start").await;
    let (out, c) = opted_out(&h, &path).await;
    assert!(!out, "{c}");
    // An older STOP arriving after the newer START does not undo it.
    text(&h, "wamid.k5", T0 + 25, "STOP").await;
    assert!(!opted_out(&h, &path).await.0);

    // The org's own keywords replace the defaults.
    let admin = h.token("acme", Role::Admin);
    let (st, _, s) = call(
        &h,
        reqwest::Method::PUT,
        "/v1/settings/opt-out",
        &admin,
        &[],
        Some(&json!({"opt_out_keywords": ["parar", "No more  messages"], "opt_in_keywords": ["VOLVER"]})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{s}");
    assert_eq!(s["opt_out_keywords"], json!(["PARAR", "NO MORE MESSAGES"]));
    text(&h, "wamid.k6", T0 + 40, "STOP").await;
    assert!(
        !opted_out(&h, &path).await.0,
        "STOP is no longer a keyword here"
    );
    text(&h, "wamid.k7", T0 + 50, "no more messages").await;
    assert!(opted_out(&h, &path).await.0);
    text(&h, "wamid.k8", T0 + 60, "volver").await;
    assert!(!opted_out(&h, &path).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_start_messages_set_and_clear_the_opt_out_sqlite() {
    keywords(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_start_messages_set_and_clear_the_opt_out_dynamodb() {
    keywords(Backend::Aws).await;
}

async fn preferences(backend: Backend) {
    let h = harness(backend).await;
    let path = contact_path("acme", CUSTOMER);
    let viewer = h.token("acme", Role::Viewer);
    text(&h, "wamid.p1", T0, "Hi").await;

    deliver(
        &h,
        preference_change("user_preferences", CUSTOMER, "stop", T0 + 10),
    )
    .await;
    let (out, c) = opted_out(&h, &path).await;
    assert!(out, "{c}");
    assert_eq!(c["opt_out_source"], "whatsapp_preference");
    // Redelivered: nothing changes.
    let version = c["version"].clone();
    deliver(
        &h,
        preference_change("user_preferences", CUSTOMER, "stop", T0 + 10),
    )
    .await;
    assert_eq!(opted_out(&h, &path).await.1["version"], version);
    // The other field name Meta uses, and the other way.
    deliver(
        &h,
        preference_change("user_marketing_preferences", CUSTOMER, "resume", T0 + 20),
    )
    .await;
    assert!(!opted_out(&h, &path).await.0);
    // The same preference as a system message in the conversation.
    let system = fixtures::message_change(
        PHONE_NUMBER_ID,
        CUSTOMER,
        "wamid.p2",
        T0 + 30,
        "system",
        json!({"body": "User requested to stop marketing messages", "marketing": "stop", "type": "user_preference_changed"}),
    );
    deliver(&h, system).await;
    assert!(opted_out(&h, &path).await.0);

    // A customer never seen: remembered as opted out; a resume of one creates nothing.
    let stranger = "447700900123";
    deliver(
        &h,
        preference_change("user_preferences", stranger, "stop", T0),
    )
    .await;
    let (st, c) = h.get(&contact_path("acme", stranger), &viewer).await;
    assert_eq!(
        (st, c["opted_out"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{c}"
    );
    let newcomer = "447700900124";
    deliver(
        &h,
        preference_change("user_preferences", newcomer, "resume", T0),
    )
    .await;
    let (st, _) = h.get(&contact_path("acme", newcomer), &viewer).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = h.get("/v1/contacts?opted_out=true", &viewer).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");

    // Another org never sees them; a number no org owns changes nothing.
    let (_, theirs) = h
        .get(
            "/v1/contacts?opted_out=true",
            &h.token("other", Role::Viewer),
        )
        .await;
    assert!(theirs["items"].as_array().unwrap().is_empty());
    let mut unowned = preference_change("user_preferences", "447700900125", "stop", T0);
    unowned["value"]["metadata"]["phone_number_id"] = json!("999999999999999");
    deliver(&h, unowned).await;
    let (st, _) = h.get(&contact_path("acme", "447700900125"), &viewer).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_preference_webhooks_set_and_clear_the_opt_out_sqlite() {
    preferences(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_preference_webhooks_set_and_clear_the_opt_out_dynamodb() {
    preferences(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_out_settings_are_admin_only_validated_and_per_org() {
    let h = Harness::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    for role in [Role::Viewer, Role::Agent] {
        let (st, _) = h.get("/v1/settings/opt-out", &h.token("acme", role)).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{role}");
        let (st, _, _) = call(
            &h,
            reqwest::Method::PUT,
            "/v1/settings/opt-out",
            &h.token("acme", role),
            &[],
            Some(&json!({"opt_out_keywords": [], "opt_in_keywords": []})),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{role}");
    }
    let (st, s) = h.get("/v1/settings/opt-out", &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        s,
        json!({"opt_out_keywords": ["STOP", "UNSUBSCRIBE", "STOPP", "AFMELDEN"], "opt_in_keywords": ["START"],
               "default": true, "updated_at": null, "updated_by": null})
    );
    let long = "x".repeat(33);
    let many: Vec<String> = (0..21).map(|i| format!("K{i}")).collect();
    for (body, want) in [
        (
            json!({"opt_out_keywords": ["STOP"]}),
            ("opt_in_keywords", "missing_field"),
        ),
        (
            json!({"opt_in_keywords": ["START"]}),
            ("opt_out_keywords", "missing_field"),
        ),
        (
            json!({"opt_out_keywords": "STOP", "opt_in_keywords": []}),
            ("opt_out_keywords", "invalid_keywords"),
        ),
        (
            json!({"opt_out_keywords": [long], "opt_in_keywords": []}),
            ("opt_out_keywords", "invalid_keyword"),
        ),
        (
            json!({"opt_out_keywords": ["  "], "opt_in_keywords": []}),
            ("opt_out_keywords", "invalid_keyword"),
        ),
        (
            json!({"opt_out_keywords": [7], "opt_in_keywords": []}),
            ("opt_out_keywords", "invalid_keyword"),
        ),
        (
            json!({"opt_out_keywords": many, "opt_in_keywords": []}),
            ("opt_out_keywords", "too_many_keywords"),
        ),
        (
            json!({"opt_out_keywords": ["STOP"], "opt_in_keywords": ["stop"]}),
            ("opt_in_keywords", "keyword_conflict"),
        ),
        (
            json!({"opt_out_keywords": [], "opt_in_keywords": [], "reply": "bye"}),
            ("reply", "unknown_field"),
        ),
    ] {
        let (st, _, resp) = call(
            &h,
            reqwest::Method::PUT,
            "/v1/settings/opt-out",
            &admin,
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        assert_eq!(
            (
                resp["error"]["field"].as_str(),
                resp["error"]["code"].as_str()
            ),
            (Some(want.0), Some(want.1)),
            "{body}"
        );
    }
    let r = h
        .http
        .put(h.url("/v1/settings/opt-out"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("STOP")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Twenty keywords of 32 characters are fine; duplicates fold.
    let twenty: Vec<String> = (0..20).map(|i| format!("{i:0>32}")).collect();
    let (st, _, s) = call(
        &h,
        reqwest::Method::PUT,
        "/v1/settings/opt-out",
        &admin,
        &[],
        Some(&json!({"opt_out_keywords": twenty, "opt_in_keywords": ["go", "GO"]})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{s}");
    assert_eq!(
        (s["default"].as_bool(), s["opt_in_keywords"].clone()),
        (Some(false), json!(["GO"]))
    );
    assert_eq!(s["updated_by"], "test-user");
    let (_, read) = h.get("/v1/settings/opt-out", &admin).await;
    assert_eq!(read["opt_out_keywords"].as_array().unwrap().len(), 20);
    // Another org keeps its own (the defaults).
    let (_, theirs) = h
        .get("/v1/settings/opt-out", &h.token("other", Role::Admin))
        .await;
    assert_eq!(theirs["default"], true);
    // Changing them is audited.
    let (_, audit) = h.get("/v1/audit?action=opt-out-settings", &admin).await;
    assert!(!audit["items"].as_array().unwrap().is_empty(), "{audit}");
}
