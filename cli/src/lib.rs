//! The `switchboard` command: the dev server that runs every Lambda handler in one
//! process, and the tools around it (dev tokens, dead letters, stored events, signing,
//! AWS bootstrap and the environment of a deployed stack).

pub mod aws_env;
pub mod commands;
pub mod realtime;
pub mod routes;
pub mod serve;
