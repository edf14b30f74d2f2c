//! The port to Stripe's API: the few calls billing makes.

use async_trait::async_trait;
use serde_json::Value;

use crate::ids::OrgId;

/// A failed Stripe call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// No API key is configured.
    #[error("the Stripe API key is not configured")]
    NotConfigured,
    /// Stripe answered with an error object.
    #[error("stripe error (http {status}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stripe's error `code` or `type`.
        code: Option<String>,
        /// Stripe's message (never contains our key).
        message: String,
        /// Whether a retry may succeed (`Stripe-Should-Retry`, 429, 5xx).
        retryable: bool,
    },
    /// The request did not complete.
    #[error("stripe unreachable: {0}")]
    Transport(String),
}

impl StripeError {
    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            StripeError::NotConfigured => false,
            StripeError::Api { retryable, .. } => *retryable,
            StripeError::Transport(_) => true,
        }
    }

    /// Whether Stripe said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StripeError::Api { status: 404, .. })
    }
}

/// A Checkout Session to create.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    /// The org subscribing (client_reference_id and metadata).
    pub org: &'a OrgId,
    /// Existing customer.
    pub customer: &'a str,
    /// The plan's price.
    pub price: &'a str,
    /// Where Stripe sends the user after paying.
    pub success_url: &'a str,
    /// Where Stripe sends the user if they cancel.
    pub cancel_url: &'a str,
}

/// Stripe's API, as billing uses it. Every POST carries an idempotency key.
#[async_trait]
pub trait StripeApi: Send + Sync + std::fmt::Debug {
    /// Creates a customer for an org (metadata `org_id`); returns `cus_…`.
    async fn create_customer(
        &self,
        org: &OrgId,
        idempotency_key: &str,
    ) -> Result<String, StripeError>;

    /// Creates a subscription-mode Checkout Session; returns its URL.
    async fn create_checkout_session(
        &self,
        req: &CheckoutRequest<'_>,
        idempotency_key: &str,
    ) -> Result<String, StripeError>;

    /// Creates a Billing Portal session; returns its URL.
    async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, StripeError>;

    /// Reads a subscription as it is now.
    async fn get_subscription(&self, id: &str) -> Result<Value, StripeError>;

    /// Reports usage to a billing meter; `identifier` makes retries harmless.
    async fn create_meter_event(
        &self,
        event_name: &str,
        customer: &str,
        value: u64,
        identifier: &str,
        timestamp: i64,
    ) -> Result<(), StripeError>;
}
