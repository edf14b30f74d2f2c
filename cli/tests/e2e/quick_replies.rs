//! Quick replies: create, list (by shortcut, paged), change, delete; roles, tenancy,
//! validation, and one shortcut per org even when creates and renames race — on the
//! embedded backend and on DynamoDB (moto).

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::Role;

use crate::support::{Backend, Harness, Options};
use crate::triage::patch;

fn error(body: &Value) -> (Option<&str>, Option<&str>) {
    (
        body["error"]["code"].as_str(),
        body["error"]["field"].as_str(),
    )
}

async fn shortcuts(h: &Harness, token: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/quick-replies?limit={limit}&cursor={c}"),
            None => format!("/v1/quick-replies?limit={limit}"),
        };
        let (st, page) = h.get(&path, token).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        out.extend(
            items
                .iter()
                .map(|q| q["shortcut"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

async fn quick_replies_are_managed_per_org_with_unique_shortcuts(backend: Backend) {
    let h = Harness::with(Options {
        backend,
        workers: false,
        ..Options::default()
    })
    .await;
    let agent = h.token("acme", Role::Agent);
    let viewer = h.token("acme", Role::Viewer);
    let other = h.token("other", Role::Owner);

    // Create: 201 with the resource; viewers may not.
    let hours = json!({"shortcut": "hours", "body": "We are open 9-18, Monday to Saturday."});
    let (st, _) = h.post("/v1/quick-replies", &viewer, &hours).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, q) = h.post("/v1/quick-replies", &agent, &hours).await;
    assert_eq!(st, StatusCode::CREATED, "{q}");
    assert_eq!(
        (
            q["shortcut"].as_str(),
            q["version"].as_u64(),
            q["media"].is_null(),
            q["created_by"].as_str()
        ),
        (Some("hours"), Some(1), true, Some("test-user")),
        "{q}"
    );
    let hours_id = q["id"].as_str().unwrap().to_owned();
    assert!(hours_id.starts_with("qr_"));
    let invoice = json!({"shortcut": "invoice", "body": "Here is your invoice.",
        "media": {"type": "document", "link": "https://files.example.com/i.pdf", "filename": "invoice.pdf"}});
    let (st, q) = h.post("/v1/quick-replies", &agent, &invoice).await;
    assert_eq!(st, StatusCode::CREATED, "{q}");
    assert_eq!(q["media"], invoice["media"]);
    let invoice_id = q["id"].as_str().unwrap().to_owned();
    for (shortcut, body) in [
        ("address", "Rua Augusta 10, Lisbon"),
        ("a", "A"),
        ("a-b", "AB"),
        ("zz_9", "Z"),
    ] {
        let (st, q) = h
            .post(
                "/v1/quick-replies",
                &agent,
                &json!({"shortcut": shortcut, "body": body}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{q}");
    }

    // Taken shortcut: 409, in this org only.
    let (st, b) = h
        .post(
            "/v1/quick-replies",
            &agent,
            &json!({"shortcut": "hours", "body": "again"}),
        )
        .await;
    assert_eq!(
        (st, error(&b).0),
        (StatusCode::CONFLICT, Some("shortcut_taken")),
        "{b}"
    );
    let (st, b) = h
        .post(
            "/v1/quick-replies",
            &other,
            &json!({"shortcut": "hours", "body": "theirs"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");

    // Validation: 422 naming the field; other content types 415.
    for (bad, field) in [
        (json!({"body": "x"}), "shortcut"),
        (json!({"shortcut": "Hours", "body": "x"}), "shortcut"),
        (json!({"shortcut": "with space", "body": "x"}), "shortcut"),
        (json!({"shortcut": "x".repeat(33), "body": "x"}), "shortcut"),
        (json!({"shortcut": "ok"}), "body"),
        (json!({"shortcut": "ok", "body": ""}), "body"),
        (json!({"shortcut": "ok", "body": "b".repeat(4097)}), "body"),
        (
            json!({"shortcut": "ok", "body": "x", "title": "t"}),
            "title",
        ),
        (
            json!({"shortcut": "ok", "body": "x", "media": {"type": "sticker", "id": "1"}}),
            "media.type",
        ),
        (
            json!({"shortcut": "ok", "body": "x", "media": {"type": "image"}}),
            "media",
        ),
        (
            json!({"shortcut": "ok", "body": "x", "media": {"type": "image", "id": "1", "link": "https://x.example/a.png"}}),
            "media",
        ),
        (
            json!({"shortcut": "ok", "body": "x", "media": {"type": "video", "link": "ftp://x.example/a.mp4"}}),
            "media.link",
        ),
        (
            json!({"shortcut": "ok", "body": "x", "media": {"type": "audio", "id": "1", "filename": "a.ogg"}}),
            "media.filename",
        ),
        (
            json!({"shortcut": "ok", "body": "x", "media": {"type": "image", "id": "1", "caption": "c"}}),
            "media.caption",
        ),
    ] {
        let (st, b) = h.post("/v1/quick-replies", &agent, &bad).await;
        assert_eq!(
            (st, error(&b).1),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{bad}: {b}"
        );
    }
    let r = h
        .http
        .post(h.url("/v1/quick-replies"))
        .bearer_auth(&agent)
        .header("content-type", "text/plain")
        .body(hours.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // List: any role, ordered by shortcut, paged; another org sees its own only.
    let expected = ["a", "a-b", "address", "hours", "invoice", "zz_9"];
    assert_eq!(shortcuts(&h, &viewer, 50).await, expected);
    assert_eq!(shortcuts(&h, &viewer, 2).await, expected);
    assert_eq!(shortcuts(&h, &other, 50).await, ["hours"]);
    let (st, b) = h.get("/v1/quick-replies?limit=101", &viewer).await;
    assert_eq!(
        (st, error(&b).1),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("limit"))
    );

    // Change: body and media; a rename moves the shortcut; If-Match guards.
    let path = format!("/v1/quick-replies/{hours_id}");
    let (st, _, _) = patch(&h, &path, &viewer, None, &json!({"body": "x"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _, _) = patch(&h, &path, &other, None, &json!({"body": "x"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, b, _) = patch(&h, &path, &agent, None, &json!({"shortcut": "invoice"})).await;
    assert_eq!(
        (st, error(&b).0),
        (StatusCode::CONFLICT, Some("shortcut_taken"))
    );
    let (st, b, _) = patch(&h, &path, &agent, None, &json!({"shortcut": "Nope"})).await;
    assert_eq!(
        (st, error(&b).1),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("shortcut"))
    );
    let (st, q, etag) = patch(
        &h,
        &path,
        &agent,
        Some("\"1\""),
        &json!({"shortcut": "opening-hours", "body": "Open 9-19 now.", "media": {"type": "image", "id": "1234567890"}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert_eq!(
        (
            q["shortcut"].as_str(),
            q["body"].as_str(),
            q["media"]["id"].as_str(),
            q["version"].as_u64()
        ),
        (
            Some("opening-hours"),
            Some("Open 9-19 now."),
            Some("1234567890"),
            Some(2)
        )
    );
    assert_eq!(etag.as_deref(), Some("\"2\""));
    let (st, b, _) = patch(&h, &path, &agent, Some("\"1\""), &json!({"body": "stale"})).await;
    assert_eq!(
        (st, error(&b).0),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed"))
    );
    let (st, q, _) = patch(&h, &path, &agent, None, &json!({"media": null})).await;
    assert_eq!((st, q["media"].is_null()), (StatusCode::OK, true));
    // The old shortcut is free again, the new one is held.
    let (st, _) = h
        .post(
            "/v1/quick-replies",
            &agent,
            &json!({"shortcut": "hours", "body": "Reused"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = h
        .post(
            "/v1/quick-replies",
            &agent,
            &json!({"shortcut": "opening-hours", "body": "x"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(
        shortcuts(&h, &viewer, 3).await,
        [
            "a",
            "a-b",
            "address",
            "hours",
            "invoice",
            "opening-hours",
            "zz_9"
        ]
    );

    // Delete: 204, frees the shortcut; then 404. Tenancy and roles as everywhere.
    let inv = format!("/v1/quick-replies/{invoice_id}");
    let (st, _) = h.delete(&inv, &viewer).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = h.delete(&inv, &other).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = h.delete(&inv, &agent).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = h.delete(&inv, &agent).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, _) = patch(&h, &inv, &agent, None, &json!({"body": "x"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = h.delete("/v1/quick-replies/not-an-id", &agent).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = h.post("/v1/quick-replies", &agent, &invoice).await;
    assert_eq!(st, StatusCode::CREATED);

    // Concurrent creates of one shortcut: exactly one wins.
    let attempts = (0..8).map(|i| {
        let (h, agent) = (&h, &agent);
        async move {
            h.post(
                "/v1/quick-replies",
                agent,
                &json!({"shortcut": "race", "body": format!("attempt {i}")}),
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let created = results
        .iter()
        .filter(|(st, _)| *st == StatusCode::CREATED)
        .count();
    let taken = results
        .iter()
        .filter(|(st, b)| *st == StatusCode::CONFLICT && error(b).0 == Some("shortcut_taken"))
        .count();
    assert_eq!((created, taken), (1, 7), "{results:?}");
    // Renames onto one free shortcut: exactly one wins too. Concurrently on SQLite; in
    // turn on moto, whose TransactWriteItems is not isolated from a concurrent one (a
    // refused rename's record write can land), a fidelity gap like its UpdateItem ADD —
    // DynamoDB applies a transaction all or nothing.
    let (_, list) = h.get("/v1/quick-replies?limit=100", &viewer).await;
    let ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| ["a", "a-b", "address", "zz_9"].contains(&q["shortcut"].as_str().unwrap()))
        .map(|q| q["id"].as_str().unwrap().to_owned())
        .collect();
    let renames = ids.iter().map(|id| {
        let (h, agent) = (&h, &agent);
        async move {
            patch(
                h,
                &format!("/v1/quick-replies/{id}"),
                agent,
                None,
                &json!({"shortcut": "contested"}),
            )
            .await
        }
    });
    let results = match backend {
        Backend::Local => futures::future::join_all(renames).await,
        Backend::Aws => {
            let mut out = Vec::new();
            for rename in renames {
                out.push(rename.await);
            }
            out
        }
    };
    let renamed = results
        .iter()
        .filter(|(st, _, _)| *st == StatusCode::OK)
        .count();
    let refused = results
        .iter()
        .filter(|(st, _, _)| *st == StatusCode::CONFLICT)
        .count();
    assert_eq!((renamed, refused), (1, ids.len() - 1), "{results:?}");
    let all = shortcuts(&h, &viewer, 100).await;
    assert_eq!(
        all.iter().filter(|s| *s == "contested").count(),
        1,
        "{all:?}"
    );
    assert_eq!(all.iter().filter(|s| *s == "race").count(), 1, "{all:?}");

    // Changes are audited.
    let (_, log) = h
        .get(
            "/v1/audit?action=create-quick-reply",
            &h.token("acme", Role::Admin),
        )
        .await;
    assert!(log["items"].as_array().unwrap().len() >= 10, "{log}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_replies_are_managed_per_org_with_unique_shortcuts_sqlite() {
    quick_replies_are_managed_per_org_with_unique_shortcuts(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_replies_are_managed_per_org_with_unique_shortcuts_dynamodb() {
    quick_replies_are_managed_per_org_with_unique_shortcuts(Backend::Aws).await;
}
