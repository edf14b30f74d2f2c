//! A dev server on a random port with its own data dir (or moto resources), plus
//! helpers to mint tokens, post signed webhooks and call the API as the frontend would.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use switchboard_cli::serve::{self, Running};
use switchboard_core::clock::{Clock, FixedClock, SystemClock};
use switchboard_core::ids::{OrgId, Role};
use switchboard_core::queue::Queue;
use switchboard_core::secrets::SecretName;

use async_trait::async_trait;
use switchboard_core::store::{Condition, Item, ItemStore, Page, Query, StoreError, Write};
use switchboard_local::{EnvSecrets, LocalCipher, SqliteQueue, SqliteStore};
use switchboard_runtime::App;
use switchboard_runtime::auth::dev_claims;
use switchboard_runtime::config::Config;
use switchboard_testkit::fixtures::{self, TEST_APP_SECRET, TEST_VERIFY_TOKEN};

/// Which backend a harness runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Local,
    Aws,
}

/// Wraps the store of a harness (fault injection).
pub type StoreWrapper = Box<dyn FnOnce(Arc<dyn ItemStore>) -> Arc<dyn ItemStore> + Send>;
/// A check run before a store call; an error is returned instead of making the call.
pub type Hook<T> = Box<dyn Fn(&T) -> Result<(), StoreError> + Send + Sync>;

/// Hooks a test puts in front of a store, to inject faults or record calls.
#[derive(Default)]
pub struct StoreHooks {
    /// Before each query.
    pub query: Option<Hook<Query>>,
    /// Before each transaction, with its 1-based number.
    pub transact: Option<Hook<usize>>,
}

impl StoreHooks {
    /// The wrapper putting these hooks in front of a harness's store.
    pub fn wrap(self) -> StoreWrapper {
        Box::new(move |inner| {
            Arc::new(HookedStore {
                inner,
                hooks: self,
                transactions: AtomicUsize::new(0),
            }) as Arc<dyn ItemStore>
        })
    }
}

/// A store that runs [`StoreHooks`] before delegating.
pub struct HookedStore {
    inner: Arc<dyn ItemStore>,
    hooks: StoreHooks,
    transactions: AtomicUsize,
}

impl std::fmt::Debug for HookedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HookedStore({:?})", self.inner)
    }
}

#[async_trait]
impl ItemStore for HookedStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, c: Condition) -> Result<(), StoreError> {
        self.inner.put(item, c).await
    }
    async fn delete(&self, pk: &str, sk: &str, c: Condition) -> Result<(), StoreError> {
        self.inner.delete(pk, sk, c).await
    }
    async fn query(&self, q: Query) -> Result<Page, StoreError> {
        if let Some(hook) = &self.hooks.query {
            hook(&q)?;
        }
        self.inner.query(q).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let n = self.transactions.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(hook) = &self.hooks.transact {
            hook(&n)?;
        }
        self.inner.transact(writes).await
    }
    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        d: i64,
        ttl: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.inner.increment(pk, sk, d, ttl).await
    }
    async fn take(&self, pk: &str, sk: &str, amount: i64) -> Result<Option<i64>, StoreError> {
        self.inner.take(pk, sk, amount).await
    }
}

/// Wraps the queue of a harness (fault injection).
pub type QueueWrapper = Box<dyn FnOnce(Arc<dyn Queue>) -> Arc<dyn Queue> + Send>;

/// Knobs for a harness.
pub struct Options {
    pub backend: Backend,
    pub secrets: Vec<(SecretName, String)>,
    pub graph_url: Option<String>,
    /// Kapso's base URL (a wiremock server); `None`: the sandbox stands in for Kapso.
    pub kapso_url: Option<String>,
    /// `META_APP_ID` (embedded signup, token checks).
    pub meta_app_id: Option<String>,
    /// Wraps the store (fault injection).
    pub wrap_store: Option<StoreWrapper>,
    /// Wraps the queue (fault injection).
    pub wrap_queue: Option<QueueWrapper>,
    /// The app's clock (tests move it); the system clock when `None`.
    pub clock: Option<Arc<FixedClock>>,
    /// Start pollers and the HTTP server (false: handlers are called directly).
    pub serve: bool,
    /// Trust this dev key file instead of one in the data dir.
    pub dev_key: Option<std::path::PathBuf>,
    /// Run the queue consumers in the background (false: tests drive them).
    pub workers: bool,
    /// Outbound pacing and retry settings.
    pub delivery: Option<switchboard_core::usecases::outbound::DeliveryConfig>,
    /// Stripe API base URL (a wiremock server).
    pub stripe_url: Option<String>,
    /// Billing settings.
    pub billing: Option<switchboard_core::billing::BillingConfig>,
    /// The largest media response (`MAX_MEDIA_BYTES`).
    pub max_media_bytes: Option<usize>,
    /// Email providers and sender (console by default).
    pub email: Option<switchboard_runtime::config::EmailConfig>,
    /// One OpenAI-compatible base URL (a fake) for every model preset.
    pub llm_url: Option<String>,
    /// API rate limits (off unless set, as on the embedded backend without `RATE_LIMITS`).
    pub rate_limits: Option<switchboard_core::usecases::rate_limits::RateLimitConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: Backend::Local,
            secrets: vec![
                (SecretName::WhatsAppAppSecret, TEST_APP_SECRET.into()),
                (SecretName::WhatsAppVerifyToken, TEST_VERIFY_TOKEN.into()),
                (SecretName::PseudonymKey, "e2e-pseudonym-key".into()),
            ],
            graph_url: None,
            kapso_url: None,
            meta_app_id: None,
            wrap_store: None,
            wrap_queue: None,
            clock: None,
            serve: true,
            dev_key: None,
            workers: true,
            delivery: None,
            stripe_url: None,
            billing: None,
            max_media_bytes: None,
            email: None,
            llm_url: None,
            rate_limits: None,
        }
    }
}

pub struct Harness {
    pub app: App,
    pub base: String,
    pub http: reqwest::Client,
    running: Option<Running>,
    _dir: tempfile::TempDir,
}

pub async fn build_app(opts: &mut Options, dir: &std::path::Path) -> App {
    let mut config = Config::local(dir);
    // Webhook endpoints in tests are wiremock servers on 127.0.0.1.
    config.webhooks_allow_loopback = true;
    config.whatsapp_graph_url = opts.graph_url.clone();
    config.kapso_api_url = opts.kapso_url.clone();
    config.meta_app_id = opts.meta_app_id.clone();
    if let Some(d) = opts.delivery {
        config.delivery = d;
    }
    if let Some(b) = opts.billing.clone() {
        config.billing = b;
    }
    if let Some(m) = opts.max_media_bytes {
        config.max_media_bytes = m;
    }
    if let Some(e) = opts.email.clone() {
        config.email = e;
    }
    if let Some(r) = opts.rate_limits.clone() {
        config.rate_limits = r;
    }
    if let Some(url) = &opts.llm_url {
        config.llm.openrouter_url = Some(url.clone());
        config.llm.xai_url = Some(url.clone());
        config.llm.custom_url = Some(url.clone());
    }
    if let Some(key) = &opts.dev_key {
        config.auth.dev_key_file = Some(key.clone());
    }
    let clock: Arc<dyn Clock> = match &opts.clock {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    let pairs: Vec<(SecretName, &str)> =
        opts.secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let http = switchboard_runtime::app::http_client();
    let (store, queue, cipher, secrets): switchboard_runtime::app::StoragePorts = match opts.backend
    {
        Backend::Local => (
            Arc::new(SqliteStore::open(&dir.join("store.sqlite3"), clock.clone()).unwrap()),
            Arc::new(SqliteQueue::open(&dir.join("queue.sqlite3"), clock.clone()).unwrap()),
            Arc::new(LocalCipher::open_or_create(&dir.join("master.key")).unwrap()),
            Arc::new(EnvSecrets::from_pairs(pairs)),
        ),
        Backend::Aws => {
            let clients = switchboard_testkit::moto::clients().await;
            let deployment = switchboard_testkit::moto::deploy(&clients).await;
            let key = switchboard_bootstrap::create_key(&clients, "e2e")
                .await
                .unwrap();
            let prefix = format!("e2e{}/", uuid::Uuid::new_v4().simple());
            for (name, value) in &opts.secrets {
                clients
                    .secrets
                    .create_secret()
                    .name(format!("{prefix}{}", name.as_str()))
                    .secret_string(value)
                    .send()
                    .await
                    .unwrap();
            }
            (
                Arc::new(switchboard_aws::DynamoStore::new(
                    clients.dynamodb.clone(),
                    deployment.table,
                    clock.clone(),
                )),
                Arc::new(switchboard_aws::SqsQueue::new(
                    clients.sqs.clone(),
                    deployment.queues,
                )),
                Arc::new(switchboard_aws::KmsCipher::new(clients.kms.clone(), key)),
                Arc::new(switchboard_aws::SecretsManager::new(
                    clients.secrets.clone(),
                    prefix,
                    Duration::from_secs(60),
                )),
            )
        }
    };
    let store = match opts.wrap_store.take() {
        Some(wrap) => wrap(store),
        None => store,
    };
    let queue = match opts.wrap_queue.take() {
        Some(wrap) => wrap(queue),
        None => queue,
    };
    if let Some(url) = &opts.stripe_url {
        config.stripe_api_url = url.clone();
    }
    App::assemble(config, (store, queue, cipher, secrets), clock, http).unwrap()
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(mut opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = build_app(&mut opts, dir.path()).await;
        let (running, base) = if opts.serve {
            let running =
                serve::start_with(app.clone(), "127.0.0.1:0".parse().unwrap(), opts.workers)
                    .await
                    .unwrap();
            let base = format!("http://{}", running.addr);
            (Some(running), base)
        } else {
            (None, String::new())
        };
        Self {
            app,
            base,
            http: reqwest::Client::new(),
            running,
            _dir: dir,
        }
    }

    pub fn token(&self, org: &str, role: Role) -> String {
        self.token_as(org, role, "test-user")
    }

    /// A token of `subject` (another person of the org).
    pub fn token_as(&self, org: &str, role: Role, subject: &str) -> String {
        let claims = dev_claims(
            self.app.auth().config(),
            &OrgId::parse(org).unwrap(),
            role,
            subject,
            chrono::Utc::now().timestamp(),
            Duration::from_secs(600),
        );
        self.app.auth().dev_key().unwrap().sign(&claims).unwrap()
    }

    /// The harness's data dir (the embedded backend's files, `store.sqlite3` among them).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Posts a delivery signed with the test secret.
    pub async fn webhook(&self, body: &[u8]) -> reqwest::Response {
        self.http
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", fixtures::sign(body))
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn put_json(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Connects the test number to `org` and returns the integration.
    pub async fn connect(&self, org: &str, phone_number_id: &str) -> Value {
        let token = self.token(org, Role::Admin);
        let (status, body) = self
            .post(
                "/v1/integrations/whatsapp/connect",
                &token,
                &serde_json::json!({"phone_number_id": phone_number_id, "waba_id": fixtures::WABA_ID, "access_token": "EAAG-test-token"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Polls `f` until it returns `Some`, for up to 15 s (queue consumers are async).
    pub async fn eventually<T, F, Fut>(&self, what: &str, f: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        self.eventually_within(what, Duration::from_secs(15), f)
            .await
    }

    /// [`Harness::eventually`] with a longer wait, for work that is large on purpose
    /// (thousands of writes against moto while the rest of the suite runs).
    pub async fn eventually_within<T, F, Fut>(&self, what: &str, wait: Duration, f: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `path` lists `n` items.
    pub async fn wait_for_items(&self, path: &str, token: &str, n: usize) -> Value {
        self.eventually(path, || async {
            let (status, body) = self.get(path, token).await;
            (status == StatusCode::OK && body["items"].as_array().is_some_and(|a| a.len() == n))
                .then_some(body)
        })
        .await
    }

    /// Runs a queue's consumer (the dev server's own table) batch by batch until the
    /// queue is empty, settling each batch; returns the outcomes.
    pub async fn drain(
        &self,
        queue: switchboard_core::queue::QueueName,
    ) -> Vec<switchboard_runtime::queue::BatchOutcome> {
        drain_app(&self.app, queue).await
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// The ids of a list page's items.
pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every item of a list, paging until the cursor is `null` (at most `max_pages`); also
/// the page sizes.
pub async fn all_pages(
    h: &Harness,
    path: &str,
    token: &str,
    max_pages: usize,
) -> (Vec<String>, Vec<usize>) {
    let mut out = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let (st, page) = h.get(&url, token).await;
        assert_eq!(st, StatusCode::OK, "{url}: {page}");
        let got = ids(&page);
        sizes.push(got.len());
        out.extend(got);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (out, sizes),
        }
    }
    panic!("{path} did not end");
}

/// Runs `app`'s consumer of a queue (the dev server's own table) batch by batch until the
/// queue is empty, settling each batch; returns the outcomes.
pub async fn drain_app(
    app: &App,
    queue: switchboard_core::queue::QueueName,
) -> Vec<switchboard_runtime::queue::BatchOutcome> {
    let consumer = switchboard_cli::routes::consumers()
        .into_iter()
        .find(|c| c.queue == queue)
        .expect("a consumer for the queue");
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        let q = &app.services().queue;
        let batch = q
            .receive(
                queue,
                10,
                Duration::from_secs(30),
                Duration::from_millis(50),
            )
            .await
            .unwrap();
        if batch.is_empty() {
            return outcomes;
        }
        let outcome = (consumer.handler)(app.clone(), batch.clone()).await;
        switchboard_runtime::queue::settle(&**q, queue, &batch, &outcome, true).await;
        outcomes.push(outcome);
    }
    panic!("{queue} did not drain");
}

/// A fake Graph that knows the test number (connect reads it there).
pub async fn graph_knowing_the_number() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    let graph = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("GET"))
        .and(path(format!("/v23.0/{}", fixtures::PHONE_NUMBER_ID)))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"display_phone_number": "+1 555-078-3881"})),
        )
        .mount(&graph)
        .await;
    graph
}
