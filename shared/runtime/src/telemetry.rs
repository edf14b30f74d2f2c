//! Logging: one flat JSON object per line on Lambda (CloudWatch Logs Insights reads the
//! fields directly), human-readable on the dev server unless `SWITCHBOARD_LOG_FORMAT=json`.
//! `RUST_LOG` filters (default `info`).
//!
//! Every JSON line carries the fields of the spans it was logged in, flattened to the top
//! level: on Lambda the runtime's invocation span gives `requestId` and `xrayTraceId`, the
//! adapters add `function` and `correlation_id`, consumers add the queue message's ids. So
//! one Logs Insights query (`filter correlation_id = "…"`) follows a message from the
//! webhook delivery or API request that started it, through the queue, to the provider
//! call — across functions.

use std::io;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Log output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Text for terminals.
    Pretty,
}

/// The default filter: our own logs at `info`, chatty dependencies at `warn`.
pub const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

/// Installs the global subscriber once; later calls do nothing (tests call it freely).
pub fn init(format: Format) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = match format {
        Format::Json => tracing_subscriber::registry()
            .with(filter)
            .with(json_layer(io::stdout))
            .try_init(),
        Format::Pretty => tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_target(false),
            )
            .try_init(),
    };
}

/// The flat-JSON layers writing to `writer` (also what the log scan test captures).
pub fn json_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    SpanFields.and_then(
        tracing_subscriber::fmt::layer()
            .event_format(FlatJson)
            .with_writer(writer),
    )
}

/// The format chosen by `SWITCHBOARD_LOG_FORMAT` (default: `default`).
pub fn format_from_env(default: Format) -> Format {
    match std::env::var("SWITCHBOARD_LOG_FORMAT").as_deref() {
        Ok("json") => Format::Json,
        Ok("pretty") | Ok("text") => Format::Pretty,
        _ => default,
    }
}

/// The recorded fields of a span, kept in its extensions.
#[derive(Debug, Default)]
struct Fields(Map<String, Value>);

/// Records span fields as JSON values so events can carry them flattened.
struct SpanFields;

impl<S> Layer<S> for SpanFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut Visitor(&mut fields.0));
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<Fields>() {
            values.record(&mut Visitor(&mut fields.0));
        }
    }
}

/// Writes an event as one JSON object: time, level, message, the fields of every span
/// it is in (outermost first, so an inner span's value wins), then its own fields.
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut map = Map::new();
        map.insert(
            "timestamp".into(),
            Value::String(
                chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string(),
            ),
        );
        map.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<Fields>() {
                    for (k, v) in &fields.0 {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        event.record(&mut Visitor(&mut map));
        map.insert(
            "target".into(),
            Value::String(event.metadata().target().to_owned()),
        );
        writeln!(writer, "{}", Value::Object(map))
    }
}

struct Visitor<'a>(&'a mut Map<String, Value>);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn lines_carry_the_fields_of_every_enclosing_span_flattened() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            // What lambda_runtime opens per invocation, then what our adapters add.
            let invoke = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                xrayTraceId = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700"
            );
            let _i = invoke.enter();
            let send = tracing::info_span!(
                "send",
                function = "worker-outbound",
                correlation_id = "req-123",
                org_id = tracing::field::Empty
            );
            let _s = send.enter();
            send.record("org_id", "acme");
            tracing::info!(attempt = 2u64, "sent");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(
            line["xrayTraceId"],
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700"
        );
        assert_eq!(line["function"], "worker-outbound");
        assert_eq!(line["correlation_id"], "req-123");
        assert_eq!(line["org_id"], "acme", "recorded after the span opened");
        assert_eq!(line["message"], "sent");
        assert_eq!(line["attempt"], 2);
        assert_eq!(line["level"], "INFO");
    }
}
