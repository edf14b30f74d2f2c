//! API keys through the dev server, on both backends, with the clock moved by hand: a key
//! shown once and listed without it, working on `/v1` routes with its role, never above
//! its maker's, expiring, revoked, rolled with the old value working through its grace
//! and not after, named in the audit log, and scoped to its org.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::FixedClock;
use switchboard_core::ids::Role;

use crate::support::{Backend, Harness, Options};

async fn with_key(
    h: &Harness,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = h.http.request(method, h.url(path)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn keys_work_expire_roll_and_revoke(backend: Backend) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap(),
    ));
    let h = Harness::with(Options {
        backend,
        clock: Some(clock.clone()),
        workers: false,
        ..Options::default()
    })
    .await;
    let admin = h.token_as("acme", Role::Admin, "ana");
    let get = reqwest::Method::GET;

    // Made by an admin, shown once; never above the maker's role.
    let (st, e) = h
        .post(
            "/v1/api-keys",
            &admin,
            &json!({"name": "CRM sync", "role": "owner"}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );
    for (body, field) in [
        (json!({"role": "agent"}), "name"),
        (json!({"name": "x", "role": "boss"}), "role"),
        (
            json!({"name": "x", "role": "agent", "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let (st, e) = h.post("/v1/api-keys", &admin, &body).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
    let (st, _) = h
        .post(
            "/v1/api-keys",
            &h.token("acme", Role::Agent),
            &json!({"name": "x", "role": "agent"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, made) = h
        .post(
            "/v1/api-keys",
            &admin,
            &json!({"name": "CRM sync", "role": "agent", "expires_at": "2026-12-31T00:00:00Z"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk_test_") && key.len() == 8 + 64, "{key}");
    assert_eq!(made["prefix"], &key[..12]);
    let id = made["id"].as_str().unwrap().to_owned();
    let (_, list) = h.get("/v1/api-keys", &admin).await;
    let listed = list["items"][0].clone();
    assert_eq!(
        (listed["id"].as_str(), listed["role"].as_str()),
        (Some(id.as_str()), Some("agent"))
    );
    assert!(
        !list.to_string().contains(&key[12..]),
        "the key is never shown again"
    );
    assert!(
        !list
            .to_string()
            .contains(&switchboard_core::usecases::api_keys::hash_of(&key))
    );

    // The key works on /v1 routes with its role, in its org only.
    assert_eq!(
        with_key(&h, &key, get.clone(), "/v1/conversations", None)
            .await
            .0,
        StatusCode::OK
    );
    let (st, _) = with_key(
        &h,
        &key,
        reqwest::Method::PUT,
        "/v1/ai/settings",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "an agent key is not an admin");
    let (st, e) = with_key(&h, "sk_test_0000", get.clone(), "/v1/conversations", None).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    // The audit log names the key, and its last use shows.
    with_key(
        &h,
        &key,
        reqwest::Method::PATCH,
        "/v1/contacts/ct_00000000000000000000000000000000",
        Some(json!({"name": "x"})),
    )
    .await;
    let (_, audit) = h.get("/v1/audit", &admin).await;
    assert!(audit.to_string().contains(&format!("key:{id}")), "{audit}");
    let (_, list) = h.get("/v1/api-keys", &admin).await;
    assert!(list["items"][0]["last_used_at"].is_string(), "{list}");
    let (st, _) = h
        .delete(
            &format!("/v1/api-keys/{id}"),
            &h.token("globex", Role::Admin),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "another org's key");

    // Rolled with a 2-hour grace: both values work, then only the new one.
    let (st, rolled) = h
        .post(
            &format!("/v1/api-keys/{id}/roll"),
            &admin,
            &json!({"grace_hours": 2}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{rolled}");
    let new_key = rolled["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(rolled["previous"][0]["prefix"], &key[..12]);
    for k in [&key, &new_key] {
        assert_eq!(
            with_key(&h, k, get.clone(), "/v1/conversations", None)
                .await
                .0,
            StatusCode::OK
        );
    }
    let (st, e) = h
        .post(
            &format!("/v1/api-keys/{id}/roll"),
            &admin,
            &json!({"grace_hours": 200}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("grace_hours"))
    );
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        with_key(&h, &key, get.clone(), "/v1/conversations", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "past its grace"
    );
    assert_eq!(
        with_key(&h, &new_key, get.clone(), "/v1/conversations", None)
            .await
            .0,
        StatusCode::OK
    );

    // Expiry: the key's own end date.
    clock.advance(chrono::Duration::days(30));
    assert_eq!(
        with_key(&h, &new_key, get.clone(), "/v1/conversations", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "expired"
    );

    // Revoked: at once.
    let (_, second) = h
        .post(
            "/v1/api-keys",
            &admin,
            &json!({"name": "Zapier", "role": "viewer"}),
        )
        .await;
    let second_key = second["key"].as_str().unwrap().to_owned();
    assert_eq!(
        with_key(&h, &second_key, get.clone(), "/v1/conversations", None)
            .await
            .0,
        StatusCode::OK
    );
    let (st, _) = h
        .delete(
            &format!("/v1/api-keys/{}", second["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        with_key(&h, &second_key, get.clone(), "/v1/conversations", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (st, _) = h
        .delete(
            &format!("/v1/api-keys/{}", second["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    h.stop().await;
}

#[tokio::test]
async fn keys_work_expire_roll_and_revoke_sqlite() {
    keys_work_expire_roll_and_revoke(Backend::Local).await;
}

#[tokio::test]
async fn keys_work_expire_roll_and_revoke_dynamodb() {
    keys_work_expire_roll_and_revoke(Backend::Aws).await;
}
