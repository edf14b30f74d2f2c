//! API rate limits: one caller's burst must not slow the org, and one org's burst must
//! not slow everyone else.
//!
//! Every authenticated `/v1` request takes one token from two buckets of its route class
//! (reads, writes, sends): the caller's (a user, or later an API key) and the org's, which
//! holds [`ORG_FACTOR`] callers' worth. A bucket holds a minute of requests and refills
//! continuously; it is the pacing module's GCRA state in the item store, so every Lambda
//! instance shares it. Over either limit the request is refused with 429 `rate_limited`
//! and the time after which it would go; every answer carries the tighter bucket's
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
//!
//! Limits are per plan (the org's subscription), overridable with `RATE_LIMITS`. Provider
//! webhooks are not limited here: API Gateway throttles their routes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::billing::Plan;
use crate::error::Result;
use crate::ids::OrgId;
use crate::services::Services;
use crate::usecases::pacing::{self, Rate};

/// How many callers' worth of requests an org's bucket holds.
pub const ORG_FACTOR: u32 = 4;

/// What kind of request a route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// `GET`: reads.
    Reads,
    /// Other methods: changes.
    Writes,
    /// Messages to customers: `POST …/messages` and an AI draft's accept.
    Sends,
}

impl RouteClass {
    /// The class of a request.
    pub fn of(method: &str, path: &str) -> Self {
        if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
            return RouteClass::Reads;
        }
        let sends = method.eq_ignore_ascii_case("POST")
            && ((path.starts_with("/v1/conversations/") && path.ends_with("/messages"))
                || (path.contains("/suggestions/") && path.ends_with("/accept")));
        if sends {
            RouteClass::Sends
        } else {
            RouteClass::Writes
        }
    }

    /// The name in keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteClass::Reads => "reads",
            RouteClass::Writes => "writes",
            RouteClass::Sends => "sends",
        }
    }
}

/// Requests per minute a caller may make, per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// `GET` requests.
    pub reads_per_minute: u32,
    /// Other requests.
    pub writes_per_minute: u32,
    /// Sends.
    pub sends_per_minute: u32,
}

impl RateLimits {
    /// Switchboard's defaults for a plan (`None`: no subscription, or billing not
    /// enforced, which gets the Professional plan's).
    pub fn default_for(plan: Option<Plan>) -> Self {
        match plan {
            Some(Plan::Starter) => Self {
                reads_per_minute: 300,
                writes_per_minute: 60,
                sends_per_minute: 120,
            },
            Some(Plan::Enterprise) => Self {
                reads_per_minute: 1_200,
                writes_per_minute: 300,
                sends_per_minute: 1_200,
            },
            Some(Plan::Professional) | None => Self {
                reads_per_minute: 600,
                writes_per_minute: 120,
                sends_per_minute: 600,
            },
        }
    }

    /// The limit of a class.
    pub fn per_minute(&self, class: RouteClass) -> u32 {
        match class {
            RouteClass::Reads => self.reads_per_minute,
            RouteClass::Writes => self.writes_per_minute,
            RouteClass::Sends => self.sends_per_minute,
        }
        .max(1)
    }
}

/// The deployment's rate-limit settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Whether limits apply (on AWS always; on the embedded backend when `RATE_LIMITS`
    /// is set, so local scripts and tests are not limited unless they ask to be).
    pub enforce: bool,
    /// Limits replacing the defaults: for every plan (`None` key) or per plan.
    pub overrides: HashMap<Option<Plan>, RateLimits>,
}

impl RateLimitConfig {
    /// The limits of a plan.
    pub fn limits_of(&self, plan: Option<Plan>) -> RateLimits {
        self.overrides
            .get(&plan)
            .or_else(|| self.overrides.get(&None))
            .copied()
            .unwrap_or_else(|| RateLimits::default_for(plan))
    }

    /// Parses `RATE_LIMITS`: limits for every plan
    /// (`{"reads_per_minute": 600, "writes_per_minute": 120, "sends_per_minute": 600}`) or
    /// per plan (`{"starter": {…}, "professional": {…}}`).
    pub fn parse(json: &str) -> std::result::Result<HashMap<Option<Plan>, RateLimits>, String> {
        if let Ok(all) = serde_json::from_str::<RateLimits>(json) {
            return Ok(HashMap::from([(None, all)]));
        }
        let per_plan: HashMap<String, RateLimits> = serde_json::from_str(json).map_err(|e| {
            format!("expected {{\"reads_per_minute\": 600, \"writes_per_minute\": 120, \"sends_per_minute\": 600}} or one such object per plan: {e}")
        })?;
        per_plan
            .into_iter()
            .map(|(name, limits)| {
                Plan::parse(&name)
                    .map(|p| (Some(p), limits))
                    .ok_or_else(|| format!("unknown plan `{name}`"))
            })
            .collect()
    }
}

/// What a request's check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the request may go.
    pub allowed: bool,
    /// The tighter bucket's size (requests per minute).
    pub limit: u32,
    /// Requests left in it now.
    pub remaining: u32,
    /// Seconds until it is full again.
    pub reset_secs: u64,
    /// Seconds until a refused request would go.
    pub retry_after_secs: Option<u64>,
}

fn bucket_pk(org: &OrgId, class: RouteClass, who: &str) -> String {
    format!("ORG#{org}#RATE#{}#{who}", class.as_str())
}

fn rate(per_minute: u32) -> Rate {
    Rate {
        interval_us: (60_000_000 / i64::from(per_minute.max(1))).max(1),
        burst: i64::from(per_minute.max(1)),
    }
}

fn secs_until(at_us: i64, now_us: i64) -> u64 {
    ((at_us - now_us).max(0) as u64).div_ceil(1_000_000)
}

/// Takes one request of `class` for `caller` (a user id, or `key:<id>`) in `org`.
pub async fn check(
    svc: &Services,
    limits: RateLimits,
    org: &OrgId,
    caller: &str,
    class: RouteClass,
) -> Result<Verdict> {
    let now_us = svc.clock.now().timestamp_micros();
    let per_caller = limits.per_minute(class);
    let per_org = per_caller.saturating_mul(ORG_FACTOR);
    let mut tightest: Option<Verdict> = None;
    // The caller's own bucket first: a caller over its limit takes nothing from the org's.
    for (who, per_minute) in [(caller, per_caller), ("*org", per_org)] {
        let taken = pacing::take(
            &*svc.store,
            &bucket_pk(org, class, who),
            rate(per_minute),
            now_us,
        )
        .await?;
        let v = Verdict {
            allowed: taken.allowed,
            limit: per_minute,
            remaining: taken.remaining.clamp(0, i64::from(u32::MAX)) as u32,
            reset_secs: secs_until(taken.full_at_us, now_us),
            retry_after_secs: (!taken.allowed).then(|| secs_until(taken.free_at_us, now_us).max(1)),
        };
        if !v.allowed {
            return Ok(v);
        }
        if tightest.is_none_or(|t| v.remaining < t.remaining) {
            tightest = Some(v);
        }
    }
    Ok(tightest.expect("two buckets were checked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_classes() {
        assert_eq!(
            RouteClass::of("GET", "/v1/conversations"),
            RouteClass::Reads
        );
        assert_eq!(
            RouteClass::of("POST", "/v1/conversations/cv_1/messages"),
            RouteClass::Sends
        );
        assert_eq!(
            RouteClass::of("POST", "/v1/conversations/cv_1/suggestions/sg_1/accept"),
            RouteClass::Sends
        );
        assert_eq!(
            RouteClass::of("POST", "/v1/conversations/cv_1/read"),
            RouteClass::Writes
        );
        assert_eq!(
            RouteClass::of("PATCH", "/v1/contacts/ct_1"),
            RouteClass::Writes
        );
    }

    #[test]
    fn overrides_parse_flat_or_per_plan() {
        let all = RateLimitConfig::parse(
            r#"{"reads_per_minute": 10, "writes_per_minute": 5, "sends_per_minute": 2}"#,
        )
        .unwrap();
        let cfg = RateLimitConfig {
            enforce: true,
            overrides: all,
        };
        assert_eq!(cfg.limits_of(Some(Plan::Starter)).reads_per_minute, 10);
        let per = RateLimitConfig::parse(
            r#"{"starter": {"reads_per_minute": 1, "writes_per_minute": 1, "sends_per_minute": 1}}"#,
        )
        .unwrap();
        let cfg = RateLimitConfig {
            enforce: true,
            overrides: per,
        };
        assert_eq!(cfg.limits_of(Some(Plan::Starter)).reads_per_minute, 1);
        assert_eq!(
            cfg.limits_of(Some(Plan::Enterprise)),
            RateLimits::default_for(Some(Plan::Enterprise))
        );
        assert!(RateLimitConfig::parse(r#"{"gold": {"reads_per_minute": 1, "writes_per_minute": 1, "sends_per_minute": 1}}"#).is_err());
        assert!(RateLimitConfig::parse(r#"{"reads_per_minute": "many"}"#).is_err());
    }
}
