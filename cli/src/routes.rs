//! Every handler the dev server mounts: HTTP routes (method, path as in `template.yaml`),
//! queue consumers and scheduled jobs. A test checks this table against the template,
//! so the dev server and the deployed API cannot drift apart.

use std::time::Duration;

use http::Method;
use switchboard_core::queue::QueueName;
use switchboard_runtime::local::{CronFn, HttpFn, QueueFn, cron_fn, http_fn, queue_fn};

/// An HTTP route.
pub struct Route {
    /// Method.
    pub method: Method,
    /// Path template with `{param}` segments (the API Gateway syntax).
    pub path: &'static str,
    /// The function serving it.
    pub function: &'static str,
    /// The handler.
    pub handler: HttpFn,
}

/// A queue consumer.
pub struct Consumer {
    /// Queue.
    pub queue: QueueName,
    /// The function consuming it.
    pub function: &'static str,
    /// The handler.
    pub handler: QueueFn,
}

/// A scheduled job.
pub struct Schedule {
    /// The function.
    pub function: &'static str,
    /// How often the dev server runs it.
    pub every: Duration,
    /// The handler.
    pub handler: CronFn,
}

macro_rules! route {
    ($method:ident, $path:literal, $krate:ident) => {
        Route {
            method: Method::$method,
            path: $path,
            function: $krate::FUNCTION,
            handler: http_fn(|app, req| async move { $krate::handle(&app, req).await }),
        }
    };
}

/// The HTTP routes.
pub fn http_routes() -> Vec<Route> {
    vec![
        route!(GET, "/webhooks/whatsapp", webhook_whatsapp),
        route!(POST, "/webhooks/whatsapp", webhook_whatsapp),
        route!(GET, "/webhooks/kapso", webhook_kapso),
        route!(POST, "/webhooks/kapso", webhook_kapso),
        route!(POST, "/v1/integrations/kapso/connect", api_connect_kapso),
        route!(
            POST,
            "/v1/integrations/messenger/connect",
            api_connect_messenger
        ),
        route!(
            POST,
            "/v1/integrations/instagram/connect",
            api_connect_instagram
        ),
        route!(GET, "/webhooks/meta-messaging", webhook_meta_messaging),
        route!(POST, "/v1/templates/sync", api_sync_templates),
        route!(GET, "/v1/templates", api_list_templates),
        route!(POST, "/v1/campaigns", api_create_campaign),
        route!(GET, "/v1/campaigns", api_list_campaigns),
        route!(GET, "/v1/campaigns/{id}", api_get_campaign),
        route!(POST, "/v1/campaigns/{id}/{action}", api_campaign_action),
        route!(
            GET,
            "/v1/campaigns/{id}/recipients",
            api_list_campaign_recipients
        ),
        route!(POST, "/v1/media/uploads", api_create_upload),
        route!(POST, "/v1/media/uploads/{id}/complete", api_complete_upload),
        route!(POST, "/v1/sequences", api_create_sequence),
        route!(GET, "/v1/sequences", api_list_sequences),
        route!(GET, "/v1/sequences/{id}", api_get_sequence),
        route!(POST, "/v1/sequences/{id}/enrolments", api_enrol_sequence),
        route!(GET, "/v1/sequences/{id}/enrolments", api_list_enrolments),
        route!(
            DELETE,
            "/v1/sequences/{id}/enrolments/{contact_id}",
            api_remove_enrolment
        ),
        route!(POST, "/v1/templates", api_create_template),
        route!(DELETE, "/v1/templates/{name}", api_delete_template),
        route!(POST, "/webhooks/meta-messaging", webhook_meta_messaging),
        route!(
            POST,
            "/v1/integrations/whatsapp/embedded-signup",
            api_embedded_signup
        ),
        route!(POST, "/v1/integrations/{id}/sync", api_sync_integration),
        route!(PATCH, "/v1/integrations/{id}", api_update_integration),
        route!(GET, "/v1/integrations", api_list_integrations),
        route!(
            POST,
            "/v1/integrations/whatsapp/connect",
            api_connect_integration
        ),
        route!(DELETE, "/v1/integrations/{id}", api_disconnect_integration),
        route!(GET, "/v1/conversations", api_list_conversations),
        route!(GET, "/v1/conversations/{id}", api_get_conversation),
        route!(GET, "/v1/conversations/{id}/messages", api_list_messages),
        route!(GET, "/v1/contacts", api_list_contacts),
        route!(GET, "/v1/contacts/{id}", api_get_contact),
        route!(POST, "/v1/conversations/{id}/messages", api_send_message),
        route!(POST, "/v1/conversations/{id}/read", api_mark_read),
        route!(GET, "/v1/messages/{id}/media", api_get_media),
        route!(POST, "/v1/media", api_upload_media),
        route!(POST, "/webhooks/stripe", webhook_stripe),
        route!(GET, "/v1/billing", api_get_billing),
        route!(POST, "/v1/billing/checkout", api_create_checkout),
        route!(POST, "/v1/billing/portal", api_create_portal),
        route!(GET, "/v1/audit", api_list_audit),
        route!(POST, "/v1/contacts/imports", api_create_import),
        route!(GET, "/v1/contacts/imports/{id}", api_get_import),
        route!(GET, "/v1/contacts/{id}/export", api_export_contact),
        route!(DELETE, "/v1/contacts/{id}", api_erase_contact),
        route!(GET, "/v1/contacts/{id}/erasure", api_get_erasure),
        route!(PATCH, "/v1/contacts/{id}", api_update_contact),
        route!(POST, "/v1/contacts/{id}/notes", api_create_note),
        route!(GET, "/v1/contacts/{id}/notes", api_list_notes),
        route!(DELETE, "/v1/contacts/{id}/notes/{note_id}", api_delete_note),
        route!(GET, "/v1/settings/opt-out", api_opt_out_settings),
        route!(PUT, "/v1/settings/opt-out", api_opt_out_settings),
        route!(GET, "/v1/users", api_list_users),
        route!(PATCH, "/v1/conversations/{id}", api_update_conversation),
        route!(GET, "/v1/quick-replies", api_list_quick_replies),
        route!(POST, "/webhooks/email/resend", webhook_email_resend),
        route!(POST, "/webhooks/email/sendgrid", webhook_email_sendgrid),
        route!(GET, "/v1/emails", api_list_emails),
        route!(
            DELETE,
            "/v1/email-suppressions/{address}",
            api_delete_email_suppression
        ),
        route!(GET, "/v1/users/me/notifications", api_notification_settings),
        route!(PUT, "/v1/users/me/notifications", api_notification_settings),
        route!(GET, "/v1/settings/email", api_email_settings),
        route!(PUT, "/v1/settings/email", api_email_settings),
        route!(GET, "/v1/settings/reminders", api_reminder_settings),
        route!(PUT, "/v1/settings/reminders", api_reminder_settings),
        route!(
            POST,
            "/v1/contacts/{id}/appointments",
            api_create_appointment
        ),
        route!(GET, "/v1/appointments", api_list_appointments),
        route!(GET, "/v1/appointments/{id}", api_get_appointment),
        route!(PATCH, "/v1/appointments/{id}", api_update_appointment),
        route!(DELETE, "/v1/appointments/{id}", api_cancel_appointment),
        route!(POST, "/v1/quick-replies", api_create_quick_reply),
        route!(PATCH, "/v1/quick-replies/{id}", api_update_quick_reply),
        route!(DELETE, "/v1/quick-replies/{id}", api_delete_quick_reply),
        route!(GET, "/v1/ai/settings", api_ai_settings),
        route!(PUT, "/v1/ai/settings", api_ai_settings),
        route!(GET, "/v1/ai/stats", api_ai_stats),
        route!(
            GET,
            "/v1/conversations/{id}/suggestions",
            api_list_suggestions
        ),
        route!(
            POST,
            "/v1/conversations/{id}/suggestions/{sid}/accept",
            api_accept_suggestion
        ),
        route!(
            POST,
            "/v1/conversations/{id}/suggestions/{sid}/reject",
            api_reject_suggestion
        ),
        route!(
            POST,
            "/v1/conversations/{id}/summary",
            api_summarize_conversation
        ),
        route!(POST, "/v1/messages/{id}/translate", api_translate_message),
        route!(POST, "/v1/api-keys", api_create_api_key),
        route!(GET, "/v1/api-keys", api_list_api_keys),
        route!(DELETE, "/v1/api-keys/{id}", api_revoke_api_key),
        route!(POST, "/v1/api-keys/{id}/roll", api_roll_api_key),
        route!(POST, "/v1/webhook-endpoints", api_create_webhook_endpoint),
        route!(GET, "/v1/webhook-endpoints", api_list_webhook_endpoints),
        route!(GET, "/v1/webhook-endpoints/{id}", api_get_webhook_endpoint),
        route!(
            PATCH,
            "/v1/webhook-endpoints/{id}",
            api_update_webhook_endpoint
        ),
        route!(
            DELETE,
            "/v1/webhook-endpoints/{id}",
            api_delete_webhook_endpoint
        ),
        route!(
            POST,
            "/v1/webhook-endpoints/{id}/rotate-secret",
            api_rotate_webhook_secret
        ),
        route!(
            GET,
            "/v1/webhook-endpoints/{id}/deliveries",
            api_list_webhook_deliveries
        ),
        route!(
            POST,
            "/v1/webhook-endpoints/{id}/replay",
            api_replay_webhook_endpoint
        ),
        route!(
            POST,
            "/v1/webhook-deliveries/{id}/retry",
            api_retry_webhook_delivery
        ),
    ]
}

/// The WebSocket API's functions (`$connect`, `$disconnect`): the dev server serves their
/// protocol at `GET /v1/realtime` (`crate::realtime`), through the same use case.
pub const WEBSOCKET_FUNCTIONS: [&str; 2] = [ws_connect::FUNCTION, ws_disconnect::FUNCTION];

/// The queue consumers.
pub fn consumers() -> Vec<Consumer> {
    vec![
        Consumer {
            queue: QueueName::Inbound,
            function: worker_inbound::FUNCTION,
            handler: queue_fn(
                |app, batch| async move { worker_inbound::handle(&app, batch).await },
            ),
        },
        Consumer {
            queue: QueueName::Outbound,
            function: worker_outbound::FUNCTION,
            handler: queue_fn(
                |app, batch| async move { worker_outbound::handle(&app, batch).await },
            ),
        },
        Consumer {
            queue: QueueName::Billing,
            function: worker_billing::FUNCTION,
            handler: queue_fn(
                |app, batch| async move { worker_billing::handle(&app, batch).await },
            ),
        },
        Consumer {
            queue: QueueName::Import,
            function: worker_import::FUNCTION,
            handler: queue_fn(|app, batch| async move { worker_import::handle(&app, batch).await }),
        },
        Consumer {
            queue: QueueName::Email,
            function: worker_email::FUNCTION,
            handler: queue_fn(|app, batch| async move { worker_email::handle(&app, batch).await }),
        },
        Consumer {
            queue: QueueName::Ai,
            function: worker_ai::FUNCTION,
            handler: queue_fn(|app, batch| async move { worker_ai::handle(&app, batch).await }),
        },
        Consumer {
            queue: QueueName::WebhookRetries,
            function: worker_webhook_retries::FUNCTION,
            handler: queue_fn(|app, batch| async move {
                worker_webhook_retries::handle(&app, batch).await
            }),
        },
        Consumer {
            queue: QueueName::Webhooks,
            function: worker_webhooks::FUNCTION,
            handler: queue_fn(
                |app, batch| async move { worker_webhooks::handle(&app, batch).await },
            ),
        },
        Consumer {
            queue: QueueName::Campaign,
            function: worker_campaigns::FUNCTION,
            handler: queue_fn(
                |app, batch| async move { worker_campaigns::handle(&app, batch).await },
            ),
        },
        Consumer {
            queue: QueueName::Realtime,
            function: worker_realtime::FUNCTION,
            handler: queue_fn(
                |app, batch| async move { worker_realtime::handle(&app, batch).await },
            ),
        },
    ]
}

/// The scheduled jobs: the usage report every `USAGE_REPORT_INTERVAL_SECS`, the
/// outbound sweep every five minutes, the account sync daily, the erasures' continuation
/// the snooze sweep every minute, the campaign and sequence schedules every
/// `CAMPAIGNS_INTERVAL_SECS` and `SEQUENCES_INTERVAL_SECS` (a minute by default) and the
/// reminders every `REMINDERS_INTERVAL_SECS` (15 minutes by default; as `template.yaml`
/// schedules them).
pub fn schedules(config: &switchboard_runtime::config::Config) -> Vec<Schedule> {
    let usage_report_every = config.usage_report_every;
    let campaigns_every = config.campaigns_every;
    let sequences_every = config.sequences_every;
    vec![
        Schedule {
            function: cron_usage_report::FUNCTION,
            every: usage_report_every,
            handler: cron_fn(|app, now| async move { cron_usage_report::handle(&app, now).await }),
        },
        Schedule {
            function: cron_outbound_sweep::FUNCTION,
            every: Duration::from_secs(300),
            handler: cron_fn(
                |app, now| async move { cron_outbound_sweep::handle(&app, now).await },
            ),
        },
        Schedule {
            function: cron_erasure::FUNCTION,
            every: Duration::from_secs(60),
            handler: cron_fn(|app, now| async move { cron_erasure::handle(&app, now).await }),
        },
        Schedule {
            function: cron_account_sync::FUNCTION,
            every: Duration::from_secs(86_400),
            handler: cron_fn(|app, now| async move { cron_account_sync::handle(&app, now).await }),
        },
        Schedule {
            function: cron_snooze_sweep::FUNCTION,
            every: Duration::from_secs(60),
            handler: cron_fn(|app, now| async move { cron_snooze_sweep::handle(&app, now).await }),
        },
        Schedule {
            function: cron_campaigns::FUNCTION,
            every: campaigns_every,
            handler: cron_fn(|app, now| async move { cron_campaigns::handle(&app, now).await }),
        },
        Schedule {
            function: cron_sequences::FUNCTION,
            every: sequences_every,
            handler: cron_fn(|app, now| async move { cron_sequences::handle(&app, now).await }),
        },
        Schedule {
            function: cron_reminders::FUNCTION,
            every: config.reminders_every,
            handler: cron_fn(|app, now| async move { cron_reminders::handle(&app, now).await }),
        },
    ]
}
