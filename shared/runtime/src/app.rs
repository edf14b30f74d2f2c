//! The `App`: ports, config and authenticator, built once per process (Lambda init or
//! dev server start) and cloned cheaply into every request.

use std::sync::Arc;

use switchboard_aws::{Clients, DynamoStore, KmsCipher, SecretsManager, SqsQueue};
use switchboard_core::cipher::Cipher;
use switchboard_core::clock::{Clock, SystemClock};
use switchboard_core::ids::Role;
use switchboard_core::queue::Queue;
use switchboard_core::secrets::Secrets;
use switchboard_core::services::Services;
use switchboard_core::store::ItemStore;
use switchboard_core::usecases::outbound::TokenCache;
use switchboard_core::whatsapp::WhatsAppApi;
use switchboard_local::{EnvSecrets, LocalCipher, SqliteQueue, SqliteStore};
use switchboard_providers::{GraphClient, Sandbox, StripeClient};

use crate::auth::{Authenticator, Caller};
use crate::config::{Backend, Config, ConfigError};
use crate::http::{ApiError, Request, header_str};

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

struct Inner {
    config: Config,
    services: Services,
    auth: Authenticator,
    tokens: TokenCache,
}

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
    /// Builds the app for `config`: opens the embedded backend's files, or the AWS
    /// clients (no network calls: SDK clients connect lazily).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let http = http_client();
        // Each backend provides the four storage ports; the provider clients on top are
        // the same for both.
        let (store, queue, cipher, secrets): StoragePorts = match config.backend {
            Backend::Local => {
                let dir = &config.data_dir;
                std::fs::create_dir_all(dir).map_err(|e| {
                    StartupError::Backend(format!("creating data dir {}: {e}", dir.display()))
                })?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
                }
                (
                    Arc::new(
                        SqliteStore::open(&dir.join("store.sqlite3"), clock.clone()).map_err(
                            |e| StartupError::Backend(format!("opening the SQLite store: {e}")),
                        )?,
                    ),
                    Arc::new(
                        SqliteQueue::open(&dir.join("queue.sqlite3"), clock.clone()).map_err(
                            |e| StartupError::Backend(format!("opening the SQLite queue: {e}")),
                        )?,
                    ),
                    Arc::new(
                        LocalCipher::open_or_create(&dir.join("master.key"))
                            .map_err(|e| StartupError::Backend(e.to_string()))?,
                    ),
                    Arc::new(EnvSecrets::load(config.dotenv.as_deref())),
                )
            }
            Backend::Aws => {
                let sdk = switchboard_aws::config::load().await;
                let clients = Clients::new(&sdk);
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
        let (whatsapp, whatsapp_live) = whatsapp(&config, &http, &store, &queue, &clock);
        let services = Services {
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
        };
        Self::from_parts(config, services, http)
    }

    /// Assembles an app from ready ports (tests inject fakes and fixed clocks here).
    pub fn from_parts(
        config: Config,
        services: Services,
        http: reqwest::Client,
    ) -> Result<Self, StartupError> {
        // The JWKS cache ages by the app's clock, so tests that pin time pin it too.
        let auth =
            Authenticator::with_clock(config.auth.clone(), http.clone(), services.clock.clone())?;
        Ok(Self(Arc::new(Inner {
            config,
            services,
            auth,
            tokens: TokenCache::new(std::time::Duration::from_secs(300)),
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

    /// Authenticates the request and checks the caller has at least `role`; records
    /// the org on the request span.
    pub async fn caller(&self, req: &Request, role: Role) -> Result<Caller, ApiError> {
        let caller = self
            .0
            .auth
            .authenticate(header_str(req, "authorization"))
            .await?;
        tracing::Span::current().record("org_id", caller.org.as_str());
        caller.require(role)?;
        Ok(caller)
    }
}

/// The Graph client when a Graph URL is configured, else the sandbox (which feeds its
/// statuses back through the inbound queue).
pub fn whatsapp(
    config: &Config,
    http: &reqwest::Client,
    store: &Arc<dyn ItemStore>,
    queue: &Arc<dyn Queue>,
    clock: &Arc<dyn Clock>,
) -> (Arc<dyn WhatsAppApi>, bool) {
    match &config.whatsapp_graph_url {
        Some(url) => (Arc::new(GraphClient::new(http.clone(), url.clone())), true),
        None => (
            Arc::new(Sandbox::new(
                store.clone(),
                queue.clone(),
                clock.clone(),
                std::time::Duration::from_millis(500),
            )),
            false,
        ),
    }
}
