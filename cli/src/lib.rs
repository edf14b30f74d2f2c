//! The `switchboard` command: the dev server that runs every Lambda handler in one
//! process, and the tools around it (dev tokens, dead letters, stored events, signing,
//! AWS bootstrap).

pub mod commands;
pub mod routes;
pub mod serve;
