//! The port that delivers platform events to the orgs' own webhook endpoints: one HTTPS
//! POST, at most a timeout long, that never follows a redirect and never reaches a
//! loopback, private, link-local or cloud-metadata address (checked on the addresses the
//! name resolves to at delivery time, so a DNS name cannot point it inside).

use std::time::Duration;

use async_trait::async_trait;

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The endpoint's URL.
    pub url: String,
    /// Headers besides `content-type: application/json` (the signature headers).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
    /// The longest the attempt may take (connect, send, answer).
    pub timeout: Duration,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The endpoint answered (any status; a 3xx is not followed).
    Answered {
        /// Status code.
        status: u16,
        /// Milliseconds from the request to the answer's status line.
        latency_ms: u64,
    },
    /// The URL is not allowed (scheme, address): nothing was sent.
    Refused {
        /// Why (`private_address`, `loopback`, `scheme`, …; no address in it).
        reason: String,
    },
    /// No answer: timeout, DNS, connection or TLS failure.
    Failed {
        /// A short code (`timeout`, `dns`, `connect`, `tls`, `io`).
        error: String,
        /// Milliseconds spent.
        latency_ms: u64,
    },
}

impl WebhookOutcome {
    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        matches!(self, WebhookOutcome::Answered { status, .. } if (200..300).contains(status))
    }
}

/// Delivers webhooks.
#[async_trait]
pub trait WebhookHttp: Send + Sync + std::fmt::Debug {
    /// Makes one attempt.
    async fn post(&self, request: WebhookRequest) -> WebhookOutcome;
}
