//! Use cases: what Switchboard does, written once on top of the ports.

pub mod accounts;
pub mod audit;
pub mod automated;
pub mod billing;
pub mod campaigns;
pub mod compose;
pub mod contacts;
pub mod events;
pub mod imports;
pub mod inbound;
pub mod inbox;
pub mod ingest;
pub mod integrations;
pub mod media;
pub mod messaging;
pub mod notes;
pub mod opt_out;
pub mod outbound;
pub mod pacing;
pub mod personal_data;
pub mod quick_replies;
pub mod sequences;
pub mod templates;
pub mod triage;
pub mod users;
