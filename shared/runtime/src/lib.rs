//! The runtime around Switchboard's handlers: typed config, `App` wiring of the ports
//! for either backend, JWT authentication, HTTP helpers and error mapping, and the
//! adapters that run handlers on Lambda or in the dev server.
//!
//! Handlers are plain async functions: HTTP `fn(&App, Request) -> Response`, queue
//! `fn(&App, Vec<ReceivedMessage>) -> BatchOutcome`, cron `fn(&App, now) -> Summary`.

pub mod app;
pub mod auth;
pub mod cloud_api;
pub mod config;
pub mod error_reporting;
pub mod http;
pub mod jwt_crypto;
pub mod lambda;
pub mod local;
pub mod metrics;
pub mod objects;
pub mod queue;
pub mod realtime;
pub use switchboard_core::recent;
pub mod telemetry;

pub use app::App;
pub use http::{ApiError, Request, Response};
