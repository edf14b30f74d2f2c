//! The `App`: ports, config and authenticator, built once per process (Lambda init or
//! dev server start) and cloned cheaply into every request.
//!
//! The AWS backend is always linked. The embedded backend (SQLite, the local cipher,
//! `.env`) is linked only by binaries that ask for it, so that no Lambda package carries
//! it: the CLI hands it in through [`App::build_with`], and a function built with its
//! `embedded` feature (this crate's `embedded` feature) gets it from [`App::build`]. The
//! CLI deliberately does not use the feature: a feature one workspace member enables is
//! enabled for every member cargo builds in the same run (`cargo lambda build --bin X`
//! resolves the whole workspace), which would put SQLite back into every function.

use std::path::Path;
use std::sync::Arc;

use switchboard_aws::{DynamoStore, KmsCipher, LazyClients, SecretsManager, SqsQueue};
use switchboard_core::cipher::Cipher;
use switchboard_core::clock::{Clock, SystemClock};
use switchboard_core::ids::Role;
use switchboard_core::queue::Queue;
use switchboard_core::secrets::Secrets;
use switchboard_core::services::Services;
use switchboard_core::store::ItemStore;
use switchboard_core::usecases::outbound::TokenCache;
use switchboard_core::whatsapp::WhatsAppApi;
use switchboard_providers::{GraphClient, Sandbox, StripeClient};

use crate::auth::{Authenticator, Caller};
use crate::config::{Backend, Config, ConfigError};
use crate::http::{ApiError, Request, header_str};
use crate::metrics::Registry;

/// The storage ports a backend provides: item store, queues, cipher, secrets.
pub type StoragePorts = (
    Arc<dyn ItemStore>,
    Arc<dyn Queue>,
    Arc<dyn Cipher>,
    Arc<dyn Secrets>,
);

/// Why the process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Configuration is missing or invalid.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// A backend could not be opened.
    #[error("{0}")]
    Backend(String),
}

/// Opens the embedded backend's storage ports in a data dir, reading secrets from the
/// environment and the `.env` file: `switchboard_local::open`, handed in by the binaries
/// that link the embedded backend (see the module docs).
pub type OpenEmbedded = fn(
    &Path,
    Option<&Path>,
    Arc<dyn Clock>,
) -> Result<StoragePorts, Box<dyn std::error::Error + Send + Sync>>;

/// The embedded backend when this crate was built with its `embedded` feature (a function
/// run with `cargo lambda watch --features …/embedded`), else `None`.
pub fn linked_embedded() -> Option<OpenEmbedded> {
    #[cfg(feature = "embedded")]
    {
        Some(|dir, dotenv, clock| Ok(switchboard_local::open(dir, dotenv, clock)?))
    }
    #[cfg(not(feature = "embedded"))]
    {
        None
    }
}

/// The start-up error of `SWITCHBOARD_BACKEND=local` (or unset) in a binary without the
/// embedded backend, naming the variable and both ways out.
fn embedded_not_linked() -> ConfigError {
    ConfigError::Invalid {
        var: "SWITCHBOARD_BACKEND",
        reason: "`local` (the default when unset) needs the embedded backend (SQLite, \
local cipher, .env), which this binary was built without, as deployed Lambda functions are; \
set SWITCHBOARD_BACKEND=aws with TABLE_NAME, the queue URLs and KMS_KEY_ID, or rebuild with \
the embedded backend: `cargo lambda watch --features switchboard-runtime/embedded`"
            .into(),
    }
}

struct Inner {
    config: Config,
    services: Services,
    auth: Authenticator,
    tokens: TokenCache,
    metrics: Arc<Registry>,
    /// Callers recorded lately in the org's user directory (most requests skip the store).
    seen: switchboard_core::usecases::users::SeenCache,
    /// Orgs' plans as lately read, for their rate limits.
    plans: crate::recent::Recent<
        switchboard_core::ids::OrgId,
        Option<switchboard_core::billing::Plan>,
    >,
    /// API keys whose use this process recorded lately.
    keys_used: crate::recent::Recent<String, ()>,
}

/// How long an org's plan is taken as read (a plan change reaches its rate limits
/// within this).
const PLAN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Everything a handler needs, shared by all requests of a process.
#[derive(Clone)]
pub struct App(Arc<Inner>);

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("backend", &self.0.config.backend)
            .field("auth", &self.0.auth)
            .finish()
    }
}

/// The HTTP client shared by provider clients and the JWKS cache.
pub fn http_client() -> reqwest::Client {
    switchboard_providers::http_client(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
}

impl App {
    /// Builds the app for `config`: the AWS clients (no network calls: SDK clients
    /// connect lazily), or the embedded backend if this binary links it
    /// ([`linked_embedded`]); without it, `SWITCHBOARD_BACKEND=local` is a configuration
    /// error naming the variable and the fix.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with(config, linked_embedded()).await
    }

    /// Builds the app for `config`, opening the embedded backend with `embedded` (the CLI
    /// passes `switchboard_local::open`). Starts error tracking when `SENTRY_DSN` is set
    /// (once per process: Lambda init, the dev server's start).
    pub async fn build_with(
        config: Config,
        embedded: Option<OpenEmbedded>,
    ) -> Result<Self, StartupError> {
        crate::error_reporting::init(&config.error_reporting);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let http = http_client();
        // Each backend provides the four storage ports; the provider clients on top are
        // the same for both.
        let (store, queue, cipher, secrets): StoragePorts = match config.backend {
            Backend::Local => {
                let open = embedded.ok_or_else(embedded_not_linked)?;
                open(&config.data_dir, config.dotenv.as_deref(), clock.clone())
                    .map_err(|e| StartupError::Backend(e.to_string()))?
            }
            Backend::Aws => {
                let sdk = switchboard_aws::config::load_with(&config.aws_sdk).await;
                // Built on first use: a function pays only for the services it calls.
                let clients = LazyClients::new(&sdk);
                let table = config
                    .table_name
                    .clone()
                    .ok_or(ConfigError::Missing("TABLE_NAME"))?;
                let key = config
                    .kms_key_id
                    .clone()
                    .ok_or(ConfigError::Missing("KMS_KEY_ID"))?;
                // The sandbox is for the embedded backend only (see `Config`); a Config
                // built by hand must not fall back to it either.
                if config.whatsapp_graph_url.is_none() {
                    return Err(ConfigError::Missing("WHATSAPP_GRAPH_URL").into());
                }
                (
                    Arc::new(DynamoStore::new(
                        clients.dynamodb.clone(),
                        table,
                        clock.clone(),
                    )),
                    Arc::new(SqsQueue::new(
                        clients.sqs.clone(),
                        config.queue_urls.clone(),
                    )),
                    Arc::new(KmsCipher::new(clients.kms.clone(), key)),
                    Arc::new(SecretsManager::new(
                        clients.secrets.clone(),
                        config.secrets_prefix.clone(),
                        switchboard_aws::secrets::DEFAULT_TTL,
                    )),
                )
            }
        };
        Self::assemble(config, (store, queue, cipher, secrets), clock, http)
    }

    /// Puts the provider clients (WhatsApp or its sandbox, Stripe) on top of a backend's
    /// storage ports. Tests call this with ports of their own making.
    pub fn assemble(
        config: Config,
        (store, queue, cipher, secrets): StoragePorts,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
    ) -> Result<Self, StartupError> {
        // One Graph client serves WhatsApp, the Meta app calls and the Send API.
        let graph = config
            .whatsapp_graph_url
            .as_deref()
            .map(|url| Arc::new(GraphClient::new(http.clone(), url)));
        let kapso_client = config
            .kapso_api_url
            .as_deref()
            .map(|url| Arc::new(GraphClient::new(http.clone(), url)));
        let (whatsapp, whatsapp_live) =
            self::whatsapp(graph.clone(), &store, &queue, &secrets, &clock);
        let (kapso, kapso_live) = self::whatsapp(kapso_client, &store, &queue, &secrets, &clock);
        let objects: Arc<dyn switchboard_core::objects::ObjectStore> =
            match (&config.backend, &config.media_bucket) {
                (Backend::Local, _) => Arc::new(
                    crate::objects::FileObjects::open(&config.data_dir, &config.public_url)
                        .map_err(|e| StartupError::Backend(format!("object storage: {e}")))?,
                ),
                (Backend::Aws, Some(bucket)) => Arc::new(switchboard_aws::S3Objects::new(
                    http.clone(),
                    bucket.clone(),
                    config.aws_sdk,
                )),
                (Backend::Aws, None) => Arc::new(crate::objects::NoObjects),
            };
        let mailer = self::mailer(&config, &http, &secrets);
        let llm = Arc::new(self::llm(&config, &http, &secrets));
        let services = Services {
            // Replaced by the app's own registry in `from_parts`.
            metrics: Arc::new(switchboard_core::metrics::Discard),
            stripe: Arc::new(StripeClient::new(
                http.clone(),
                config.stripe_api_url.clone(),
                secrets.clone(),
            )),
            store,
            queue,
            cipher,
            secrets,
            clock,
            whatsapp,
            whatsapp_live,
            kapso,
            kapso_live,
            meta_app: graph
                .clone()
                .map(|g| g as Arc<dyn switchboard_core::meta_app::MetaAppApi>),
            meta_app_id: config.meta_app_id.clone(),
            send_api: match graph {
                Some(g) => g,
                None => Arc::new(switchboard_providers::send_api::SandboxSendApi),
            },
            retention: config.retention,
            features: config.features,
            objects,
            mailer,
            llm,
            webhook_http: Arc::new(switchboard_providers::webhook_http::WebhookClient::new(
                config.webhooks_allow_loopback,
            )),
            realtime: crate::realtime::push_port(&config, &http),
        };
        Self::from_parts(config, services, http)
    }

    /// Assembles an app from ready ports (tests inject fakes and fixed clocks here).
    pub fn from_parts(
        config: Config,
        mut services: Services,
        http: reqwest::Client,
    ) -> Result<Self, StartupError> {
        // Every app counts into a registry of its own, which its adapters flush (EMF on
        // Lambda) or serve (`/metrics` on the dev server).
        let metrics = Arc::new(Registry::default());
        services.metrics = metrics.clone();
        // The JWKS cache ages by the app's clock, so tests that pin time pin it too.
        let auth =
            Authenticator::with_clock(config.auth.clone(), http.clone(), services.clock.clone())?;
        Ok(Self(Arc::new(Inner {
            config,
            services,
            auth,
            tokens: TokenCache::new(std::time::Duration::from_secs(300)),
            metrics,
            seen: Default::default(),
            plans: Default::default(),
            keys_used: Default::default(),
        })))
    }

    /// The ports.
    pub fn services(&self) -> &Services {
        &self.0.services
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The authenticator.
    pub fn auth(&self) -> &Authenticator {
        &self.0.auth
    }

    /// Decrypted provider tokens, cached briefly per account.
    pub fn tokens(&self) -> &TokenCache {
        &self.0.tokens
    }

    /// What this process has counted (the same registry as `services().metrics`).
    pub fn metrics(&self) -> &Registry {
        &self.0.metrics
    }

    /// Authenticates the request and checks the caller has at least `role`; records
    /// the org on the request span.
    pub async fn caller(&self, req: &Request, role: Role) -> Result<Caller, ApiError> {
        let header = header_str(req, "authorization");
        let caller = match crate::auth::bearer_token(header) {
            Ok(key) if switchboard_core::usecases::api_keys::is_api_key(key) => {
                self.key_caller(key).await?
            }
            _ => self.0.auth.authenticate(header).await?,
        };
        tracing::Span::current().record("org_id", caller.org.as_str());
        // Recorded before the role check: a refused attempt is audited too.
        crate::http::note_caller(&caller);
        // Anyone with a valid token is one of the org's people, whatever this route
        // needs.
        self.record_seen(&caller).await;
        self.limit_rate(req, &caller).await?;
        caller.require(role)?;
        Ok(caller)
    }

    /// The caller an API key stands for: the key's org and role, `key:<id>` as the user
    /// (the audit log names the key). Its last use is written at most every few minutes
    /// per process.
    async fn key_caller(&self, key: &str) -> Result<Caller, ApiError> {
        use switchboard_core::usecases::api_keys;
        let svc = &self.0.services;
        let Some(k) = api_keys::authenticate(svc, key).await? else {
            return Err(crate::auth::AuthError::Invalid(
                "the API key is unknown, expired or revoked",
            )
            .into());
        };
        let every = std::time::Duration::from_secs(api_keys::LAST_USED_EVERY_SECS as u64);
        if self.0.keys_used.get(&k.key_id, every).is_none() {
            self.0.keys_used.put(k.key_id.clone(), ());
            if let Err(e) = api_keys::touch(svc, &k.org, &k.key_id).await {
                tracing::warn!(error = %e, "could not record an API key's use");
            }
        }
        Ok(Caller {
            org: k.org,
            role: k.role,
            user: Some(format!("key:{}", k.key_id)),
            name: Some(k.name),
            email: None,
        })
    }

    /// Takes the request from its caller's and org's rate-limit buckets: 429 with
    /// `Retry-After` when either is empty. A failing store lets the request through (the
    /// limit protects the service; it must not take it down).
    async fn limit_rate(&self, req: &Request, caller: &Caller) -> Result<(), ApiError> {
        use switchboard_core::usecases::rate_limits::{self, RouteClass};
        let cfg = &self.0.config.rate_limits;
        if !cfg.enforce {
            return Ok(());
        }
        let class = RouteClass::of(req.method().as_str(), req.uri().path());
        let plan = self.plan_of(&caller.org).await;
        let who = caller.user.as_deref().unwrap_or("anonymous");
        let verdict = match rate_limits::check(
            &self.0.services,
            cfg.limits_of(plan),
            &caller.org,
            who,
            class,
        )
        .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "rate limit check failed; letting the request through");
                return Ok(());
            }
        };
        crate::http::note_rate(verdict);
        if verdict.allowed {
            return Ok(());
        }
        tracing::info!(
            class = class.as_str(),
            limit = verdict.limit,
            "rate limited"
        );
        let mut e = ApiError::new(
            http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many {} requests: {} a minute; try again in {} s",
                class.as_str(),
                verdict.limit,
                verdict.retry_after_secs.unwrap_or(1)
            ),
        );
        e.retry_after = verdict.retry_after_secs;
        Err(e)
    }

    /// The org's plan, as its billing record says (cached for a few minutes; `None`
    /// when billing is not enforced).
    async fn plan_of(
        &self,
        org: &switchboard_core::ids::OrgId,
    ) -> Option<switchboard_core::billing::Plan> {
        if !self.0.config.billing.enforce {
            return None;
        }
        if let Some(plan) = self.0.plans.get(org, PLAN_CACHE_TTL) {
            return plan;
        }
        let plan = switchboard_core::usecases::billing::load_billing(&self.0.services, org)
            .await
            .ok()
            .flatten()
            .and_then(|b| b.record.plan);
        self.0.plans.put(org.clone(), plan);
        plan
    }

    /// Records the caller in the org's user directory (`GET /v1/users`): at most one
    /// write per user every few minutes, and never the request's failure.
    async fn record_seen(&self, caller: &Caller) {
        use switchboard_core::usecases::users;
        // The directory lists people; an API key is not one.
        let person = caller.user.as_deref().filter(|u| !u.starts_with("key:"));
        let Some(seen) = person.and_then(|id| {
            users::Seen::new(
                &caller.org,
                id,
                caller.name.as_deref(),
                caller.email.as_deref(),
                caller.role,
            )
        }) else {
            return;
        };
        if let Err(e) = users::record(&self.0.services, &self.0.seen, &seen).await {
            tracing::warn!(error = %e, "could not record the caller in the user directory");
        }
    }
}

/// A Cloud API client (Graph, or Kapso's proxy of it) when its base URL is configured,
/// else the sandbox (which feeds its statuses back through the inbound queue).
pub fn whatsapp(
    client: Option<Arc<GraphClient>>,
    store: &Arc<dyn ItemStore>,
    queue: &Arc<dyn Queue>,
    secrets: &Arc<dyn Secrets>,
    clock: &Arc<dyn Clock>,
) -> (Arc<dyn WhatsAppApi>, bool) {
    match client {
        Some(client) => (client, true),
        None => (
            Arc::new(Sandbox::new(
                store.clone(),
                queue.clone(),
                secrets.clone(),
                clock.clone(),
                std::time::Duration::from_millis(500),
            )),
            false,
        ),
    }
}

/// The language-model client: every preset the configuration gives a base URL, keys
/// from `secrets` at each call.
pub fn llm(
    config: &Config,
    http: &reqwest::Client,
    secrets: &Arc<dyn Secrets>,
) -> switchboard_providers::ChatClient {
    use switchboard_core::llm::LlmProvider;
    LlmProvider::ALL.into_iter().fold(
        switchboard_providers::ChatClient::new(http.clone(), secrets.clone()),
        |client, p| match config.llm.url(p) {
            Some(url) => client.with_base(p, url),
            None => client,
        },
    )
}

/// The email provider the configuration names, with its fallback. The console writes
/// each email to `<data dir>/outbox/` on the embedded backend (nowhere on AWS).
pub fn mailer(
    config: &Config,
    http: &reqwest::Client,
    secrets: &Arc<dyn Secrets>,
) -> switchboard_core::email::Mailer {
    use crate::config::EmailProvider;
    use switchboard_core::email::{EmailSender, WithFallback};
    use switchboard_providers::email::{ConsoleSender, ResendClient, SendGridClient, SmtpSender};
    let e = &config.email;
    let build = |p: EmailProvider| -> Arc<dyn EmailSender> {
        match p {
            EmailProvider::Resend => Arc::new(ResendClient::new(
                http.clone(),
                e.resend_api_url.clone(),
                secrets.clone(),
            )),
            EmailProvider::Sendgrid => Arc::new(SendGridClient::new(
                http.clone(),
                e.sendgrid_api_url.clone(),
                secrets.clone(),
            )),
            EmailProvider::Smtp => Arc::new(SmtpSender::from_secrets(secrets.clone())),
            EmailProvider::Console => Arc::new(ConsoleSender::new(
                (config.backend == Backend::Local).then(|| config.data_dir.join("outbox")),
            )),
        }
    };
    let primary = build(e.provider);
    let sender: Arc<dyn EmailSender> = match e.fallback {
        Some(f) => Arc::new(WithFallback {
            primary,
            fallback: build(f),
        }),
        None => primary,
    };
    switchboard_core::email::Mailer {
        sender,
        from_address: e.from_address.clone(),
        from_name: e.from_name.clone(),
        app_url: e.app_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_backend_without_the_embedded_backend_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = App::build_with(Config::local(dir.path()), None)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                StartupError::Config(ConfigError::Invalid {
                    var: "SWITCHBOARD_BACKEND",
                    ..
                })
            ),
            "{text}"
        );
        assert!(text.contains("SWITCHBOARD_BACKEND=aws"), "{text}");
        assert!(text.contains("embedded"), "{text}");
        // Nothing was created: the data dir belongs to a backend this binary lacks.
        assert!(!dir.path().join("store.sqlite3").exists());
    }
}
