//! Data-subject requests end to end, on both backends: the export of everything held
//! about a person (admins only, audited, refused past Lambda's response limit), the
//! erasure of a person — short histories at once, long ones in chunks continued by the
//! schedule — checked by scanning every item of the store for their number, name and
//! words, and the retention of raw webhook events, checked by moving the clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::{ContactId, MessageId, OrgId, Role, WaId};
use switchboard_core::model::{Message, Provider};
use switchboard_core::queue::QueueName;
use switchboard_core::record::{item, load};
use switchboard_core::store::Condition;
use switchboard_core::usecases::events;
use switchboard_runtime::queue::settle;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};
use switchboard_testkit::scan::{self, RawItem};

use crate::support::{Backend, Harness, Options};

/// The other org's business number.
const OTHER_NUMBER_ID: &str = "106540352249999";
/// A number no org has connected.
const UNCONNECTED_NUMBER_ID: &str = "106540350000001";

/// A person with a number, a name and words found nowhere else in the store.
struct Person {
    number: String,
    name: String,
    words: String,
}

fn person() -> Person {
    let u = uuid::Uuid::new_v4();
    let digits: String = u.as_u128().to_string().chars().take(8).collect();
    let hex = u.simple().to_string();
    Person {
        number: format!("1555{digits}"),
        name: format!("Quillon Zaborsky{}", &hex[..6]),
        words: format!("tangerine{}", &hex[6..16]),
    }
}

struct World {
    h: Harness,
    backend: Backend,
    /// How the harness's store describes itself (`DynamoStore(<table>)` on AWS).
    store: Arc<Mutex<String>>,
}

async fn world(backend: Backend, clock: Option<Arc<FixedClock>>) -> World {
    let store = Arc::new(Mutex::new(String::new()));
    let seen = store.clone();
    let h = Harness::with(Options {
        backend,
        clock,
        workers: false,
        wrap_store: Some(Box::new(move |inner| {
            *seen.lock().unwrap() = format!("{inner:?}");
            inner
        })),
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    World { h, backend, store }
}

impl World {
    /// Every item of the store, expired ones included.
    async fn scan(&self) -> Vec<RawItem> {
        match self.backend {
            Backend::Local => scan::sqlite(&self.h.data_dir().join("store.sqlite3")),
            Backend::Aws => {
                let described = self.store.lock().unwrap().clone();
                let table = described
                    .strip_prefix("DynamoStore(")
                    .and_then(|s| s.strip_suffix(')'))
                    .unwrap_or_else(|| panic!("not a DynamoDB store: {described}"))
                    .to_owned();
                let clients = switchboard_testkit::moto::clients().await;
                scan::dynamodb(&clients.dynamodb, &table).await
            }
        }
    }

    /// The person writes to a business number; the event is applied. Returns the
    /// delivery's body (to redeliver it).
    async fn says(&self, number_id: &str, p: &Person, wamid: &str, text: &str) -> Vec<u8> {
        let ts = self.h.app.services().clock.now().timestamp();
        let body = fixtures::delivery(vec![fixtures::text_change(
            number_id, &p.number, &p.name, wamid, ts, text,
        )]);
        assert_eq!(self.h.webhook(&body).await.status(), StatusCode::OK);
        assert_eq!(drain_now(&self.h, QueueName::Inbound).await, 0);
        body
    }

    fn contact(&self, org: &str, p: &Person) -> String {
        ContactId::for_wa_id(
            &OrgId::parse(org).unwrap(),
            &WaId::parse(&p.number).unwrap(),
        )
        .to_string()
    }

    async fn conversation(&self, org: &str) -> String {
        let (_, list) = self
            .h
            .get("/v1/conversations", &self.h.token(org, Role::Viewer))
            .await;
        list["items"][0]["id"].as_str().unwrap().to_owned()
    }
}

/// Runs a queue's consumer until the queue is empty; messages that failed (and will be
/// retried) are made due again only afterwards, so this ends. Returns the failures.
async fn drain_now(h: &Harness, queue: QueueName) -> usize {
    let consumer = switchboard_cli::routes::consumers()
        .into_iter()
        .find(|c| c.queue == queue)
        .expect("a consumer");
    let q = &h.app.services().queue;
    let mut failed: Vec<String> = Vec::new();
    for _ in 0..100 {
        let mut batch = q
            .receive(
                queue,
                10,
                Duration::from_secs(60),
                Duration::from_millis(50),
            )
            .await
            .unwrap();
        if batch.is_empty() {
            // Empty once may be a busy moto answering before the message shows: look
            // again, longer, before calling the queue drained.
            batch = q
                .receive(
                    queue,
                    10,
                    Duration::from_secs(60),
                    Duration::from_millis(500),
                )
                .await
                .unwrap();
        }
        if batch.is_empty() {
            let n = failed.len();
            for receipt in failed {
                q.retry_later(queue, &receipt, Duration::ZERO)
                    .await
                    .unwrap();
            }
            return n;
        }
        let outcome = (consumer.handler)(h.app.clone(), batch.clone()).await;
        settle(&**q, queue, &batch, &outcome, true).await;
        for f in &outcome.failures {
            if let Some(m) = batch.iter().find(|m| m.id == f.id) {
                failed.push(m.receipt.clone());
            }
        }
    }
    panic!("{queue} did not drain");
}

/// An agent's text reply; the sandbox sends it and its statuses come back as webhooks.
async fn reply_and_deliver(w: &World, conv: &str, text: &str, key: &str) {
    let r =
        w.h.http
            .post(w.h.url(&format!("/v1/conversations/{conv}/messages")))
            .bearer_auth(w.h.token("acme", Role::Agent))
            .header("idempotency-key", key)
            .json(&json!({"type": "text", "text": {"body": text}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(drain_now(&w.h, QueueName::Outbound).await, 0);
    // The sandbox emits `sent` and `delivered` half a second apart.
    let viewer = w.h.token("acme", Role::Viewer);
    w.h.eventually("the delivered status", || async {
        drain_now(&w.h, QueueName::Inbound).await;
        let (_, list) =
            w.h.get(&format!("/v1/conversations/{conv}/messages"), &viewer)
                .await;
        list["items"]
            .as_array()?
            .iter()
            .any(|m| m["status"] == "delivered")
            .then_some(())
    })
    .await;
}

fn texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["content"]["text"]["body"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

// ---------------------------------------------------------------------- export

async fn export_holds_everything_and_only_admins_get_it(backend: Backend) {
    let w = world(backend, None).await;
    let p = person();
    w.says(
        PHONE_NUMBER_ID,
        &p,
        "wamid.x1",
        &format!("hello {}", p.words),
    )
    .await;
    w.says(
        PHONE_NUMBER_ID,
        &p,
        "wamid.x2",
        &format!("second {}", p.words),
    )
    .await;
    let conv = w.conversation("acme").await;
    reply_and_deliver(&w, &conv, "we have it in stock", "reply-1").await;
    let id = w.contact("acme", &p);
    let path = format!("/v1/contacts/{id}/export");
    let admin = w.h.token("acme", Role::Admin);

    // Admins only; another org's id (or none) is a 404; a bad flag names its field.
    for role in [Role::Viewer, Role::Agent] {
        let (st, _) = w.h.get(&path, &w.h.token("acme", role)).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{role:?}");
    }
    let (st, _) = w.h.get(&path, &w.h.token("other", Role::Admin)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = w.h.get("/v1/contacts/ct_nope/export", &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let unknown = ContactId::from_uuid(uuid::Uuid::new_v4());
    let (st, _) =
        w.h.get(&format!("/v1/contacts/{unknown}/export"), &admin)
            .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, body) =
        w.h.get(&format!("{path}?include_messages=maybe"), &admin)
            .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "include_messages");

    let r =
        w.h.http
            .get(w.h.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&id)
    );
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["format"], "switchboard.contact_export.v1");
    assert_eq!(doc["contact"]["id"], id);
    assert_eq!(doc["contact"]["wa_id"], p.number);
    assert_eq!(doc["contact"]["name"], p.name);
    let convs = doc["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0]["id"], conv);
    assert_eq!(
        texts(&convs[0]["messages"]),
        [
            format!("hello {}", p.words),
            format!("second {}", p.words),
            "we have it in stock".to_owned()
        ]
    );
    assert_eq!(convs[0]["messages"][2]["status"], "delivered");
    // Raw events: two messages, the reply's two statuses; when each goes, no payload.
    let raw = &doc["raw_webhook_events"];
    assert_eq!(raw["retention_days"], 30);
    let items = raw["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{raw}");
    assert!(
        items
            .iter()
            .all(|e| e["expires_at"].is_string() && e.get("payload").is_none())
    );
    // Sections for what is kept per contact, empty ones included.
    for section in [
        "notes",
        "appointments",
        "campaign_enrolments",
        "other_records",
    ] {
        assert!(doc[section].is_array(), "{section}: {doc}");
    }

    // Without messages: the rest, and where to page through them.
    let (st, lean) =
        w.h.get(&format!("{path}?include_messages=false"), &admin)
            .await;
    assert_eq!(st, StatusCode::OK);
    assert!(lean["conversations"][0]["messages"].is_null());
    assert_eq!(
        lean["conversations"][0]["messages_path"],
        format!("/v1/conversations/{conv}/messages")
    );

    // Exports are audited although they read (refusals too); other reads are not.
    let (_, log) = w.h.get("/v1/audit?action=export-contact", &admin).await;
    let entries = log["items"].as_array().unwrap();
    let ok: Vec<&Value> = entries.iter().filter(|e| e["status"] == 200).collect();
    assert_eq!(ok.len(), 2, "{log}");
    assert_eq!(ok[0]["resource"], format!("GET {path}"), "no query string");
    assert!(
        entries
            .iter()
            .any(|e| e["status"] == 403 && e["role"] == "viewer")
    );
    let (_, all) = w.h.get("/v1/audit", &admin).await;
    for e in all["items"].as_array().unwrap() {
        let action = e["action"].as_str().unwrap();
        assert!(
            ["connect-integration", "send-message", "export-contact"].contains(&action),
            "{action} is a read: {all}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_holds_everything_and_only_admins_get_it_local() {
    export_holds_everything_and_only_admins_get_it(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_holds_everything_and_only_admins_get_it_aws() {
    export_holds_everything_and_only_admins_get_it(Backend::Aws).await;
}

async fn an_export_too_large_for_one_response_is_refused_and_offered_without_messages(
    backend: Backend,
) {
    let w = world(backend, None).await;
    let p = person();
    w.says(PHONE_NUMBER_ID, &p, "wamid.big1", "hi").await;
    // 15 messages of 380 KB (each near DynamoDB's item limit): 5.7 MB in all.
    let org = OrgId::parse("acme").unwrap();
    let svc = w.h.app.services();
    let (pk, sk) = Message::key_of(&org, &MessageId::for_wamid(&org, "wamid.big1"));
    let first = load::<Message>(&*svc.store, &pk, &sk)
        .await
        .unwrap()
        .unwrap()
        .record;
    for i in 0..15i64 {
        let mut m = first.clone();
        m.id = MessageId::from_uuid(uuid::Uuid::now_v7());
        m.wamid = None;
        m.timestamp += chrono::Duration::seconds(i + 1);
        m.content = json!({"type": "text", "text": {"body": "x".repeat(380 * 1024)}});
        svc.store
            .put(item(&m, 1).unwrap(), Condition::NotExists)
            .await
            .unwrap();
    }
    let admin = w.h.token("acme", Role::Admin);
    let path = format!("/v1/contacts/{}/export", w.contact("acme", &p));
    let (st, body) = w.h.get(&path, &admin).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "export_too_large");
    assert_eq!(body["error"]["field"], "include_messages");
    let (st, lean) =
        w.h.get(&format!("{path}?include_messages=false"), &admin)
            .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(lean["contact"]["wa_id"], p.number);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_too_large_is_refused_and_offered_without_messages_local() {
    an_export_too_large_for_one_response_is_refused_and_offered_without_messages(Backend::Local)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_too_large_is_refused_and_offered_without_messages_aws() {
    an_export_too_large_for_one_response_is_refused_and_offered_without_messages(Backend::Aws)
        .await;
}

// ---------------------------------------------------------------------- erasure

/// Items that mention any of `needles`.
fn mentioning<'a>(items: &'a [RawItem], needles: &[&str]) -> Vec<&'a RawItem> {
    items
        .iter()
        .filter(|i| needles.iter().any(|n| i.contains(n)))
        .collect()
}

async fn erasure_leaves_nothing_of_the_person(backend: Backend) {
    let w = world(backend, None).await;
    w.h.connect("other", OTHER_NUMBER_ID).await;
    let p = person();
    // The person writes to acme and to another org; acme answers twice: once sent (with
    // a wamid, statuses, an idempotency record and pacing state), once still queued.
    let first = w
        .says(
            PHONE_NUMBER_ID,
            &p,
            "wamid.e1",
            &format!("my words {}", p.words),
        )
        .await;
    let other_words = format!("for the other org {}", uuid::Uuid::new_v4().simple());
    w.says(OTHER_NUMBER_ID, &p, "wamid.o1", &other_words).await;
    let conv = w.conversation("acme").await;
    let reply = format!("acme replies {}", uuid::Uuid::new_v4().simple());
    reply_and_deliver(&w, &conv, &reply, "reply-e1").await;
    let (st, _) =
        w.h.post(
            &format!("/v1/conversations/{conv}/messages"),
            &w.h.token("acme", Role::Agent),
            &json!({"type": "text", "text": {"body": format!("queued {}", p.words)}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let before = w.scan().await;
    for needle in [&p.number, &p.name, &p.words, &reply] {
        assert!(
            before.iter().any(|i| i.contains(needle)),
            "the scan sees {needle}"
        );
    }

    let id = w.contact("acme", &p);
    let path = format!("/v1/contacts/{id}");
    for role in [Role::Viewer, Role::Agent] {
        let (st, _) = w.h.delete(&path, &w.h.token("acme", role)).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{role:?}");
    }
    let (st, _) = w.h.delete(&path, &w.h.token("other", Role::Admin)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "another org's id is not found");
    let (st, _) =
        w.h.delete("/v1/contacts/ct_nope", &w.h.token("acme", Role::Admin))
            .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) =
        w.h.get(&format!("{path}/erasure"), &w.h.token("acme", Role::Agent))
            .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // A short history goes within the request.
    let admin = w.h.token("acme", Role::Admin);
    let (st, body) = w.h.delete(&path, &admin).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (st, job) = w.h.get(&format!("{path}/erasure"), &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(job["status"], "completed");
    assert_eq!(job["requested_by"], "test-user");
    let progress = &job["progress"];
    assert_eq!(progress["conversations"], 1, "{job}");
    assert_eq!(progress["messages"], 3, "{job}");
    assert_eq!(progress["pending_sends_cancelled"], 1, "{job}");
    assert_eq!(
        progress["webhook_events"], 3,
        "one message, two statuses: {job}"
    );
    assert!(
        progress["lookups"].as_u64().unwrap() >= 3,
        "wamids, idempotency, pacing: {job}"
    );
    // Idempotent; gone from every view.
    let (st, _) = w.h.delete(&path, &admin).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for gone in [
        format!("{path}/export"),
        path.clone(),
        format!("/v1/conversations/{conv}"),
        format!("/v1/conversations/{conv}/messages"),
    ] {
        let (st, _) = w.h.get(&gone, &admin).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{gone}");
    }
    let (_, convs) = w.h.get("/v1/conversations", &admin).await;
    assert_eq!(convs["items"].as_array().unwrap().len(), 0);
    // The other org's relationship with the same person is untouched.
    let other_admin = w.h.token("other", Role::Admin);
    let (st, theirs) =
        w.h.get(
            &format!("/v1/contacts/{}/export", w.contact("other", &p)),
            &other_admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        texts(&theirs["conversations"][0]["messages"]),
        std::slice::from_ref(&other_words)
    );

    // Nothing of the person is left in acme's hands: no item holds acme's words, and the
    // number and name are only in the other org's items.
    let after = w.scan().await;
    let words = mentioning(&after, &[&p.words, &reply]);
    assert!(words.is_empty(), "{words:#?}");
    let named = mentioning(&after, &[&p.number, &p.name]);
    assert!(!named.is_empty());
    for i in &named {
        assert!(
            i.contains("\"org_id\":\"other\""),
            "left of the person outside the other org: {i:#?}"
        );
    }

    // The cancelled send's queue message is skipped, not dead-lettered.
    assert_eq!(drain_now(&w.h, QueueName::Outbound).await, 0);
    let dead =
        w.h.app
            .services()
            .queue
            .dead_letters(QueueName::Outbound, 10)
            .await
            .unwrap();
    assert!(dead.is_empty(), "{dead:?}");
    let (_, log) = w.h.get("/v1/audit?action=erase-contact", &admin).await;
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["status"] == 204)
    );

    // Meta redelivering the old message does not bring it back...
    assert_eq!(w.h.webhook(&first).await.status(), StatusCode::OK);
    assert_eq!(drain_now(&w.h, QueueName::Inbound).await, 0);
    let (st, _) = w.h.get(&path, &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "a redelivery is a duplicate");

    // ...and a new message from the number starts a contact with nothing of the old one.
    let again = Person {
        number: p.number.clone(),
        name: "Somebody Else".into(),
        words: "a fresh start".into(),
    };
    w.says(PHONE_NUMBER_ID, &again, "wamid.e2", "a fresh start")
        .await;
    let (st, contact) = w.h.get(&path, &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(contact["name"], "Somebody Else");
    assert!(contact["created_at"].as_str().unwrap() >= job["completed_at"].as_str().unwrap());
    let (_, conversation) = w.h.get(&format!("/v1/conversations/{conv}"), &admin).await;
    assert_eq!(conversation["unread_count"], 1);
    let (_, doc) = w.h.get(&format!("{path}/export"), &admin).await;
    assert_eq!(
        texts(&doc["conversations"][0]["messages"]),
        ["a fresh start"]
    );
    assert_eq!(
        doc["raw_webhook_events"]["items"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_nothing_of_the_person_local() {
    erasure_leaves_nothing_of_the_person(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_nothing_of_the_person_aws() {
    erasure_leaves_nothing_of_the_person(Backend::Aws).await;
}

async fn a_long_history_is_erased_in_chunks_while_new_messages_wait(backend: Backend) {
    let w = world(backend, None).await;
    let p = person();
    const MESSAGES: usize = 260;
    let ts = w.h.app.services().clock.now().timestamp();
    let changes = (0..MESSAGES)
        .map(|i| {
            fixtures::text_change(
                PHONE_NUMBER_ID,
                &p.number,
                &p.name,
                &format!("wamid.long{i}"),
                ts,
                &format!("{} number {i}", p.words),
            )
        })
        .collect();
    assert_eq!(
        w.h.webhook(&fixtures::delivery(changes)).await.status(),
        StatusCode::OK
    );
    assert_eq!(drain_now(&w.h, QueueName::Inbound).await, 0);
    let conv = w.conversation("acme").await;
    let id = w.contact("acme", &p);
    let path = format!("/v1/contacts/{id}");
    let admin = w.h.token("acme", Role::Admin);

    // More than one chunk: 202, and the job to poll.
    let r =
        w.h.http
            .delete(w.h.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["location"], format!("{path}/erasure"));
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["status"], "running");
    assert_eq!(started["chunks"], 1);
    let done_first = started["progress"]["messages"].as_u64().unwrap();
    assert!(done_first > 0, "{started}");
    // Asked again: the same job, untouched.
    let (st, again) = w.h.delete(&path, &admin).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(again["requested_at"], started["requested_at"]);
    assert_eq!(again["chunks"], 1);
    let (_, polled) = w.h.get(&format!("{path}/erasure"), &admin).await;
    assert_eq!(polled["status"], "running");
    // The person is gone from the API at once.
    for gone in [
        path.clone(),
        format!("{path}/export"),
        format!("/v1/conversations/{conv}"),
    ] {
        let (st, _) = w.h.get(&gone, &admin).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{gone}");
    }
    // A message from them meanwhile waits in the queue.
    let ts = w.h.app.services().clock.now().timestamp();
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        &p.number,
        "New Name",
        "wamid.later",
        ts,
        "written during the erasure",
    )]);
    assert_eq!(w.h.webhook(&body).await.status(), StatusCode::OK);
    assert_eq!(drain_now(&w.h, QueueName::Inbound).await, 1, "held back");
    let (st, _) = w.h.get(&path, &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // The schedule finishes it.
    let summary = cron_erasure::handle(&w.h.app, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (summary["found"].as_u64(), summary["completed"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    let (_, job) = w.h.get(&format!("{path}/erasure"), &admin).await;
    assert_eq!(job["status"], "completed");
    assert!(job["chunks"].as_u64().unwrap() >= 2, "{job}");
    assert_eq!(job["progress"]["messages"], MESSAGES as u64, "{job}");
    assert_eq!(job["progress"]["webhook_events"], MESSAGES as u64, "{job}");
    let summary = cron_erasure::handle(&w.h.app, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(summary["found"], 0, "nothing left to continue");
    // Nothing of the history is left; the number is only in the message held back,
    // which is a new one.
    let after = w.scan().await;
    let left = mentioning(&after, &[&p.name, &p.words]);
    assert!(left.is_empty(), "{left:#?}");
    let numbered = mentioning(&after, &[&p.number]);
    assert_eq!(numbered.len(), 1, "{numbered:#?}");
    assert!(
        numbered[0].contains("written during the erasure")
            && numbered[0].contains("\"status\":\"pending\"")
    );

    // The held message now starts a new contact, with only itself.
    assert_eq!(drain_now(&w.h, QueueName::Inbound).await, 0);
    let (st, contact) = w.h.get(&path, &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(contact["name"], "New Name");
    let (_, msgs) =
        w.h.get(&format!("/v1/conversations/{conv}/messages"), &admin)
            .await;
    assert_eq!(texts(&msgs["items"]), ["written during the erasure"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_is_erased_in_chunks_while_new_messages_wait_local() {
    a_long_history_is_erased_in_chunks_while_new_messages_wait(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_is_erased_in_chunks_while_new_messages_wait_aws() {
    a_long_history_is_erased_in_chunks_while_new_messages_wait(Backend::Aws).await;
}

// ---------------------------------------------------------------------- retention

async fn raw_events_expire_a_retention_period_after_they_are_settled(backend: Backend) {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let w = world(backend, Some(clock.clone())).await;
    let p = person();
    let now = clock.now();
    // Processed, ignored, unroutable — and one still pending.
    w.says(PHONE_NUMBER_ID, &p, "wamid.r1", "kept a while")
        .await;
    let ignored = fixtures::delivery(vec![
        json!({"field": "business_capability_update", "value": {"max_daily_conversation_per_phone": 1000, "max_phone_numbers_per_business": 2}}),
    ]);
    assert_eq!(w.h.webhook(&ignored).await.status(), StatusCode::OK);
    let unroutable = fixtures::delivery(vec![fixtures::text_change(
        UNCONNECTED_NUMBER_ID,
        &p.number,
        &p.name,
        "wamid.r2",
        now.timestamp(),
        "to nobody",
    )]);
    assert_eq!(w.h.webhook(&unroutable).await.status(), StatusCode::OK);
    assert_eq!(drain_now(&w.h, QueueName::Inbound).await, 0);
    let pending = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        &p.number,
        &p.name,
        "wamid.r3",
        now.timestamp(),
        "not yet applied",
    )]);
    assert_eq!(w.h.webhook(&pending).await.status(), StatusCode::OK);

    let svc = w.h.app.services();
    let keys: Vec<(String, String)> = w
        .scan()
        .await
        .into_iter()
        .filter(|i| i.pk.starts_with("EVENT#whatsapp#"))
        .map(|i| (i.pk, i.sk))
        .collect();
    assert_eq!(keys.len(), 4);
    let retention = 30 * 86_400;
    let mut settled = Vec::new();
    for (pk, sk) in &keys {
        let it = svc.store.get(pk, sk).await.unwrap().unwrap();
        match it.data["status"].as_str().unwrap() {
            "pending" => assert_eq!(it.ttl, None, "kept until settled"),
            status => {
                assert_eq!(it.ttl, Some(now.timestamp() + retention), "{status}");
                settled.push((pk.clone(), sk.clone(), status.to_owned()));
            }
        }
    }
    let mut statuses: Vec<&str> = settled.iter().map(|s| s.2.as_str()).collect();
    statuses.sort();
    assert_eq!(statuses, ["ignored", "processed", "unroutable"]);
    assert_eq!(
        events::unroutable(svc, Provider::Whatsapp, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    clock.advance(chrono::Duration::seconds(retention - 1));
    for (pk, sk, status) in &settled {
        assert!(
            svc.store.get(pk, sk).await.unwrap().is_some(),
            "{status} kept to the end"
        );
    }
    clock.advance(chrono::Duration::seconds(1));
    for (pk, sk, status) in &settled {
        assert!(
            svc.store.get(pk, sk).await.unwrap().is_none(),
            "{status} expired"
        );
    }
    assert!(
        events::unroutable(svc, Provider::Whatsapp, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        events::pending(svc, Provider::Whatsapp, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // What the processed event built stays: only the raw copy goes.
    let org = OrgId::parse("acme").unwrap();
    let (pk, sk) = switchboard_core::model::Contact::key_of(
        &org,
        &ContactId::for_wa_id(&org, &WaId::parse(&p.number).unwrap()),
    );
    assert!(svc.store.get(&pk, &sk).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_events_expire_a_retention_period_after_they_are_settled_local() {
    raw_events_expire_a_retention_period_after_they_are_settled(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_events_expire_a_retention_period_after_they_are_settled_aws() {
    raw_events_expire_a_retention_period_after_they_are_settled(Backend::Aws).await;
}
