//! Configuration: one typed struct read from the environment once at start. A missing
//! or malformed required value is a start-up error naming the variable; nothing is
//! fetched over the network here (Lambda init stays fast).

use std::collections::HashMap;
use std::path::PathBuf;

use switchboard_aws::QueueUrls;
use switchboard_core::queue::QueueName;

/// Which backend the ports run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + local cipher + environment secrets (`SWITCHBOARD_BACKEND=local`).
    Local,
    /// DynamoDB + SQS + KMS + Secrets Manager (`SWITCHBOARD_BACKEND=aws`).
    Aws,
}

impl Backend {
    /// Parses `local` or `aws`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" | "" => Some(Backend::Local),
            "aws" => Some(Backend::Aws),
            _ => None,
        }
    }
}

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} must be set")]
    Missing(&'static str),
    /// A variable is set but invalid.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Why.
        reason: String,
    },
}

/// Token verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// JWKS of the identity provider.
    pub jwks_url: Option<String>,
    /// Dotted path of the org id claim.
    pub org_claim: String,
    /// Dotted path of the role claim.
    pub role_claim: String,
    /// The local development signing key, when this process trusts it (dev server and
    /// local backend only; never on AWS Lambda).
    pub dev_key_file: Option<PathBuf>,
    /// The same key inline, base64 PKCS#8 (`SWITCHBOARD_DEV_KEY`), for runs where the
    /// file is not reachable (`sam local invoke` containers). Takes precedence.
    pub dev_key_base64: Option<String>,
}

/// Issuer of tokens minted by `switchboard token`.
pub const DEV_ISSUER: &str = "switchboard-local";
/// Audience of tokens minted by `switchboard token`.
pub const DEV_AUDIENCE: &str = "switchboard";
/// File name of the development signing key in the data dir.
pub const DEV_KEY_FILE: &str = "dev-signing-key.pk8";

/// Everything a Switchboard process needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Backend.
    pub backend: Backend,
    /// Data directory of the embedded backend (and the dev key).
    pub data_dir: PathBuf,
    /// DynamoDB table (AWS).
    pub table_name: Option<String>,
    /// SQS queue URLs (AWS).
    pub queue_urls: HashMap<QueueName, QueueUrls>,
    /// KMS key (AWS).
    pub kms_key_id: Option<String>,
    /// Prefix of Secrets Manager secret ids (AWS).
    pub secrets_prefix: String,
    /// `.env` file read by the embedded backend for secrets.
    pub dotenv: Option<PathBuf>,
    /// Token verification.
    pub auth: AuthConfig,
    /// Graph API base URL; when absent, connect does not validate tokens with Meta.
    pub whatsapp_graph_url: Option<String>,
    /// Largest webhook body accepted (bytes).
    pub max_webhook_body: usize,
    /// Largest API body accepted (bytes).
    pub max_api_body: usize,
    /// Largest media file the media endpoint serves (bytes).
    pub max_media_bytes: usize,
    /// Outbound pacing and retries.
    pub delivery: switchboard_core::usecases::outbound::DeliveryConfig,
    /// Plans, limits and Stripe settings.
    pub billing: switchboard_core::billing::BillingConfig,
    /// Stripe API base URL.
    pub stripe_api_url: String,
    /// How often the dev server runs the usage report.
    pub usage_report_every: std::time::Duration,
}

/// Meta documents deliveries of up to 3 MB; 4 MiB leaves headroom.
pub const DEFAULT_MAX_WEBHOOK_BODY: usize = 4 * 1024 * 1024;
/// API requests are small JSON documents.
pub const DEFAULT_MAX_API_BODY: usize = 256 * 1024;
/// Lambda responses are capped at 6 MB and binary bodies travel base64-encoded (+33 %),
/// so 4 MiB is the largest file a Lambda can return.
pub const DEFAULT_MAX_MEDIA_BYTES: usize = 4 * 1024 * 1024;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let backend = match var("SWITCHBOARD_BACKEND") {
            None => Backend::Local,
            Some(v) => Backend::parse(&v).ok_or(ConfigError::Invalid {
                var: "SWITCHBOARD_BACKEND",
                reason: format!("expected `local` or `aws`, got `{v}`"),
            })?,
        };
        let data_dir =
            PathBuf::from(var("SWITCHBOARD_DATA_DIR").unwrap_or_else(|| ".switchboard".into()));
        let url = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match var(name) {
                None => Ok(None),
                Some(v) => match url::Url::parse(&v) {
                    Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(Some(v)),
                    _ => Err(ConfigError::Invalid {
                        var: name,
                        reason: "must be an http(s) URL".into(),
                    }),
                },
            }
        };
        let size = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                    var: name,
                    reason: "must be a number of bytes".into(),
                }),
            }
        };

        let mut queue_urls = HashMap::new();
        let (table_name, kms_key_id) = match backend {
            Backend::Local => (None, None),
            Backend::Aws => {
                for q in QueueName::ALL {
                    let url = var(q.url_env()).ok_or(ConfigError::Missing(q.url_env()))?;
                    let dlq_url =
                        var(q.dlq_url_env()).ok_or(ConfigError::Missing(q.dlq_url_env()))?;
                    queue_urls.insert(q, QueueUrls { url, dlq_url });
                }
                (
                    Some(var("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?),
                    Some(var("KMS_KEY_ID").ok_or(ConfigError::Missing("KMS_KEY_ID"))?),
                )
            }
        };

        let jwks_url = url("AUTH_JWKS_URL")?;
        let dev_key_file = match (backend, var("SWITCHBOARD_DEV_KEY_FILE")) {
            (_, Some(path)) => Some(PathBuf::from(path)),
            (Backend::Local, None) => Some(data_dir.join(DEV_KEY_FILE)),
            (Backend::Aws, None) => None,
        };
        let (issuer, audience) = match (var("AUTH_ISSUER"), var("AUTH_AUDIENCE")) {
            (Some(i), Some(a)) => (i, a),
            (None, None) if jwks_url.is_none() => (DEV_ISSUER.to_owned(), DEV_AUDIENCE.to_owned()),
            (None, _) => return Err(ConfigError::Missing("AUTH_ISSUER")),
            (_, None) => return Err(ConfigError::Missing("AUTH_AUDIENCE")),
        };
        if backend == Backend::Aws
            && jwks_url.is_none()
            && dev_key_file.is_none()
            && var("SWITCHBOARD_DEV_KEY").is_none()
        {
            return Err(ConfigError::Missing("AUTH_JWKS_URL"));
        }
        Ok(Self {
            backend,
            data_dir,
            table_name,
            queue_urls,
            kms_key_id,
            secrets_prefix: var("SECRETS_PREFIX").unwrap_or_default(),
            dotenv: Some(PathBuf::from(
                var("SWITCHBOARD_DOTENV").unwrap_or_else(|| ".env".into()),
            )),
            auth: AuthConfig {
                issuer,
                audience,
                jwks_url,
                org_claim: var("AUTH_ORG_CLAIM").unwrap_or_else(|| "org_id".into()),
                role_claim: var("AUTH_ROLE_CLAIM").unwrap_or_else(|| "org_role".into()),
                dev_key_file,
                dev_key_base64: var("SWITCHBOARD_DEV_KEY"),
            },
            whatsapp_graph_url: url("WHATSAPP_GRAPH_URL")?,
            max_webhook_body: size("MAX_WEBHOOK_BODY_BYTES", DEFAULT_MAX_WEBHOOK_BODY)?,
            max_api_body: size("MAX_API_BODY_BYTES", DEFAULT_MAX_API_BODY)?,
            max_media_bytes: size("MAX_MEDIA_BYTES", DEFAULT_MAX_MEDIA_BYTES)?,
            delivery: {
                let mut d = switchboard_core::usecases::outbound::DeliveryConfig::default();
                let num = |name: &'static str, default: usize| size(name, default);
                d.default_messages_per_second =
                    num("WHATSAPP_MESSAGES_PER_SECOND", 80)?.clamp(1, 1000) as u32;
                d.pair = switchboard_core::usecases::pacing::Rate::every(
                    num("WHATSAPP_PAIR_INTERVAL_SECS", 6)?.max(1) as i64,
                    num("WHATSAPP_PAIR_BURST", 5)?.max(1) as i64,
                );
                d.max_attempts = num("OUTBOUND_MAX_ATTEMPTS", 5)?.clamp(1, 50) as u32;
                d
            },
            billing: billing_config(&var, backend)?,
            stripe_api_url: url("STRIPE_API_URL")?
                .unwrap_or_else(|| "https://api.stripe.com".into()),
            usage_report_every: std::time::Duration::from_secs(
                size("USAGE_REPORT_INTERVAL_SECS", 3600)?.max(10) as u64,
            ),
        })
    }

    /// A local configuration rooted at `data_dir` (dev server and tests).
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into().display().to_string();
        // The defaults of an empty environment, rooted at `data_dir`, without `.env`.
        let mut config =
            Self::from_lookup(|k| (k == "SWITCHBOARD_DATA_DIR").then(|| data_dir.clone()))
                .expect("an empty environment is a valid local configuration");
        config.dotenv = None;
        config
    }
}

fn flag(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            var,
            reason: "must be true or false".into(),
        }),
    }
}

fn billing_config(
    var: &impl Fn(&str) -> Option<String>,
    backend: Backend,
) -> Result<switchboard_core::billing::BillingConfig, ConfigError> {
    use switchboard_core::billing::{BillingConfig, Plan, PlanLimits};
    let mut cfg = BillingConfig {
        // Enforced on AWS unless switched off; off locally unless switched on.
        enforce: match var("BILLING_ENFORCED") {
            Some(v) => flag("BILLING_ENFORCED", &v)?,
            None => backend == Backend::Aws,
        },
        ..BillingConfig::default()
    };
    for plan in Plan::ALL {
        let name = match plan {
            Plan::Starter => "STRIPE_PRICE_STARTER",
            Plan::Professional => "STRIPE_PRICE_PROFESSIONAL",
            Plan::Enterprise => "STRIPE_PRICE_ENTERPRISE",
        };
        if let Some(list) = var(name) {
            let prices: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect();
            cfg = cfg.with_prices(plan, &prices);
        }
    }
    if let Some(json) = var("PLAN_LIMITS") {
        let overrides: std::collections::HashMap<String, PlanLimits> = serde_json::from_str(&json).map_err(|e| ConfigError::Invalid {
            var: "PLAN_LIMITS",
            reason: format!("expected {{\"starter\": {{\"messages_per_month\": 1000, \"connected_numbers\": 1, \"seats\": 3}}, …}}: {e}"),
        })?;
        for (name, limits) in overrides {
            let plan = Plan::parse(&name).ok_or(ConfigError::Invalid {
                var: "PLAN_LIMITS",
                reason: format!("unknown plan `{name}`"),
            })?;
            cfg.limits.insert(plan, limits);
        }
    }
    if let Some(days) = var("BILLING_PAST_DUE_GRACE_DAYS") {
        let d: u64 = days.parse().map_err(|_| ConfigError::Invalid {
            var: "BILLING_PAST_DUE_GRACE_DAYS",
            reason: "must be a number of days".into(),
        })?;
        cfg.past_due_grace = std::time::Duration::from_secs(d * 86_400);
    }
    if let Some(m) = var("STRIPE_METER_EVENT") {
        cfg.meter_event_name = m;
    }
    if let Some(v) = var("STRIPE_LIVEMODE") {
        cfg.livemode = flag("STRIPE_LIVEMODE", &v)?;
    }
    if let Some(v) = var("STRIPE_WEBHOOK_TOLERANCE_SECS") {
        cfg.tolerance_secs = v.parse().map_err(|_| ConfigError::Invalid {
            var: "STRIPE_WEBHOOK_TOLERANCE_SECS",
            reason: "must be a number of seconds".into(),
        })?;
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn local_needs_nothing() {
        let c = from(&[]).unwrap();
        assert_eq!(c.backend, Backend::Local);
        assert_eq!(c.auth.issuer, DEV_ISSUER);
        assert_eq!(
            c.auth.dev_key_file,
            Some(PathBuf::from(".switchboard").join(DEV_KEY_FILE))
        );
    }

    #[test]
    fn aws_names_the_missing_variable() {
        assert_eq!(
            from(&[("SWITCHBOARD_BACKEND", "aws")]).unwrap_err(),
            ConfigError::Missing("INBOUND_QUEUE_URL")
        );
        let mut pairs = vec![("SWITCHBOARD_BACKEND", "aws")];
        let urls: Vec<(String, String)> = QueueName::ALL
            .iter()
            .flat_map(|q| {
                [
                    (q.url_env().to_string(), "http://q".to_string()),
                    (q.dlq_url_env().to_string(), "http://d".to_string()),
                ]
            })
            .collect();
        for (k, v) in &urls {
            pairs.push((k, v));
        }
        assert_eq!(
            from(&pairs).unwrap_err(),
            ConfigError::Missing("TABLE_NAME")
        );
        pairs.push(("TABLE_NAME", "t"));
        pairs.push(("KMS_KEY_ID", "k"));
        assert_eq!(
            from(&pairs).unwrap_err(),
            ConfigError::Missing("AUTH_JWKS_URL")
        );
        pairs.push((
            "AUTH_JWKS_URL",
            "https://idp.example.com/.well-known/jwks.json",
        ));
        assert_eq!(
            from(&pairs).unwrap_err(),
            ConfigError::Missing("AUTH_ISSUER")
        );
        pairs.push(("AUTH_ISSUER", "https://idp.example.com"));
        pairs.push(("AUTH_AUDIENCE", "crm"));
        let c = from(&pairs).unwrap();
        assert_eq!(
            c.auth.dev_key_file, None,
            "AWS never trusts the dev key by default"
        );
        assert_eq!(c.queue_urls.len(), 3);
    }

    #[test]
    fn billing_settings() {
        let c = from(&[
            ("STRIPE_PRICE_PROFESSIONAL", "price_pro_m, price_pro_y"),
            (
                "PLAN_LIMITS",
                r#"{"starter": {"messages_per_month": 5, "connected_numbers": 1, "seats": null}}"#,
            ),
            ("BILLING_ENFORCED", "true"),
        ])
        .unwrap();
        use switchboard_core::billing::Plan;
        assert!(c.billing.enforce);
        assert_eq!(
            c.billing.prices.get("price_pro_y"),
            Some(&Plan::Professional)
        );
        assert_eq!(
            c.billing.limits_of(Some(Plan::Starter)).messages_per_month,
            Some(5)
        );
        assert!(
            !from(&[]).unwrap().billing.enforce,
            "off locally by default"
        );
        assert!(matches!(
            from(&[("PLAN_LIMITS", "nope")]),
            Err(ConfigError::Invalid {
                var: "PLAN_LIMITS",
                ..
            })
        ));
        assert!(matches!(
            from(&[("BILLING_ENFORCED", "maybe")]),
            Err(ConfigError::Invalid {
                var: "BILLING_ENFORCED",
                ..
            })
        ));
    }

    #[test]
    fn invalid_values_are_named() {
        assert!(matches!(
            from(&[("SWITCHBOARD_BACKEND", "gcp")]),
            Err(ConfigError::Invalid {
                var: "SWITCHBOARD_BACKEND",
                ..
            })
        ));
        assert!(matches!(
            from(&[("WHATSAPP_GRAPH_URL", "ftp://x")]),
            Err(ConfigError::Invalid {
                var: "WHATSAPP_GRAPH_URL",
                ..
            })
        ));
        assert!(matches!(
            from(&[("MAX_WEBHOOK_BODY_BYTES", "lots")]),
            Err(ConfigError::Invalid {
                var: "MAX_WEBHOOK_BODY_BYTES",
                ..
            })
        ));
    }
}
