//! Accounts that look after themselves: Meta's embedded signup, the token's lifecycle,
//! and the number's health (verified name, quality, messaging limit tier, name and
//! account status) kept current by a daily sync and by Meta's account webhooks.
//!
//! **Embedded signup** spends a single-use `code`, so everything that can refuse the
//! request runs first (validation, the plan's number limit, a number already connected).
//! Then the Graph steps in order — exchange the code, subscribe the app to the business
//! account, register the number when a PIN is given, read the number — and only when
//! all succeeded is anything stored, in the one transaction that connects a number
//! (account and routing entry together). A failing step answers with its name and
//! leaves nothing behind; Meta's side (a subscription, a registration) is idempotent, so
//! the frontend simply runs the flow again.
//!
//! **Tokens** carry the expiry and scopes `debug_token` reports. The sync turns an
//! account `reauth_required` when its token is invalid or expires within
//! [`REAUTH_BEFORE_DAYS`], so an admin reconnects before sends start failing.

use chrono::{DateTime, Duration};
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::ids::{AccountId, OrgId, PhoneNumberId, WabaId};
use crate::meta_app::{AppCredentials, MetaAppApi, NumberHealth, TokenInfo};
use crate::model::{Account, AccountHealth, AccountStatus, PhoneRoute, WhatsAppProvider};
use crate::record::{decode_all, load, update};
use crate::secrets::{SecretName, SecretString};
use crate::services::Services;
use crate::store::{Index, Query};
use crate::usecases::integrations::{self, Connect};
use crate::whatsapp::GraphError;

/// An account whose token expires within this many days needs reconnecting.
pub const REAUTH_BEFORE_DAYS: i64 = 7;
/// Numbers read per page while syncing every account.
const SYNC_PAGE: usize = 100;

/// The Meta app's client and credentials; 503 `not_configured` naming what is missing.
pub async fn app(svc: &Services) -> Result<(&dyn MetaAppApi, AppCredentials)> {
    let client = svc.meta_app.as_deref().ok_or(Error::NotConfigured {
        what: "WHATSAPP_GRAPH_URL".into(),
    })?;
    let app_id = svc.meta_app_id.clone().ok_or(Error::NotConfigured {
        what: "META_APP_ID".into(),
    })?;
    let secret = match svc.secrets.get(SecretName::MetaAppSecret).await? {
        Some(s) => s,
        None => svc
            .secrets
            .get(SecretName::WhatsAppAppSecret)
            .await?
            .ok_or(Error::NotConfigured {
                what: "META_APP_SECRET".into(),
            })?,
    };
    Ok((
        client,
        AppCredentials {
            app_id,
            app_secret: secret,
        },
    ))
}

/// The body of `POST /v1/integrations/whatsapp/embedded-signup`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// The code the frontend got from Meta's signup dialog.
    pub code: Option<Value>,
    /// The business account the customer chose.
    pub waba_id: Option<Value>,
    /// The number the customer chose.
    pub phone_number_id: Option<Value>,
    /// The number's two-step verification PIN: registers it for the Cloud API.
    pub pin: Option<Value>,
    /// Messages per second (optional, as for a manual connect).
    pub messages_per_second: Option<Value>,
}

/// A validated signup.
#[derive(Debug)]
pub struct Signup {
    code: SecretString,
    pin: Option<String>,
    phone_number_id: Option<Value>,
    waba_id: Option<Value>,
    messages_per_second: Option<Value>,
}

impl Signup {
    /// The rest is a manual connect's, checked by its own rules; the token is filled in
    /// once the code is exchanged (a placeholder passes its shape check until then).
    fn connect(&self) -> Result<Connect> {
        integrations::ConnectRequest {
            phone_number_id: self.phone_number_id.clone(),
            waba_id: self.waba_id.clone(),
            access_token: Some(Value::String("pending-exchange".into())),
            display_phone_number: None,
            messages_per_second: self.messages_per_second.clone(),
        }
        .validate()
    }
}

impl SignupRequest {
    /// Validates the request; errors name the field.
    pub fn validate(self) -> Result<Signup> {
        let code = match &self.code {
            Some(Value::String(c)) if !c.trim().is_empty() && c.len() <= 4096 => {
                SecretString::new(c.trim())
            }
            None | Some(Value::Null) => {
                return Err(Error::validation("code", "required", "code is required"));
            }
            Some(_) => {
                return Err(Error::validation(
                    "code",
                    "invalid_code",
                    "code must be the string Meta's signup dialog returned",
                ));
            }
        };
        let pin = match &self.pin {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.len() == 6 && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.clone())
            }
            Some(_) => {
                return Err(Error::validation(
                    "pin",
                    "invalid_pin",
                    "pin must be the number's 6-digit two-step verification PIN",
                ));
            }
        };
        let signup = Signup {
            code,
            pin,
            phone_number_id: self.phone_number_id,
            waba_id: self.waba_id,
            messages_per_second: self.messages_per_second,
        };
        signup.connect()?;
        Ok(signup)
    }
}

/// A Graph step of the signup failed: 422 when Meta refused what the caller sent (the
/// code, the PIN, a business account the token cannot reach), 502 otherwise; the step
/// is named in `field`-less errors' message and code.
fn step_failed(step: &'static str, e: &GraphError) -> Error {
    let refused = matches!(
        e,
        GraphError::Api {
            http_status: 400..=499,
            ..
        }
    );
    warn!(step, error = %e, "embedded signup step failed; nothing was stored");
    if refused {
        let (field, code) = match step {
            "exchange_code" => ("code", "code_rejected"),
            "register_number" => ("pin", "registration_rejected"),
            "subscribe_app" => ("waba_id", "subscription_rejected"),
            _ => ("phone_number_id", "phone_number_not_found"),
        };
        Error::validation(
            field,
            code,
            format!("Meta refused the signup at step {step}; nothing was connected"),
        )
    } else {
        Error::Provider {
            code: "signup_step_failed",
            message: format!(
                "Meta could not be reached at step {step}; nothing was connected, try again"
            ),
            retryable: true,
        }
    }
}

/// Runs Meta's embedded signup for `org` and connects the number (see the module docs).
pub async fn embedded_signup(
    svc: &Services,
    billing: &crate::billing::BillingConfig,
    org: &OrgId,
    signup: Signup,
) -> Result<Account> {
    let (meta, app) = app(svc).await?;
    // Everything that can refuse the request before the single-use code is spent.
    crate::usecases::billing::admit_number(svc, billing, org).await?;
    let mut connect = signup.connect()?;
    let (route_pk, route_sk) = PhoneRoute::key_of(&connect.phone_number_id);
    if load::<PhoneRoute>(&*svc.store, &route_pk, &route_sk)
        .await?
        .is_some()
    {
        return Err(already_connected(&connect.phone_number_id));
    }
    let waba = connect
        .waba_id
        .clone()
        .ok_or_else(|| Error::validation("waba_id", "required", "waba_id is required"))?;

    let token = meta
        .exchange_code(&app, signup.code.expose())
        .await
        .map_err(|e| step_failed("exchange_code", &e))?;
    // The token's expiry and scopes are worth having, not worth failing for.
    let info = match meta.debug_token(&app, &token).await {
        Ok(info) => Some(info),
        Err(e) => {
            warn!(error = %e, "debug_token failed during signup; the sync reads it later");
            None
        }
    };
    meta.subscribe_app(&token, &waba)
        .await
        .map_err(|e| step_failed("subscribe_app", &e))?;
    if let Some(pin) = &signup.pin {
        meta.register_number(&token, &connect.phone_number_id, pin)
            .await
            .map_err(|e| step_failed("register_number", &e))?;
    }
    let health = meta
        .number_health(&token, &connect.phone_number_id)
        .await
        .map_err(|e| step_failed("read_number", &e))?;

    connect.access_token = token;
    connect.display_phone_number = health.display_phone_number.clone();
    connect.health = Some(health.clone());
    connect.token_info = info;
    // The number was just read with this token: connect's own check would repeat it.
    let account = integrations::store(svc, org, connect, health.verified_name.clone()).await?;
    note_impaired(svc, &account);
    info!(org_id = %org, account_id = %account.id, "connected a WhatsApp number through embedded signup");
    Ok(account)
}

fn already_connected(id: &PhoneNumberId) -> Error {
    Error::Conflict {
        code: "already_connected",
        message: format!("phone_number_id {id} is already connected; disconnect it first"),
    }
}

/// What Meta reported about an account: a health read, a token introspection, an
/// account event (with the restriction it explains).
#[derive(Debug, Default, Clone, Copy)]
pub struct Report<'a> {
    /// The number's health as read or pushed.
    pub health: Option<&'a NumberHealth>,
    /// The token's state.
    pub token: Option<&'a TokenInfo>,
    /// An account event or review decision.
    pub account_event: Option<&'a str>,
    /// Why Meta restricted the number.
    pub restriction: Option<&'a str>,
}

/// Applies a report to an account: the fields it names, and the token rule (invalid, or
/// expiring within [`REAUTH_BEFORE_DAYS`], turns the account `reauth_required`). Used
/// for a new account before its first write and for a stored one in its update, so
/// both follow one set of rules.
pub fn apply_report(a: &mut Account, r: &Report<'_>, now: DateTime<chrono::Utc>) {
    if let Some(h) = r.health {
        merge(&mut a.health, h);
        if h.verified_name.is_some() {
            a.verified_name = h.verified_name.clone();
        }
        if h.display_phone_number.is_some() {
            a.display_phone_number = h.display_phone_number.clone();
        }
    }
    if let Some(e) = r.account_event {
        a.health.account_event = Some(e.to_owned());
    }
    if let Some(x) = r.restriction {
        a.health.restriction = Some(x.to_owned());
    }
    if r.health.is_some() || r.account_event.is_some() || r.restriction.is_some() {
        a.health.updated_at = Some(now);
    }
    if let Some(t) = r.token {
        a.token_expires_at = t.expires_at.and_then(|s| DateTime::from_timestamp(s, 0));
        a.token_scopes = t.scopes.clone();
        if !t.is_valid {
            a.status = AccountStatus::ReauthRequired;
            a.status_reason = Some("Meta reports the access token as invalid (revoked or expired); reconnect the number".into());
        }
    }
    if let Some(expires) = a.token_expires_at
        && a.status == AccountStatus::Active
        && expires - now <= Duration::days(REAUTH_BEFORE_DAYS)
    {
        a.status = AccountStatus::ReauthRequired;
        a.status_reason = Some(format!(
            "the access token expires at {}; reconnect the number before then",
            crate::clock::fmt_time(expires)
        ));
    }
}

/// Writes a report onto the stored account ([`apply_report`]) in one update; returns
/// the account as stored.
pub async fn apply_health(
    svc: &Services,
    account: &Account,
    report: Report<'_>,
) -> Result<Account> {
    let now = svc.clock.now();
    let (pk, sk) = Account::key_of(&account.org_id, &account.id);
    let updated = update::<Account>(&*svc.store, &pk, &sk, |a| {
        let before = a.clone();
        apply_report(a, &report, now);
        let changed = *a != before;
        if changed {
            a.updated_at = now;
        }
        changed
    })
    .await?;
    let account = updated.unwrap_or_else(|| account.clone());
    note_impaired(svc, &account);
    Ok(account)
}

/// Logs and counts a number Meta has flagged or restricted.
pub fn note_impaired(svc: &Services, account: &Account) {
    if account.health.is_impaired() {
        warn!(
            org_id = %account.org_id,
            account_id = %account.id,
            number_status = ?account.health.number_status,
            quality = ?account.health.quality_rating,
            account_event = ?account.health.account_event,
            "Meta reports this number as flagged or restricted"
        );
        crate::metrics::incr(
            &*svc.metrics,
            crate::metrics::Metric::AccountsImpaired,
            None,
        );
    }
}

fn merge(into: &mut AccountHealth, h: &NumberHealth) {
    let set = |slot: &mut Option<String>, v: &Option<String>| {
        if v.is_some() {
            *slot = v.clone();
        }
    };
    set(&mut into.quality_rating, &h.quality_rating);
    set(&mut into.messaging_limit_tier, &h.messaging_limit_tier);
    set(&mut into.name_status, &h.name_status);
    set(&mut into.number_status, &h.status);
}

/// What one account's sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// Read and stored.
    Updated,
    /// Meta rejected the token: the account is `reauth_required`.
    ReauthRequired,
    /// Skipped (a Kapso number: Switchboard is not its Meta app).
    Skipped,
}

/// Reads one account's health and token from Graph and stores them. `creds`: the app's
/// credentials, read once per run (without them the token's state is not asked for; the
/// number's health needs only its token).
pub async fn sync_account(
    svc: &Services,
    creds: Option<&AppCredentials>,
    account: &Account,
) -> Result<(Account, Synced)> {
    if account.provider != WhatsAppProvider::Meta {
        return Ok((account.clone(), Synced::Skipped));
    }
    let meta = svc.meta_app.as_deref().ok_or(Error::NotConfigured {
        what: "WHATSAPP_GRAPH_URL".into(),
    })?;
    let token = integrations::access_token(svc, account).await?;
    let info = match creds {
        Some(creds) => match meta.debug_token(creds, &token).await {
            Ok(i) => Some(i),
            Err(e) => {
                warn!(account_id = %account.id, error = %e, "debug_token failed; keeping the token's last known state");
                None
            }
        },
        None => None,
    };
    match meta.number_health(&token, &account.phone_number_id).await {
        Ok(health) => {
            let report = Report {
                health: Some(&health),
                token: info.as_ref(),
                ..Report::default()
            };
            let a = apply_health(svc, account, report).await?;
            let outcome = if a.status == AccountStatus::ReauthRequired {
                Synced::ReauthRequired
            } else {
                Synced::Updated
            };
            Ok((a, outcome))
        }
        Err(GraphError::Api {
            code, http_status, ..
        }) if code == 190 || http_status == 401 => {
            let invalid = TokenInfo {
                is_valid: false,
                ..info.unwrap_or_default()
            };
            let report = Report {
                token: Some(&invalid),
                ..Report::default()
            };
            let a = apply_health(svc, account, report).await?;
            Ok((a, Synced::ReauthRequired))
        }
        Err(e) => Err(Error::Provider {
            code: "whatsapp_unavailable",
            message: format!(
                "Meta could not be reached to sync the number: {}",
                e.code()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "no answer".into())
            ),
            retryable: true,
        }),
    }
}

/// Totals of a sync run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncRun {
    /// Accounts read and stored.
    pub updated: usize,
    /// Accounts that now need reconnecting.
    pub reauth_required: usize,
    /// Kapso accounts skipped.
    pub skipped: usize,
    /// Accounts whose sync failed (retried on the next run).
    pub failed: usize,
}

/// Syncs every connected number (`cron-account-sync`). One account's failure does not
/// stop the others; it is counted and logged.
pub async fn sync_all(svc: &Services) -> Result<SyncRun> {
    if svc.meta_app.is_none() {
        info!("no Graph URL configured (the sandbox stands in for Meta): nothing to sync");
        return Ok(SyncRun::default());
    }
    let creds = app(svc).await.ok().map(|(_, c)| c);
    let mut run = SyncRun::default();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::index(Index::Gsi1, PhoneRoute::ALL_PK)
                    .limit(SYNC_PAGE)
                    .after(after),
            )
            .await?;
        for route in decode_all::<PhoneRoute>(&page.items)? {
            let account = match integrations::get(svc, &route.org_id, &route.account_id).await {
                Ok(a) => a.record,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            match sync_account(svc, creds.as_ref(), &account).await {
                Ok((_, Synced::Updated)) => run.updated += 1,
                Ok((_, Synced::ReauthRequired)) => run.reauth_required += 1,
                Ok((_, Synced::Skipped)) => run.skipped += 1,
                Err(e) => {
                    warn!(org_id = %route.org_id, account_id = %route.account_id, error = %e, "could not sync a number");
                    run.failed += 1;
                }
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    info!(
        updated = run.updated,
        reauth_required = run.reauth_required,
        skipped = run.skipped,
        failed = run.failed,
        "account sync finished"
    );
    Ok(run)
}

/// Syncs one of an org's accounts on demand (`POST /v1/integrations/{id}/sync`).
pub async fn sync_one(svc: &Services, org: &OrgId, id: &AccountId) -> Result<Account> {
    let account = integrations::get(svc, org, id).await?.record;
    if account.provider != WhatsAppProvider::Meta {
        return Err(Error::Conflict {
            code: "not_a_meta_account",
            message: "this number is connected through Kapso; Kapso keeps its health".into(),
        });
    }
    let creds = app(svc).await.ok().map(|(_, c)| c);
    Ok(sync_account(svc, creds.as_ref(), &account).await?.0)
}

/// The account webhook fields this module applies.
pub const ACCOUNT_FIELDS: [&str; 4] = [
    "account_update",
    "phone_number_quality_update",
    "phone_number_name_update",
    "account_review_update",
];

/// Digits of a number as Meta writes it in account webhooks (`15550783881`,
/// `+1 555-078-3881`).
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Applies an account webhook (`field`, its `value`, the WABA id it came from) to the
/// numbers of that business account: the phone-level ones to the number they name (by
/// its display number), the account-level ones to every number. Returns how many
/// accounts changed and the org of the first; 0 when no connected number matches.
pub async fn apply_account_webhook(
    svc: &Services,
    field: &str,
    waba: &str,
    value: &Value,
) -> Result<(usize, Option<OrgId>)> {
    let Ok(waba) = WabaId::parse(waba) else {
        return Ok((0, None));
    };
    let routes = svc
        .store
        .query(Query::index(Index::Gsi2, PhoneRoute::waba_pk(&waba)).limit(SYNC_PAGE))
        .await?;
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
    let number = text("display_phone_number").or_else(|| text("phone_number"));
    let mut changed = 0;
    let mut org = None;
    for route in decode_all::<PhoneRoute>(&routes.items)? {
        let Ok(account) = integrations::get(svc, &route.org_id, &route.account_id).await else {
            continue;
        };
        let account = account.record;
        if let Some(n) = &number {
            let mine = account.display_phone_number.as_deref().map(digits);
            if field != "account_review_update" && mine.as_deref() != Some(digits(n).as_str()) {
                continue;
            }
        }
        let mut health = NumberHealth::default();
        let mut event = None;
        let mut restriction: Option<String> = None;
        match field {
            "phone_number_quality_update" => {
                health.messaging_limit_tier = text("current_limit");
                // FLAGGED / UNFLAGGED / DOWNGRADE / UPGRADE / ONBOARDING.
                match text("event").as_deref() {
                    Some("FLAGGED") => health.status = Some("FLAGGED".into()),
                    Some("UNFLAGGED") => health.status = Some("CONNECTED".into()),
                    _ => {}
                }
            }
            "phone_number_name_update" => {
                health.name_status = text("decision");
                if text("decision").as_deref() == Some("APPROVED") {
                    health.verified_name = text("requested_verified_name");
                }
            }
            "account_update" => {
                event = text("event");
                restriction = value
                    .get("violation_info")
                    .or_else(|| value.get("restriction_info"))
                    .or_else(|| value.get("ban_info"))
                    .map(|v| v.to_string().chars().take(500).collect());
            }
            _ => event = text("decision").map(|d| format!("REVIEW_{d}")),
        }
        let report = Report {
            health: Some(&health),
            account_event: event.as_deref(),
            restriction: restriction.as_deref(),
            ..Report::default()
        };
        let a = apply_health(svc, &account, report).await?;
        changed += 1;
        org.get_or_insert(a.org_id.clone());
    }
    Ok((changed, org))
}
