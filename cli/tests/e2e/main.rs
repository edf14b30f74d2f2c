//! End-to-end tests: the dev server on a random port (embedded backend, and moto for
//! the AWS backend), driven like Meta and the CRM frontend drive a deployment.

mod support;

mod aws_env;
mod audit;
mod bad_input;
mod billing;
mod cli_flags;
mod inbound;
mod integrations;
mod observability;
mod outbound;
mod resilience;
mod samples;
mod template;
mod time_and_faults;
