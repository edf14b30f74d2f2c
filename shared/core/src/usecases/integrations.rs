//! Connected accounts: connect a WhatsApp number through Meta (its access token) or
//! through Kapso (the org's Kapso API key), the credential encrypted at rest; list;
//! disconnect.

use serde::Deserialize;
use serde_json::Value;
use tracing::info;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ids::{AccountId, OrgId, PhoneNumberId, WabaId};
use crate::model::{Account, AccountStatus, PhoneRoute, WhatsAppProvider, org_pk};
use crate::record::{Versioned, decode_all, item, load};
use crate::secrets::SecretString;
use crate::services::Services;
use crate::store::{Condition, Query, SortKey, StoreError, Write};
use crate::whatsapp::GraphError;

/// Longest access token accepted (Meta's system-user tokens are ~200-300 chars).
const MAX_TOKEN_LEN: usize = 4096;

/// The body of `POST /v1/integrations/whatsapp/connect`, before validation.
#[derive(Debug, Deserialize)]
pub struct ConnectRequest {
    /// Graph id of the number.
    pub phone_number_id: Option<Value>,
    /// Graph id of the business account.
    pub waba_id: Option<Value>,
    /// A system-user access token with `whatsapp_business_messaging`.
    pub access_token: Option<Value>,
    /// Display form of the number (optional; read from Graph when it is configured).
    pub display_phone_number: Option<Value>,
    /// Messages per second this number may send (optional; Meta's default is 80, up to
    /// 1,000 on upgraded numbers).
    #[serde(default)]
    pub messages_per_second: Option<Value>,
}

fn required_str<'a>(v: &'a Option<Value>, field: &str) -> Result<&'a str> {
    match v {
        None | Some(Value::Null) => Err(Error::validation(
            field,
            "required",
            format!("{field} is required"),
        )),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::validation(
            field,
            "invalid_type",
            format!("{field} must be a string"),
        )),
    }
}

/// A validated connect request.
#[derive(Debug)]
pub struct Connect {
    /// The channel.
    pub channel: crate::model::Channel,
    /// Who carries the number's traffic.
    pub provider: WhatsAppProvider,
    /// Number.
    pub phone_number_id: PhoneNumberId,
    /// Business account (required through Meta, optional through Kapso).
    pub waba_id: Option<WabaId>,
    /// Token (Meta) or API key (Kapso).
    pub access_token: SecretString,
    /// Display form.
    pub display_phone_number: Option<String>,
    /// Throughput limit.
    pub messages_per_second: Option<u32>,
    /// What Meta said of the token (embedded signup introspects it).
    pub token_info: Option<crate::meta_app::TokenInfo>,
    /// The number's health as just read (embedded signup reads it).
    pub health: Option<crate::meta_app::NumberHealth>,
}

impl ConnectRequest {
    /// Validates the request; errors name the field.
    pub fn validate(self) -> Result<Connect> {
        let phone_number_id =
            PhoneNumberId::parse(required_str(&self.phone_number_id, "phone_number_id")?).map_err(
                |e| Error::validation("phone_number_id", "invalid_phone_number_id", e.0),
            )?;
        let waba_id = WabaId::parse(required_str(&self.waba_id, "waba_id")?)
            .map_err(|e| Error::validation("waba_id", "invalid_waba_id", e.0))?;
        let token = credential(&self.access_token, "access_token")?;
        let display_phone_number = display_number(&self.display_phone_number)?;
        let messages_per_second = match &self.messages_per_second {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=1000) => Some(n as u32),
                _ => {
                    return Err(Error::validation(
                        "messages_per_second",
                        "invalid_messages_per_second",
                        "messages_per_second must be an integer from 1 to 1000",
                    ));
                }
            },
        };
        Ok(Connect {
            channel: crate::model::Channel::Whatsapp,
            provider: WhatsAppProvider::Meta,
            phone_number_id,
            waba_id: Some(waba_id),
            access_token: token,
            display_phone_number,
            messages_per_second,
            token_info: None,
            health: None,
        })
    }
}

/// The body of `POST /v1/integrations/kapso/connect`, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KapsoConnectRequest {
    /// Graph id of the number, as Kapso shows it.
    pub phone_number_id: Option<Value>,
    /// The org's Kapso API key.
    pub api_key: Option<Value>,
    /// Display form of the number (optional).
    pub display_phone_number: Option<Value>,
}

impl KapsoConnectRequest {
    /// Validates the request; errors name the field.
    pub fn validate(self) -> Result<Connect> {
        let phone_number_id =
            PhoneNumberId::parse(required_str(&self.phone_number_id, "phone_number_id")?).map_err(
                |e| Error::validation("phone_number_id", "invalid_phone_number_id", e.0),
            )?;
        Ok(Connect {
            channel: crate::model::Channel::Whatsapp,
            provider: WhatsAppProvider::Kapso,
            phone_number_id,
            waba_id: None,
            access_token: credential(&self.api_key, "api_key")?,
            display_phone_number: display_number(&self.display_phone_number)?,
            messages_per_second: None,
            token_info: None,
            health: None,
        })
    }
}

/// A token or API key: 1–4,096 characters without white space.
fn credential(v: &Option<Value>, field: &'static str) -> Result<SecretString> {
    let token = required_str(v, field)?.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || token.chars().any(char::is_whitespace) {
        return Err(Error::validation(
            field,
            if field == "api_key" {
                "invalid_api_key"
            } else {
                "invalid_access_token"
            },
            format!("{field} must be 1-{MAX_TOKEN_LEN} characters without spaces"),
        ));
    }
    Ok(SecretString::new(token))
}

fn display_number(v: &Option<Value>) -> Result<Option<String>> {
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 32 => {
            Some(s.trim().to_owned())
        }
        Some(_) => {
            return Err(Error::validation(
                "display_phone_number",
                "invalid_display_phone_number",
                "display_phone_number must be a string of at most 32 characters",
            ));
        }
    })
}

/// Lists an org's connected accounts. Strongly consistent: the plan limit on connected
/// numbers counts this list, and a number connected a moment ago must count.
pub async fn list(svc: &Services, org: &OrgId) -> Result<Vec<Account>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = svc
            .store
            .query(
                Query::table(org_pk(org))
                    .sort(SortKey::BeginsWith(Account::SK_PREFIX.to_owned()))
                    .after(after)
                    .consistent(),
            )
            .await?;
        out.extend(decode_all::<Account>(&page.items)?);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// Connects a number: validates the token with Graph when Graph is configured,
/// encrypts it, and creates the account and its routing entry atomically. A number
/// already connected (to any org) is a 409.
pub async fn connect(
    svc: &Services,
    billing: &crate::billing::BillingConfig,
    org: &OrgId,
    req: Connect,
) -> Result<Account> {
    crate::usecases::billing::admit_number(svc, billing, org).await?;
    let mut display = req.display_phone_number.clone();
    let mut verified_name = None;
    let (client, live) = svc.whatsapp_for(req.provider);
    // What the caller sent and who answered, for errors that name the field.
    let (field, bad_code, who) = match req.provider {
        WhatsAppProvider::Meta => ("access_token", "invalid_access_token", "WhatsApp"),
        WhatsAppProvider::Kapso => ("api_key", "invalid_api_key", "Kapso"),
    };
    if live {
        match client
            .phone_number(&req.access_token, &req.phone_number_id)
            .await
        {
            Ok(info) => {
                display = info.display_phone_number.or(display);
                verified_name = info.verified_name;
            }
            Err(GraphError::Api {
                code, http_status, ..
            }) if code == 190
                || http_status == 401
                || http_status == 403 && req.provider == WhatsAppProvider::Kapso =>
            {
                return Err(Error::validation(
                    field,
                    bad_code,
                    format!(
                        "{who} rejected the {} (expired, revoked or malformed)",
                        field.replace('_', " ")
                    ),
                ));
            }
            Err(GraphError::Api {
                code, http_status, ..
            }) if code == 100
                || code == 803
                || http_status == 404
                || (http_status == 400 && code != 4) =>
            {
                return Err(Error::validation(
                    "phone_number_id",
                    "phone_number_not_found",
                    format!(
                        "{who} does not know this phone_number_id, or the {} cannot access it",
                        field.replace('_', " ")
                    ),
                ));
            }
            Err(GraphError::Api { code, .. }) if code == 10 || code == 200 => {
                return Err(Error::validation(
                    field,
                    "insufficient_permission",
                    format!(
                        "the {} lacks the whatsapp_business_management permission for this number",
                        field.replace('_', " ")
                    ),
                ));
            }
            Err(e) => {
                return Err(Error::Provider {
                    code: match req.provider {
                        WhatsAppProvider::Meta => "whatsapp_unavailable",
                        WhatsAppProvider::Kapso => "kapso_unavailable",
                    },
                    message: format!(
                        "{who} could not be reached to validate the number; try again"
                    ),
                    retryable: !matches!(
                        e,
                        GraphError::Api {
                            http_status: 400..=499,
                            ..
                        }
                    ),
                });
            }
        }
    }

    let mut req = req;
    req.display_phone_number = display;
    store(svc, org, req, verified_name).await
}

/// Stores a connection whose credential was already checked (or cannot be): encrypts
/// the token and writes the account and its routing entry in one transaction; a number
/// already connected (to any org) is a 409.
pub async fn store(
    svc: &Services,
    org: &OrgId,
    req: Connect,
    verified_name: Option<String>,
) -> Result<Account> {
    let display = req.display_phone_number.clone();
    let now = svc.clock.now();
    let id = AccountId::from_uuid(Uuid::now_v7());
    let envelope = svc
        .cipher
        .encrypt(
            req.access_token.expose().as_bytes(),
            &Account::token_context(org, &id),
        )
        .await?;
    let mut account = Account {
        id: id.clone(),
        org_id: org.clone(),
        phone_number_id: req.phone_number_id.clone(),
        waba_id: req.waba_id,
        channel: req.channel,
        provider: req.provider,
        display_phone_number: display,
        verified_name,
        status: AccountStatus::Active,
        status_reason: None,
        token_envelope: envelope,
        messages_per_second: req.messages_per_second,
        health: Default::default(),
        token_expires_at: None,
        token_scopes: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    // What Meta reported while connecting is applied by the rules every later report
    // follows (a token about to expire is `reauth_required` from the start).
    crate::usecases::accounts::apply_report(
        &mut account,
        &crate::usecases::accounts::Report {
            health: req.health.as_ref(),
            token: req.token_info.as_ref(),
            ..Default::default()
        },
        now,
    );
    let route = PhoneRoute {
        phone_number_id: req.phone_number_id.clone(),
        org_id: org.clone(),
        account_id: id.clone(),
        waba_id: account.waba_id.clone(),
    };
    let writes = vec![
        Write::put(item(&route, 1)?, Condition::NotExists),
        Write::put(item(&account, 1)?, Condition::NotExists),
    ];
    match svc.store.transact(writes).await {
        Ok(()) => {
            info!(org_id = %org, account_id = %id, phone_number_id = %req.phone_number_id, provider = req.provider.as_str(), "connected a WhatsApp number");
            Ok(account)
        }
        Err(StoreError::ConditionFailed { index: 0 }) => Err(Error::Conflict {
            code: "already_connected",
            message: format!(
                "phone_number_id {} is already connected; disconnect it first",
                req.phone_number_id
            ),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Reads one account of an org.
pub async fn get(svc: &Services, org: &OrgId, id: &AccountId) -> Result<Versioned<Account>> {
    let (pk, sk) = Account::key_of(org, id);
    load::<Account>(&*svc.store, &pk, &sk)
        .await?
        .ok_or(Error::not_found("integration"))
}

/// Disconnects an account: deletes it and its routing entry together. Webhooks for the
/// number are then kept as unroutable events.
pub async fn disconnect(svc: &Services, org: &OrgId, id: &AccountId) -> Result<()> {
    let account = get(svc, org, id).await?;
    let (route_pk, route_sk) = PhoneRoute::key_of(&account.record.phone_number_id);
    let route = load::<PhoneRoute>(&*svc.store, &route_pk, &route_sk).await?;
    let (acc_pk, acc_sk) = Account::key_of(org, id);
    let mut writes = vec![Write::delete(
        acc_pk,
        acc_sk,
        Condition::Version(account.version),
    )];
    // Only remove the route if it still points at this account.
    if let Some(route) = route.filter(|r| &r.record.account_id == id) {
        writes.push(Write::delete(
            route_pk,
            route_sk,
            Condition::Version(route.version),
        ));
    }
    match svc.store.transact(writes).await {
        Ok(()) => {
            info!(org_id = %org, account_id = %id, "disconnected a WhatsApp number");
            Ok(())
        }
        Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict {
            code: "concurrent_change",
            message: "the integration changed while disconnecting; try again".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Decrypts an account's access token.
pub async fn access_token(svc: &Services, account: &Account) -> Result<SecretString> {
    let bytes = svc
        .cipher
        .decrypt(
            &account.token_envelope,
            &Account::token_context(&account.org_id, &account.id),
        )
        .await?;
    String::from_utf8(bytes)
        .map(SecretString::new)
        .map_err(|_| Error::Internal("decrypted access token is not UTF-8".into()))
}

/// Meta's messaging limit tiers an admin may set before account sync reports one.
pub const TIERS: [&str; 7] = [
    "TIER_50",
    "TIER_250",
    "TIER_1K",
    "TIER_2K",
    "TIER_10K",
    "TIER_100K",
    "TIER_UNLIMITED",
];

/// `PATCH /v1/integrations/{id}`: `messages_per_second` (1–1,000, `null` for the
/// default) and `messaging_limit_tier` (one of [`TIERS`], `null` to forget it). The tier
/// set here holds until account sync or Meta's webhook reports the number's own.
pub async fn update(svc: &Services, org: &OrgId, id: &AccountId, body: &Value) -> Result<Account> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::validation("body", "invalid_body", "the body is a JSON object"))?;
    let mut mps: Option<Option<u32>> = None;
    let mut tier: Option<Option<String>> = None;
    for (k, v) in obj {
        match k.as_str() {
            "messages_per_second" => {
                mps = Some(match v {
                    Value::Null => None,
                    v => match v.as_u64() {
                        Some(n @ 1..=1000) => Some(n as u32),
                        _ => {
                            return Err(Error::validation(
                                "messages_per_second",
                                "invalid_messages_per_second",
                                "messages_per_second must be an integer from 1 to 1000, or null",
                            ));
                        }
                    },
                })
            }
            "messaging_limit_tier" => {
                tier = Some(match v {
                    Value::Null => None,
                    Value::String(t) if TIERS.contains(&t.as_str()) => Some(t.clone()),
                    _ => {
                        return Err(Error::validation(
                            "messaging_limit_tier",
                            "invalid_messaging_limit_tier",
                            format!(
                                "messaging_limit_tier is one of {}, or null",
                                TIERS.join(", ")
                            ),
                        ));
                    }
                })
            }
            other => {
                return Err(Error::validation(
                    other,
                    "unknown_field",
                    format!("{other} cannot be changed here"),
                ));
            }
        }
    }
    get(svc, org, id).await?;
    let (pk, sk) = Account::key_of(org, id);
    let now = svc.clock.now();
    let updated = crate::record::update::<Account>(&*svc.store, &pk, &sk, |a| {
        let before = a.clone();
        if let Some(m) = mps {
            a.messages_per_second = m;
        }
        if let Some(t) = &tier {
            a.health.messaging_limit_tier = t.clone();
        }
        let changed = *a != before;
        if changed {
            a.updated_at = now;
        }
        changed
    })
    .await?;
    match updated {
        Some(a) => Ok(a),
        None => Ok(get(svc, org, id).await?.record),
    }
}
