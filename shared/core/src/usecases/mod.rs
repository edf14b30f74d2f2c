//! Use cases: what Switchboard does, written once on top of the ports.

pub mod audit;
pub mod billing;
pub mod compose;
pub mod events;
pub mod inbound;
pub mod inbox;
pub mod ingest;
pub mod integrations;
pub mod outbound;
pub mod pacing;
