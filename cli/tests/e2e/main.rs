//! End-to-end tests: the dev server on a random port (embedded backend, and moto for
//! the AWS backend), driven like Meta and the CRM frontend drive a deployment.

mod support;

mod ai;
mod api_keys;
mod audit;
mod aws_env;
mod bad_input;
mod billing;
mod campaigns;
mod cli_flags;
mod contacts;
mod emails;
mod imports;
mod inbound;
mod integrations;
mod kapso;
mod media;
mod messaging;
mod observability;
mod opt_out;
mod outbound;
mod personal_data;
mod platform_events;
mod quick_replies;
mod rate_limits;
mod realtime;
mod reminders;
mod resilience;
mod samples;
mod signup;
mod template;
mod templates;
mod time_and_faults;
mod triage;
mod webhook_notice;
mod webhooks_out;
