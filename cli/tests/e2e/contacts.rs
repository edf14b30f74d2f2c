//! Contacts as a CRM edits them: `PATCH /v1/contacts/{id}` (validation naming fields,
//! unknown fields, `If-Match`), the filters of `GET /v1/contacts` (each alone and
//! together, with paging), notes (by their author, an admin, another agent) and the
//! user directory. Roles and tenancy on every route; both backends where the store is
//! involved.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use switchboard_core::ids::{ContactId, OrgId, Role, WaId};
use switchboard_core::model::{Contact, ContactStatus};
use switchboard_core::store::{Query, SortKey};
use switchboard_core::usecases::contacts::index;
use switchboard_runtime::auth::dev_claims;

use crate::support::{Backend, Harness, Options, all_pages, ids};

/// A token for `sub` in `org`, with extra claims (`name`, `email`).
pub fn token_for(h: &Harness, org: &str, role: Role, sub: &str, extra: Value) -> String {
    let mut claims = dev_claims(
        h.app.auth().config(),
        &OrgId::parse(org).unwrap(),
        role,
        sub,
        chrono::Utc::now().timestamp(),
        Duration::from_secs(600),
    );
    if let Value::Object(m) = extra {
        for (k, v) in m {
            claims[k] = v;
        }
    }
    h.app.auth().dev_key().unwrap().sign(&claims).unwrap()
}

/// Any request: method, path, token, extra headers, JSON body (sent as
/// `application/json`). Returns status, headers and the JSON body (`null` if none).
pub async fn call(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut r = h.http.request(method, h.url(path)).bearer_auth(token);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

/// PATCH a contact.
pub async fn patch(
    h: &Harness,
    id: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (StatusCode, HeaderMap, Value) {
    call(
        h,
        reqwest::Method::PATCH,
        &format!("/v1/contacts/{id}"),
        token,
        headers,
        Some(body),
    )
    .await
}

/// Stores a contact the way the API and the consumers do (record and index items).
pub async fn seed(
    h: &Harness,
    org: &str,
    wa: &str,
    at_secs: i64,
    f: impl FnOnce(&mut Contact),
) -> String {
    let org = OrgId::parse(org).unwrap();
    let t = chrono::DateTime::from_timestamp(1_790_000_000 + at_secs, 0).unwrap();
    let mut c = Contact::new(&org, &WaId::parse(wa).unwrap(), t);
    f(&mut c);
    index::save(h.app.services(), None, 0, &c).await.unwrap();
    c.id.to_string()
}

fn field(body: &Value) -> (&str, &str) {
    (
        body["error"]["field"].as_str().unwrap_or(""),
        body["error"]["code"].as_str().unwrap_or(""),
    )
}

async fn harness(backend: Backend) -> Harness {
    Harness::with(Options {
        backend,
        workers: false,
        ..Options::default()
    })
    .await
}

// ---------------------------------------------------------------- PATCH

async fn patch_rules(backend: Backend) {
    let h = harness(backend).await;
    let id = seed(&h, "acme", "16505551234", 0, |c| {
        c.see_profile_name("Sheena")
    })
    .await;
    let agent = h.token("acme", Role::Agent);
    let viewer = h.token("acme", Role::Viewer);
    let other = h.token("other", Role::Owner);
    let v0 = h.get(&format!("/v1/contacts/{id}"), &agent).await.1["version"]
        .as_u64()
        .unwrap();

    // Roles and tenancy.
    let (st, _, _) = patch(&h, &id, &viewer, &[], &json!({"name": "x"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _, body) = patch(&h, &id, &other, &[], &json!({"name": "x"})).await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (st, _, _) = patch(&h, "ct_nope", &agent, &[], &json!({"name": "x"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let missing = ContactId::for_wa_id(
        &OrgId::parse("acme").unwrap(),
        &WaId::parse("4915112345678").unwrap(),
    );
    let (st, _, _) = patch(&h, missing.as_str(), &agent, &[], &json!({"name": "x"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Validation names the field; unknown fields name themselves.
    for (body, want) in [
        (json!({"nmae": "Sheena"}), ("nmae", "unknown_field")),
        (
            json!({"name": "S", "phone": "1"}),
            ("phone", "unknown_field"),
        ),
        (json!({"name": ""}), ("name", "invalid_name")),
        (json!({"email": "sheena@"}), ("email", "invalid_email")),
        (json!({"tags": ["ok", "not ok"]}), ("tags", "invalid_tag")),
        (
            json!({"tags": (0..51).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            ("tags", "too_many_tags"),
        ),
        (json!({"status": "won"}), ("status", "invalid_status")),
        (json!({"score": 101}), ("score", "invalid_score")),
        (
            json!({"custom_fields": {"Plan": "x"}}),
            ("custom_fields", "invalid_custom_field_key"),
        ),
        (
            json!({"custom_fields": {"plan": {"nested": 1}}}),
            ("custom_fields.plan", "invalid_custom_field_value"),
        ),
        (
            json!({"opted_out": "yes"}),
            ("opted_out", "invalid_opted_out"),
        ),
        (json!(["name"]), ("body", "invalid_body")),
    ] {
        let (st, _, resp) = patch(&h, &id, &agent, &[], &body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        assert_eq!(field(&resp), want, "{body}: {resp}");
        assert!(resp["error"]["request_id"].is_string());
    }
    // Not JSON: 415.
    let r = h
        .http
        .patch(h.url(&format!("/v1/contacts/{id}")))
        .bearer_auth(&agent)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A change: normalised, versioned, with an ETag.
    let (st, headers, c) = patch(
        &h,
        &id,
        &agent,
        &[],
        &json!({"name": " Sheena Nelson ", "email": "Sheena@Example.COM", "tags": ["VIP", "vip", "Linen"],
                "status": "customer", "score": 80, "custom_fields": {"size": "M", "seats": 3, "vat": true}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["name"], "Sheena Nelson");
    assert_eq!(c["profile_name"], "Sheena");
    assert_eq!(c["email"], "sheena@example.com");
    assert_eq!(c["tags"], json!(["vip", "linen"]));
    assert_eq!(
        (c["status"].as_str(), c["score"].as_u64()),
        (Some("customer"), Some(80))
    );
    assert_eq!(
        c["custom_fields"],
        json!({"size": "M", "seats": 3, "vat": true})
    );
    assert_eq!(c["opted_out"], false);
    // A new contact is stored in two steps (see `contacts::index::create`), so the seed
    // left it at `v0`; each change adds one.
    let v2 = c["version"].as_u64().unwrap();
    assert_eq!(v2, v0 + 1);
    assert_eq!(headers["etag"], format!("\"{v2}\""));
    let (st, one) = h.get(&format!("/v1/contacts/{id}"), &agent).await;
    assert_eq!((st, one["version"].as_u64()), (StatusCode::OK, Some(v2)));
    // Custom fields merge; null deletes one.
    let (_, _, c) = patch(
        &h,
        &id,
        &agent,
        &[],
        &json!({"custom_fields": {"seats": null, "plan": "gold"}}),
    )
    .await;
    assert_eq!(
        c["custom_fields"],
        json!({"size": "M", "vat": true, "plan": "gold"})
    );
    // Nothing to change: no new version.
    let (st, _, same) = patch(&h, &id, &agent, &[], &json!({"score": 80})).await;
    assert_eq!(
        (st, same["version"].as_u64()),
        (StatusCode::OK, Some(v2 + 1))
    );

    // If-Match: the version read, or 412.
    let (st, _, stale) = patch(
        &h,
        &id,
        &agent,
        &[("if-match", &format!("\"{v2}\""))],
        &json!({"score": 10}),
    )
    .await;
    assert_eq!(st, StatusCode::PRECONDITION_FAILED, "{stale}");
    assert_eq!(stale["error"]["code"], "precondition_failed");
    let (st, _, c) = patch(
        &h,
        &id,
        &agent,
        &[("if-match", &format!("\"{}\"", v2 + 1))],
        &json!({"score": 10}),
    )
    .await;
    assert_eq!(
        (st, c["score"].as_u64(), c["version"].as_u64()),
        (StatusCode::OK, Some(10), Some(v2 + 2))
    );
    let (st, _, _) = patch(
        &h,
        &id,
        &agent,
        &[("if-match", &(v2 + 2).to_string())],
        &json!({"opted_out": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, one) = h.get(&format!("/v1/contacts/{id}"), &agent).await;
    assert_eq!(
        (one["opted_out"].as_bool(), one["opt_out_source"].as_str()),
        (Some(true), Some("api"))
    );
    // Clearing the name hands it back to the WhatsApp profile name.
    let (_, _, c) = patch(
        &h,
        &id,
        &agent,
        &[],
        &json!({"name": null, "email": null, "status": null, "score": null}),
    )
    .await;
    assert_eq!(
        (
            c["name"].as_str(),
            c["email"].is_null(),
            c["status"].is_null()
        ),
        (Some("Sheena"), true, true)
    );

    // Every change is audited.
    let (_, audit) = h
        .get(
            "/v1/audit?action=update-contact",
            &h.token("acme", Role::Admin),
        )
        .await;
    assert!(audit["items"].as_array().unwrap().len() >= 5, "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_validates_names_fields_and_honours_if_match_sqlite() {
    patch_rules(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_validates_names_fields_and_honours_if_match_dynamodb() {
    patch_rules(Backend::Aws).await;
}

// ---------------------------------------------------------------- filters

async fn filters(backend: Backend) {
    let h = harness(backend).await;
    let viewer = h.token("acme", Role::Viewer);
    let agent = h.token("acme", Role::Agent);
    use ContactStatus::*;
    // (wa_id, name, tags, status, opted_out), created in this order (newest last).
    type Person<'a> = (&'a str, &'a str, &'a [&'a str], Option<ContactStatus>, bool);
    let people: Vec<Person> = vec![
        (
            "16505550001",
            "Ana Silva",
            &["vip", "b2b"],
            Some(Customer),
            false,
        ),
        ("16505550002", "Anabel Ruiz", &["vip"], Some(Lead), false),
        ("16505550003", "Bruno Costa", &["b2b"], Some(Lead), true),
        (
            "447700900004",
            "ana lopes",
            &["vip", "b2b"],
            Some(Customer),
            true,
        ),
        ("447700900005", "Carla Dias", &[], None, false),
        (
            "447700900006",
            "Dário Reis",
            &["vip", "b2b"],
            Some(Customer),
            false,
        ),
        (
            "4915112340007",
            "Eva Braun",
            &["vip", "b2b"],
            Some(Prospect),
            false,
        ),
        (
            "4915112340008",
            "Ana María",
            &["vip", "b2b"],
            Some(Customer),
            false,
        ),
    ];
    let mut id_of = Vec::new();
    for (i, (wa, name, tags, status, out)) in people.iter().enumerate() {
        let id = seed(&h, "acme", wa, i as i64, |c| {
            c.see_profile_name(name);
            c.tags = tags.iter().map(|t| t.to_string()).collect();
            c.status = *status;
            c.opted_out = *out;
        })
        .await;
        id_of.push(id);
    }
    // Another org with the same people must never show up.
    seed(&h, "other", "16505550001", 0, |c| {
        c.see_profile_name("Ana Silva");
        c.tags = vec!["vip".into()];
        c.status = Some(Customer);
    })
    .await;
    let pick = |idx: &[usize]| idx.iter().map(|&i| id_of[i].clone()).collect::<Vec<_>>();

    // Each filter alone, newest first (q: by name or number).
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("/v1/contacts", pick(&[7, 6, 5, 4, 3, 2, 1, 0])),
        ("/v1/contacts?tag=vip", pick(&[7, 6, 5, 3, 1, 0])),
        ("/v1/contacts?tag=VIP", pick(&[7, 6, 5, 3, 1, 0])),
        ("/v1/contacts?status=lead", pick(&[2, 1])),
        ("/v1/contacts?opted_out=true", pick(&[3, 2])),
        ("/v1/contacts?opted_out=false", pick(&[7, 6, 5, 4, 1, 0])),
        // Name prefix, any case, in name order: "ana lopes", "ana maría", "ana silva", "anabel ruiz".
        ("/v1/contacts?q=ANA", pick(&[3, 7, 0, 1])),
        ("/v1/contacts?q=ana%20s", pick(&[0])),
        ("/v1/contacts?q=D%C3%A1r", pick(&[5])),
        // Number prefix (digits, as typed), in number order.
        ("/v1/contacts?q=%2B44%207700", pick(&[3, 4, 5])),
        ("/v1/contacts?q=1650555000", pick(&[0, 1, 2])),
        ("/v1/contacts?q=zz", vec![]),
    ];
    for (path, want) in &cases {
        let (st, page) = h.get(path, &viewer).await;
        assert_eq!(st, StatusCode::OK, "{path}: {page}");
        assert_eq!(&ids(&page), want, "{path}: {page}");
        assert_eq!(page["next_cursor"], Value::Null, "{path}");
        // Versions travel with each contact.
        if let Some(first) = page["items"].get(0) {
            assert!(first["version"].as_u64().is_some());
        }
    }

    // Combined, small pages: every match once, in order, whatever the page sizes.
    let combined: Vec<(&str, Vec<String>)> = vec![
        (
            "/v1/contacts?tag=vip&tag=b2b&limit=2",
            pick(&[7, 6, 5, 3, 0]),
        ),
        (
            "/v1/contacts?tag=b2b&status=customer&opted_out=false&limit=1",
            pick(&[7, 5, 0]),
        ),
        ("/v1/contacts?tag=vip&q=ana&limit=2", pick(&[3, 7, 0, 1])),
        (
            "/v1/contacts?status=customer&opted_out=true&limit=2",
            pick(&[3]),
        ),
        ("/v1/contacts?status=lead&q=16505&limit=1", pick(&[1, 2])),
        (
            "/v1/contacts?opted_out=false&limit=3",
            pick(&[7, 6, 5, 4, 1, 0]),
        ),
    ];
    for (path, want) in &combined {
        let (got, sizes) = all_pages(&h, path, &viewer, 50).await;
        assert_eq!(&got, want, "{path} (pages of {sizes:?})");
        let limit: usize = path.rsplit("limit=").next().unwrap().parse().unwrap();
        assert!(sizes.iter().all(|s| *s <= limit), "{path}: {sizes:?}");
    }

    // Tenancy: the other org's own filters see only its own contact.
    let (_, theirs) = h
        .get(
            "/v1/contacts?tag=vip&q=ana",
            &h.token("other", Role::Viewer),
        )
        .await;
    assert_eq!(ids(&theirs).len(), 1);
    assert!(!id_of.contains(&ids(&theirs)[0]));

    // Bad parameters name themselves.
    for (path, want) in [
        ("/v1/contacts?tag=a%20b", "tag"),
        ("/v1/contacts?status=won", "status"),
        ("/v1/contacts?opted_out=maybe", "opted_out"),
        ("/v1/contacts?limit=0", "limit"),
    ] {
        let (st, body) = h.get(path, &viewer).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(body["error"]["field"], want, "{path}");
    }
    let long_q = format!("/v1/contacts?q={}", "a".repeat(101));
    let (st, body) = h.get(&long_q, &viewer).await;
    assert_eq!(
        (st, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("q"))
    );
    // A cursor belongs to its list: another filter's cursor is a 422, never a 500.
    let (_, first) = h.get("/v1/contacts?tag=vip&limit=1", &viewer).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (st, body) = h
        .get(&format!("/v1/contacts?tag=b2b&cursor={cursor}"), &viewer)
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_cursor"))
    );
    let (st, _) = h
        .get(
            &format!("/v1/contacts?tag=vip&cursor={cursor}"),
            &h.token("other", Role::Viewer),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // The indexes follow changes: a tag removed, a name changed, an opt-out cleared.
    let ana = &id_of[0];
    let (st, _, _) = patch(
        &h,
        ana,
        &agent,
        &[],
        &json!({"tags": ["b2b"], "name": "Zoe Silva", "opted_out": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, vip) = h.get("/v1/contacts?tag=vip", &viewer).await;
    assert!(!ids(&vip).contains(ana));
    let (_, q) = h.get("/v1/contacts?q=ana%20s", &viewer).await;
    assert!(ids(&q).is_empty(), "{q}");
    let (_, q) = h.get("/v1/contacts?q=zoe", &viewer).await;
    assert_eq!(ids(&q), std::slice::from_ref(ana));
    let (_, out) = h.get("/v1/contacts?opted_out=true", &viewer).await;
    assert!(ids(&out).contains(ana));
    // No index item is left pointing at what the contact no longer has.
    let org = OrgId::parse("acme").unwrap();
    let vip_items = h
        .app
        .services()
        .store
        .query(Query::table(index::tag_pk(&org, "vip")))
        .await
        .unwrap();
    assert_eq!(vip_items.items.len(), 5);
    let old_name = h
        .app
        .services()
        .store
        .query(
            Query::table(index::name_pk(&org, 'a')).sort(SortKey::BeginsWith("ana silva".into())),
        )
        .await
        .unwrap();
    assert!(old_name.items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_each_alone_and_combined_with_paging_sqlite() {
    filters(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_each_alone_and_combined_with_paging_dynamodb() {
    filters(Backend::Aws).await;
}

/// More candidates than one request reads: the page comes back short, with a cursor,
/// and following it finds the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_second_filter_pages_short_but_finds_everything() {
    let h = harness(Backend::Local).await;
    let n = switchboard_core::usecases::contacts::list::MAX_EXAMINED + 20;
    for i in 0..n {
        seed(&h, "acme", &format!("3161234{i:04}"), i as i64, |c| {
            c.tags = vec!["lead-2026".into()];
            // Two customers: the oldest and the newest.
            if i == 0 || i == n - 1 {
                c.status = Some(ContactStatus::Customer);
            }
        })
        .await;
    }
    let viewer = h.token("acme", Role::Viewer);
    let (_, first) = h
        .get(
            "/v1/contacts?tag=lead-2026&status=customer&limit=5",
            &viewer,
        )
        .await;
    assert_eq!(
        ids(&first).len(),
        1,
        "the newest, then the read budget ran out: {first}"
    );
    assert!(first["next_cursor"].is_string());
    let (got, sizes) = all_pages(
        &h,
        "/v1/contacts?tag=lead-2026&status=customer&limit=5",
        &viewer,
        50,
    )
    .await;
    assert_eq!(got.len(), 2, "{sizes:?}");
}

/// Contacts stored before index items existed are indexed on their next write, and by
/// `reindex` for a whole org.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_written_before_indexes_are_indexed() {
    let h = harness(Backend::Local).await;
    let org = OrgId::parse("acme").unwrap();
    let svc = h.app.services();
    let mut old = Vec::new();
    for (i, wa) in ["16505550101", "16505550102"].into_iter().enumerate() {
        let mut c = Contact::new(&org, &WaId::parse(wa).unwrap(), chrono::Utc::now());
        c.see_profile_name(&format!("Legacy {i}"));
        c.tags = vec!["legacy".into()];
        // A bare put: the record as an older release wrote it, without index items.
        svc.store
            .put(
                switchboard_core::record::item(&c, 1).unwrap(),
                switchboard_core::store::Condition::NotExists,
            )
            .await
            .unwrap();
        old.push(c.id.to_string());
    }
    let viewer = h.token("acme", Role::Viewer);
    let (_, none) = h.get("/v1/contacts?tag=legacy", &viewer).await;
    assert!(ids(&none).is_empty());
    // A write indexes the one it touches, everything at once.
    let (st, _, _) = patch(
        &h,
        &old[0],
        &h.token("acme", Role::Agent),
        &[],
        &json!({"score": 1}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, one) = h.get("/v1/contacts?tag=legacy", &viewer).await;
    assert_eq!(ids(&one), [old[0].clone()]);
    // The org-wide pass does the rest, once.
    assert_eq!(index::reindex(svc, &org).await.unwrap(), 1);
    assert_eq!(index::reindex(svc, &org).await.unwrap(), 0);
    let (_, both) = h.get("/v1/contacts?q=legacy", &viewer).await;
    assert_eq!(ids(&both).len(), 2);
}

// ---------------------------------------------------------------- notes

async fn notes(backend: Backend) {
    let h = harness(backend).await;
    let id = seed(&h, "acme", "16505551234", 0, |_| {}).await;
    let ana = token_for(&h, "acme", Role::Agent, "user_ana", json!({}));
    let bruno = token_for(&h, "acme", Role::Agent, "user_bruno", json!({}));
    let admin = token_for(&h, "acme", Role::Admin, "user_boss", json!({}));
    let viewer = h.token("acme", Role::Viewer);
    let other = h.token("other", Role::Owner);
    let path = format!("/v1/contacts/{id}/notes");
    let post = |token: String, body: Value| {
        let path = path.clone();
        let h = &h;
        async move { call(h, reqwest::Method::POST, &path, &token, &[], Some(&body)).await }
    };

    // Roles, tenancy, validation.
    let (st, _, _) = post(viewer.clone(), json!({"body": "x"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _, _) = post(other.clone(), json!({"body": "x"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = h.get(&path, &other).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let missing = ContactId::for_wa_id(
        &OrgId::parse("acme").unwrap(),
        &WaId::parse("4915112345678").unwrap(),
    );
    let (st, _, _) = call(
        &h,
        reqwest::Method::POST,
        &format!("/v1/contacts/{missing}/notes"),
        &ana,
        &[],
        Some(&json!({"body": "x"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    for (body, want) in [
        (json!({"body": ""}), ("body", "invalid_body")),
        (json!({"body": "  \n "}), ("body", "invalid_body")),
        (
            json!({"body": "x".repeat(10_001)}),
            ("body", "body_too_long"),
        ),
        (json!({"body": 42}), ("body", "invalid_body")),
        (json!({}), ("body", "invalid_body")),
        (
            json!({"body": "x", "pinned": true}),
            ("pinned", "unknown_field"),
        ),
        (json!({"text": "x"}), ("text", "unknown_field")),
    ] {
        let (st, _, resp) = post(ana.clone(), body.clone()).await;
        assert_eq!(
            (st, field(&resp)),
            (StatusCode::UNPROCESSABLE_ENTITY, want),
            "{body}"
        );
    }

    // Written by their authors, listed newest first, paged.
    let mut written = Vec::new();
    for (i, token) in [&ana, &bruno, &ana].into_iter().enumerate() {
        let (st, _, note) = post(token.clone(), json!({"body": format!("note {i}")})).await;
        assert_eq!(st, StatusCode::CREATED, "{note}");
        written.push(note["id"].as_str().unwrap().to_owned());
        // Ids carry milliseconds: keep the three apart.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, note) = h.get(&format!("{path}?limit=1"), &viewer).await;
    assert_eq!(note["items"][0]["author"], "user_ana");
    assert_eq!(note["items"][0]["body"], "note 2");
    assert_eq!(note["items"][0]["contact_id"], id.as_str());
    let (got, _) = all_pages(&h, &format!("{path}?limit=2"), &viewer, 50).await;
    let newest_first: Vec<String> = written.iter().rev().cloned().collect();
    assert_eq!(got, newest_first);
    // Another org cannot reach a note, even by its ids.
    let one = format!("{path}/{}", written[0]);
    let (st, _) = h.delete(&one, &other).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Deleting: another agent may not, the author and an admin may.
    let (st, body) = h.delete(&one, &bruno).await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (st, _) = h.delete(&one, &viewer).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = h.delete(&one, &ana).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = h.delete(&one, &ana).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = h.delete(&format!("{path}/{}", written[1]), &admin).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = h.delete(&format!("{path}/nt_bad"), &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, left) = h.get(&path, &viewer).await;
    assert_eq!(ids(&left), [written[2].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_by_author_admin_and_other_agents_sqlite() {
    notes(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_by_author_admin_and_other_agents_dynamodb() {
    notes(Backend::Aws).await;
}

/// Erasing a contact takes its notes and every index item with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_removes_notes_and_index_items() {
    let h = harness(Backend::Local).await;
    let id = seed(&h, "acme", "16505551234", 0, |c| {
        c.see_profile_name("Sheena Nelson");
        c.tags = vec!["vip".into()];
        c.opted_out = true;
    })
    .await;
    let agent = h.token("acme", Role::Agent);
    let (st, _, _) = call(
        &h,
        reqwest::Method::POST,
        &format!("/v1/contacts/{id}/notes"),
        &agent,
        &[],
        Some(&json!({"body": "Allergic to wool"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = h
        .delete(&format!("/v1/contacts/{id}"), &h.token("acme", Role::Admin))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let org = OrgId::parse("acme").unwrap();
    for pk in [
        index::tag_pk(&org, "vip"),
        index::opted_out_pk(&org),
        index::name_pk(&org, 's'),
        index::phone_pk(&org, '1'),
        Contact::key_of(&org, &ContactId::parse(&id).unwrap()).0,
    ] {
        let left = h
            .app
            .services()
            .store
            .query(Query::table(pk.clone()))
            .await
            .unwrap();
        assert!(left.items.is_empty(), "{pk}: {:?}", left.items);
    }
}

// ---------------------------------------------------------------- users

async fn users(backend: Backend) {
    let h = harness(backend).await;
    let ana = token_for(
        &h,
        "acme",
        Role::Agent,
        "user_ana",
        json!({"name": "Ana Silva", "email": "Ana@Example.com"}),
    );
    let bruno = token_for(&h, "acme", Role::Viewer, "user_bruno", json!({}));
    let outsider = token_for(&h, "other", Role::Owner, "user_zed", json!({"name": "Zed"}));
    // Each is recorded by any request, even one their role refuses.
    h.get("/v1/conversations", &ana).await;
    let (st, _) = h.get("/v1/audit", &bruno).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    h.get("/v1/conversations", &outsider).await;

    let (st, list) = h.get("/v1/users", &bruno).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["id"], "user_ana");
    assert_eq!(items[0]["name"], "Ana Silva");
    assert_eq!(items[0]["email"], "ana@example.com");
    assert_eq!(items[0]["role"], "agent");
    assert!(items[0]["last_seen_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        (items[1]["id"].as_str(), items[1]["name"].is_null()),
        (Some("user_bruno"), true)
    );
    // Paged, and scoped by org.
    let (_, page) = h.get("/v1/users?limit=1", &bruno).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
    let (_, theirs) = h.get("/v1/users", &outsider).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["items"][0]["id"], "user_zed");
    // No token, no list.
    let r = h.http.get(h.url("/v1/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A promotion shows at once (the role changed); a new name too.
    let promoted = token_for(
        &h,
        "acme",
        Role::Admin,
        "user_ana",
        json!({"name": "Ana S."}),
    );
    h.get("/v1/conversations", &promoted).await;
    let (_, list) = h.get("/v1/users", &bruno).await;
    assert_eq!(
        (
            list["items"][0]["role"].as_str(),
            list["items"][0]["name"].as_str()
        ),
        (Some("admin"), Some("Ana S."))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_recorded_from_their_tokens_and_listed_sqlite() {
    users(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_recorded_from_their_tokens_and_listed_dynamodb() {
    users(Backend::Aws).await;
}

/// Recording is cheap: one write per user per five minutes, however many requests (the
/// clock moves; a fresh process reads once and writes nothing new within the bucket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_written_at_most_once_per_bucket() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard_core::clock::FixedClock;
    let puts = Arc::new(AtomicUsize::new(0));
    let counter = puts.clone();
    // Ten seconds into a five-minute bucket, so the steps below land where they should.
    let now = chrono::Utc::now().timestamp();
    let start = chrono::DateTime::from_timestamp(now - now.rem_euclid(300) + 10, 0).unwrap();
    let clock = Arc::new(FixedClock::new(start));
    let h = Harness::with(Options {
        workers: false,
        clock: Some(clock.clone()),
        wrap_store: Some(Box::new(move |inner| {
            Arc::new(CountingStore {
                inner,
                user_puts: counter,
            }) as Arc<dyn switchboard_core::store::ItemStore>
        })),
        ..Options::default()
    })
    .await;
    let ana = token_for(&h, "acme", Role::Agent, "user_ana", json!({"name": "Ana"}));
    for _ in 0..20 {
        h.get("/v1/conversations", &ana).await;
    }
    assert_eq!(puts.load(Ordering::SeqCst), 1);
    clock.advance(chrono::Duration::minutes(2));
    h.get("/v1/conversations", &ana).await;
    clock.advance(chrono::Duration::minutes(4));
    for _ in 0..5 {
        h.get("/v1/conversations", &ana).await;
    }
    assert_eq!(
        puts.load(Ordering::SeqCst),
        2,
        "one more bucket, one more write"
    );
    let (_, users) = h.get("/v1/users", &ana).await;
    assert_eq!(
        users["items"][0]["last_seen_at"].as_str().map(|s| s.len()),
        Some(24)
    );
}

/// Counts puts of user items; fails every put of a user named `user_broken`.
#[derive(Debug)]
struct CountingStore {
    inner: std::sync::Arc<dyn switchboard_core::store::ItemStore>,
    user_puts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl switchboard_core::store::ItemStore for CountingStore {
    async fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<switchboard_core::store::Item>, switchboard_core::store::StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn put(
        &self,
        item: switchboard_core::store::Item,
        c: switchboard_core::store::Condition,
    ) -> Result<(), switchboard_core::store::StoreError> {
        if item.pk.ends_with("#USERS") {
            if item.sk == "USER#user_broken" {
                return Err(switchboard_core::store::StoreError::Unavailable(
                    "injected".into(),
                ));
            }
            self.user_puts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.put(item, c).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        c: switchboard_core::store::Condition,
    ) -> Result<(), switchboard_core::store::StoreError> {
        self.inner.delete(pk, sk, c).await
    }
    async fn query(
        &self,
        q: Query,
    ) -> Result<switchboard_core::store::Page, switchboard_core::store::StoreError> {
        self.inner.query(q).await
    }
    async fn transact(
        &self,
        w: Vec<switchboard_core::store::Write>,
    ) -> Result<(), switchboard_core::store::StoreError> {
        self.inner.transact(w).await
    }
    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        d: i64,
        ttl: Option<i64>,
    ) -> Result<i64, switchboard_core::store::StoreError> {
        self.inner.increment(pk, sk, d, ttl).await
    }
    async fn take(
        &self,
        pk: &str,
        sk: &str,
        amount: i64,
    ) -> Result<Option<i64>, switchboard_core::store::StoreError> {
        self.inner.take(pk, sk, amount).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_user_record_never_fails_the_request() {
    let h = Harness::with(Options {
        workers: false,
        wrap_store: Some(Box::new(move |inner| {
            std::sync::Arc::new(CountingStore {
                inner,
                user_puts: Default::default(),
            }) as std::sync::Arc<dyn switchboard_core::store::ItemStore>
        })),
        ..Options::default()
    })
    .await;
    let broken = token_for(&h, "acme", Role::Viewer, "user_broken", json!({}));
    let (st, _) = h.get("/v1/conversations", &broken).await;
    assert_eq!(st, StatusCode::OK);
    let (st, list) = h.get("/v1/users", &broken).await;
    assert_eq!(
        (st, list["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
}

/// Every function behind a `/v1` route may record its callers, take requests from the
/// rate-limit buckets and authenticate API keys (the managed policy that grants those
/// partitions and nothing else; the key look-ups read-only).
#[test]
fn every_api_function_may_record_its_callers() {
    let text = std::fs::read_to_string(switchboard_testkit::workspace_root().join("template.yaml"))
        .unwrap();
    let policy_at = text
        .find("\n  CallerDirectoryPolicy:\n")
        .expect("the policy exists");
    // The policy ends where the next resource (or its comment) starts: the next line
    // indented like the policy's own name.
    let end = text[policy_at + 1..]
        .match_indices("\n  ")
        .map(|(i, _)| policy_at + 1 + i)
        .find(|&i| !text[i + 3..].starts_with(' '))
        .unwrap_or(text.len());
    let policy = &text[policy_at..end];
    assert!(
        policy.contains(
            "Action: [dynamodb:GetItem, dynamodb:PutItem]\n            Resource: !GetAtt Table.Arn\n            Condition:\n              ForAllValues:StringLike:\n                dynamodb:LeadingKeys: [\"ORG#*#USERS\", \"ORG#*#RATE#*\", \"ORG#*#APIKEYS\"]"
        ),
        "{policy}"
    );
    assert!(
        policy.contains(
            "Action: dynamodb:GetItem\n            Resource: !GetAtt Table.Arn\n            Condition:\n              ForAllValues:StringLike:\n                dynamodb:LeadingKeys: [\"APIKEY#*\"]"
        ),
        "{policy}"
    );
    assert_eq!(
        policy.matches("Effect: Allow").count(),
        2,
        "nothing else: {policy}"
    );
    for route in switchboard_cli::routes::http_routes() {
        if !route.path.starts_with("/v1/") {
            continue;
        }
        let camel: String = route
            .function
            .split('-')
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let start = text
            .find(&format!("\n  {camel}Function:\n"))
            .unwrap_or_else(|| panic!("{camel}"));
        // The function's block ends where the next resource begins.
        let len = text[start + 1..]
            .find("\n\n  ")
            .map_or(text.len() - start, |i| i + 1);
        let block = &text[start..start + len];
        assert!(
            block.contains("        - !Ref CallerDirectoryPolicy\n"),
            "{} serves {} but may not record its callers",
            route.function,
            route.path
        );
    }
}

/// A store that, just before a new contact is marked indexed (the last step of
/// `index::create`), lets another writer rename it.
#[derive(Debug)]
struct Interleaving {
    inner: std::sync::Arc<dyn switchboard_core::store::ItemStore>,
    fired: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl switchboard_core::store::ItemStore for Interleaving {
    async fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<switchboard_core::store::Item>, switchboard_core::store::StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn put(
        &self,
        item: switchboard_core::store::Item,
        c: switchboard_core::store::Condition,
    ) -> Result<(), switchboard_core::store::StoreError> {
        if item.sk == "CONTACT"
            && c == switchboard_core::store::Condition::Version(1)
            && !self.fired.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let stored = self.inner.get(&item.pk, &item.sk).await?.unwrap();
            let prev: Contact = stored.decode()?;
            let mut renamed = prev.clone();
            renamed.set_name(Some("Renamed Person".into()));
            let w = index::writes(Some(&prev), stored.version, &renamed, 100)?;
            self.inner.transact(w.now).await?;
        }
        self.inner.put(item, c).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        c: switchboard_core::store::Condition,
    ) -> Result<(), switchboard_core::store::StoreError> {
        self.inner.delete(pk, sk, c).await
    }
    async fn query(
        &self,
        q: Query,
    ) -> Result<switchboard_core::store::Page, switchboard_core::store::StoreError> {
        self.inner.query(q).await
    }
    async fn transact(
        &self,
        w: Vec<switchboard_core::store::Write>,
    ) -> Result<(), switchboard_core::store::StoreError> {
        self.inner.transact(w).await
    }
    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        d: i64,
        ttl: Option<i64>,
    ) -> Result<i64, switchboard_core::store::StoreError> {
        self.inner.increment(pk, sk, d, ttl).await
    }
    async fn take(
        &self,
        pk: &str,
        sk: &str,
        amount: i64,
    ) -> Result<Option<i64>, switchboard_core::store::StoreError> {
        self.inner.take(pk, sk, amount).await
    }
}

/// A contact is created in three steps (record, index items, record marked indexed); a
/// writer that gets in between indexes it itself, and the creator's now stale items go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_in_between_a_creation_leaves_no_stale_index_item() {
    let h = Harness::with(Options {
        workers: false,
        wrap_store: Some(Box::new(|inner| {
            std::sync::Arc::new(Interleaving {
                inner,
                fired: Default::default(),
            }) as std::sync::Arc<dyn switchboard_core::store::ItemStore>
        })),
        ..Options::default()
    })
    .await;
    let org = OrgId::parse("acme").unwrap();
    let mut c = Contact::new(
        &org,
        &WaId::parse("16505551234").unwrap(),
        chrono::Utc::now(),
    );
    c.set_name(Some("First Name".into()));
    c.tags = vec!["vip".into()];
    let version = index::save(h.app.services(), None, 0, &c).await.unwrap();
    assert_eq!(version, 2, "the other writer's version");
    let svc = h.app.services();
    let stored: Contact = svc
        .store
        .get(&Contact::key_of(&org, &c.id).0, "CONTACT")
        .await
        .unwrap()
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(
        (stored.name.as_deref(), stored.indexed),
        (Some("Renamed Person"), index::INDEX_VERSION)
    );
    let first = svc
        .store
        .query(Query::table(index::name_pk(&org, 'f')))
        .await
        .unwrap();
    assert!(first.items.is_empty(), "{:?}", first.items);
    let renamed = svc
        .store
        .query(Query::table(index::name_pk(&org, 'r')))
        .await
        .unwrap();
    assert_eq!(renamed.items.len(), 1);
    let vip = svc
        .store
        .query(Query::table(index::tag_pk(&org, "vip")))
        .await
        .unwrap();
    assert_eq!(vip.items.len(), 1, "an item both name stays");
}
