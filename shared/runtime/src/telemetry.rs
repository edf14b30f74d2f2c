//! Logging: JSON lines on Lambda (CloudWatch parses them), human-readable on the dev
//! server unless `SWITCHBOARD_LOG_FORMAT=json`. `RUST_LOG` filters (default `info`).

use tracing_subscriber::EnvFilter;

/// Log output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Text for terminals.
    Pretty,
}

/// Installs the global subscriber once; later calls do nothing (tests call it freely).
pub fn init(format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_ansi(false)
            .try_init(),
        Format::Pretty => builder.compact().try_init(),
    };
}

/// The format chosen by `SWITCHBOARD_LOG_FORMAT` (default: `default`).
pub fn format_from_env(default: Format) -> Format {
    match std::env::var("SWITCHBOARD_LOG_FORMAT").as_deref() {
        Ok("json") => Format::Json,
        Ok("pretty") | Ok("text") => Format::Pretty,
        _ => default,
    }
}
