//! A WhatsApp stand-in for the dev server when no Graph URL is configured: sends are
//! logged (recipient masked, no text), get a `wamid.sandbox.*` id, and a moment later
//! produce `sent` then `delivered` statuses through the normal status path — stored as
//! webhook events and queued for `worker-inbound`, exactly as Meta's would be. The whole
//! flow can be tried without a Meta account.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use switchboard_core::clock::Clock;
use switchboard_core::ids::PhoneNumberId;
use switchboard_core::privacy::Pseudonyms;
use switchboard_core::queue::Queue;
use switchboard_core::secrets::{SecretName, SecretString, Secrets};
use switchboard_core::store::ItemStore;
use switchboard_core::usecases::ingest;
use switchboard_core::whatsapp::{
    GraphError, MediaInfo, OutboundMessage, PhoneNumberInfo, WhatsAppApi,
};

/// The sandbox sender.
#[derive(Clone)]
pub struct Sandbox {
    store: Arc<dyn ItemStore>,
    queue: Arc<dyn Queue>,
    secrets: Arc<dyn Secrets>,
    clock: Arc<dyn Clock>,
    status_delay: Duration,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sandbox")
    }
}

impl Sandbox {
    /// A sandbox that feeds statuses into `store`/`queue` after `status_delay` (with
    /// group ids pseudonymised under the key in `secrets`, as the webhook does).
    pub fn new(
        store: Arc<dyn ItemStore>,
        queue: Arc<dyn Queue>,
        secrets: Arc<dyn Secrets>,
        clock: Arc<dyn Clock>,
        status_delay: Duration,
    ) -> Self {
        Self {
            store,
            queue,
            secrets,
            clock,
            status_delay,
        }
    }

    async fn emit(&self, phone_number_id: &str, wamid: &str, recipient: &str, status: &str) {
        let ts = self.clock.now().timestamp();
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "sandbox", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "sandbox", "phone_number_id": phone_number_id},
                "statuses": [{"id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": recipient}]
            }}]}]
        });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let Ok(changes) = switchboard_webhooks::meta::split(&bytes) else {
            return;
        };
        let pseudonyms = match self.secrets.get(SecretName::PseudonymKey).await {
            Ok(Some(key)) => Pseudonyms::new(key),
            _ => {
                tracing::warn!("sandbox: no pseudonym key; status not emitted");
                return;
            }
        };
        let origin = ingest::Origin {
            received_at: self.clock.now(),
            correlation_id: None,
            pseudonyms: &pseudonyms,
        };
        let events = ingest::whatsapp_events(changes, &origin);
        if let Err(e) = ingest::store_and_enqueue(&*self.store, &*self.queue, events).await {
            tracing::warn!(error = %e, "sandbox could not emit a status");
        }
    }
}

#[async_trait]
impl WhatsAppApi for Sandbox {
    async fn phone_number(
        &self,
        _token: &SecretString,
        _id: &PhoneNumberId,
    ) -> Result<PhoneNumberInfo, GraphError> {
        Ok(PhoneNumberInfo::default())
    }

    async fn send_message(
        &self,
        _token: &SecretString,
        msg: &OutboundMessage<'_>,
    ) -> Result<String, GraphError> {
        let wamid = format!("wamid.sandbox.{}", uuid::Uuid::now_v7().simple());
        let kind = msg
            .content
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("?");
        tracing::info!(to = %msg.to.masked(), kind, wamid = %wamid, "sandbox: message 'sent' (no Graph URL configured)");
        let me = self.clone();
        let (pn, w, to) = (
            msg.phone_number_id.to_string(),
            wamid.clone(),
            msg.to.to_string(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(me.status_delay).await;
            me.emit(&pn, &w, &to, "sent").await;
            tokio::time::sleep(me.status_delay).await;
            me.emit(&pn, &w, &to, "delivered").await;
        });
        Ok(wamid)
    }

    async fn mark_read(
        &self,
        _token: &SecretString,
        _phone: &PhoneNumberId,
        wamid: &str,
    ) -> Result<(), GraphError> {
        tracing::info!(wamid, "sandbox: marked read");
        Ok(())
    }

    async fn upload_media(
        &self,
        _token: &SecretString,
        _phone_number_id: &PhoneNumberId,
        _mime_type: &str,
        _bytes: &[u8],
    ) -> Result<String, GraphError> {
        Ok(format!("sandbox-media-{}", uuid::Uuid::new_v4().simple()))
    }

    async fn media_info(
        &self,
        _token: &SecretString,
        _media_id: &str,
    ) -> Result<MediaInfo, GraphError> {
        Err(GraphError::Api {
            http_status: 404,
            code: 100,
            subcode: None,
            message: "the sandbox has no media; configure WHATSAPP_GRAPH_URL".into(),
            details: None,
        })
    }

    async fn download(
        &self,
        _token: &SecretString,
        _url: &str,
        _max: usize,
    ) -> Result<Vec<u8>, GraphError> {
        Err(GraphError::Transport("the sandbox has no media".into()))
    }
}
