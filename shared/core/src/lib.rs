//! Switchboard's domain: identifiers, records, the ports every backend implements
//! (item store, queue, cipher, secrets, clock, provider APIs) and the use cases written
//! once on top of them.
//!
//! Nothing here knows AWS, Lambda, SQLite or HTTP clients; the runtime crate wires
//! concrete backends into [`services::Services`].

pub mod billing;
pub mod cipher;
pub mod clock;
pub mod email;
pub mod error;
pub mod files;
pub mod ids;
pub mod llm;
pub mod meta_app;
pub mod metrics;
pub mod model;
pub mod objects;
pub mod page;
pub mod privacy;
pub mod queue;
pub mod realtime;
pub mod recent;
pub mod record;
pub mod retry;
pub mod secrets;
pub mod send_api;
pub mod services;
pub mod store;
pub mod stripe;
pub mod triage;
pub mod usecases;
pub mod webhook_http;
pub mod whatsapp;

pub use error::{Error, Result};
