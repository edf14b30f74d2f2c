//! The conversation as a ticket: `PATCH /v1/conversations/{id}` (status, snooze,
//! assignee, labels, priority, `If-Match`), the filtered inbox (each filter alone,
//! combined, paged), the reopen on an inbound message and the snooze sweep after the
//! clock moves — on the embedded backend and on DynamoDB (moto).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::{Clock, FixedClock, fmt_time};
use switchboard_core::ids::{OrgId, Role};
use switchboard_core::queue::QueueName;
use switchboard_runtime::auth::dev_claims;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};

use crate::support::{Backend, Harness, Options, all_pages};

/// A token for `org` whose subject is `user` (the harness's own is `test-user`).
pub(crate) fn token_for(h: &Harness, org: &str, role: Role, user: &str) -> String {
    let claims = dev_claims(
        h.app.auth().config(),
        &OrgId::parse(org).unwrap(),
        role,
        user,
        Utc::now().timestamp(),
        Duration::from_secs(600),
    );
    h.app.auth().dev_key().unwrap().sign(&claims).unwrap()
}

/// A `PATCH` with an optional `If-Match`; the status, body and `ETag`.
pub(crate) async fn patch(
    h: &Harness,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: &Value,
) -> (StatusCode, Value, Option<String>) {
    let mut req = h.http.patch(h.url(path)).bearer_auth(token).json(body);
    if let Some(v) = if_match {
        req = req.header("if-match", v);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.json().await.unwrap_or(Value::Null), etag)
}

/// A harness without background workers (the tests drain the inbound queue), with the
/// test number connected to `acme`.
async fn world(backend: Backend, clock: Option<Arc<FixedClock>>) -> Harness {
    let h = Harness::with(Options {
        backend,
        clock,
        workers: false,
        ..Options::default()
    })
    .await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    h
}

/// One inbound text message from `customer` at `at`; returns the conversation id.
async fn inbound(h: &Harness, customer: &str, wamid: &str, at: DateTime<Utc>) -> String {
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        customer,
        "Customer",
        wamid,
        at.timestamp(),
        "hello",
    )]);
    assert_eq!(h.webhook(&body).await.status(), StatusCode::OK);
    h.drain(QueueName::Inbound).await;
    let org = OrgId::parse("acme").unwrap();
    let wa = switchboard_core::ids::WaId::parse(customer).unwrap();
    let pn = switchboard_core::ids::PhoneNumberId::parse(PHONE_NUMBER_ID).unwrap();
    switchboard_core::ids::ConversationId::for_thread(&org, &pn, &wa).to_string()
}

fn error(body: &Value) -> (Option<&str>, Option<&str>) {
    (
        body["error"]["code"].as_str(),
        body["error"]["field"].as_str(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_worked_as_tickets_with_roles_tenancy_validation_and_if_match() {
    let h = world(Backend::Local, None).await;
    let now = Utc::now();
    let conv = inbound(&h, "16505551234", "wamid.t1", now).await;
    let path = format!("/v1/conversations/{conv}");
    let agent = h.token("acme", Role::Agent);
    let viewer = h.token("acme", Role::Viewer);

    // A new conversation starts open, normal, unassigned; its version is in the view
    // and in the ETag.
    let r = h
        .http
        .get(h.url(&path))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let c: Value = r.json().await.unwrap();
    assert_eq!(
        (
            c["status"].as_str(),
            c["priority"].as_str(),
            c["assignee"].is_null(),
            c["labels"].as_array().map(Vec::len),
            c["snoozed_until"].is_null()
        ),
        (Some("open"), Some("normal"), true, Some(0), true),
        "{c}"
    );
    let v1 = c["version"].as_u64().unwrap();
    assert_eq!(etag, format!("\"{v1}\""));
    let (_, list) = h.get("/v1/conversations", &viewer).await;
    assert_eq!(list["items"][0]["version"], v1);

    // Roles and tenancy: a viewer may not; another org's id is a 404 like a missing one.
    let body = json!({"status": "pending"});
    let (st, _, _) = patch(&h, &path, &viewer, None, &body).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let other = h.token("other", Role::Owner);
    let (st, b, _) = patch(&h, &path, &other, None, &body).await;
    assert_eq!(
        (st, error(&b).0),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let missing = "/v1/conversations/cv_00000000000000000000000000000000";
    let (st, _, _) = patch(&h, missing, &agent, None, &body).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, _) = patch(&h, "/v1/conversations/not-an-id", &agent, None, &body).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Validation: a 422 naming the field; other content types are a 415.
    let later = fmt_time(now + chrono::Duration::hours(2));
    let earlier = fmt_time(now - chrono::Duration::minutes(1));
    let many: Vec<String> = (0..21).map(|i| format!("l{i}")).collect();
    for (bad, field) in [
        (json!({"colour": "red"}), "colour"),
        (json!({"status": "closed"}), "status"),
        (json!({"status": "snoozed"}), "snoozed_until"),
        (
            json!({"status": "snoozed", "snoozed_until": earlier}),
            "snoozed_until",
        ),
        (
            json!({"status": "snoozed", "snoozed_until": "soon"}),
            "snoozed_until",
        ),
        (
            json!({"status": "open", "snoozed_until": later}),
            "snoozed_until",
        ),
        (json!({"snoozed_until": later}), "snoozed_until"),
        (json!({"assignee": "two words"}), "assignee"),
        (json!({"assignee": 7}), "assignee"),
        (json!({"labels": ["fine", "not#fine"]}), "labels[1]"),
        (json!({"labels": ["x".repeat(65)]}), "labels[0]"),
        (json!({ "labels": many }), "labels"),
        (json!({"labels": "vip"}), "labels"),
        (json!({"priority": "critical"}), "priority"),
    ] {
        let (st, b, _) = patch(&h, &path, &agent, None, &bad).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
        assert_eq!(error(&b).1, Some(field), "{bad}: {b}");
        assert!(b["error"]["request_id"].as_str().is_some(), "{b}");
    }
    let r = h
        .http
        .patch(h.url(&path))
        .bearer_auth(&agent)
        .header("content-type", "text/plain")
        .body(r#"{"status":"pending"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (st, b, _) = patch(&h, &path, &agent, Some("yesterday"), &body).await;
    assert_eq!(
        (st, error(&b).1),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("If-Match"))
    );
    // Nothing of that changed the conversation.
    let (_, c) = h.get(&path, &viewer).await;
    assert_eq!(
        (c["status"].as_str(), c["version"].as_u64()),
        (Some("open"), Some(v1))
    );

    // A change under If-Match: the next version, normalised labels, the ETag.
    let change = json!({"status": "pending", "assignee": "user_ana", "labels": ["VIP", "vip", " Order:Late "], "priority": "high"});
    let (st, c, etag) = patch(&h, &path, &agent, Some(&format!("\"{v1}\"")), &change).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let v2 = c["version"].as_u64().unwrap();
    assert_eq!(v2, v1 + 1);
    assert_eq!(etag, Some(format!("\"{v2}\"")));
    assert_eq!(
        (
            c["status"].as_str(),
            c["assignee"].as_str(),
            c["labels"].clone(),
            c["priority"].as_str()
        ),
        (
            Some("pending"),
            Some("user_ana"),
            json!(["vip", "order:late"]),
            Some("high")
        ),
        "{c}"
    );
    // The same If-Match again names a version that is gone: 412, and nothing changes.
    let (st, b, _) = patch(
        &h,
        &path,
        &agent,
        Some(&format!("\"{v1}\"")),
        &json!({"priority": "low"}),
    )
    .await;
    assert_eq!(
        (st, error(&b).0),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed"))
    );
    let (_, c) = h.get(&path, &viewer).await;
    assert_eq!(
        (c["priority"].as_str(), c["version"].as_u64()),
        (Some("high"), Some(v2))
    );
    // A weak tag and `*` are accepted; without If-Match the change simply applies.
    let (st, c, _) = patch(
        &h,
        &path,
        &agent,
        Some(&format!("W/\"{v2}\"")),
        &json!({"assignee": null}),
    )
    .await;
    assert_eq!((st, c["assignee"].is_null()), (StatusCode::OK, true), "{c}");
    let (st, _, _) = patch(&h, &path, &agent, Some("*"), &json!({"priority": "urgent"})).await;
    assert_eq!(st, StatusCode::OK);
    // A change to what it already is writes nothing (same version).
    let (_, before) = h.get(&path, &viewer).await;
    let (st, c, _) = patch(&h, &path, &agent, None, &json!({"priority": "urgent"})).await;
    assert_eq!(
        (st, c["version"].clone()),
        (StatusCode::OK, before["version"].clone())
    );

    // Snoozing sets the time (at millisecond precision); any other status drops it.
    let until = now + chrono::Duration::hours(3);
    let (st, c, _) = patch(
        &h,
        &path,
        &agent,
        None,
        &json!({"status": "snoozed", "snoozed_until": until.to_rfc3339()}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["snoozed_until"].as_str(), Some(fmt_time(until).as_str()));
    let (_, c, _) = patch(&h, &path, &agent, None, &json!({"status": "resolved"})).await;
    assert_eq!(
        (c["status"].as_str(), c["snoozed_until"].is_null()),
        (Some("resolved"), true)
    );

    // Every attempt is audited, refused ones too.
    let (_, log) = h
        .get(
            "/v1/audit?action=update-conversation",
            &h.token("acme", Role::Admin),
        )
        .await;
    let statuses: Vec<u64> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert!(
        statuses.contains(&403) && statuses.contains(&412) && statuses.contains(&200),
        "{log}"
    );
    h.stop().await;
}

async fn filters_alone_and_combined_with_paging(backend: Backend) {
    let h = world(backend, None).await;
    let agent = h.token("acme", Role::Agent);
    let ana = token_for(&h, "acme", Role::Agent, "user_ana");
    let start = Utc::now() - chrono::Duration::hours(1);
    // Six conversations, c[0] oldest activity … c[5] newest.
    let mut c = Vec::new();
    for i in 0..6 {
        let at = start + chrono::Duration::minutes(i as i64);
        c.push(inbound(&h, &format!("1650555100{i}"), &format!("wamid.f{i}"), at).await);
    }
    let set = |i: usize, body: Value| {
        let (h, agent, c) = (&h, &agent, &c);
        async move {
            let (st, b, _) = patch(
                h,
                &format!("/v1/conversations/{}", c[i]),
                agent,
                None,
                &body,
            )
            .await;
            assert_eq!(st, StatusCode::OK, "{b}");
        }
    };
    set(0, json!({"labels": ["vip"], "assignee": "user_ana"})).await;
    set(1, json!({"status": "resolved", "labels": ["vip"]})).await;
    set(
        2,
        json!({"priority": "urgent", "labels": ["vip", "refund"]}),
    )
    .await;
    set(3, json!({"status": "pending", "assignee": "user_bo"})).await;
    set(
        4,
        json!({"labels": ["VIP"], "assignee": "user_ana", "priority": "urgent"}),
    )
    .await;
    // c[5]: untouched (open, normal, unassigned, no labels).
    let newest_first = |idx: &[usize]| -> Vec<String> {
        let mut v: Vec<usize> = idx.to_vec();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|i| c[i].clone()).collect()
    };

    // The plain inbox is as it was: everything, newest activity first.
    let (all, _) = all_pages(&h, "/v1/conversations", &agent, 100).await;
    assert_eq!(all, newest_first(&[0, 1, 2, 3, 4, 5]));

    // Each filter alone.
    for (query, expected) in [
        ("status=open", vec![0, 2, 4, 5]),
        ("status=resolved", vec![1]),
        ("status=pending", vec![3]),
        ("status=snoozed", vec![]),
        ("assignee=me", vec![0, 4]),
        ("assignee=user_bo", vec![3]),
        ("assignee=none", vec![1, 2, 5]),
        ("label=vip", vec![0, 1, 2, 4]),
        ("label=VIP", vec![0, 1, 2, 4]),
        ("label=refund", vec![2]),
        ("priority=urgent", vec![2, 4]),
        ("priority=normal", vec![0, 1, 3, 5]),
        ("priority=low", vec![]),
    ] {
        let (got, _) = all_pages(&h, &format!("/v1/conversations?{query}"), &ana, 100).await;
        assert_eq!(got, newest_first(&expected), "{query}");
    }
    // Combined, and paged one at a time: every match exactly once, in order, whatever
    // the short pages in between.
    for (query, expected) in [
        ("status=open&label=vip", vec![0, 2, 4]),
        ("label=vip&priority=urgent&status=open", vec![2, 4]),
        ("assignee=me&priority=urgent", vec![4]),
        ("assignee=none&status=open", vec![2, 5]),
        ("assignee=me&status=resolved", vec![]),
    ] {
        let (got, _) = all_pages(&h, &format!("/v1/conversations?{query}"), &ana, 100).await;
        assert_eq!(got, newest_first(&expected), "{query}");
        let (paged, sizes) =
            all_pages(&h, &format!("/v1/conversations?{query}&limit=1"), &ana, 100).await;
        assert_eq!(paged, newest_first(&expected), "{query} by one: {sizes:?}");
        assert!(sizes.iter().all(|n| *n <= 1), "{sizes:?}");
    }
    let (paged, _) = all_pages(&h, "/v1/conversations?label=vip&limit=3", &agent, 100).await;
    assert_eq!(paged, newest_first(&[0, 1, 2, 4]));

    // A new message moves a conversation to the top of its filtered lists too.
    inbound(&h, "16505551000", "wamid.f0-again", Utc::now()).await;
    let (got, _) = all_pages(&h, "/v1/conversations?label=vip", &agent, 100).await;
    assert_eq!(
        got,
        [c[0].clone(), c[4].clone(), c[2].clone(), c[1].clone()]
    );
    // Taking a label off (or reassigning) takes it out of that list.
    set(0, json!({"labels": [], "assignee": null})).await;
    let (got, _) = all_pages(&h, "/v1/conversations?label=vip", &agent, 100).await;
    assert_eq!(got, newest_first(&[1, 2, 4]));
    let (got, _) = all_pages(&h, "/v1/conversations?assignee=none", &agent, 100).await;
    assert_eq!(
        got,
        [c[0].clone(), c[5].clone(), c[2].clone(), c[1].clone()]
    );

    // Validation names the filter; another org sees none of it.
    for (query, field) in [
        ("status=closed", "status"),
        ("assignee=a%23b", "assignee"),
        ("label=a%20b", "label"),
        ("priority=top", "priority"),
        ("status=open&limit=0", "limit"),
        ("status=open&cursor=bm9wZQ", "cursor"),
    ] {
        let (st, b) = h.get(&format!("/v1/conversations?{query}"), &agent).await;
        assert_eq!(
            (st, error(&b).1),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{query}: {b}"
        );
    }
    let (_, page) = h.get("/v1/conversations?label=vip&limit=1", &agent).await;
    let foreign = page["next_cursor"].as_str().unwrap().to_owned();
    let other = h.token("other", Role::Viewer);
    let (st, b) = h
        .get(
            &format!("/v1/conversations?label=vip&cursor={foreign}"),
            &other,
        )
        .await;
    assert_eq!(
        (st, error(&b).1),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor"))
    );
    for query in [
        "status=open",
        "label=vip",
        "assignee=none",
        "priority=normal",
    ] {
        let (st, b) = h.get(&format!("/v1/conversations?{query}"), &other).await;
        assert_eq!(
            (st, b["items"].as_array().map(Vec::len)),
            (StatusCode::OK, Some(0)),
            "{query}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_alone_and_combined_with_paging_sqlite() {
    filters_alone_and_combined_with_paging(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_alone_and_combined_with_paging_dynamodb() {
    filters_alone_and_combined_with_paging(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_message_reopens_a_resolved_or_snoozed_conversation() {
    let h = world(Backend::Local, None).await;
    let agent = h.token("acme", Role::Agent);
    let now = Utc::now();
    let resolved = inbound(&h, "16505552001", "wamid.r1", now).await;
    let snoozed = inbound(&h, "16505552002", "wamid.s1", now).await;
    let pending = inbound(&h, "16505552003", "wamid.p1", now).await;
    patch(
        &h,
        &format!("/v1/conversations/{resolved}"),
        &agent,
        None,
        &json!({"status": "resolved", "labels": ["done"]}),
    )
    .await;
    let until = (now + chrono::Duration::days(2)).to_rfc3339();
    patch(
        &h,
        &format!("/v1/conversations/{snoozed}"),
        &agent,
        None,
        &json!({"status": "snoozed", "snoozed_until": until}),
    )
    .await;
    patch(
        &h,
        &format!("/v1/conversations/{pending}"),
        &agent,
        None,
        &json!({"status": "pending"}),
    )
    .await;
    let (got, _) = all_pages(&h, "/v1/conversations?status=open", &agent, 100).await;
    assert!(got.is_empty(), "{got:?}");

    inbound(
        &h,
        "16505552001",
        "wamid.r2",
        now + chrono::Duration::seconds(5),
    )
    .await;
    inbound(
        &h,
        "16505552002",
        "wamid.s2",
        now + chrono::Duration::seconds(6),
    )
    .await;
    inbound(
        &h,
        "16505552003",
        "wamid.p2",
        now + chrono::Duration::seconds(7),
    )
    .await;
    let (_, c) = h
        .get(&format!("/v1/conversations/{resolved}"), &agent)
        .await;
    assert_eq!(
        (c["status"].as_str(), c["labels"].clone()),
        (Some("open"), json!(["done"])),
        "{c}"
    );
    let (_, c) = h.get(&format!("/v1/conversations/{snoozed}"), &agent).await;
    assert_eq!(
        (c["status"].as_str(), c["snoozed_until"].is_null()),
        (Some("open"), true),
        "{c}"
    );
    // Pending waits on someone else; a message does not change that.
    let (_, c) = h.get(&format!("/v1/conversations/{pending}"), &agent).await;
    assert_eq!(c["status"], "pending");
    let (got, _) = all_pages(&h, "/v1/conversations?status=open", &agent, 100).await;
    assert_eq!(got, [snoozed.clone(), resolved.clone()]);
    for status in ["resolved", "snoozed"] {
        let (got, _) = all_pages(
            &h,
            &format!("/v1/conversations?status={status}"),
            &agent,
            100,
        )
        .await;
        assert!(got.is_empty(), "{status}: {got:?}");
    }
    // A redelivered message is a duplicate: it reopens nothing.
    patch(
        &h,
        &format!("/v1/conversations/{resolved}"),
        &agent,
        None,
        &json!({"status": "resolved"}),
    )
    .await;
    inbound(
        &h,
        "16505552001",
        "wamid.r2",
        now + chrono::Duration::seconds(5),
    )
    .await;
    let (_, c) = h
        .get(&format!("/v1/conversations/{resolved}"), &agent)
        .await;
    assert_eq!(c["status"], "resolved");
    h.stop().await;
}

async fn snoozes_reopen_when_the_sweep_runs_after_their_time(backend: Backend) {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let h = world(backend, Some(clock.clone())).await;
    let agent = h.token("acme", Role::Agent);
    let t0 = clock.now();
    let a = inbound(&h, "16505553001", "wamid.z1", t0).await;
    let b = inbound(&h, "16505553002", "wamid.z2", t0).await;
    let c = inbound(&h, "16505553003", "wamid.z3", t0).await;
    let snooze = |id: String, hours: i64| {
        let (h, agent) = (&h, &agent);
        let until = fmt_time(t0 + chrono::Duration::hours(hours));
        async move {
            let (st, v, _) = patch(
                h,
                &format!("/v1/conversations/{id}"),
                agent,
                None,
                &json!({"status": "snoozed", "snoozed_until": until, "labels": ["later"]}),
            )
            .await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
    };
    snooze(a.clone(), 1).await;
    snooze(b.clone(), 3).await;
    snooze(c.clone(), 2).await;
    let sweep = || async {
        cron_snooze_sweep::handle(&h.app, clock.now())
            .await
            .unwrap()
    };
    let status = |id: String| {
        let (h, agent) = (&h, &agent);
        async move {
            let (_, v) = h.get(&format!("/v1/conversations/{id}"), agent).await;
            (
                v["status"].as_str().unwrap().to_owned(),
                v["snoozed_until"].is_null(),
            )
        }
    };

    // Nothing is due yet.
    assert_eq!(sweep().await["reopened"], 0);
    // The customer of `c` writes before its snooze ends: reopened by the message, so the
    // sweep has nothing to do for it later.
    inbound(
        &h,
        "16505553003",
        "wamid.z3b",
        t0 + chrono::Duration::minutes(10),
    )
    .await;
    assert_eq!(status(c.clone()).await, ("open".into(), true));

    // An hour later `a` is due, to the millisecond.
    clock.advance(chrono::Duration::hours(1));
    assert_eq!(sweep().await["reopened"], 1);
    assert_eq!(status(a.clone()).await, ("open".into(), true));
    assert_eq!(status(b.clone()).await, ("snoozed".into(), false));
    let (snoozed, _) = all_pages(&h, "/v1/conversations?status=snoozed", &agent, 100).await;
    assert_eq!(snoozed, std::slice::from_ref(&b));
    let (open, _) = all_pages(&h, "/v1/conversations?status=open&label=later", &agent, 100).await;
    assert_eq!(open, [c.clone(), a.clone()]);
    // Running again reopens nothing twice.
    assert_eq!(sweep().await["reopened"], 0);

    // Two more hours: `b` too.
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(sweep().await["reopened"], 1);
    assert_eq!(status(b.clone()).await, ("open".into(), true));
    let (snoozed, _) = all_pages(&h, "/v1/conversations?status=snoozed", &agent, 100).await;
    assert!(snoozed.is_empty());
    assert_eq!(sweep().await["reopened"], 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snoozes_reopen_when_the_sweep_runs_after_their_time_sqlite() {
    snoozes_reopen_when_the_sweep_runs_after_their_time(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snoozes_reopen_when_the_sweep_runs_after_their_time_dynamodb() {
    snoozes_reopen_when_the_sweep_runs_after_their_time(Backend::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_stored_before_the_list_entries_are_reindexed() {
    use switchboard_core::store::{Condition, Query, SortKey};
    let h = world(Backend::Local, None).await;
    let agent = h.token("acme", Role::Agent);
    let conv = inbound(&h, "16505554001", "wamid.old1", Utc::now()).await;
    patch(
        &h,
        &format!("/v1/conversations/{conv}"),
        &agent,
        None,
        &json!({"labels": ["legacy"]}),
    )
    .await;
    // As a conversation written by an older release: no list entries.
    let store = &h.app.services().store;
    let pk = format!("ORG#acme#CONV#{conv}");
    let entries = store
        .query(Query::table(pk.as_str()).sort(SortKey::BeginsWith("LIST#".into())))
        .await
        .unwrap();
    assert_eq!(
        entries.items.len(),
        4,
        "status, priority, assignee, one label"
    );
    for it in &entries.items {
        store
            .delete(&it.pk, &it.sk, Condition::Always)
            .await
            .unwrap();
    }
    let (got, _) = all_pages(&h, "/v1/conversations?label=legacy", &agent, 100).await;
    assert!(got.is_empty());
    let (_, before) = h.get(&format!("/v1/conversations/{conv}"), &agent).await;

    let n = switchboard_cli::commands::conversations_reindex(&h.app, "acme")
        .await
        .unwrap();
    assert_eq!(n, 1);
    for query in [
        "label=legacy",
        "status=open",
        "assignee=none",
        "priority=normal",
    ] {
        let (got, _) = all_pages(&h, &format!("/v1/conversations?{query}"), &agent, 100).await;
        assert_eq!(got, std::slice::from_ref(&conv), "{query}");
    }
    // The conversation itself is untouched (same version); running again is harmless.
    let (_, after) = h.get(&format!("/v1/conversations/{conv}"), &agent).await;
    assert_eq!(after["version"], before["version"]);
    assert_eq!(
        switchboard_cli::commands::conversations_reindex(&h.app, "acme")
            .await
            .unwrap(),
        1
    );
    assert!(
        switchboard_cli::commands::conversations_reindex(&h.app, "no#org")
            .await
            .is_err()
    );
    h.stop().await;
}

/// Figures for the README: 1,000 conversations on the embedded backend, a tenth labelled
/// `vip`, a seventh `urgent`, ten `low`, a tenth snoozed; the time of a filtered page alone
/// and combined (the last combination is the worst case: the driving list is the large
/// `open` one and almost nothing on it is `low`), and of the sweep reopening 100 snoozes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn measure_filtered_inbox_and_snooze_sweep() {
    use std::time::Instant;
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let h = world(Backend::Local, Some(clock.clone())).await;
    let agent = h.token("acme", Role::Agent);
    let n = 1000;
    let t0 = clock.now() - chrono::Duration::hours(2);
    let started = Instant::now();
    let mut body = Vec::new();
    for i in 0..n {
        body.push(fixtures::text_change(
            PHONE_NUMBER_ID,
            &format!("1650600{i:04}"),
            "C",
            &format!("wamid.m{i}"),
            (t0 + chrono::Duration::seconds(i as i64)).timestamp(),
            "hi",
        ));
        if body.len() == 50 {
            h.webhook(&fixtures::delivery(std::mem::take(&mut body)))
                .await;
            h.drain(QueueName::Inbound).await;
        }
    }
    let ingest = started.elapsed();
    let (all, _) = all_pages(&h, "/v1/conversations?limit=100", &agent, 100).await;
    assert_eq!(all.len(), n);
    let started = Instant::now();
    let mut patched = 0;
    for (i, id) in all.iter().enumerate() {
        let mut change = serde_json::Map::new();
        if i % 10 == 0 {
            change.insert("labels".into(), json!(["vip"]));
        }
        if i % 7 == 0 {
            change.insert("priority".into(), json!("urgent"));
        } else if i % 97 == 5 {
            change.insert("priority".into(), json!("low"));
        }
        if i % 10 == 7 {
            change.insert("status".into(), json!("snoozed"));
            let until = clock.now() + chrono::Duration::minutes(5);
            change.insert("snoozed_until".into(), json!(fmt_time(until)));
        }
        if !change.is_empty() {
            patched += 1;
            let (st, b, _) = patch(
                &h,
                &format!("/v1/conversations/{id}"),
                &agent,
                None,
                &Value::Object(change),
            )
            .await;
            assert_eq!(st, StatusCode::OK, "{b}");
        }
    }
    let patches = started.elapsed();
    let time = |path: &'static str| {
        let (h, agent) = (&h, &agent);
        async move {
            let runs = 20;
            let started = Instant::now();
            let mut last = Value::Null;
            for _ in 0..runs {
                last = h.get(path, agent).await.1;
            }
            (
                started.elapsed() / runs,
                last["items"].as_array().map_or(0, Vec::len),
                !last["next_cursor"].is_null(),
            )
        }
    };
    for path in [
        "/v1/conversations",
        "/v1/conversations?status=open",
        "/v1/conversations?label=vip",
        "/v1/conversations?label=vip&priority=urgent",
        "/v1/conversations?status=open&priority=urgent",
        "/v1/conversations?status=open&priority=low",
    ] {
        let (per, items, more) = time(path).await;
        println!("MEASURE {path}: {per:?} per page of 50, {items} items, more: {more}");
    }
    clock.advance(chrono::Duration::minutes(6));
    let started = Instant::now();
    let swept = cron_snooze_sweep::handle(&h.app, clock.now())
        .await
        .unwrap();
    println!(
        "MEASURE ingest of {n} new conversations: {ingest:?}; {} patches: {patches:?}; sweep: {swept} in {:?}",
        patched,
        started.elapsed()
    );
    h.stop().await;
}
