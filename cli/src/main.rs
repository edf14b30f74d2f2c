//! `switchboard`: run the dev server, mint dev tokens, manage dead letters and events.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use switchboard_cli::commands::{self, Common};
use switchboard_runtime::telemetry;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: the integrations backend of a WhatsApp-first CRM"
)]
struct Cli {
    /// Global: accepted before or after the subcommand (`switchboard --backend aws dlq list
    /// inbound` and `switchboard dlq list inbound --backend aws` are the same).
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// Data directory of the embedded backend and the dev signing key.
    #[arg(long, global = true, env = "SWITCHBOARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `local` (SQLite, default) or `aws` (DynamoDB/SQS/KMS/Secrets Manager; honours AWS_ENDPOINT_URL).
    #[arg(long, global = true, env = "SWITCHBOARD_BACKEND")]
    backend: Option<String>,
}

impl CommonArgs {
    fn common(&self) -> Common {
        Common {
            data_dir: self.data_dir.clone(),
            backend: self.backend.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run every handler locally: HTTP routes, queue consumers, schedules.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
    },
    /// Print a JWT the dev server trusts (and nothing else), e.g. TOKEN=$(switchboard token --org acme --role admin).
    Token {
        /// Org id.
        #[arg(long)]
        org: String,
        /// owner, admin, agent or viewer.
        #[arg(long)]
        role: String,
        /// Subject (user id).
        #[arg(long, default_value = "dev-user")]
        user: String,
        /// Lifetime: 90s, 30m, 12h, 7d.
        #[arg(long, default_value = "12h")]
        ttl: String,
    },
    /// Dead-letter queues: list or redrive.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Stored webhook events: unroutable (no org owns the number) and pending ones.
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Outbound sends stored but never handed to the queue (a crash or queue outage between the two).
    Messages {
        #[command(subcommand)]
        action: MessagesAction,
    },
    /// Conversations: `reindex --org <org>` writes the filtered inbox's list entries of conversations stored before they existed.
    Conversations {
        #[command(subcommand)]
        action: ConversationsAction,
    },
    /// Print the X-Hub-Signature-256 header for a payload file, using WHATSAPP_APP_SECRET.
    Sign {
        /// The payload file.
        file: PathBuf,
    },
    /// Create the template's table, queues and a KMS key on AWS_ENDPOINT_URL (moto or a sandbox); prints exports.
    AwsBootstrap {
        /// The SAM template.
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
        /// Resource name prefix.
        #[arg(long, default_value = "switchboard-dev")]
        prefix: String,
    },
    /// Print exports for a deployed stack (its outputs and parameters): eval "$(switchboard aws-env --stack switchboard)".
    AwsEnv {
        /// The CloudFormation stack (samconfig.toml's stack_name).
        #[arg(long)]
        stack: String,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead letters (JSON lines) of inbound, outbound or billing.
    List {
        queue: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Move dead letters back to their queue.
    Redrive {
        queue: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Subcommand)]
enum EventsAction {
    /// List events no org could take (JSON lines).
    Unroutable {
        #[arg(long, default_value = "whatsapp")]
        provider: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Queue them again (after connecting the number).
        #[arg(long)]
        redrive: bool,
    },
    /// List events stored but not yet processed; `--requeue` queues them again.
    Pending {
        #[arg(long, default_value = "whatsapp")]
        provider: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        requeue: bool,
    },
}

#[derive(Subcommand)]
enum MessagesAction {
    /// List sends still waiting for their enqueue (JSON lines); `--requeue` hands them to the queue.
    Pending {
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only sends that have waited at least this long (30s, 5m, 1h).
        #[arg(long, default_value = "1m")]
        older_than: String,
        #[arg(long)]
        requeue: bool,
    },
}

#[derive(Subcommand)]
enum ConversationsAction {
    /// Write the list entries (status, priority, assignee, labels) of every conversation of an org.
    Reindex {
        /// Org id.
        #[arg(long)]
        org: String,
    },
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { addr } => {
            telemetry::init(telemetry::format_from_env(telemetry::Format::Pretty));
            let app = match commands::app(&cli.common.common()).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            let running = match switchboard_cli::serve::start(app.clone(), addr).await {
                Ok(r) => r,
                Err(e) => return fail(format!("cannot listen on {addr}: {e}")),
            };
            switchboard_cli::serve::log_startup(&app, running.addr).await;
            let trigger = running.trigger();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down: finishing in-flight work");
                let _ = trigger.send(true);
            });
            running.wait().await;
            // Error reports still queued go out before the process ends.
            switchboard_runtime::error_reporting::flush(
                switchboard_runtime::error_reporting::FLUSH_TIMEOUT,
            )
            .await;
            ExitCode::SUCCESS
        }
        Command::Token {
            org,
            role,
            user,
            ttl,
        } => {
            let ttl = match commands::parse_duration(&ttl) {
                Ok(t) => t,
                Err(e) => return fail(format!("--ttl: {e}")),
            };
            match commands::token(&cli.common.common(), &org, &role, &user, ttl) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Dlq { action } => {
            telemetry::init(telemetry::Format::Pretty);
            let (queue, limit, redrive) = match &action {
                DlqAction::List { queue, limit } => (queue, *limit, false),
                DlqAction::Redrive { queue, limit } => (queue, *limit, true),
            };
            let queue = match commands::queue_name(queue) {
                Ok(q) => q,
                Err(e) => return fail(e),
            };
            let app = match commands::app(&cli.common.common()).await {
                Ok(a) => a,
                Err(e) => return fail(e),
            };
            if redrive {
                match commands::dlq_redrive(&app, queue, limit).await {
                    Ok(n) => {
                        println!("redrove {n} message(s) to {queue}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            } else {
                match commands::dlq_list(&app, queue, limit).await {
                    Ok(lines) => {
                        for l in lines {
                            println!("{l}");
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            }
        }
        Command::Events { action } => {
            telemetry::init(telemetry::Format::Pretty);
            let (provider, limit, act, pending) = match &action {
                EventsAction::Unroutable {
                    provider,
                    limit,
                    redrive,
                } => (provider, *limit, *redrive, false),
                EventsAction::Pending {
                    provider,
                    limit,
                    requeue,
                } => (provider, *limit, *requeue, true),
            };
            let provider = match commands::provider(provider) {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            let app = match commands::app(&cli.common.common()).await {
                Ok(a) => a,
                Err(e) => return fail(e),
            };
            if act {
                match commands::events_requeue(&app, provider, pending, limit).await {
                    Ok(n) => {
                        println!("queued {n} event(s) again");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            } else {
                match commands::events_list(&app, provider, pending, limit).await {
                    Ok(lines) => {
                        for l in lines {
                            println!("{l}");
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            }
        }
        Command::Messages {
            action:
                MessagesAction::Pending {
                    limit,
                    older_than,
                    requeue,
                },
        } => {
            telemetry::init(telemetry::Format::Pretty);
            let older_than = match commands::parse_duration(&older_than) {
                Ok(d) => d,
                Err(e) => return fail(format!("--older-than: {e}")),
            };
            let app = match commands::app(&cli.common.common()).await {
                Ok(a) => a,
                Err(e) => return fail(e),
            };
            if requeue {
                match commands::messages_requeue(&app, older_than, limit).await {
                    Ok(n) => {
                        println!("handed {n} send(s) to the outbound queue");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            } else {
                match commands::messages_pending(&app, older_than, limit).await {
                    Ok(lines) => {
                        for l in lines {
                            println!("{l}");
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            }
        }
        Command::Conversations {
            action: ConversationsAction::Reindex { org },
        } => {
            telemetry::init(telemetry::Format::Pretty);
            let app = match commands::app(&cli.common.common()).await {
                Ok(a) => a,
                Err(e) => return fail(e),
            };
            match commands::conversations_reindex(&app, &org).await {
                Ok(n) => {
                    println!("indexed {n} conversation(s) of {org}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Sign { file } => {
            let secret = match std::env::var("WHATSAPP_APP_SECRET") {
                Ok(s) if !s.is_empty() => s,
                _ => return fail("set WHATSAPP_APP_SECRET to the app secret the server uses"),
            };
            match commands::sign_whatsapp(&secret, &file) {
                Ok(h) => {
                    println!("{h}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::AwsBootstrap { template, prefix } => {
            telemetry::init(telemetry::Format::Pretty);
            match commands::aws_bootstrap(&template, &prefix).await {
                Ok(lines) => {
                    for l in lines {
                        println!("{l}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        // No logging set up: stdout carries only the exports.
        Command::AwsEnv { stack } => match switchboard_cli::aws_env::aws_env(&stack).await {
            Ok(lines) => {
                for l in lines {
                    println!("{l}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
