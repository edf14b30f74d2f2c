//! The org's people, as the API sees them: every authenticated caller is recorded with
//! the name and e-mail their token carries, their role and when they were last seen, so
//! `GET /v1/users` can offer them for assignment. The identity provider stays the source
//! of truth; this is its shadow, filled in as people use the API.
//!
//! **Cheap.** Recording happens on the request path, so it must cost next to nothing:
//! `last_seen_at` is kept to [`SEEN_BUCKET_SECS`] (five minutes). A process remembers
//! what it recorded ([`SeenCache`]) and skips the store altogether while nothing changed
//! in the current bucket; otherwise it reads the user's record and writes it only if the
//! bucket moved on or the name, e-mail or role changed, conditioned on the version it
//! read — concurrent instances race for one write per user per bucket and the losers
//! write nothing. A failure to record never fails the request (the caller logs it).
//!
//! Layout: one small partition per org, `ORG#<org>#USERS` / `USER#<subject>`, listed in
//! subject order. A user not seen for [`FORGET_AFTER_DAYS`] expires (their name and
//! e-mail are personal data, kept while they use the product).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::Result;
use crate::ids::{OrgId, Role};
use crate::model::org_scope;
use crate::page::{PageRequest, Paged, encode_cursor};
use crate::record::{Record, Versioned, decode_all, load};
use crate::services::Services;
use crate::store::{Query, SortKey, StoreError};

/// How coarse `last_seen_at` is: a user is written at most once per bucket.
pub const SEEN_BUCKET_SECS: i64 = 300;
/// A user not seen for this long is forgotten.
pub const FORGET_AFTER_DAYS: i64 = 365;
/// Longest subject recorded (longer ones are not recorded: no identity provider issues
/// them, and keys have limits).
pub const MAX_SUBJECT_BYTES: usize = 256;
/// Entries a process remembers before it starts over.
const CACHE_ENTRIES: usize = 10_000;

/// Sort-key prefix of users in their partition.
pub const SK_PREFIX: &str = "USER#";

/// Someone who used the API in an org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The org.
    pub org_id: OrgId,
    /// The token's subject.
    pub id: String,
    /// Name from the token's claims.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail from the token's claims.
    #[serde(default)]
    pub email: Option<String>,
    /// Role in the org, as of the last request.
    pub role: Role,
    /// First recorded.
    #[serde(with = "rfc3339_millis")]
    pub first_seen_at: DateTime<Utc>,
    /// Last recorded (to [`SEEN_BUCKET_SECS`]).
    #[serde(with = "rfc3339_millis")]
    pub last_seen_at: DateTime<Utc>,
}

impl User {
    /// The partition of an org's users.
    pub fn pk(org: &OrgId) -> String {
        format!("ORG#{org}#USERS")
    }

    /// Key of a user.
    pub fn key_of(org: &OrgId, id: &str) -> (String, String) {
        (Self::pk(org), format!("{SK_PREFIX}{id}"))
    }

    /// The API view.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "role": self.role,
            "first_seen_at": fmt_time(self.first_seen_at),
            "last_seen_at": fmt_time(self.last_seen_at),
        })
    }
}

impl Record for User {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id, &self.id)
    }

    fn ttl(&self) -> Option<i64> {
        Some((self.last_seen_at + chrono::Duration::days(FORGET_AFTER_DAYS)).timestamp())
    }
}

/// Who called, as the token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The org.
    pub org: OrgId,
    /// The token's subject.
    pub id: String,
    /// Name claim.
    pub name: Option<String>,
    /// E-mail claim.
    pub email: Option<String>,
    /// Role.
    pub role: Role,
}

impl Seen {
    /// A caller worth recording: a subject of sensible size, a clean name (trimmed, at
    /// most 256 characters) and a plausible e-mail address (else they are left out).
    pub fn new(
        org: &OrgId,
        id: &str,
        name: Option<&str>,
        email: Option<&str>,
        role: Role,
    ) -> Option<Self> {
        if id.is_empty() || id.len() > MAX_SUBJECT_BYTES || id.chars().any(char::is_control) {
            return None;
        }
        Some(Self {
            org: org.clone(),
            id: id.to_owned(),
            name: name.and_then(crate::usecases::contacts::fields::normalise_name),
            email: email.and_then(crate::usecases::contacts::fields::normalise_email),
            role,
        })
    }
}

/// What a process recorded lately, so that most requests skip the store.
#[derive(Debug, Default)]
pub struct SeenCache(Mutex<HashMap<(OrgId, String), (i64, Seen)>>);

impl SeenCache {
    fn fresh(&self, seen: &Seen, bucket: i64) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(seen.org.clone(), seen.id.clone()))
            .is_some_and(|(b, s)| *b == bucket && s == seen)
    }

    fn remember(&self, seen: &Seen, bucket: i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CACHE_ENTRIES {
            map.clear();
        }
        map.insert((seen.org.clone(), seen.id.clone()), (bucket, seen.clone()));
    }
}

fn bucket_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(SEEN_BUCKET_SECS)
}

/// Records a caller; whether the store was written. At most one write per user per
/// bucket (plus one when their name, e-mail or role changes).
pub async fn record(svc: &Services, cache: &SeenCache, seen: &Seen) -> Result<bool> {
    let now = svc.clock.now();
    let bucket = bucket_of(now);
    if cache.fresh(seen, bucket) {
        return Ok(false);
    }
    let (pk, sk) = User::key_of(&seen.org, &seen.id);
    let current = load::<User>(&*svc.store, &pk, &sk).await?;
    let next = match &current {
        Some(c)
            if bucket_of(c.record.last_seen_at) >= bucket
                && c.record.name == seen.name
                && c.record.email == seen.email
                && c.record.role == seen.role =>
        {
            cache.remember(seen, bucket);
            return Ok(false);
        }
        Some(c) => Versioned {
            record: User {
                name: seen.name.clone(),
                email: seen.email.clone(),
                role: seen.role,
                last_seen_at: now,
                ..c.record.clone()
            },
            version: c.version,
        },
        None => Versioned::new(User {
            org_id: seen.org.clone(),
            id: seen.id.clone(),
            name: seen.name.clone(),
            email: seen.email.clone(),
            role: seen.role,
            first_seen_at: now,
            last_seen_at: now,
        }),
    };
    match svc.store.put(next.next_item()?, next.condition()).await {
        Ok(()) => {
            cache.remember(seen, bucket);
            Ok(true)
        }
        // Another instance recorded this user a moment ago.
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The org's users, in subject order.
pub async fn list(svc: &Services, org: &OrgId, page: PageRequest) -> Result<Paged<Value>> {
    let query = page.apply_to(
        Query::table(User::pk(org)).sort(SortKey::BeginsWith(SK_PREFIX.into())),
        &org_scope(org),
    )?;
    let result = svc.store.query(query).await?;
    let users: Vec<User> = decode_all(&result.items)?;
    Ok(Paged {
        items: users.iter().map(User::view).collect(),
        next_cursor: result.next.as_ref().map(encode_cursor),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_are_cleaned_before_they_are_recorded() {
        let org = OrgId::parse("acme").unwrap();
        let s = Seen::new(
            &org,
            "user_1",
            Some("  Ana Silva "),
            Some("Ana@Example.com"),
            Role::Agent,
        )
        .unwrap();
        assert_eq!(s.name.as_deref(), Some("Ana Silva"));
        assert_eq!(s.email.as_deref(), Some("ana@example.com"));
        let s = Seen::new(
            &org,
            "user_1",
            Some(""),
            Some("not an address"),
            Role::Agent,
        )
        .unwrap();
        assert_eq!((s.name, s.email), (None, None));
        assert!(Seen::new(&org, "", None, None, Role::Agent).is_none());
        assert!(Seen::new(&org, &"x".repeat(257), None, None, Role::Agent).is_none());
    }

    #[test]
    fn the_cache_holds_one_bucket() {
        let org = OrgId::parse("acme").unwrap();
        let cache = SeenCache::default();
        let s = Seen::new(&org, "u", None, None, Role::Viewer).unwrap();
        assert!(!cache.fresh(&s, 10));
        cache.remember(&s, 10);
        assert!(cache.fresh(&s, 10));
        assert!(!cache.fresh(&s, 11));
        let promoted = Seen {
            role: Role::Admin,
            ..s
        };
        assert!(!cache.fresh(&promoted, 10));
    }
}
