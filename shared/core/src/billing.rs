//! Billing: plans and their limits, the org's subscription state as Stripe reports it,
//! and the entitlement the rest of the system checks before accepting work.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::OrgId;
use crate::record::Record;
use crate::store::IndexKey;

/// The plans Switchboard sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Small teams.
    Starter,
    /// Growing teams.
    Professional,
    /// Large organisations.
    Enterprise,
}

impl Plan {
    /// Every plan.
    pub const ALL: [Plan; 3] = [Plan::Starter, Plan::Professional, Plan::Enterprise];

    /// Name in the API and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Professional => "professional",
            Plan::Enterprise => "enterprise",
        }
    }

    /// Parses a plan name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim().to_ascii_lowercase())
    }
}

/// What a plan allows. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// Outbound messages per billing period.
    pub messages_per_month: Option<u64>,
    /// Connected WhatsApp numbers.
    pub connected_numbers: Option<u64>,
    /// Distinct agents sending in a billing period.
    pub seats: Option<u64>,
    /// AI replies (auto-replies and accepted drafts) per billing period. Left out of a
    /// `PLAN_LIMITS` override: unlimited.
    #[serde(default)]
    pub ai_replies_per_month: Option<u64>,
}

impl PlanLimits {
    /// Switchboard's default limits per plan (overridable with `PLAN_LIMITS`).
    pub fn default_for(plan: Plan) -> Self {
        match plan {
            Plan::Starter => Self {
                messages_per_month: Some(1_000),
                connected_numbers: Some(1),
                seats: Some(3),
                ai_replies_per_month: Some(500),
            },
            Plan::Professional => Self {
                messages_per_month: Some(10_000),
                connected_numbers: Some(3),
                seats: Some(10),
                ai_replies_per_month: Some(5_000),
            },
            Plan::Enterprise => Self {
                messages_per_month: None,
                connected_numbers: None,
                seats: None,
                ai_replies_per_month: None,
            },
        }
    }
}

/// Billing settings.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// Whether plan limits and subscription status are enforced. Off on the embedded
    /// backend by default, so local development needs no Stripe account.
    pub enforce: bool,
    /// Stripe price id → plan (several prices may map to one plan: monthly, yearly).
    pub prices: HashMap<String, Plan>,
    /// The price Checkout uses for each plan (the first configured).
    pub checkout_prices: HashMap<Plan, String>,
    /// Limits per plan.
    pub limits: HashMap<Plan, PlanLimits>,
    /// How long `past_due` keeps sending allowed.
    pub past_due_grace: Duration,
    /// Meter `event_name` usage is reported under.
    pub meter_event_name: String,
    /// Meter `event_name` AI replies sent are reported under (`STRIPE_AI_METER_EVENT`).
    pub ai_meter_event_name: String,
    /// Whether this deployment takes live-mode (or test-mode) Stripe events.
    pub livemode: bool,
    /// Signature timestamp tolerance, seconds.
    pub tolerance_secs: i64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            enforce: false,
            prices: HashMap::new(),
            checkout_prices: HashMap::new(),
            limits: Plan::ALL
                .iter()
                .map(|p| (*p, PlanLimits::default_for(*p)))
                .collect(),
            past_due_grace: Duration::from_secs(7 * 86_400),
            meter_event_name: "whatsapp_messages".into(),
            ai_meter_event_name: "ai_replies".into(),
            livemode: false,
            tolerance_secs: switchboard_webhooks::stripe::DEFAULT_TOLERANCE_SECS,
        }
    }
}

impl BillingConfig {
    /// Sets the prices of a plan (first one is used for Checkout).
    pub fn with_prices(mut self, plan: Plan, prices: &[&str]) -> Self {
        for (i, p) in prices.iter().enumerate() {
            self.prices.insert((*p).to_owned(), plan);
            if i == 0 {
                self.checkout_prices.insert(plan, (*p).to_owned());
            }
        }
        self
    }

    /// The limits of a plan.
    pub fn limits_of(&self, plan: Option<Plan>) -> PlanLimits {
        plan.and_then(|p| self.limits.get(&p).copied())
            .unwrap_or(PlanLimits {
                messages_per_month: Some(0),
                connected_numbers: Some(0),
                seats: Some(0),
                ai_replies_per_month: Some(0),
            })
    }
}

/// Stripe subscription status (plus `none` for an org that never subscribed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// No subscription.
    None,
    /// First payment pending.
    Incomplete,
    /// First payment never made.
    IncompleteExpired,
    /// In a trial.
    Trialing,
    /// Paid up.
    Active,
    /// A renewal payment failed; Stripe is retrying.
    PastDue,
    /// Retries exhausted, invoices left open.
    Unpaid,
    /// Ended.
    Canceled,
    /// Paused (trial ended without a payment method, or paused collection).
    Paused,
}

impl SubscriptionStatus {
    /// Parses Stripe's status names.
    pub fn parse(s: &str) -> Self {
        match s {
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "unpaid" => Self::Unpaid,
            "canceled" => Self::Canceled,
            "paused" => Self::Paused,
            _ => Self::None,
        }
    }
}

/// An org's billing state. One item in the org partition; listed on `gsi1` once the org
/// has a Stripe customer (the usage reporter walks that list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Billing {
    /// Org.
    pub org_id: OrgId,
    /// Stripe customer.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Current subscription.
    #[serde(default)]
    pub subscription_id: Option<String>,
    /// When that subscription was created (a newer one replaces an older one).
    #[serde(default)]
    pub subscription_created: Option<i64>,
    /// Its price.
    #[serde(default)]
    pub price_id: Option<String>,
    /// Its plan.
    #[serde(default)]
    pub plan: Option<Plan>,
    /// Its status.
    pub status: SubscriptionStatus,
    /// Current period (Unix seconds).
    #[serde(default)]
    pub current_period_start: Option<i64>,
    /// Current period end.
    #[serde(default)]
    pub current_period_end: Option<i64>,
    /// The period before, so its last usage is still reported after a renewal.
    #[serde(default)]
    pub previous_period_start: Option<i64>,
    /// Trial end.
    #[serde(default)]
    pub trial_end: Option<i64>,
    /// Cancels at period end.
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// Since when the subscription is past due (grace period start).
    #[serde(default)]
    pub past_due_since: Option<i64>,
    /// Time of the state this record holds (event `created`, or the time it was fetched
    /// from Stripe): older states are never applied over newer ones.
    #[serde(default)]
    pub state_at: i64,
    /// Last paid invoice.
    #[serde(default)]
    pub last_invoice_paid_at: Option<i64>,
    /// Last failed payment.
    #[serde(default)]
    pub last_payment_failed_at: Option<i64>,
    /// Stripe's notice that the trial ends soon.
    #[serde(default)]
    pub trial_will_end_at: Option<i64>,
    /// Next invoice, from `invoice.upcoming`.
    #[serde(default)]
    pub upcoming_invoice: Option<Value>,
    /// The Stripe event that last changed the plan, status or period end: a retry of
    /// that event publishes its `billing.subscription_updated` again, and no other does.
    #[serde(default)]
    pub changed_by_event: Option<String>,
    /// Last changed.
    #[serde(with = "crate::clock::rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

impl Billing {
    /// Key of an org's billing record.
    pub fn key_of(org: &OrgId) -> (String, String) {
        (crate::model::org_pk(org), "BILLING".to_owned())
    }

    /// `gsi1` partition listing orgs with a Stripe customer.
    pub const CUSTOMERS_PK: &'static str = "BILLING#CUSTOMERS";

    /// A fresh record.
    pub fn new(org: &OrgId, now: DateTime<Utc>) -> Self {
        Self {
            org_id: org.clone(),
            customer_id: None,
            subscription_id: None,
            subscription_created: None,
            price_id: None,
            plan: None,
            status: SubscriptionStatus::None,
            current_period_start: None,
            current_period_end: None,
            previous_period_start: None,
            trial_end: None,
            cancel_at_period_end: false,
            past_due_since: None,
            state_at: 0,
            last_invoice_paid_at: None,
            last_payment_failed_at: None,
            trial_will_end_at: None,
            upcoming_invoice: None,
            changed_by_event: None,
            updated_at: now,
        }
    }

    /// The usage period a time falls in, as the period's start (Unix seconds).
    ///
    /// Usage belongs to the subscription period that contains it. Stripe starts the
    /// next period exactly at the current one's end, and the renewal event arrives
    /// some time later; usage in between belongs to the next period, whose start is
    /// known already (the current end), so it lands in the bucket the renewal will name
    /// — never in a bucket that is not reported. Usage before the current period
    /// belongs to the previous one. Without a subscription, the calendar month (UTC).
    pub fn period_at(&self, at: DateTime<Utc>) -> i64 {
        let t = at.timestamp();
        match (self.current_period_start, self.current_period_end) {
            (Some(start), Some(end)) if end > start => {
                if t >= end {
                    // Renewals that have not arrived yet: periods keep their length.
                    end + (t - end) / (end - start) * (end - start)
                } else if t >= start {
                    start
                } else {
                    match self.previous_period_start {
                        Some(previous) if t >= previous => previous,
                        _ => month_start(at),
                    }
                }
            }
            _ => month_start(at),
        }
    }

    /// The end of the usage period that starts at `period` (exclusive, Unix seconds),
    /// as far as this record knows it.
    pub fn period_end(&self, period: i64) -> i64 {
        match (self.current_period_start, self.current_period_end) {
            (Some(start), Some(end)) if end > start => {
                if Some(period) == self.previous_period_start && period < start {
                    start
                } else if period >= end {
                    period + (end - start)
                } else if period == start {
                    end
                } else {
                    next_month_start(period)
                }
            }
            _ => next_month_start(period),
        }
    }

    /// The periods whose usage may still need reporting at `now`: the previous one, the
    /// current one, and the one `now` falls in (the next one, if its renewal has not
    /// arrived yet).
    pub fn reportable_periods(&self, now: DateTime<Utc>) -> Vec<i64> {
        let mut periods: Vec<i64> = [
            self.previous_period_start,
            self.current_period_start,
            Some(self.period_at(now)),
        ]
        .into_iter()
        .flatten()
        .collect();
        periods.sort_unstable();
        periods.dedup();
        periods
    }
}

/// The start of the calendar month after the one `t` (Unix seconds) falls in.
fn next_month_start(t: i64) -> i64 {
    let at = DateTime::from_timestamp(t, 0).unwrap_or_default();
    let (y, m) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .map(|t| t.timestamp())
        .unwrap_or(i64::MAX)
}

/// First instant of `now`'s calendar month, Unix seconds.
pub fn month_start(now: DateTime<Utc>) -> i64 {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

impl Record for Billing {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.org_id)
    }

    fn gsi1(&self) -> Option<IndexKey> {
        self.customer_id
            .as_ref()
            .map(|_| IndexKey::new(Self::CUSTOMERS_PK, self.org_id.to_string()))
    }
}

/// Global look-up: which org a Stripe customer belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRoute {
    /// `cus_…`.
    pub customer_id: String,
    /// Owner.
    pub org_id: OrgId,
}

impl CustomerRoute {
    /// Key of the look-up.
    pub fn key_of(customer: &str) -> (String, String) {
        (format!("STRIPE#CUSTOMER#{customer}"), "ROUTE".to_owned())
    }
}

impl Record for CustomerRoute {
    fn key(&self) -> (String, String) {
        Self::key_of(&self.customer_id)
    }
}

/// Whether an org may do billable work now, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entitlement {
    /// Allowed.
    pub allowed: bool,
    /// Machine-readable reason when not allowed.
    pub code: Option<&'static str>,
    /// Human-readable reason when not allowed.
    pub reason: Option<String>,
}

/// The entitlement of a billing state at `now`: active and trialing subscriptions may
/// work; past-due ones for the grace period; everything else may not.
pub fn entitlement(
    billing: Option<&Billing>,
    cfg: &BillingConfig,
    now: DateTime<Utc>,
) -> Entitlement {
    let deny = |code: &'static str, reason: String| Entitlement {
        allowed: false,
        code: Some(code),
        reason: Some(reason),
    };
    if !cfg.enforce {
        return Entitlement {
            allowed: true,
            code: None,
            reason: None,
        };
    }
    let Some(b) = billing else {
        return deny(
            "subscription_inactive",
            "the organisation has no subscription; start one at checkout".into(),
        );
    };
    match b.status {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => Entitlement {
            allowed: true,
            code: None,
            reason: None,
        },
        SubscriptionStatus::PastDue => {
            let since = b.past_due_since.unwrap_or(b.state_at);
            let grace_end = since + cfg.past_due_grace.as_secs() as i64;
            if now.timestamp() < grace_end {
                Entitlement {
                    allowed: true,
                    code: None,
                    reason: None,
                }
            } else {
                deny("subscription_inactive", "the subscription is past due and its grace period has ended; update the payment method".into())
            }
        }
        SubscriptionStatus::None => deny(
            "subscription_inactive",
            "the organisation has no subscription; start one at checkout".into(),
        ),
        other => deny(
            "subscription_inactive",
            format!(
                "the subscription is {}; sending is paused until it is active",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    #[test]
    fn entitlement_by_status_and_grace() {
        let cfg = BillingConfig {
            enforce: true,
            ..BillingConfig::default()
        };
        let org = OrgId::parse("acme").unwrap();
        let mut b = Billing::new(&org, at(0));
        assert!(!entitlement(None, &cfg, at(0)).allowed);
        assert!(!entitlement(Some(&b), &cfg, at(0)).allowed);
        for s in [SubscriptionStatus::Active, SubscriptionStatus::Trialing] {
            b.status = s;
            assert!(entitlement(Some(&b), &cfg, at(0)).allowed);
        }
        b.status = SubscriptionStatus::PastDue;
        b.past_due_since = Some(1_000);
        assert!(entitlement(Some(&b), &cfg, at(1_000 + 6 * 86_400)).allowed);
        let late = entitlement(Some(&b), &cfg, at(1_000 + 8 * 86_400));
        assert_eq!(
            (late.allowed, late.code),
            (false, Some("subscription_inactive"))
        );
        for s in [
            SubscriptionStatus::Canceled,
            SubscriptionStatus::Unpaid,
            SubscriptionStatus::Paused,
            SubscriptionStatus::Incomplete,
        ] {
            b.status = s;
            assert!(!entitlement(Some(&b), &cfg, at(0)).allowed, "{s:?}");
        }
        let off = BillingConfig::default();
        assert!(
            entitlement(None, &off, at(0)).allowed,
            "not enforced: always allowed"
        );
    }

    #[test]
    fn periods() {
        let org = OrgId::parse("acme").unwrap();
        let mut b = Billing::new(&org, at(0));
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        assert_eq!(
            b.period_at(now),
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
                .unwrap()
                .timestamp()
        );
        b.current_period_start = Some(now.timestamp() - 100);
        b.current_period_end = Some(now.timestamp() + 100);
        assert_eq!(b.period_at(now), now.timestamp() - 100);
    }

    #[test]
    fn usage_after_the_period_end_belongs_to_the_next_period_before_the_renewal_arrives() {
        let org = OrgId::parse("acme").unwrap();
        let mut b = Billing::new(&org, at(0));
        let (p0, p1, p2) = (1_000_000, 1_000_000 + 30 * 86_400, 1_000_000 + 60 * 86_400);
        b.current_period_start = Some(p0);
        b.current_period_end = Some(p1);
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(b.period_at(t(p1 - 1)), p0, "the last second of the period");
        assert_eq!(
            b.period_at(t(p1)),
            p1,
            "the renewal boundary is the next period"
        );
        assert_eq!(b.period_at(t(p1 + 3600)), p1);
        assert_eq!(b.period_at(t(p2 + 5)), p2, "two renewals missed");
        assert_eq!(b.period_end(p0), p1);
        assert_eq!(b.period_end(p1), p2);
        assert_eq!(b.reportable_periods(t(p1 + 3600)), vec![p0, p1]);
        // The renewal arrives: the bucket it names is the one already counted in.
        b.previous_period_start = Some(p0);
        b.current_period_start = Some(p1);
        b.current_period_end = Some(p2);
        assert_eq!(b.period_at(t(p1 + 3600)), p1);
        assert_eq!(
            b.period_at(t(p1 - 10)),
            p0,
            "late usage of the previous period"
        );
        assert_eq!(b.period_end(p0), p1);
        assert_eq!(b.reportable_periods(t(p1 + 3600)), vec![p0, p1]);
        // Without a subscription: calendar months.
        let none = Billing::new(&org, at(0));
        let nov = Utc
            .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        let dec = Utc
            .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(none.period_end(nov), dec);
    }

    #[test]
    fn plans_and_prices() {
        assert_eq!(Plan::parse("Professional"), Some(Plan::Professional));
        assert_eq!(Plan::parse("gold"), None);
        let cfg = BillingConfig::default().with_prices(Plan::Starter, &["price_s_m", "price_s_y"]);
        assert_eq!(cfg.prices.get("price_s_y"), Some(&Plan::Starter));
        assert_eq!(
            cfg.checkout_prices.get(&Plan::Starter).map(String::as_str),
            Some("price_s_m")
        );
        assert_eq!(
            cfg.limits_of(Some(Plan::Enterprise)).messages_per_month,
            None
        );
        assert_eq!(cfg.limits_of(None).connected_numbers, Some(0));
    }
}
