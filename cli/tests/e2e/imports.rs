//! Contact imports: `POST /v1/contacts/imports` with a CSV file, `worker-import` applying
//! it chunk by chunk, `GET /v1/contacts/imports/{id}` reporting progress — roles,
//! tenancy, the file's rules (415, 413, 422 naming the column), bad rows beside good
//! ones, re-runs that create nothing, opt-outs left alone, redelivered and interrupted
//! chunks counted once, and expiry; on both backends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::FixedClock;
use switchboard_core::ids::{ContactId, OrgId, Role, WaId};
use switchboard_core::model::Contact;
use switchboard_core::queue::{OutgoingMessage, QueueName};
use switchboard_core::store::{Condition, Item, StoreError};
use switchboard_runtime::queue::settle;

use crate::support::{Backend, Harness, Options, StoreHooks};

const PATH: &str = "/v1/contacts/imports";

struct Upload {
    status: StatusCode,
    body: Value,
    location: Option<String>,
    replayed: bool,
}

async fn upload_as(
    h: &Harness,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
    key: Option<&str>,
) -> Upload {
    let mut req = h
        .http
        .post(h.url(PATH))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let replayed = r.headers().get("idempotent-replayed").is_some();
    Upload {
        status,
        body: r.json().await.unwrap_or(Value::Null),
        location,
        replayed,
    }
}

async fn upload(h: &Harness, token: &str, csv: &str) -> Upload {
    upload_as(h, token, "text/csv", csv.as_bytes().to_vec(), None).await
}

/// Polls the import until it is completed (the dev server's poller applies it).
async fn completed(h: &Harness, token: &str, id: &str) -> Value {
    let path = format!("{PATH}/{id}");
    h.eventually("the import to complete", || async {
        let (status, body) = h.get(&path, token).await;
        (status == StatusCode::OK && body["status"] == "completed").then_some(body)
    })
    .await
}

fn contact_key(org: &str, phone: &str) -> (String, String) {
    let org = OrgId::parse(org).unwrap();
    Contact::key_of(
        &org,
        &ContactId::for_wa_id(&org, &WaId::parse(phone).unwrap()),
    )
}

/// The stored contact document (every attribute, known to the typed record or not).
async fn contact_doc(h: &Harness, org: &str, phone: &str) -> Option<Value> {
    let (pk, sk) = contact_key(org, phone);
    h.app
        .services()
        .store
        .get(&pk, &sk)
        .await
        .unwrap()
        .map(|i| i.data)
}

fn expect_422(u: &Upload, field: &str, code: &str) {
    assert_eq!(u.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", u.body);
    assert_eq!(u.body["error"]["field"], field, "{}", u.body);
    assert_eq!(u.body["error"]["code"], code, "{}", u.body);
    assert!(u.body["error"]["request_id"].is_string());
}

async fn the_routes_check_roles_tenancy_and_the_file(backend: Backend) {
    let h = Harness::with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    let csv = "phone,name\n+16505550001,Ana\n";
    for role in [Role::Viewer, Role::Agent] {
        let u = upload(&h, &h.token("acme", role), csv).await;
        assert_eq!(u.status, StatusCode::FORBIDDEN, "{role}");
    }
    let r = h
        .http
        .post(h.url(PATH))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // CSV only.
    for ct in [
        "application/json",
        "text/plain",
        "text/csv; charset=iso-8859-1",
    ] {
        let u = upload_as(&h, &admin, ct, csv.as_bytes().to_vec(), None).await;
        assert_eq!(u.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(u.body["error"]["code"], "unsupported_media_type");
    }
    // Up to 10 MiB.
    let big = format!("phone\n{}", "1".repeat(10 * 1024 * 1024));
    let u = upload_as(&h, &admin, "text/csv", big.into_bytes(), None).await;
    assert_eq!(u.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", u.body);
    assert_eq!(u.body["error"]["code"], "payload_too_large");
    // The file's shape: 422 naming the column, or `file`.
    expect_422(
        &upload(&h, &admin, "name,email\nAna,ana@example.com\n").await,
        "phone",
        "missing_column",
    );
    expect_422(
        &upload(&h, &admin, "phone,name,Name\n1,a,b\n").await,
        "Name",
        "duplicate_column",
    );
    expect_422(
        &upload(&h, &admin, "phone,cf_Plan Type\n1,a\n").await,
        "cf_Plan Type",
        "invalid_custom_field_key",
    );
    expect_422(&upload(&h, &admin, "").await, "file", "no_rows");
    expect_422(&upload(&h, &admin, "phone,name\n").await, "file", "no_rows");
    expect_422(
        &upload(&h, &admin, "phone,name\n\"+1650,Ana\n").await,
        "file",
        "invalid_csv",
    );
    let latin1 = b"phone,name\n+16505550001,Jos\xe9\n".to_vec();
    expect_422(
        &upload_as(&h, &admin, "text/csv", latin1, None).await,
        "file",
        "invalid_encoding",
    );

    // Accepted: 202 with the import and its Location.
    let u = upload(&h, &admin, csv).await;
    assert_eq!(u.status, StatusCode::ACCEPTED, "{}", u.body);
    let id = u.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("imp_"));
    assert_eq!(u.location.as_deref(), Some(format!("{PATH}/{id}").as_str()));
    assert_eq!(u.body["status"], "queued");
    assert_eq!(u.body["rows_total"], 1);
    let done = completed(&h, &admin, &id).await;
    assert_eq!(done["created"], 1, "{done}");

    // Reading it: admins of the org only; another org's id is a 404 like a missing one.
    let path = format!("{PATH}/{id}");
    for role in [Role::Viewer, Role::Agent] {
        let (st, _) = h.get(&path, &h.token("acme", role)).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    let (st, other) = h.get(&path, &h.token("beta", Role::Owner)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{other}");
    assert_eq!(other["error"]["code"], "not_found");
    let (st, _) = h
        .get(&format!("{PATH}/imp_{}", "0".repeat(32)), &admin)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = h
        .get(&format!("{PATH}/ct_{}", "0".repeat(32)), &admin)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The other org's contacts are untouched by acme's import.
    assert!(contact_doc(&h, "beta", "16505550001").await.is_none());

    // An Idempotency-Key names the import: the same file replays it, another is a 422.
    let key = Some("crm-export-2026-11-23");
    let first = upload_as(&h, &admin, "text/csv", csv.as_bytes().to_vec(), key).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let again = upload_as(&h, &admin, "text/csv", csv.as_bytes().to_vec(), key).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.body["id"], first.body["id"]);
    let other_file = upload_as(
        &h,
        &admin,
        "text/csv",
        b"phone\n+16505550002\n".to_vec(),
        key,
    )
    .await;
    expect_422(&other_file, "Idempotency-Key", "idempotency_key_reused");

    // Uploads are audited like every change.
    let (_, log) = h.get("/v1/audit?action=create-import", &admin).await;
    assert!(log["items"].as_array().unwrap().len() >= 3, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_check_roles_tenancy_and_the_file_sqlite() {
    the_routes_check_roles_tenancy_and_the_file(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_check_roles_tenancy_and_the_file_dynamodb() {
    the_routes_check_roles_tenancy_and_the_file(Backend::Aws).await;
}

const MIXED: &str = "\u{feff}Phone,Name,Email,Tags,Status,cf_plan,Notes\r\n\
+1 (650) 555-0101,Ana Lima,Ana@Example.com,VIP;lead:2026,customer,gold,met at the fair\r\n\
0016505550102,Bruno,,,prospect,,\r\n\
not a number,Carla,carla@example.com,,lead,,\r\n\
+16505550104,Dora,dora@,,,,\r\n\
+16505550105,Eli,,,sleeping,,\r\n\
+16505550106,Fay,,bad tag!,,,\r\n\
+16505550107,\"Gil, Jr.\",,,,,,extra\r\n\
\r\n\
16505550108,\"Hana\nSecond line\",,,lead,silver\r\n";

async fn bad_rows_never_stop_good_ones_and_a_rerun_creates_nothing(backend: Backend) {
    let h = Harness::with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    let u = upload(&h, &admin, MIXED).await;
    assert_eq!(u.status, StatusCode::ACCEPTED, "{}", u.body);
    // Unknown columns are ignored, and said so.
    assert_eq!(u.body["ignored_columns"], json!(["Notes"]));
    let id = u.body["id"].as_str().unwrap().to_owned();
    let done = completed(&h, &admin, &id).await;
    assert_eq!(done["rows_total"], 8, "{done}");
    assert_eq!(done["rows_done"], 8);
    assert_eq!(
        (
            &done["created"],
            &done["updated"],
            &done["unchanged"],
            &done["failed"]
        ),
        (&json!(3), &json!(0), &json!(0), &json!(5)),
        "{done}"
    );
    let errors: Vec<(u64, &str)> = done["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            (4, "phone"),
            (5, "email"),
            (6, "status"),
            (7, "tags"),
            (8, "row")
        ],
        "{done}"
    );
    // No value of a row is echoed in the errors.
    let text = done["errors"].to_string();
    for secret in ["not a number", "dora@", "sleeping", "bad tag!", "extra"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(done["finished_at"].is_string());

    // The good rows, normalised.
    let ana = contact_doc(&h, "acme", "16505550101").await.unwrap();
    assert_eq!(ana["name"], "Ana Lima");
    assert_eq!(ana["email"], "ana@example.com");
    assert_eq!(ana["tags"], json!(["vip", "lead:2026"]));
    assert_eq!(ana["status"], "customer");
    assert_eq!(ana["custom_fields"], json!({"plan": "gold"}));
    let bruno = contact_doc(&h, "acme", "16505550102").await.unwrap();
    assert_eq!(
        (bruno["name"].as_str(), bruno["status"].as_str()),
        (Some("Bruno"), Some("prospect"))
    );
    let hana = contact_doc(&h, "acme", "16505550108").await.unwrap();
    assert_eq!(hana["name"], "Hana\nSecond line");
    for bad in ["16505550104", "16505550105", "16505550106", "16505550107"] {
        assert!(contact_doc(&h, "acme", bad).await.is_none(), "{bad}");
    }
    // The API shows them like any contact.
    let (_, list) = h.get("/v1/contacts", &admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");

    // The same file again: nothing new, nothing changed.
    let again = upload(&h, &admin, MIXED).await;
    let id2 = again.body["id"].as_str().unwrap().to_owned();
    assert_ne!(id2, id, "without a key, a second upload is a second import");
    let done2 = completed(&h, &admin, &id2).await;
    assert_eq!(
        (
            &done2["created"],
            &done2["updated"],
            &done2["unchanged"],
            &done2["failed"]
        ),
        (&json!(0), &json!(0), &json!(3), &json!(5)),
        "{done2}"
    );
    let (_, list) = h.get("/v1/contacts", &admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    assert_eq!(contact_doc(&h, "acme", "16505550101").await.unwrap(), ana);

    // A change: given fields are set, tags added, custom fields merged, the rest kept.
    let change = "phone,name,tags,cf_region\n+16505550101,Ana L.,vip;newsletter,south\n";
    let id3 = upload(&h, &admin, change).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done3 = completed(&h, &admin, &id3).await;
    assert_eq!(
        (&done3["created"], &done3["updated"]),
        (&json!(0), &json!(1)),
        "{done3}"
    );
    let ana2 = contact_doc(&h, "acme", "16505550101").await.unwrap();
    assert_eq!(ana2["name"], "Ana L.");
    assert_eq!(ana2["email"], "ana@example.com");
    assert_eq!(ana2["status"], "customer");
    assert_eq!(ana2["tags"], json!(["vip", "lead:2026", "newsletter"]));
    assert_eq!(
        ana2["custom_fields"],
        json!({"plan": "gold", "region": "south"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_never_stop_good_ones_and_a_rerun_creates_nothing_sqlite() {
    bad_rows_never_stop_good_ones_and_a_rerun_creates_nothing(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_never_stop_good_ones_and_a_rerun_creates_nothing_dynamodb() {
    bad_rows_never_stop_good_ones_and_a_rerun_creates_nothing(Backend::Aws).await;
}

async fn opt_outs_are_never_touched(backend: Backend) {
    let h = Harness::with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    // A customer who opted out (the contacts API or a STOP message recorded it).
    let org = OrgId::parse("acme").unwrap();
    let wa = WaId::parse("16505550201").unwrap();
    let now = h.app.services().clock.now();
    let mut contact = Contact::new(&org, &wa, now);
    contact.name = Some("Ivo".into());
    let mut item: Item = switchboard_core::record::item(&contact, 1).unwrap();
    item.data["opted_out"] = json!(true);
    item.data["tags"] = json!(["wholesale"]);
    h.app
        .services()
        .store
        .put(item, Condition::NotExists)
        .await
        .unwrap();
    // The file even has an opted_out column: it is not importable.
    let csv = "phone,name,opted_out,tags\n+16505550201,Ivo Reis,false,vip\n+16505550202,Jo,true,\n";
    let u = upload(&h, &admin, csv).await;
    assert_eq!(u.body["ignored_columns"], json!(["opted_out"]));
    let done = completed(&h, &admin, u.body["id"].as_str().unwrap()).await;
    assert_eq!(
        (&done["created"], &done["updated"]),
        (&json!(1), &json!(1)),
        "{done}"
    );
    let ivo = contact_doc(&h, "acme", "16505550201").await.unwrap();
    assert_eq!(ivo["opted_out"], true, "{ivo}");
    assert_eq!(ivo["name"], "Ivo Reis");
    assert_eq!(ivo["tags"], json!(["wholesale", "vip"]));
    let jo = contact_doc(&h, "acme", "16505550202").await.unwrap();
    assert!(jo.get("opted_out").is_none_or(|v| v == false), "{jo}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_outs_are_never_touched_sqlite() {
    opt_outs_are_never_touched(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_outs_are_never_touched_dynamodb() {
    opt_outs_are_never_touched(Backend::Aws).await;
}

async fn receive(h: &Harness) -> Vec<switchboard_core::queue::ReceivedMessage> {
    h.app
        .services()
        .queue
        .receive(
            QueueName::Import,
            10,
            Duration::from_secs(60),
            Duration::from_millis(200),
        )
        .await
        .unwrap()
}

async fn interrupted_and_redelivered_chunks_count_once(backend: Backend) {
    // The first transaction (recording the chunk) fails: its rows are applied, not
    // counted, and the chunk comes back.
    let transactions = Arc::new(AtomicUsize::new(0));
    let seen = transactions.clone();
    let h = Harness::with(Options {
        backend,
        workers: false,
        wrap_store: Some(
            StoreHooks {
                transact: Some(Box::new(move |n: &usize| {
                    seen.store(*n, Ordering::SeqCst);
                    if *n == 1 {
                        Err(StoreError::Unavailable("injected".into()))
                    } else {
                        Ok(())
                    }
                })),
                ..StoreHooks::default()
            }
            .wrap(),
        ),
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    let existing = "phone,name\n+16505550301,Kim\n";
    let csv = "phone,name,status\n+16505550301,Kim,lead\n+16505550302,Lee,lead\n+16505550303,Max,\n+16505550301,Kim,lead\n";
    // One contact exists already, unchanged by the import's first row... but changed by
    // its status; a row repeated later in the file changes nothing more.
    let u = upload(&h, &admin, existing).await;
    let id0 = u.body["id"].as_str().unwrap().to_owned();
    let batch = receive(&h).await;
    assert_eq!(batch.len(), 1);
    let outcome = worker_import::handle(&h.app, batch.clone()).await;
    assert_eq!(
        outcome.failures.len(),
        1,
        "the injected failure: {outcome:?}"
    );
    let (_, v) = h.get(&format!("{PATH}/{id0}"), &admin).await;
    assert_eq!(
        (&v["status"], &v["rows_done"]),
        (&json!("running"), &json!(0)),
        "{v}"
    );
    settle(
        &*h.app.services().queue,
        QueueName::Import,
        &batch,
        &outcome,
        true,
    )
    .await;
    h.app
        .services()
        .queue
        .retry_later(QueueName::Import, &batch[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let batch = receive(&h).await;
    assert_eq!(batch.len(), 1, "the failed chunk comes back");
    let outcome = worker_import::handle(&h.app, batch.clone()).await;
    assert!(outcome.failures.is_empty(), "{outcome:?}");
    settle(
        &*h.app.services().queue,
        QueueName::Import,
        &batch,
        &outcome,
        true,
    )
    .await;
    let (_, v) = h.get(&format!("{PATH}/{id0}"), &admin).await;
    assert_eq!(
        (
            &v["status"],
            &v["created"],
            &v["unchanged"],
            &v["rows_done"]
        ),
        (&json!("completed"), &json!(1), &json!(0), &json!(1)),
        "the row the interrupted attempt applied counts as created, once: {v}"
    );
    // The same message delivered again (SQS is at least once): nothing twice.
    let outcome = worker_import::handle(&h.app, batch.clone()).await;
    assert!(outcome.failures.is_empty());
    let (_, again) = h.get(&format!("{PATH}/{id0}"), &admin).await;
    assert_eq!(again, v);

    // A second import, and a stray copy of its chunk queued after it was applied.
    let u = upload(&h, &admin, csv).await;
    let id = u.body["id"].as_str().unwrap().to_owned();
    let batch = receive(&h).await;
    let outcome = worker_import::handle(&h.app, batch.clone()).await;
    assert!(outcome.failures.is_empty(), "{outcome:?}");
    settle(
        &*h.app.services().queue,
        QueueName::Import,
        &batch,
        &outcome,
        true,
    )
    .await;
    let (_, v) = h.get(&format!("{PATH}/{id}"), &admin).await;
    assert_eq!(
        (
            &v["created"],
            &v["updated"],
            &v["unchanged"],
            &v["rows_done"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(4)),
        "{v}"
    );
    h.app
        .services()
        .queue
        .send(
            QueueName::Import,
            vec![OutgoingMessage::fifo(
                batch[0].body.clone(),
                id.clone(),
                format!("{id}:0:copy"),
            )],
        )
        .await
        .unwrap();
    let copy = receive(&h).await;
    assert_eq!(copy.len(), 1);
    let outcome = worker_import::handle(&h.app, copy.clone()).await;
    assert!(outcome.failures.is_empty());
    settle(
        &*h.app.services().queue,
        QueueName::Import,
        &copy,
        &outcome,
        true,
    )
    .await;
    let (_, after) = h.get(&format!("{PATH}/{id}"), &admin).await;
    assert_eq!(after, v, "a redelivered chunk counts once");
    assert!(receive(&h).await.is_empty(), "nothing more queued");
    assert!(transactions.load(Ordering::SeqCst) >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_and_redelivered_chunks_count_once_sqlite() {
    interrupted_and_redelivered_chunks_count_once(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_and_redelivered_chunks_count_once_dynamodb() {
    interrupted_and_redelivered_chunks_count_once(Backend::Aws).await;
}

async fn large_files_apply_in_chunks_in_file_order(backend: Backend) {
    let h = Harness::with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    // 1,200 rows: three chunks. The first and the last row name the same number: the
    // last one wins, as in the file.
    let mut csv = String::from("phone,name,cf_n\n+16505559999,First,0\n");
    for i in 1..1199 {
        csv.push_str(&format!("+1650{:07},Person {i},{i}\n", 1_000_000 + i));
    }
    csv.push_str("+16505559999,Last,1199\n");
    let u = upload(&h, &admin, &csv).await;
    assert_eq!(u.status, StatusCode::ACCEPTED, "{}", u.body);
    let id = u.body["id"].as_str().unwrap().to_owned();
    let done = h
        .eventually_within(
            "the import to complete",
            Duration::from_secs(120),
            || async {
                let (_, body) = h.get(&format!("{PATH}/{id}"), &admin).await;
                (body["status"] == "completed").then_some(body)
            },
        )
        .await;
    assert_eq!(
        (
            &done["rows_done"],
            &done["created"],
            &done["updated"],
            &done["failed"]
        ),
        (&json!(1200), &json!(1199), &json!(1), &json!(0)),
        "{done}"
    );
    let last = contact_doc(&h, "acme", "16505559999").await.unwrap();
    assert_eq!(
        (last["name"].as_str(), last["custom_fields"]["n"].as_str()),
        (Some("Last"), Some("1199"))
    );
    // Applied chunks are deleted with their personal data; only the import remains.
    let org = OrgId::parse("acme").unwrap();
    let import_id = switchboard_core::ids::ImportId::parse(&id).unwrap();
    for chunk in 0..3 {
        let (pk, sk) =
            switchboard_core::usecases::imports::ImportChunk::key_of(&org, &import_id, chunk);
        assert!(
            h.app
                .services()
                .store
                .get(&pk, &sk)
                .await
                .unwrap()
                .is_none(),
            "chunk {chunk}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_apply_in_chunks_in_file_order_sqlite() {
    large_files_apply_in_chunks_in_file_order(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_apply_in_chunks_in_file_order_dynamodb() {
    large_files_apply_in_chunks_in_file_order(Backend::Aws).await;
}

async fn imports_expire_after_thirty_days(backend: Backend) {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let h = Harness::with(Options {
        backend,
        clock: Some(clock.clone()),
        workers: false,
        ..Options::default()
    })
    .await;
    let admin = h.token("acme", Role::Admin);
    let u = upload(&h, &admin, "phone\n+16505550401\n").await;
    let id = u.body["id"].as_str().unwrap().to_owned();
    let path = format!("{PATH}/{id}");
    // Never applied (no worker ran): its chunk expires with it.
    clock.advance(chrono::Duration::days(30) - chrono::Duration::seconds(1));
    let (st, v) = h.get(&path, &admin).await;
    assert_eq!((st, &v["status"]), (StatusCode::OK, &json!("queued")));
    clock.advance(chrono::Duration::seconds(1));
    let (st, _) = h.get(&path, &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "an import is kept 30 days");
    // Its queued chunk finds nothing to do.
    let batch = receive(&h).await;
    let outcome = worker_import::handle(&h.app, batch).await;
    assert!(outcome.failures.is_empty() && outcome.dead_letters.is_empty());
    assert!(contact_doc(&h, "acme", "16505550401").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_expire_after_thirty_days_sqlite() {
    imports_expire_after_thirty_days(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_expire_after_thirty_days_dynamodb() {
    imports_expire_after_thirty_days(Backend::Aws).await;
}
