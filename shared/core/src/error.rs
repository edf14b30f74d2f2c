//! The domain error: what went wrong, in terms a caller (HTTP, queue, CLI) can act on.
//!
//! The runtime maps each variant to one HTTP status and JSON body; queue consumers ask
//! [`Error::is_retryable`]. Infrastructure errors keep their cause for the log but
//! never reach a response body.

use crate::cipher::CipherError;
use crate::queue::QueueError;
use crate::secrets::SecretsError;
use crate::store::StoreError;

/// A domain error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist in the caller's org (also for other orgs' resources:
    /// the two are indistinguishable by design).
    #[error("{resource} not found")]
    NotFound {
        /// What was looked for (`conversation`, `integration`, …).
        resource: &'static str,
    },
    /// A request field is invalid (422).
    #[error("{field}: {message}")]
    Validation {
        /// The offending field, as named in the request (`text.body`, `limit`, …).
        field: String,
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable message.
        message: String,
    },
    /// The request conflicts with current state (409).
    #[error("{message}")]
    Conflict {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable message.
        message: String,
    },
    /// The request's precondition (`If-Match`) does not hold: the resource changed since
    /// the caller read it (412).
    #[error("{message}")]
    PreconditionFailed {
        /// Human-readable message.
        message: String,
    },
    /// The caller's role does not allow this (403).
    #[error("{message}")]
    Forbidden {
        /// Human-readable message.
        message: String,
    },
    /// The plan or subscription does not allow this (402).
    #[error("{message}")]
    PaymentRequired {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable message.
        message: String,
    },
    /// A provider integration is not configured on this deployment (503).
    #[error("{what} is not configured")]
    NotConfigured {
        /// What is missing.
        what: String,
    },
    /// A provider refused or failed (502); `retryable` says whether trying again may
    /// help.
    #[error("provider error: {message}")]
    Provider {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable message (safe to show: no secrets, no raw bodies).
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
    /// A dependency is briefly unavailable and the request may be retried as is (503
    /// with `Retry-After`); the message says what a retry will do.
    #[error("{message}")]
    Unavailable {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable message.
        message: String,
    },
    /// The item store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The cipher failed.
    #[error(transparent)]
    Cipher(#[from] CipherError),
    /// The secret store failed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// A broken invariant (a bug): logged in full, answered as an opaque 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A validation error.
    pub fn validation(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Error::Validation {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// A not-found error.
    pub fn not_found(resource: &'static str) -> Self {
        Error::NotFound { resource }
    }

    /// The machine-readable code the API answers this error with (`internal` for what
    /// it answers as an opaque 500).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Validation { code, .. }
            | Error::Conflict { code, .. }
            | Error::PaymentRequired { code, .. }
            | Error::Provider { code, .. }
            | Error::Unavailable { code, .. } => code,
            Error::PreconditionFailed { .. } => "precondition_failed",
            Error::Forbidden { .. } => "forbidden",
            Error::NotConfigured { .. } => "not_configured",
            Error::Store(StoreError::Throttled) | Error::Store(StoreError::Conflict) => {
                "unavailable"
            }
            _ => "internal",
        }
    }

    /// Whether a queue consumer should retry the work that failed with this error.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::Queue(_) | Error::Secrets(_) => true,
            Error::Cipher(CipherError::Unavailable(_)) => true,
            Error::Provider { retryable, .. } => *retryable,
            Error::NotConfigured { .. } | Error::Unavailable { .. } => true,
            _ => false,
        }
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
