//! The ports a use case may call, bundled. Built once per process (Lambda init or dev
//! server start) and shared by every request.

use std::sync::Arc;

use crate::cipher::Cipher;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::secrets::Secrets;
use crate::store::ItemStore;
use crate::stripe::StripeApi;
use crate::whatsapp::WhatsAppApi;

/// Everything a use case depends on.
#[derive(Clone, Debug)]
pub struct Services {
    /// Item store.
    pub store: Arc<dyn ItemStore>,
    /// Queues.
    pub queue: Arc<dyn Queue>,
    /// Envelope encryption.
    pub cipher: Arc<dyn Cipher>,
    /// Secrets.
    pub secrets: Arc<dyn Secrets>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// WhatsApp: the Graph API when a Graph URL is configured, else the dev sandbox.
    pub whatsapp: Arc<dyn WhatsAppApi>,
    /// Whether `whatsapp` is the real Graph API (connect validates tokens only then).
    pub whatsapp_live: bool,
    /// Kapso's Cloud API proxy (the same API as Graph under another base URL and the
    /// org's Kapso key), or the sandbox when no Kapso URL is configured locally.
    pub kapso: Arc<dyn WhatsAppApi>,
    /// Whether `kapso` is the real Kapso API.
    pub kapso_live: bool,
    /// Graph as the Meta app (embedded signup, token introspection, number health);
    /// `None` without a Graph URL.
    pub meta_app: Option<Arc<dyn crate::meta_app::MetaAppApi>>,
    /// The Meta app's id (`META_APP_ID`), when configured.
    pub meta_app_id: Option<String>,
    /// Meta's Send API (Messenger, Instagram), or its sandbox without a Graph URL.
    pub send_api: Arc<dyn crate::send_api::SendApi>,
    /// Stripe's API (its key comes from the secrets port at call time).
    pub stripe: Arc<dyn StripeApi>,
    /// Where counts and timings go (CloudWatch EMF on Lambda, Prometheus locally).
    pub metrics: Arc<dyn Metrics>,
    /// How long records kept only for a while are kept.
    pub retention: Retention,
    /// Features this deployment has turned on.
    pub features: Features,
    /// Object storage (archived media, uploads).
    pub objects: Arc<dyn crate::objects::ObjectStore>,
    /// Email: the provider and the sender defaults.
    pub mailer: crate::email::Mailer,
    /// Language models (the OpenAI-compatible presets this deployment configured).
    pub llm: Arc<dyn crate::llm::LlmApi>,
    /// Deliveries to the orgs' webhook endpoints (https to public addresses only).
    pub webhook_http: Arc<dyn crate::webhook_http::WebhookHttp>,
    /// Pushes platform events to the orgs' open realtime connections (API Gateway's
    /// `PostToConnection` with `REALTIME_ENDPOINT`, else the dev server's in-process hub).
    pub realtime: Arc<dyn crate::realtime::RealtimePush>,
}

/// Features a deployment can turn off (`ENABLE_*`); a feature that is off answers 404 on
/// its routes and its schedules do nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Broadcast campaigns (`ENABLE_BROADCAST_CAMPAIGNS`).
    pub broadcast_campaigns: bool,
    /// Drip sequences (`ENABLE_DRIP_CAMPAIGNS`).
    pub drip_campaigns: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            broadcast_campaigns: true,
            drip_campaigns: true,
        }
    }
}

impl Services {
    /// The client that carries `provider`'s traffic, and whether it is the real one.
    pub fn whatsapp_for(
        &self,
        provider: crate::model::WhatsAppProvider,
    ) -> (&dyn WhatsAppApi, bool) {
        match provider {
            crate::model::WhatsAppProvider::Meta => (&*self.whatsapp, self.whatsapp_live),
            crate::model::WhatsAppProvider::Kapso => (&*self.kapso, self.kapso_live),
        }
    }
}

/// How long Switchboard keeps what it holds only for a while (set from the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Raw webhook events, from when each was settled (processed, ignored, unroutable).
    pub webhook_events: chrono::Duration,
}

impl Retention {
    /// The default for raw webhook events: 30 days.
    pub const DEFAULT_WEBHOOK_EVENT_DAYS: i64 = 30;
    /// The shortest retention of raw webhook events: a stored event is also what makes a
    /// redelivery a duplicate, and Meta redelivers for up to 7 days (Stripe for 3).
    pub const MIN_WEBHOOK_EVENT_DAYS: i64 = 7;
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            webhook_events: chrono::Duration::days(Self::DEFAULT_WEBHOOK_EVENT_DAYS),
        }
    }
}
