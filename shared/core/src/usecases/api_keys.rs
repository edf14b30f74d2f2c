//! API keys: an org's own servers call every `/v1` route with `Authorization: Bearer
//! sk_live_…` (or `sk_test_…`) beside the frontend's user tokens.
//!
//! A key is shown once, when it is made: `sk_live_` or `sk_test_` (by the deployment's
//! Stripe mode) and 32 random bytes in hex. Only its SHA-256 is stored, in a global
//! look-up item (`APIKEY#<hash>`) that names the org and the key; authentication hashes
//! the presented key and reads that item, so no key is ever compared in the clear. The
//! key's record in the org (`ORG#<org>#APIKEYS` / `KEY#<id>`) holds its name, role, the
//! first 12 characters, times, and the hashes that authenticate it.
//!
//! Rolling a key issues a new one and keeps the old valid for a grace period (24 hours by
//! default, at most 7 days): the old look-up item is rewritten with an expiry, which the
//! store treats as absence once passed. Revoking deletes the look-ups and the record. A
//! key's own `expires_at` is kept on its look-ups the same way.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::info;

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{OrgId, Role};
use crate::record::{Record, decode_all, item, load};
use crate::services::Services;
use crate::store::{Condition, Query, SortKey, StoreError, Write};

/// Longest name.
pub const MAX_NAME_CHARS: usize = 100;
/// Default grace of a rolled key's old value.
pub const DEFAULT_GRACE_HOURS: i64 = 24;
/// Longest grace.
pub const MAX_GRACE_HOURS: i64 = 7 * 24;
/// Most keys an org holds.
pub const MAX_KEYS: usize = 100;
/// How often a key's last use is written (per key and process, at most).
pub const LAST_USED_EVERY_SECS: i64 = 300;

const SK_PREFIX: &str = "KEY#";

fn keys_pk(org: &OrgId) -> String {
    format!("ORG#{org}#APIKEYS")
}

/// Whether a bearer token is an API key (rather than a JWT).
pub fn is_api_key(token: &str) -> bool {
    token.starts_with("sk_live_") || token.starts_with("sk_test_")
}

/// The stored hash of a key.
pub fn hash_of(key: &str) -> String {
    switchboard_webhooks::sha256_hex(&[key.as_bytes()])
}

/// An org's API key, as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Id (`key_` + 32 hex).
    pub id: String,
    /// Owner.
    pub org_id: OrgId,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The first 12 characters of the current key (`sk_live_1a2b`), to recognise it.
    pub prefix: String,
    /// The current key's hash.
    pub hash: String,
    /// Earlier keys' hashes still valid until a time (after a roll).
    #[serde(default)]
    pub previous: Vec<PreviousKey>,
    /// Who made it (token subject).
    #[serde(default)]
    pub created_by: Option<String>,
    /// Made.
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    #[serde(default, with = "rfc3339_millis::option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Last rolled.
    #[serde(default, with = "rfc3339_millis::option")]
    pub rolled_at: Option<DateTime<Utc>>,
}

/// A rolled key's old value, valid until `until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousKey {
    /// Its hash.
    pub hash: String,
    /// Its first 12 characters.
    pub prefix: String,
    /// When it stops working.
    #[serde(with = "rfc3339_millis")]
    pub until: DateTime<Utc>,
}

impl Record for ApiKey {
    fn key(&self) -> (String, String) {
        (keys_pk(&self.org_id), format!("{SK_PREFIX}{}", self.id))
    }
}

/// The global look-up of a key's hash: all authentication needs, so a request reads one
/// item. Written with the key's record in one transaction (created, rolled, revoked), and
/// expiring when the key (this value of it) stops working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KeyRoute {
    hash: String,
    org_id: OrgId,
    key_id: String,
    /// The key's role.
    role: Role,
    /// The key's name.
    name: String,
    /// Unix seconds after which the key (this value of it) no longer works.
    #[serde(default)]
    expires_at: Option<i64>,
}

impl KeyRoute {
    /// The look-up of `hash` for `key`, expiring at `expires_at`.
    fn of(key: &ApiKey, hash: &str, expires_at: Option<i64>) -> Self {
        Self {
            hash: hash.to_owned(),
            org_id: key.org_id.clone(),
            key_id: key.id.clone(),
            role: key.role,
            name: key.name.clone(),
            expires_at,
        }
    }
}

impl Record for KeyRoute {
    fn key(&self) -> (String, String) {
        (format!("APIKEY#{}", self.hash), "APIKEY".to_owned())
    }

    fn ttl(&self) -> Option<i64> {
        self.expires_at
    }
}

/// When a key was last used (written apart from the record, at most every few minutes).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastUsed {
    org_id: OrgId,
    key_id: String,
    #[serde(with = "rfc3339_millis")]
    at: DateTime<Utc>,
}

impl Record for LastUsed {
    fn key(&self) -> (String, String) {
        (keys_pk(&self.org_id), format!("USED#{}", self.key_id))
    }
}

impl ApiKey {
    /// The API view (never the key or its hash).
    pub fn view(&self, last_used_at: Option<DateTime<Utc>>) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_by": self.created_by,
            "created_at": fmt_time(self.created_at),
            "expires_at": self.expires_at.map(fmt_time),
            "rolled_at": self.rolled_at.map(fmt_time),
            "previous": self.previous.iter().map(|p| json!({"prefix": p.prefix, "valid_until": fmt_time(p.until)})).collect::<Vec<_>>(),
            "last_used_at": last_used_at.map(fmt_time),
        })
    }
}

/// A new key's secret value.
fn new_secret(live: bool) -> Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("no randomness for an API key".into()))?;
    let stage = if live { "live" } else { "test" };
    Ok(format!("sk_{stage}_{}", hex_of(&bytes)))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn prefix_of(secret: &str) -> String {
    secret.chars().take(12).collect()
}

/// Who authenticated with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCaller {
    /// The org.
    pub org: OrgId,
    /// The key's role.
    pub role: Role,
    /// The key's id.
    pub key_id: String,
    /// The key's name.
    pub name: String,
}

/// The caller a presented key stands for, or `None` (unknown, expired, revoked, or a
/// rolled key past its grace: its look-up is gone or expired, which the store treats as
/// absent).
pub async fn authenticate(svc: &Services, presented: &str) -> Result<Option<KeyCaller>> {
    if !is_api_key(presented) || presented.len() > 200 {
        return Ok(None);
    }
    let pk = format!("APIKEY#{}", hash_of(presented));
    Ok(load::<KeyRoute>(&*svc.store, &pk, "APIKEY")
        .await?
        .map(|r| KeyCaller {
            org: r.record.org_id,
            role: r.record.role,
            key_id: r.record.key_id,
            name: r.record.name,
        }))
}

/// Notes a key's use (the caller throttles how often).
pub async fn touch(svc: &Services, org: &OrgId, key_id: &str) -> Result<()> {
    let used = LastUsed {
        org_id: org.clone(),
        key_id: key_id.to_owned(),
        at: svc.clock.now(),
    };
    svc.store.put(item(&used, 1)?, Condition::Always).await?;
    Ok(())
}

fn parse_role(v: Option<&Value>, caller_role: Role) -> Result<Role> {
    let role = v
        .and_then(Value::as_str)
        .and_then(|s| Role::parse(s).filter(|r| r.as_str() == s))
        .ok_or_else(|| {
            Error::validation(
                "role",
                "invalid_role",
                "role is viewer, agent, admin or owner",
            )
        })?;
    if role > caller_role {
        return Err(Error::validation(
            "role",
            "role_above_caller",
            format!("a key may have at most the caller's role ({caller_role})"),
        ));
    }
    Ok(role)
}

/// `POST /v1/api-keys` `{name, role, expires_at?}`: the record and the key, shown once.
pub async fn create(
    svc: &Services,
    org: &OrgId,
    caller_role: Role,
    by: Option<&str>,
    live: bool,
    body: &Value,
) -> Result<(ApiKey, String)> {
    let body = crate::usecases::triage::object_of_fields(body, &["name", "role", "expires_at"])?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| {
            !n.is_empty() && n.chars().count() <= MAX_NAME_CHARS && !n.chars().any(char::is_control)
        })
        .ok_or_else(|| {
            Error::validation(
                "name",
                "invalid_name",
                format!("name is 1-{MAX_NAME_CHARS} characters"),
            )
        })?
        .to_owned();
    let role = parse_role(body.get("role"), caller_role)?;
    let now = svc.clock.now();
    let expires_at = match body.get("expires_at").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| *t > now)
                .ok_or_else(|| {
                    Error::validation(
                        "expires_at",
                        "invalid_expiry",
                        "expires_at is an RFC 3339 time in the future",
                    )
                })?,
        ),
    };
    if list_records(svc, org).await?.len() >= MAX_KEYS {
        return Err(Error::Conflict {
            code: "too_many_keys",
            message: format!("an org holds at most {MAX_KEYS} API keys; revoke one first"),
        });
    }
    let secret = new_secret(live)?;
    let id = format!("key_{}", uuid::Uuid::new_v4().simple());
    let key = ApiKey {
        id: id.clone(),
        org_id: org.clone(),
        name,
        role,
        prefix: prefix_of(&secret),
        hash: hash_of(&secret),
        previous: Vec::new(),
        created_by: by.map(str::to_owned),
        created_at: now,
        expires_at,
        rolled_at: None,
    };
    let route = KeyRoute::of(&key, &key.hash, expires_at.map(|t| t.timestamp()));
    svc.store
        .transact(vec![
            Write::put(item(&key, 1)?, Condition::NotExists),
            Write::put(item(&route, 1)?, Condition::NotExists),
        ])
        .await?;
    info!(org_id = %org, key_id = %key.id, role = %key.role, "API key created");
    Ok((key, secret))
}

async fn list_records(svc: &Services, org: &OrgId) -> Result<Vec<ApiKey>> {
    let page = svc
        .store
        .query(
            Query::table(keys_pk(org))
                .sort(SortKey::BeginsWith(SK_PREFIX.into()))
                .limit(MAX_KEYS + 1),
        )
        .await?;
    Ok(decode_all(&page.items)?)
}

/// `GET /v1/api-keys`: the org's keys, newest first, with their last use (one query:
/// the keys and their last-use items share the org's keys partition).
pub async fn list(svc: &Services, org: &OrgId) -> Result<Vec<Value>> {
    let page = svc
        .store
        .query(Query::table(keys_pk(org)).limit(MAX_KEYS * 2 + 1))
        .await?;
    let (keys, used): (Vec<_>, Vec<_>) = page
        .items
        .into_iter()
        .partition(|it| it.sk.starts_with(SK_PREFIX));
    let mut keys: Vec<ApiKey> = decode_all(&keys)?;
    let used: Vec<LastUsed> = decode_all(&used)?;
    keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(keys
        .iter()
        .map(|k| k.view(used.iter().find(|u| u.key_id == k.id).map(|u| u.at)))
        .collect())
}

async fn load_key(
    svc: &Services,
    org: &OrgId,
    id: &str,
) -> Result<crate::record::Versioned<ApiKey>> {
    if !id.starts_with("key_") || id.len() != 36 {
        return Err(Error::not_found("api key"));
    }
    load::<ApiKey>(&*svc.store, &keys_pk(org), &format!("{SK_PREFIX}{id}"))
        .await?
        .ok_or(Error::not_found("api key"))
}

/// `DELETE /v1/api-keys/{id}`: the key (and any rolled value in its grace) stops working.
pub async fn revoke(svc: &Services, org: &OrgId, id: &str) -> Result<()> {
    let key = load_key(svc, org, id).await?;
    let mut writes = vec![Write::delete(
        keys_pk(org),
        format!("{SK_PREFIX}{id}"),
        key.condition(),
    )];
    for hash in std::iter::once(&key.record.hash).chain(key.record.previous.iter().map(|p| &p.hash))
    {
        writes.push(Write::delete(
            format!("APIKEY#{hash}"),
            "APIKEY",
            Condition::Always,
        ));
    }
    writes.push(Write::delete(
        keys_pk(org),
        format!("USED#{id}"),
        Condition::Always,
    ));
    match svc.store.transact(writes).await {
        Ok(()) => {
            info!(org_id = %org, key_id = %id, "API key revoked");
            Ok(())
        }
        Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict {
            code: "api_key_changed",
            message: "the key changed meanwhile (rolled?); try again".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/api-keys/{id}/roll` `{grace_hours?}`: a new key; the current one keeps
/// working for the grace (default 24 h, at most 7 days; 0 ends it now).
pub async fn roll(
    svc: &Services,
    org: &OrgId,
    id: &str,
    live: bool,
    body: &Value,
) -> Result<(ApiKey, String)> {
    let body = crate::usecases::triage::object_of_fields(body, &["grace_hours"])?;
    let grace = match body.get("grace_hours").filter(|v| !v.is_null()) {
        None => DEFAULT_GRACE_HOURS,
        Some(v) => v
            .as_i64()
            .filter(|h| (0..=MAX_GRACE_HOURS).contains(h))
            .ok_or_else(|| {
                Error::validation(
                    "grace_hours",
                    "invalid_grace",
                    format!("grace_hours is a whole number from 0 to {MAX_GRACE_HOURS}"),
                )
            })?,
    };
    let mut key = load_key(svc, org, id).await?;
    let now = svc.clock.now();
    let until = now + Duration::hours(grace);
    let secret = new_secret(live)?;
    let old = PreviousKey {
        hash: key.record.hash.clone(),
        prefix: key.record.prefix.clone(),
        until,
    };
    // Earlier values past their grace are dropped; the one rolled now keeps its grace.
    key.record.previous.retain(|p| p.until > now);
    key.record.previous.push(old.clone());
    key.record.hash = hash_of(&secret);
    key.record.prefix = prefix_of(&secret);
    key.record.rolled_at = Some(now);
    let expiry = key.record.expires_at.map(|t| t.timestamp());
    let new_route = KeyRoute::of(&key.record, &key.record.hash, expiry);
    // The old value's look-up now expires with its grace (or the key's own expiry).
    let old_route = KeyRoute::of(
        &key.record,
        &old.hash,
        Some(expiry.map_or(until.timestamp(), |e| e.min(until.timestamp()))),
    );
    let writes = vec![
        Write::put(key.next_item()?, key.condition()),
        Write::put(item(&new_route, 1)?, Condition::NotExists),
        Write::put(item(&old_route, 1)?, Condition::Always),
    ];
    match svc.store.transact(writes).await {
        Ok(()) => {
            info!(org_id = %org, key_id = %id, grace_hours = grace, "API key rolled");
            Ok((key.record, secret))
        }
        Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict {
            code: "api_key_changed",
            message: "the key changed meanwhile; try again".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_stage_and_32_random_bytes() {
        let a = new_secret(true).unwrap();
        let b = new_secret(false).unwrap();
        assert!(a.starts_with("sk_live_") && b.starts_with("sk_test_"));
        assert_eq!(a.len(), "sk_live_".len() + 64);
        assert!(a["sk_live_".len()..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_secret(true).unwrap(), a);
        assert_eq!(prefix_of(&a).len(), 12);
        assert!(is_api_key(&a) && !is_api_key("eyJhbGciOi"));
        assert_eq!(hash_of(&a).len(), 64);
    }
}
