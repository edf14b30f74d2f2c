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
    /// Dotted path of the caller's display name (`AUTH_NAME_CLAIM`), recorded in the
    /// org's user directory when present.
    pub name_claim: String,
    /// Dotted path of the caller's e-mail address (`AUTH_EMAIL_CLAIM`).
    pub email_claim: String,
    /// The local development signing key, when this process trusts it (dev server and
    /// local backend only; never on AWS Lambda).
    pub dev_key_file: Option<PathBuf>,
    /// The same key inline, base64 PKCS#8 (`SWITCHBOARD_DEV_KEY`), for runs where the
    /// file is not reachable (`sam local invoke` containers). Takes precedence.
    pub dev_key_base64: Option<String>,
    /// Refuse the committed test key (`events/test-signing-key.pk8`) as the dev key:
    /// anyone can read it, so only the embedded backend may trust it.
    pub refuse_test_key: bool,
    /// How long past their normal cache life the last good JWKS keys keep verifying
    /// tokens while the identity provider is unreachable (`AUTH_JWKS_MAX_STALE_SECS`).
    pub jwks_max_stale: std::time::Duration,
}

/// Issuer of tokens minted by `switchboard token`.
pub const DEV_ISSUER: &str = "switchboard-local";
/// Audience of tokens minted by `switchboard token`.
pub const DEV_AUDIENCE: &str = "switchboard";
/// File name of the development signing key in the data dir.
pub const DEV_KEY_FILE: &str = "dev-signing-key.pk8";
/// Default of `AUTH_JWKS_MAX_STALE_SECS`: a day of identity-provider outage is ridden out
/// on the last good keys; beyond that a removed (perhaps compromised) key must not live on.
pub const DEFAULT_JWKS_MAX_STALE: std::time::Duration = std::time::Duration::from_secs(86_400);
/// Upper bound of `AUTH_JWKS_MAX_STALE_SECS`.
pub const MAX_JWKS_MAX_STALE: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);
/// `SWITCHBOARD_STAGE` values that mean production (compared case-insensitively): the AWS
/// backend never trusts a dev key there, whatever `SWITCHBOARD_TRUST_DEV_KEY` says.
pub const PRODUCTION_STAGES: &[&str] = &["prod", "production", "prd", "live"];

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
    /// Timeouts and retries of every AWS SDK call (`AWS_SDK_*`).
    pub aws_sdk: switchboard_aws::SdkSettings,
    /// Prefix of Secrets Manager secret ids (AWS).
    pub secrets_prefix: String,
    /// `.env` file read by the embedded backend for secrets.
    pub dotenv: Option<PathBuf>,
    /// Token verification.
    pub auth: AuthConfig,
    /// Graph API base URL; when absent, connect does not validate tokens with Meta.
    pub whatsapp_graph_url: Option<String>,
    /// Kapso's Cloud API base URL (`KAPSO_API_URL`). On AWS it defaults to Kapso's own;
    /// on the embedded backend, unset means the sandbox stands in for Kapso too.
    pub kapso_api_url: Option<String>,
    /// The Meta app's id (`META_APP_ID`): embedded signup and token introspection.
    pub meta_app_id: Option<String>,
    /// Largest webhook body accepted (bytes).
    pub max_webhook_body: usize,
    /// Largest API body accepted (bytes).
    pub max_api_body: usize,
    /// Largest contact import file accepted (bytes; `POST /v1/contacts/imports`).
    pub max_import_body: usize,
    /// Largest media file the media endpoint serves (bytes).
    pub max_media_bytes: usize,
    /// Outbound pacing and retries.
    pub delivery: switchboard_core::usecases::outbound::DeliveryConfig,
    /// How transient failures are retried by every consumer (`RETRY_*`).
    pub retry: switchboard_core::retry::RetryPolicy,
    /// Plans, limits and Stripe settings.
    pub billing: switchboard_core::billing::BillingConfig,
    /// Stripe API base URL.
    pub stripe_api_url: String,
    /// How often the dev server runs the usage report.
    pub usage_report_every: std::time::Duration,
    /// How long settled raw webhook events are kept (`WEBHOOK_EVENT_RETENTION_DAYS`).
    pub retention: switchboard_core::services::Retention,
    /// The bucket of archived media and uploads on AWS (`MEDIA_BUCKET`).
    pub media_bucket: Option<String>,
    /// Where browsers reach the dev server (`SWITCHBOARD_PUBLIC_URL`): the base of its
    /// signed object URLs.
    pub public_url: String,
    /// Features turned on (`ENABLE_BROADCAST_CAMPAIGNS`, `ENABLE_DRIP_CAMPAIGNS`).
    pub features: switchboard_core::services::Features,
    /// How often the dev server runs the campaign schedule (`CAMPAIGNS_INTERVAL_SECS`).
    pub campaigns_every: std::time::Duration,
    /// How often the dev server runs the drip-sequence schedule (`SEQUENCES_INTERVAL_SECS`).
    pub sequences_every: std::time::Duration,
    /// Email providers and sender (`EMAIL_*`, `RESEND_API_URL`, `SENDGRID_API_URL`,
    /// `APP_URL`).
    pub email: EmailConfig,
    /// API rate limits (`RATE_LIMITS`).
    pub rate_limits: switchboard_core::usecases::rate_limits::RateLimitConfig,
    /// How often the dev server runs the reminder schedule (`REMINDERS_INTERVAL_SECS`).
    pub reminders_every: std::time::Duration,
    /// Origins the dev server answers CORS requests from (`SWITCHBOARD_CORS_ORIGINS`,
    /// comma-separated; `http://host:*` matches any port). API Gateway has its own
    /// setting in `template.yaml`.
    pub cors_origins: Vec<String>,
    /// Base URLs of the language-model presets (`OPENROUTER_API_URL`, `XAI_API_URL`,
    /// `LLM_CUSTOM_API_URL`).
    pub llm: LlmConfig,
    /// Whether webhook endpoints may be plain `http` to loopback
    /// (`WEBHOOKS_ALLOW_LOOPBACK`, development and tests only; refused on a production
    /// stage).
    pub webhooks_allow_loopback: bool,
    /// Error tracking (`SENTRY_DSN`, `SENTRY_TRACES_SAMPLE_RATE`; off without a DSN).
    pub error_reporting: crate::error_reporting::ErrorReportingConfig,
    /// The WebSocket API's Management API endpoint (`REALTIME_ENDPOINT`,
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`) that `worker-realtime`
    /// pushes events to; without it pushes go to the dev server's in-process hub.
    pub realtime_endpoint: Option<String>,
}

/// Where this deployment's language-model presets live. A preset without a base URL is
/// not offered to orgs; keys come from the secrets port (`OPENROUTER_API_KEY`,
/// `XAI_API_KEY`, `LLM_CUSTOM_API_KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmConfig {
    /// OpenRouter's base (`OPENROUTER_API_URL`, default [`DEFAULT_OPENROUTER_API_URL`]).
    pub openrouter_url: Option<String>,
    /// xAI's base (`XAI_API_URL`, default [`DEFAULT_XAI_API_URL`]).
    pub xai_url: Option<String>,
    /// Any OpenAI-compatible server (`LLM_CUSTOM_API_URL`, no default), such as Ollama
    /// inside the deployment's VPC.
    pub custom_url: Option<String>,
}

impl LlmConfig {
    /// The base URL of `provider`, when configured.
    pub fn url(&self, provider: switchboard_core::llm::LlmProvider) -> Option<&str> {
        use switchboard_core::llm::LlmProvider;
        match provider {
            LlmProvider::Openrouter => self.openrouter_url.as_deref(),
            LlmProvider::Xai => self.xai_url.as_deref(),
            LlmProvider::Custom => self.custom_url.as_deref(),
        }
    }
}

/// OpenRouter's OpenAI-compatible API.
pub const DEFAULT_OPENROUTER_API_URL: &str = "https://openrouter.ai/api/v1";
/// xAI's OpenAI-compatible API.
pub const DEFAULT_XAI_API_URL: &str = "https://api.x.ai/v1";

/// The presets' base URLs. OpenRouter and xAI follow the rule of every provider URL
/// ([`base_url`]); the custom preset may also be plain http to a private address.
fn llm_config(
    var: &impl Fn(&str) -> Option<String>,
    url: &impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<LlmConfig, ConfigError> {
    Ok(LlmConfig {
        openrouter_url: Some(
            url("OPENROUTER_API_URL")?.unwrap_or_else(|| DEFAULT_OPENROUTER_API_URL.into()),
        ),
        xai_url: Some(url("XAI_API_URL")?.unwrap_or_else(|| DEFAULT_XAI_API_URL.into())),
        custom_url: var("LLM_CUSTOM_API_URL")
            .map(|v| private_base_url("LLM_CUSTOM_API_URL", v))
            .transpose()?,
    })
}

/// Checks the custom language-model URL: what [`base_url`] accepts, and also plain http
/// to a private IP address (RFC 1918, IPv6 unique-local).
///
/// Why http there: the custom preset exists for a model server the deployment runs
/// itself, typically Ollama in the same VPC, which serves plain http on a private
/// address and usually takes no key; the traffic never leaves the VPC. Anywhere else, prompts (customers' words) and the key would travel in clear,
/// so a public host, a host name (which could resolve anywhere) or a link-local address
/// (the instance metadata service lives at 169.254.169.254) still needs https.
fn private_base_url(name: &'static str, value: String) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(&value).ok();
    let http_host = parsed
        .as_ref()
        .filter(|u| u.scheme() == "http")
        .and_then(url::Url::host);
    let private = match http_host {
        Some(url::Host::Ipv4(ip)) => ip.is_private(),
        Some(url::Host::Ipv6(ip)) => ip.is_unique_local(),
        _ => false,
    };
    if private {
        return Ok(value);
    }
    base_url(name, value).map_err(|e| match e {
        ConfigError::Invalid { var, .. } => ConfigError::Invalid {
            var,
            reason: "must be an https URL (plain http only to a loopback or private IP address such as http://10.0.3.7:11434/v1)".into(),
        },
        other => other,
    })
}

/// API rate limits: always on AWS; on the embedded backend when `RATE_LIMITS` asks for
/// them (flat or per-plan overrides of the per-plan defaults).
fn rate_limits(
    var: &impl Fn(&str) -> Option<String>,
    backend: Backend,
) -> Result<switchboard_core::usecases::rate_limits::RateLimitConfig, ConfigError> {
    use switchboard_core::usecases::rate_limits::RateLimitConfig;
    let set = var("RATE_LIMITS").filter(|v| !v.trim().is_empty());
    Ok(RateLimitConfig {
        enforce: backend == Backend::Aws || set.is_some(),
        overrides: set
            .map(|v| {
                RateLimitConfig::parse(&v).map_err(|reason| ConfigError::Invalid {
                    var: "RATE_LIMITS",
                    reason,
                })
            })
            .transpose()?
            .unwrap_or_default(),
    })
}

/// The media bucket on AWS.
const MEDIA_BUCKET: &str = "MEDIA_BUCKET";

/// An email provider (`EMAIL_PROVIDER`, `EMAIL_FALLBACK_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailProvider {
    /// Resend's API (`RESEND_API_KEY`).
    Resend,
    /// SendGrid's v3 API (`SENDGRID_API_KEY`).
    Sendgrid,
    /// An SMTP server (`SMTP_URL`).
    Smtp,
    /// The log (and the data dir's `outbox/`): local development.
    Console,
}

impl EmailProvider {
    fn parse(var: &'static str, v: &str) -> Result<Self, ConfigError> {
        match v.to_ascii_lowercase().as_str() {
            "resend" => Ok(Self::Resend),
            "sendgrid" => Ok(Self::Sendgrid),
            "smtp" => Ok(Self::Smtp),
            "console" => Ok(Self::Console),
            _ => Err(ConfigError::Invalid {
                var,
                reason: format!("expected resend, sendgrid, smtp or console, got `{v}`"),
            }),
        }
    }
}

/// How this deployment sends email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// The provider (console when nothing is configured).
    pub provider: EmailProvider,
    /// Tried when the provider fails with an error that may pass.
    pub fallback: Option<EmailProvider>,
    /// Sender address (`EMAIL_FROM`: `address` or `Name <address>`).
    pub from_address: String,
    /// Sender display name from `EMAIL_FROM` (an org's own name overrides it).
    pub from_name: Option<String>,
    /// Resend's API base (`RESEND_API_URL`).
    pub resend_api_url: String,
    /// SendGrid's API base (`SENDGRID_API_URL`).
    pub sendgrid_api_url: String,
    /// The CRM frontend (`APP_URL`), for links in emails.
    pub app_url: Option<String>,
}

/// The sender of a deployment that configured none: fine for the console provider,
/// refused for a real one.
pub const DEFAULT_EMAIL_FROM: &str = "notifications@switchboard.localhost";

/// Splits `Name <address>` (or a bare address).
fn parse_from(v: &str) -> Result<(String, Option<String>), ConfigError> {
    let invalid = || ConfigError::Invalid {
        var: "EMAIL_FROM",
        reason: "expected `address` or `Name <address>`".into(),
    };
    let (name, address) = match (v.rfind('<'), v.trim().strip_suffix('>')) {
        (Some(i), Some(_)) => {
            let name = v[..i].trim().trim_matches('"').trim();
            let address = v[i + 1..].trim().trim_end_matches('>').trim();
            (
                (!name.is_empty()).then(|| name.to_owned()),
                address.to_owned(),
            )
        }
        _ => (None, v.trim().to_owned()),
    };
    if !switchboard_core::usecases::email::valid_address(&address) {
        return Err(invalid());
    }
    Ok((address, name))
}

fn email_config(
    var: &impl Fn(&str) -> Option<String>,
    url: &impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<EmailConfig, ConfigError> {
    let provider = var("EMAIL_PROVIDER")
        .map(|v| EmailProvider::parse("EMAIL_PROVIDER", &v))
        .transpose()?
        .unwrap_or(EmailProvider::Console);
    let fallback = var("EMAIL_FALLBACK_PROVIDER")
        .map(|v| EmailProvider::parse("EMAIL_FALLBACK_PROVIDER", &v))
        .transpose()?
        .filter(|f| *f != provider);
    let (from_address, from_name) = match var("EMAIL_FROM") {
        Some(v) => parse_from(&v)?,
        None if provider == EmailProvider::Console => (
            DEFAULT_EMAIL_FROM.to_owned(),
            Some("Switchboard".to_owned()),
        ),
        None => return Err(ConfigError::Missing("EMAIL_FROM")),
    };
    Ok(EmailConfig {
        provider,
        fallback,
        from_address,
        from_name,
        resend_api_url: url("RESEND_API_URL")?.unwrap_or_else(|| "https://api.resend.com".into()),
        sendgrid_api_url: url("SENDGRID_API_URL")?
            .unwrap_or_else(|| "https://api.sendgrid.com".into()),
        app_url: url("APP_URL")?,
    })
}
/// The dev server's address as browsers reach it.
const PUBLIC_URL: &str = "SWITCHBOARD_PUBLIC_URL";
/// The dev server's default address.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:3000";

/// Turns broadcast campaigns on or off.
const ENABLE_BROADCAST_CAMPAIGNS: &str = "ENABLE_BROADCAST_CAMPAIGNS";
/// Turns drip sequences on or off.
const ENABLE_DRIP_CAMPAIGNS: &str = "ENABLE_DRIP_CAMPAIGNS";

/// Origins the dev server allows by default: a frontend on any local port.
pub const DEFAULT_CORS_ORIGINS: &str = "http://localhost:*,http://127.0.0.1:*";

/// Meta documents deliveries of up to 3 MB; 4 MiB leaves headroom.
pub const DEFAULT_MAX_WEBHOOK_BODY: usize = 4 * 1024 * 1024;
/// API requests are small JSON documents.
pub const DEFAULT_MAX_API_BODY: usize = 256 * 1024;
/// Contact imports are CSV files; API Gateway HTTP APIs take bodies of up to 10 MB.
pub const DEFAULT_MAX_IMPORT_BODY: usize = 10 * 1024 * 1024;
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
            var(name).map(|v| base_url(name, v)).transpose()
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
        let (dev_key_file, dev_key_base64) = dev_key(&var, backend, &data_dir)?;
        let (issuer, audience) = match (var("AUTH_ISSUER"), var("AUTH_AUDIENCE")) {
            (Some(i), Some(a)) => (i, a),
            (None, None) if jwks_url.is_none() => (DEV_ISSUER.to_owned(), DEV_AUDIENCE.to_owned()),
            (None, _) => return Err(ConfigError::Missing("AUTH_ISSUER")),
            (_, None) => return Err(ConfigError::Missing("AUTH_AUDIENCE")),
        };
        if backend == Backend::Aws
            && jwks_url.is_none()
            && dev_key_file.is_none()
            && dev_key_base64.is_none()
        {
            return Err(ConfigError::Missing("AUTH_JWKS_URL"));
        }
        let whatsapp_graph_url = url("WHATSAPP_GRAPH_URL")?;
        if backend == Backend::Aws && whatsapp_graph_url.is_none() {
            // Without a Graph URL the sandbox stands in for Meta: connect would store any
            // access token unchecked and sends would be faked. Fine on the embedded
            // backend, a silent hole with real tenants.
            return Err(ConfigError::Missing("WHATSAPP_GRAPH_URL"));
        }
        let kapso_api_url = match url("KAPSO_API_URL")? {
            Some(u) => Some(u),
            None if backend == Backend::Aws => Some(DEFAULT_KAPSO_API_URL.to_owned()),
            None => None,
        };
        let jwks_max_stale = match var("AUTH_JWKS_MAX_STALE_SECS") {
            None => DEFAULT_JWKS_MAX_STALE,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .map(std::time::Duration::from_secs)
                .filter(|d| *d <= MAX_JWKS_MAX_STALE)
                .ok_or(ConfigError::Invalid {
                    var: "AUTH_JWKS_MAX_STALE_SECS",
                    reason: format!(
                        "must be a number of seconds from 0 to {}",
                        MAX_JWKS_MAX_STALE.as_secs()
                    ),
                })?,
        };
        let retry = retry_policy(&var)?;
        Ok(Self {
            backend,
            data_dir,
            table_name,
            queue_urls,
            kms_key_id,
            aws_sdk: aws_sdk_settings(&var)?,
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
                name_claim: var("AUTH_NAME_CLAIM").unwrap_or_else(|| "name".into()),
                email_claim: var("AUTH_EMAIL_CLAIM").unwrap_or_else(|| "email".into()),
                dev_key_file,
                dev_key_base64,
                refuse_test_key: backend == Backend::Aws,
                jwks_max_stale,
            },
            whatsapp_graph_url,
            kapso_api_url,
            meta_app_id: var("META_APP_ID").filter(|v| !v.trim().is_empty()),
            max_webhook_body: size("MAX_WEBHOOK_BODY_BYTES", DEFAULT_MAX_WEBHOOK_BODY)?,
            max_api_body: size("MAX_API_BODY_BYTES", DEFAULT_MAX_API_BODY)?,
            max_import_body: size("MAX_IMPORT_BODY_BYTES", DEFAULT_MAX_IMPORT_BODY)?,
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
                d.retry = retry;
                d
            },
            retry,
            billing: billing_config(&var, backend)?,
            rate_limits: rate_limits(&var, backend)?,
            stripe_api_url: url("STRIPE_API_URL")?
                .unwrap_or_else(|| "https://api.stripe.com".into()),
            usage_report_every: std::time::Duration::from_secs(
                size("USAGE_REPORT_INTERVAL_SECS", 3600)?.max(10) as u64,
            ),
            retention: retention(&var)?,
            media_bucket: var(MEDIA_BUCKET).filter(|v| !v.trim().is_empty()),
            public_url: var(PUBLIC_URL)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_PUBLIC_URL.to_owned()),
            features: switchboard_core::services::Features {
                broadcast_campaigns: var(ENABLE_BROADCAST_CAMPAIGNS)
                    .map(|v| flag(ENABLE_BROADCAST_CAMPAIGNS, &v))
                    .transpose()?
                    .unwrap_or(true),
                drip_campaigns: var(ENABLE_DRIP_CAMPAIGNS)
                    .map(|v| flag(ENABLE_DRIP_CAMPAIGNS, &v))
                    .transpose()?
                    .unwrap_or(true),
            },
            campaigns_every: std::time::Duration::from_secs(
                size("CAMPAIGNS_INTERVAL_SECS", 60)?.max(1) as u64,
            ),
            sequences_every: std::time::Duration::from_secs(
                size("SEQUENCES_INTERVAL_SECS", 60)?.max(1) as u64,
            ),
            email: email_config(&var, &url)?,
            llm: llm_config(&var, &url)?,
            webhooks_allow_loopback: webhooks_allow_loopback(&var)?,
            error_reporting: crate::error_reporting::ErrorReportingConfig::read(&var, backend)?,
            realtime_endpoint: url("REALTIME_ENDPOINT")?
                .map(|v| v.trim_end_matches('/').to_owned()),
            reminders_every: std::time::Duration::from_secs(
                size("REMINDERS_INTERVAL_SECS", 900)?.max(1) as u64,
            ),
            cors_origins: var("SWITCHBOARD_CORS_ORIGINS")
                .unwrap_or_else(|| DEFAULT_CORS_ORIGINS.to_owned())
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
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

/// Kapso's Cloud API proxy: the base of `POST {base}/{phone_number_id}/messages`.
pub const DEFAULT_KAPSO_API_URL: &str = "https://api.kapso.ai/meta/whatsapp/v24.0";

/// Upper bound of `WEBHOOK_EVENT_RETENTION_DAYS` (ten years: a typo, not a policy, past it).
const MAX_WEBHOOK_EVENT_RETENTION_DAYS: i64 = 3650;

/// How long settled raw webhook events are kept (`WEBHOOK_EVENT_RETENTION_DAYS`): at least
/// a week, because the stored event is what makes a provider's redelivery a duplicate and
/// Meta redelivers for up to 7 days.
fn retention(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<switchboard_core::services::Retention, ConfigError> {
    use switchboard_core::services::Retention;
    let days = match var("WEBHOOK_EVENT_RETENTION_DAYS") {
        None => Retention::DEFAULT_WEBHOOK_EVENT_DAYS,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|d| {
                (Retention::MIN_WEBHOOK_EVENT_DAYS..=MAX_WEBHOOK_EVENT_RETENTION_DAYS).contains(d)
            })
            .ok_or(ConfigError::Invalid {
                var: "WEBHOOK_EVENT_RETENTION_DAYS",
                reason: format!(
                    "must be a whole number of days from {} to {MAX_WEBHOOK_EVENT_RETENTION_DAYS}",
                    Retention::MIN_WEBHOOK_EVENT_DAYS
                ),
            })?,
    };
    Ok(Retention {
        webhook_events: chrono::Duration::days(days),
    })
}

/// The retry schedule (`RETRY_BASE_SECS`, `RETRY_MAX_DELAY_SECS`, `RETRY_HORIZON_SECS`),
/// checked against the queues' redrive policies: a consumer must give up (and
/// dead-letter explicitly) before SQS's `maxReceiveCount` would do it behind its back.
fn retry_policy(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<switchboard_core::retry::RetryPolicy, ConfigError> {
    use std::time::Duration;
    use switchboard_core::retry::RetryPolicy;
    let secs = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        match var(name) {
            None => Ok(default),
            Some(v) => {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| ConfigError::Invalid {
                        var: name,
                        reason: "must be a whole number of seconds".into(),
                    })
            }
        }
    };
    let d = RetryPolicy::DEFAULT;
    let policy = RetryPolicy {
        base: secs("RETRY_BASE_SECS", d.base)?,
        max_delay: secs("RETRY_MAX_DELAY_SECS", d.max_delay)?,
        horizon: secs("RETRY_HORIZON_SECS", d.horizon)?,
    };
    policy.validate().map_err(|reason| ConfigError::Invalid {
        var: "RETRY_HORIZON_SECS",
        reason,
    })?;
    for q in QueueName::ALL {
        let budget = q.receive_budget(&policy);
        if budget >= q.spec().max_receive_count {
            return Err(ConfigError::Invalid {
                var: "RETRY_HORIZON_SECS",
                reason: format!(
                    "this schedule needs up to {budget} receives of a {q} message, but the queue dead-letters after {}; shorten the horizon or lengthen the delays",
                    q.spec().max_receive_count
                ),
            });
        }
    }
    Ok(policy)
}

/// The AWS SDK's timeouts and retries (`AWS_SDK_CONNECT_TIMEOUT_MS`,
/// `AWS_SDK_ATTEMPT_TIMEOUT_MS`, `AWS_SDK_OPERATION_TIMEOUT_MS`, `AWS_SDK_MAX_ATTEMPTS`),
/// defaulting to [`switchboard_aws::SdkSettings::DEFAULT`]. Read on both backends so a
/// typo fails the same way everywhere, though only the AWS backend uses them.
fn aws_sdk_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<switchboard_aws::SdkSettings, ConfigError> {
    use std::time::Duration;
    let d = switchboard_aws::SdkSettings::DEFAULT;
    let number = |name: &'static str| -> Result<Option<u64>, ConfigError> {
        var(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| ConfigError::Invalid {
                    var: name,
                    reason: "must be a whole number".into(),
                })
            })
            .transpose()
    };
    let millis = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        Ok(number(name)?.map_or(default, Duration::from_millis))
    };
    let settings = switchboard_aws::SdkSettings {
        connect_timeout: millis("AWS_SDK_CONNECT_TIMEOUT_MS", d.connect_timeout)?,
        attempt_timeout: millis("AWS_SDK_ATTEMPT_TIMEOUT_MS", d.attempt_timeout)?,
        operation_timeout: millis("AWS_SDK_OPERATION_TIMEOUT_MS", d.operation_timeout)?,
        max_attempts: match number("AWS_SDK_MAX_ATTEMPTS")? {
            None => d.max_attempts,
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        },
    };
    settings
        .validate()
        .map_err(|(var, reason)| ConfigError::Invalid { var, reason })?;
    Ok(settings)
}

/// Checks a provider base URL (`AUTH_JWKS_URL`, `WHATSAPP_GRAPH_URL`, `STRIPE_API_URL`):
/// https, because these answers are trusted (signing keys) or carry bearer credentials.
/// Plain http is allowed only to a loopback address, where tests run their fakes.
fn base_url(name: &'static str, value: String) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        var: name,
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(&value).map_err(|_| invalid("must be an https URL"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(value),
        "http" if loopback => Ok(value),
        "http" => Err(invalid(
            "must be an https URL (plain http only to a loopback address such as http://127.0.0.1)",
        )),
        _ => Err(invalid("must be an https URL")),
    }
}

/// Which development signing key this process trusts: `(file, inline base64)`, both
/// `None` when it trusts none.
///
/// The embedded backend trusts one by default (it is what `switchboard token` signs
/// with). The AWS backend holds real tenants' data: anyone holding the key could mint a
/// token for any org, so it trusts one only when told twice — `SWITCHBOARD_TRUST_DEV_KEY`
/// and a `SWITCHBOARD_STAGE` that is not production. A dev key set on AWS without that
/// opt-in is an error rather than silently ignored, so the operator learns why tokens
/// signed with it fail.
fn dev_key(
    var: &impl Fn(&str) -> Option<String>,
    backend: Backend,
    data_dir: &std::path::Path,
) -> Result<(Option<PathBuf>, Option<String>), ConfigError> {
    let file = var("SWITCHBOARD_DEV_KEY_FILE").map(PathBuf::from);
    let inline = var("SWITCHBOARD_DEV_KEY");
    let opt_in = var("SWITCHBOARD_TRUST_DEV_KEY")
        .map(|v| flag("SWITCHBOARD_TRUST_DEV_KEY", &v))
        .transpose()?;
    let trusted = match (backend, opt_in) {
        (Backend::Local, opt_in) => opt_in.unwrap_or(true),
        (Backend::Aws, Some(true)) => match var("SWITCHBOARD_STAGE") {
            None => {
                return Err(ConfigError::Invalid {
                    var: "SWITCHBOARD_STAGE",
                    reason: "must name a non-production stage (e.g. `dev`) for SWITCHBOARD_TRUST_DEV_KEY=true on the AWS backend".into(),
                });
            }
            Some(stage) if is_production_stage(&stage) => {
                return Err(ConfigError::Invalid {
                    var: "SWITCHBOARD_TRUST_DEV_KEY",
                    reason: format!(
                        "is refused when SWITCHBOARD_STAGE is `{stage}`: production trusts only the identity provider (AUTH_JWKS_URL)"
                    ),
                });
            }
            Some(_) => true,
        },
        (Backend::Aws, _) => {
            let set = [
                ("SWITCHBOARD_DEV_KEY_FILE", file.is_some()),
                ("SWITCHBOARD_DEV_KEY", inline.is_some()),
            ];
            if let Some((name, _)) = set.into_iter().find(|(_, is_set)| *is_set) {
                return Err(ConfigError::Invalid {
                    var: name,
                    reason: "is set, but the AWS backend trusts a dev key only with SWITCHBOARD_TRUST_DEV_KEY=true and a non-production SWITCHBOARD_STAGE".into(),
                });
            }
            false
        }
    };
    if !trusted {
        return Ok((None, None));
    }
    Ok((
        Some(file.unwrap_or_else(|| data_dir.join(DEV_KEY_FILE))),
        inline,
    ))
}

/// Whether `stage` names production (see [`PRODUCTION_STAGES`]).
pub fn is_production_stage(stage: &str) -> bool {
    PRODUCTION_STAGES
        .iter()
        .any(|p| p.eq_ignore_ascii_case(stage.trim()))
}

fn webhooks_allow_loopback(var: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    const VAR: &str = "WEBHOOKS_ALLOW_LOOPBACK";
    let allow = var(VAR)
        .map(|v| flag(VAR, &v))
        .transpose()?
        .unwrap_or(false);
    if allow
        && let Some(stage) = var("SWITCHBOARD_STAGE")
        && is_production_stage(&stage)
    {
        return Err(ConfigError::Invalid {
            var: VAR,
            reason: format!("is refused when SWITCHBOARD_STAGE is `{stage}`"),
        });
    }
    Ok(allow)
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
    if let Some(m) = var("STRIPE_AI_METER_EVENT").filter(|m| !m.trim().is_empty()) {
        cfg.ai_meter_event_name = m;
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
    fn aws_sdk_timeouts_default_below_the_function_timeout_and_are_checked() {
        let c = from(&[]).unwrap();
        assert_eq!(c.aws_sdk, switchboard_aws::SdkSettings::DEFAULT);
        let c = from(&[
            ("AWS_SDK_CONNECT_TIMEOUT_MS", "500"),
            ("AWS_SDK_ATTEMPT_TIMEOUT_MS", "1000"),
            ("AWS_SDK_OPERATION_TIMEOUT_MS", "4000"),
            ("AWS_SDK_MAX_ATTEMPTS", "2"),
        ])
        .unwrap();
        assert_eq!(c.aws_sdk.connect_timeout.as_millis(), 500);
        assert_eq!(c.aws_sdk.attempt_timeout.as_millis(), 1000);
        assert_eq!(c.aws_sdk.operation_timeout.as_millis(), 4000);
        assert_eq!(c.aws_sdk.max_attempts, 2);
        for (var, value) in [
            ("AWS_SDK_CONNECT_TIMEOUT_MS", "soon"),
            ("AWS_SDK_OPERATION_TIMEOUT_MS", "100"),
            ("AWS_SDK_MAX_ATTEMPTS", "0"),
        ] {
            match from(&[(var, value)]) {
                Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
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
        assert_eq!(
            from(&pairs).unwrap_err(),
            ConfigError::Missing("WHATSAPP_GRAPH_URL")
        );
        pairs.push(("WHATSAPP_GRAPH_URL", "https://graph.facebook.com/v23.0"));
        let c = from(&pairs).unwrap();
        assert_eq!(
            c.auth.dev_key_file, None,
            "AWS never trusts the dev key by default"
        );
        assert!(c.auth.refuse_test_key);
        assert_eq!(c.queue_urls.len(), QueueName::ALL.len());
    }

    /// A complete AWS configuration, plus `extra` (which wins over the defaults).
    fn aws(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = QueueName::ALL
            .iter()
            .flat_map(|q| {
                [
                    (q.url_env().to_string(), "http://q".to_string()),
                    (q.dlq_url_env().to_string(), "http://d".to_string()),
                ]
            })
            .collect();
        for (k, v) in [
            ("SWITCHBOARD_BACKEND", "aws"),
            ("TABLE_NAME", "t"),
            ("KMS_KEY_ID", "k"),
            ("AUTH_JWKS_URL", "https://idp.example.com/jwks.json"),
            ("AUTH_ISSUER", "https://idp.example.com"),
            ("AUTH_AUDIENCE", "crm"),
            ("WHATSAPP_GRAPH_URL", "https://graph.facebook.com/v23.0"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            map.insert(k.into(), v.into());
        }
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn an_empty_graph_url_on_aws_is_an_error_not_a_sandbox() {
        assert_eq!(
            aws(&[("WHATSAPP_GRAPH_URL", "")]).unwrap_err(),
            ConfigError::Missing("WHATSAPP_GRAPH_URL")
        );
        assert_eq!(
            aws(&[("WHATSAPP_GRAPH_URL", "  ")]).unwrap_err(),
            ConfigError::Missing("WHATSAPP_GRAPH_URL")
        );
        // The embedded backend keeps its sandbox.
        assert_eq!(
            from(&[("WHATSAPP_GRAPH_URL", "")])
                .unwrap()
                .whatsapp_graph_url,
            None
        );
    }

    #[test]
    fn aws_trusts_a_dev_key_only_when_opted_in_outside_production() {
        let invalid_var = |r: Result<Config, ConfigError>| match r {
            Err(ConfigError::Invalid { var, .. }) => var,
            other => panic!("expected an invalid variable, got {other:?}"),
        };
        // Not opted in: a key set anyway is named, not silently trusted or ignored.
        assert_eq!(
            invalid_var(aws(&[("SWITCHBOARD_DEV_KEY_FILE", "k.pk8")])),
            "SWITCHBOARD_DEV_KEY_FILE"
        );
        assert_eq!(
            invalid_var(aws(&[("SWITCHBOARD_DEV_KEY", "MIGH")])),
            "SWITCHBOARD_DEV_KEY"
        );
        assert_eq!(
            invalid_var(aws(&[
                ("SWITCHBOARD_TRUST_DEV_KEY", "false"),
                ("SWITCHBOARD_DEV_KEY_FILE", "k.pk8")
            ])),
            "SWITCHBOARD_DEV_KEY_FILE"
        );
        // Opted in, but no stage or a production one.
        assert_eq!(
            invalid_var(aws(&[("SWITCHBOARD_TRUST_DEV_KEY", "true")])),
            "SWITCHBOARD_STAGE"
        );
        for stage in ["prod", "Production", "PRD", "live"] {
            assert_eq!(
                invalid_var(aws(&[
                    ("SWITCHBOARD_TRUST_DEV_KEY", "true"),
                    ("SWITCHBOARD_STAGE", stage)
                ])),
                "SWITCHBOARD_TRUST_DEV_KEY",
                "{stage}"
            );
        }
        assert_eq!(
            invalid_var(aws(&[("SWITCHBOARD_TRUST_DEV_KEY", "maybe")])),
            "SWITCHBOARD_TRUST_DEV_KEY"
        );
        // Opted in on a dev stage: the data dir key (or the one named) is trusted, and
        // the committed test key is still refused (checked when the key is loaded).
        let c = aws(&[
            ("SWITCHBOARD_TRUST_DEV_KEY", "true"),
            ("SWITCHBOARD_STAGE", "dev"),
            ("SWITCHBOARD_DATA_DIR", "/tmp/sb"),
        ])
        .unwrap();
        assert_eq!(
            c.auth.dev_key_file,
            Some(PathBuf::from("/tmp/sb").join(DEV_KEY_FILE))
        );
        assert!(c.auth.refuse_test_key);
        // The dev key alone also satisfies the AWS backend's need for a token verifier.
        let mut no_jwks = aws(&[
            ("SWITCHBOARD_TRUST_DEV_KEY", "1"),
            ("SWITCHBOARD_STAGE", "staging"),
            ("SWITCHBOARD_DEV_KEY_FILE", "/keys/dev.pk8"),
            ("AUTH_JWKS_URL", ""),
            ("AUTH_ISSUER", ""),
            ("AUTH_AUDIENCE", ""),
        ])
        .unwrap();
        assert_eq!(
            no_jwks.auth.dev_key_file.take(),
            Some(PathBuf::from("/keys/dev.pk8"))
        );
        // Locally the dev key is trusted by default, the test key allowed, and an explicit
        // `false` turns the dev key off.
        let local = from(&[]).unwrap();
        assert!(local.auth.dev_key_file.is_some() && !local.auth.refuse_test_key);
        let off = from(&[("SWITCHBOARD_TRUST_DEV_KEY", "false")]).unwrap();
        assert_eq!(
            (off.auth.dev_key_file, off.auth.dev_key_base64),
            (None, None)
        );
    }

    #[test]
    fn provider_base_urls_must_be_https_except_on_loopback() {
        for var in ["AUTH_JWKS_URL", "WHATSAPP_GRAPH_URL", "STRIPE_API_URL"] {
            for bad in [
                "http://idp.example.com/jwks.json",
                "http://10.0.0.5:8080",
                "http://127.0.0.1.evil.example",
                "ftp://example.com",
                "https://",
                "not a url",
            ] {
                assert!(
                    matches!(aws(&[(var, bad)]), Err(ConfigError::Invalid { var: v, .. }) if v == var),
                    "{var}={bad} must be refused"
                );
            }
            for good in [
                "https://example.com/v1",
                "http://127.0.0.1:8080",
                "http://localhost:9000/x",
                "http://[::1]:4000",
            ] {
                assert!(aws(&[(var, good)]).is_ok(), "{var}={good} must be accepted");
            }
        }
        // The same rule holds on the embedded backend.
        assert!(matches!(
            from(&[("STRIPE_API_URL", "http://api.stripe.com")]),
            Err(ConfigError::Invalid {
                var: "STRIPE_API_URL",
                ..
            })
        ));
    }

    #[test]
    fn language_model_urls_default_to_the_public_presets() {
        use switchboard_core::llm::LlmProvider;
        let c = from(&[]).unwrap();
        assert_eq!(
            c.llm,
            LlmConfig {
                openrouter_url: Some("https://openrouter.ai/api/v1".into()),
                xai_url: Some("https://api.x.ai/v1".into()),
                custom_url: None,
            }
        );
        assert_eq!(c.llm.url(LlmProvider::Xai), Some("https://api.x.ai/v1"));
        assert_eq!(c.llm.url(LlmProvider::Custom), None);
        let c = aws(&[
            ("OPENROUTER_API_URL", "http://127.0.0.1:9100/v1"),
            ("XAI_API_URL", "https://xai.proxy.example/v1"),
            ("LLM_CUSTOM_API_URL", "https://llm.example.com/v1"),
        ])
        .unwrap();
        assert_eq!(
            c.llm.url(LlmProvider::Openrouter),
            Some("http://127.0.0.1:9100/v1")
        );
        assert_eq!(
            c.llm.url(LlmProvider::Xai),
            Some("https://xai.proxy.example/v1")
        );
        assert_eq!(
            c.llm.url(LlmProvider::Custom),
            Some("https://llm.example.com/v1")
        );
    }

    #[test]
    fn the_custom_model_server_may_be_plain_http_on_a_private_address_only() {
        for good in [
            "http://10.0.3.7:11434/v1",
            "http://172.16.0.9:11434/v1",
            "http://192.168.1.20/v1",
            "http://[fd12:3456::7]:11434/v1",
            "http://127.0.0.1:11434/v1",
            "https://ollama.internal/v1",
        ] {
            assert_eq!(
                aws(&[("LLM_CUSTOM_API_URL", good)])
                    .unwrap()
                    .llm
                    .custom_url
                    .as_deref(),
                Some(good)
            );
        }
        for bad in [
            "http://ollama.internal:11434/v1",
            "http://203.0.113.7/v1",
            "http://169.254.169.254/latest",
            "http://172.32.0.1/v1",
            "ftp://10.0.3.7/v1",
            "not a url",
        ] {
            match from(&[("LLM_CUSTOM_API_URL", bad)]) {
                Err(
                    e @ ConfigError::Invalid {
                        var: "LLM_CUSTOM_API_URL",
                        ..
                    },
                ) => {
                    assert!(e.to_string().contains("LLM_CUSTOM_API_URL"), "{e}")
                }
                other => panic!("{bad} must be refused: {other:?}"),
            }
        }
        // The public presets keep the https rule.
        for var in ["OPENROUTER_API_URL", "XAI_API_URL"] {
            for bad in [
                "http://10.0.3.7:11434/v1",
                "http://openrouter.ai/api/v1",
                "nope",
            ] {
                match from(&[(var, bad)]) {
                    Err(e @ ConfigError::Invalid { .. }) => {
                        assert!(e.to_string().starts_with(var), "{e}")
                    }
                    other => panic!("{var}={bad} must be refused: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn jwks_max_stale_is_bounded() {
        assert_eq!(
            from(&[]).unwrap().auth.jwks_max_stale,
            DEFAULT_JWKS_MAX_STALE
        );
        assert_eq!(
            from(&[("AUTH_JWKS_MAX_STALE_SECS", "0")])
                .unwrap()
                .auth
                .jwks_max_stale,
            std::time::Duration::ZERO
        );
        for bad in ["-1", "a day", "604801"] {
            assert!(matches!(
                from(&[("AUTH_JWKS_MAX_STALE_SECS", bad)]),
                Err(ConfigError::Invalid {
                    var: "AUTH_JWKS_MAX_STALE_SECS",
                    ..
                })
            ));
        }
    }

    #[test]
    fn webhook_event_retention_is_at_least_a_week() {
        assert_eq!(
            from(&[]).unwrap().retention.webhook_events,
            chrono::Duration::days(30)
        );
        assert_eq!(
            from(&[("WEBHOOK_EVENT_RETENTION_DAYS", "7")])
                .unwrap()
                .retention
                .webhook_events,
            chrono::Duration::days(7)
        );
        for bad in ["6", "0", "-1", "a month", "3651"] {
            assert!(matches!(
                from(&[("WEBHOOK_EVENT_RETENTION_DAYS", bad)]),
                Err(ConfigError::Invalid {
                    var: "WEBHOOK_EVENT_RETENTION_DAYS",
                    ..
                })
            ));
        }
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
        // Rate limits: off locally unless asked for; a bad value is refused by name.
        assert!(!from(&[]).unwrap().rate_limits.enforce);
        let limited = from(&[(
            "RATE_LIMITS",
            r#"{"reads_per_minute": 9, "writes_per_minute": 3, "sends_per_minute": 4}"#,
        )])
        .unwrap();
        assert!(limited.rate_limits.enforce);
        assert_eq!(limited.rate_limits.limits_of(None).reads_per_minute, 9);
        assert!(matches!(
            from(&[("RATE_LIMITS", "[1]")]),
            Err(ConfigError::Invalid {
                var: "RATE_LIMITS",
                ..
            })
        ));
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
