//! Message templates: synced from a wiremock Graph page by page (each request checked),
//! listed with filters per org, updated by Meta's template webhooks, and enforced by the
//! send API (a known template that is not approved is refused with its status).

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;
use switchboard_core::queue::QueueName;
use switchboard_testkit::fixtures::{PHONE_NUMBER_ID, WABA_ID};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::outbound::drain;
use crate::support::{Backend, Harness, Options};

const TOKEN: &str = "EAAG-test-token";

fn template(name: &str, language: &str, category: &str, status: &str) -> Value {
    json!({"id": format!("9{}", name.len()), "name": name, "language": language, "category": category, "status": status,
           "quality_score": {"score": "GREEN", "date": 1_763_800_000},
           "components": [{"type": "BODY", "text": "Hi {{1}}, your order is on its way."}],
           "rejected_reason": if status == "REJECTED" { "INVALID_FORMAT" } else { "NONE" }})
}

async fn setup(backend: Backend) -> (Harness, MockServer) {
    let graph = crate::support::graph_knowing_the_number().await;
    let h = Harness::with(Options {
        backend,
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    (h, graph)
}

/// Two pages of templates; the second is asked for with the first's cursor.
async fn graph_lists(graph: &MockServer, first: Vec<Value>, second: Vec<Value>) {
    let list = format!("/v23.0/{WABA_ID}/message_templates");
    Mock::given(method("GET"))
        .and(path(list.clone()))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("fields", switchboard_providers::meta_app::TEMPLATE_FIELDS))
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": first,
            "paging": {"cursors": {"before": "b1", "after": "cursor-2"}, "next": "https://graph.example/next"}
        })))
        .expect(1)
        .mount(graph)
        .await;
    Mock::given(method("GET"))
        .and(path(list))
        .and(query_param("after", "cursor-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": second, "paging": {"cursors": {"before": "b2", "after": "end"}}
        })))
        .expect(1)
        .mount(graph)
        .await;
}

async fn names(h: &Harness, query: &str) -> Vec<String> {
    let (st, list) = h
        .get(
            &format!("/v1/templates{query}"),
            &h.token("acme", Role::Viewer),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["name"].as_str().unwrap(),
                t["language"].as_str().unwrap()
            )
        })
        .collect()
}

async fn sync_lists_and_filters(backend: Backend) {
    let (h, graph) = setup(backend).await;
    let admin = h.token("acme", Role::Admin);
    let (st, _) = h
        .post(
            "/v1/templates/sync",
            &h.token("acme", Role::Agent),
            &json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    graph_lists(
        &graph,
        vec![
            template("order_update", "en_US", "UTILITY", "APPROVED"),
            template("order_update", "nl", "UTILITY", "APPROVED"),
        ],
        vec![
            template("spring_sale", "en_US", "MARKETING", "PENDING"),
            template("login_code", "en_US", "AUTHENTICATION", "REJECTED"),
        ],
    )
    .await;
    let (st, body) = h.post("/v1/templates/sync", &admin, &json!({})).await;
    assert_eq!(
        (st, body["synced"].as_u64()),
        (StatusCode::OK, Some(4)),
        "{body}"
    );
    assert_eq!(
        names(&h, "").await,
        [
            "login_code/en_US",
            "order_update/en_US",
            "order_update/nl",
            "spring_sale/en_US"
        ]
    );
    assert_eq!(
        names(&h, "?status=approved").await,
        ["order_update/en_US", "order_update/nl"]
    );
    assert_eq!(
        names(&h, "?category=MARKETING").await,
        ["spring_sale/en_US"]
    );
    assert_eq!(names(&h, "?language=nl").await, ["order_update/nl"]);
    assert_eq!(
        names(&h, "?name=order").await,
        ["order_update/en_US", "order_update/nl"]
    );
    let (_, list) = h.get("/v1/templates?name=login", &admin).await;
    assert_eq!(list["items"][0]["rejection_reason"], "INVALID_FORMAT");
    assert_eq!(list["items"][0]["quality"], "GREEN");
    // Another org sees none of them.
    let (_, theirs) = h
        .get("/v1/templates", &h.token("other", Role::Viewer))
        .await;
    assert_eq!(theirs["items"], json!([]));

    // A later sync without a template removes it (deleted at Meta).
    graph.reset().await;
    graph_lists(
        &graph,
        vec![template("order_update", "en_US", "UTILITY", "APPROVED")],
        vec![template("spring_sale", "en_US", "MARKETING", "APPROVED")],
    )
    .await;
    let (st, _) = h.post("/v1/templates/sync", &admin, &json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        names(&h, "").await,
        ["order_update/en_US", "spring_sale/en_US"]
    );
    // An unknown integration: 404.
    let (st, _) = h
        .post(
            "/v1/templates/sync",
            &admin,
            &json!({"integration_id": "acc_00000000000000000000000000000000"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_lists_and_filters_sqlite() {
    sync_lists_and_filters(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_lists_and_filters_dynamodb() {
    sync_lists_and_filters(Backend::Aws).await;
}

fn template_change(field: &str, value: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [
        {"id": WABA_ID, "time": 1_763_800_000, "changes": [{"field": field, "value": value}]}
    ]}))
    .unwrap()
}

async fn webhooks_update_templates_and_sends_respect_them(backend: Backend) {
    let (h, graph) = setup(backend).await;
    graph_lists(
        &graph,
        vec![template("order_update", "en_US", "UTILITY", "APPROVED")],
        vec![],
    )
    .await;
    let admin = h.token("acme", Role::Admin);
    assert_eq!(
        h.post("/v1/templates/sync", &admin, &json!({})).await.0,
        StatusCode::OK
    );
    // A conversation to send in.
    let ts = chrono::Utc::now().timestamp();
    let body =
        switchboard_testkit::fixtures::delivery(vec![switchboard_testkit::fixtures::text_change(
            PHONE_NUMBER_ID,
            "16505551234",
            "Sheena",
            "wamid.t1",
            ts,
            "Where is my order?",
        )]);
    assert_eq!(h.webhook(&body).await.status(), StatusCode::OK);
    drain(&h, QueueName::Inbound).await;
    let agent = h.token("acme", Role::Agent);
    let (_, list) = h.get("/v1/conversations", &agent).await;
    let conv = list["items"][0]["id"].as_str().unwrap().to_owned();
    let send = |name: &'static str| {
        let h = &h;
        let agent = agent.clone();
        let conv = conv.clone();
        async move {
            h.post(
                &format!("/v1/conversations/{conv}/messages"),
                &agent,
                &json!({"type": "template", "template": {"name": name, "language": {"code": "en_US"}}}),
            )
            .await
        }
    };

    // Meta pauses it: the send API refuses it with its status and reason.
    let paused = template_change(
        "message_template_status_update",
        json!({"event": "PAUSED", "message_template_id": 94, "message_template_name": "order_update", "message_template_language": "en_US", "reason": "LOW_QUALITY"}),
    );
    assert_eq!(h.webhook(&paused).await.status(), StatusCode::OK);
    drain(&h, QueueName::Inbound).await;
    let (st, e) = send("order_update").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(
        (e["error"]["field"].as_str(), e["error"]["code"].as_str()),
        (Some("template"), Some("template_not_approved"))
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("PAUSED"),
        "{e}"
    );
    // Quality and category follow the webhooks too.
    for (field, value) in [
        (
            "message_template_quality_update",
            json!({"previous_quality_score": "GREEN", "new_quality_score": "YELLOW", "message_template_id": 94, "message_template_name": "order_update", "message_template_language": "en_US"}),
        ),
        (
            "template_category_update",
            json!({"previous_category": "UTILITY", "new_category": "MARKETING", "message_template_id": 94, "message_template_name": "order_update", "message_template_language": "en_US"}),
        ),
        (
            "message_template_status_update",
            json!({"event": "APPROVED", "message_template_id": 94, "message_template_name": "order_update", "message_template_language": "en_US", "reason": "NONE"}),
        ),
    ] {
        assert_eq!(
            h.webhook(&template_change(field, value)).await.status(),
            StatusCode::OK
        );
    }
    drain(&h, QueueName::Inbound).await;
    let (_, list) = h.get("/v1/templates", &admin).await;
    let t = &list["items"][0];
    assert_eq!(
        (
            t["status"].as_str(),
            t["quality"].as_str(),
            t["category"].as_str(),
            &t["rejection_reason"]
        ),
        (
            Some("APPROVED"),
            Some("YELLOW"),
            Some("MARKETING"),
            &Value::Null
        ),
        "{t}"
    );
    // Approved again: accepted. A template Switchboard does not know is Meta's to judge.
    assert_eq!(send("order_update").await.0, StatusCode::ACCEPTED);
    assert_eq!(send("not_synced_yet").await.0, StatusCode::ACCEPTED);
    // A webhook for a template never synced is remembered.
    let fresh = template_change(
        "message_template_status_update",
        json!({"event": "REJECTED", "message_template_id": 95, "message_template_name": "winter_sale", "message_template_language": "en_US", "reason": "INCORRECT_CATEGORY"}),
    );
    assert_eq!(h.webhook(&fresh).await.status(), StatusCode::OK);
    drain(&h, QueueName::Inbound).await;
    let (st, e) = send("winter_sale").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("INCORRECT_CATEGORY")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_update_templates_and_sends_respect_them_sqlite() {
    webhooks_update_templates_and_sends_respect_them(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_update_templates_and_sends_respect_them_dynamodb() {
    webhooks_update_templates_and_sends_respect_them(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_graph_there_is_nothing_to_sync() {
    let h = Harness::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let (st, e) = h
        .post(
            "/v1/templates/sync",
            &h.token("acme", Role::Admin),
            &json!({}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_configured"))
    );
}

async fn create_validates_submits_and_delete_removes(backend: Backend) {
    let (h, graph) = setup(backend).await;
    let admin = h.token("acme", Role::Admin);
    let good = json!({"name": "order_shipped", "language": "en_US", "category": "utility", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#1042"]}},
        {"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped.", "example": {"body_text": [["Sheena", "#1042"]]}},
        {"type": "FOOTER", "text": "Acme Linen"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]}
    ]});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let body_of = |text: &str, example: Value| {
        with(
            "components",
            json!([{"type": "BODY", "text": text, "example": {"body_text": example}}]),
        )
    };
    for (b, field) in [
        (with("name", json!("Order Shipped")), "name"),
        (with("language", json!("english")), "language"),
        (with("category", json!("PROMO")), "category"),
        (with("components", json!([])), "components"),
        (body_of(&"x".repeat(1025), json!([])), "components[0].text"),
        (
            body_of("Hi {{1}} and {{3}}", json!([["a", "b"]])),
            "components[0]",
        ),
        (body_of("Hi {{1}}", json!([])), "components[0].example"),
        (
            with("components", json!([{"type": "FOOTER", "text": "no body"}])),
            "components",
        ),
        (
            with(
                "components",
                json!([{"type": "BODY", "text": "a"}, {"type": "BODY", "text": "b"}]),
            ),
            "components[1].type",
        ),
        (
            with(
                "components",
                json!([{"type": "BODY", "text": "a"}, {"type": "BUTTONS", "buttons": [{"type": "CALL_ME", "text": "x"}]}]),
            ),
            "components[1].buttons[0].type",
        ),
        (with("colour", json!("blue")), "colour"),
    ] {
        let (st, e) = h.post("/v1/templates", &admin, &b).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {e}");
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    assert!(
        graph
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.method != wiremock::http::Method::POST)
    );

    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{WABA_ID}/message_templates")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(wiremock::matchers::body_partial_json(
            json!({"name": "order_shipped", "language": "en_US", "category": "UTILITY"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "594425479261596", "status": "PENDING", "category": "UTILITY"}),
        ))
        .expect(1)
        .mount(&graph)
        .await;
    let (st, t) = h.post("/v1/templates", &admin, &good).await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    assert_eq!(
        (t["status"].as_str(), t["id"].as_str()),
        (Some("PENDING"), Some("594425479261596"))
    );
    assert_eq!(names(&h, "?status=PENDING").await, ["order_shipped/en_US"]);
    let (st, _) = h
        .post("/v1/templates", &h.token("acme", Role::Agent), &good)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Delete: at Meta by name, then here; another org and an unknown name get 404.
    let (st, _) = h
        .delete(
            "/v1/templates/order_shipped",
            &h.token("other", Role::Admin),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    Mock::given(method("DELETE"))
        .and(path(format!("/v23.0/{WABA_ID}/message_templates")))
        .and(query_param("name", "order_shipped"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&graph)
        .await;
    let (st, _) = h.delete("/v1/templates/order_shipped", &admin).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(names(&h, "").await.is_empty());
    let (st, _) = h.delete("/v1/templates/order_shipped", &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_validates_submits_and_delete_removes_sqlite() {
    create_validates_submits_and_delete_removes(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_validates_submits_and_delete_removes_dynamodb() {
    create_validates_submits_and_delete_removes(Backend::Aws).await;
}
