//! The metrics registry behind the core's [`Metrics`] port, with two outputs:
//!
//! - **CloudWatch embedded metric format** on Lambda: after each invocation the counts
//!   recorded since the last flush are written as EMF documents on stdout (the function's
//!   log), one per dimension value. CloudWatch extracts the metrics from the log, so
//!   there is no API call, no agent and nothing that can fail an invocation.
//! - **Prometheus text** on the dev server (`GET /metrics`): running totals since start.
//!
//! Both come from one in-memory table, so the dev server shows exactly what a Lambda
//! would publish.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use serde_json::{Map, Value, json};
use switchboard_core::metrics::{Kind, Metric, Metrics};

/// CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Switchboard";

/// EMF takes at most 100 values of one metric in one document.
const MAX_VALUES: usize = 100;

type Key = (Metric, Option<String>);

#[derive(Debug, Default, Clone)]
struct Series {
    /// Sum of counts, or of samples.
    sum: f64,
    /// Number of samples (distributions).
    samples: u64,
    /// Largest sample.
    max: f64,
    /// Samples since the last flush (distributions only, capped).
    pending: Vec<f64>,
    /// Count since the last flush.
    pending_count: u64,
}

/// In-memory metrics: running totals plus what has not been flushed yet.
#[derive(Debug, Default)]
pub struct Registry {
    series: Mutex<BTreeMap<Key, Series>>,
}

impl Metrics for Registry {
    fn count(&self, metric: Metric, value: Option<&str>, n: u64) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = series
            .entry((metric, value.map(str::to_owned)))
            .or_default();
        s.sum += n as f64;
        s.pending_count += n;
    }

    fn observe(&self, metric: Metric, value: Option<&str>, sample: f64) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = series
            .entry((metric, value.map(str::to_owned)))
            .or_default();
        s.sum += sample;
        s.samples += 1;
        s.max = s.max.max(sample);
        if s.pending.len() < MAX_VALUES {
            s.pending.push(sample);
        }
        s.pending_count += 1;
    }
}

impl Registry {
    /// The EMF documents for everything recorded since the last flush (one JSON object
    /// per line to write), and forgets it. `function` becomes a property of every
    /// document (searchable in Logs Insights, not a dimension, so alarms span functions).
    pub fn flush_emf(&self, function: &str, now_ms: i64) -> Vec<String> {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        // One document per dimension value: metrics without a dimension share one.
        let mut documents: BTreeMap<Option<(&'static str, String)>, Map<String, Value>> =
            BTreeMap::new();
        for ((metric, value), s) in series.iter_mut() {
            if s.pending_count == 0 {
                continue;
            }
            let dimension = metric.dimension().zip(value.clone());
            let doc = documents.entry(dimension.clone()).or_insert_with(|| {
                let mut doc = Map::new();
                doc.insert("function".into(), Value::String(function.to_owned()));
                if let Some((name, value)) = &dimension {
                    doc.insert((*name).to_owned(), Value::String(value.clone()));
                }
                doc
            });
            let recorded = match metric.kind() {
                Kind::Count => json!(s.pending_count),
                Kind::Distribution => json!(std::mem::take(&mut s.pending)),
            };
            doc.insert(metric.name().to_owned(), recorded);
            s.pending_count = 0;
        }
        documents
            .into_iter()
            .map(|(dimension, mut doc)| {
                let metrics: Vec<Value> = Metric::ALL
                    .iter()
                    .filter(|m| doc.contains_key(m.name()))
                    .map(|m| json!({"Name": m.name(), "Unit": m.unit()}))
                    .collect();
                let dimensions = match &dimension {
                    Some((name, _)) => json!([[name]]),
                    None => json!([[]]),
                };
                doc.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": now_ms,
                        "CloudWatchMetrics": [{
                            "Namespace": NAMESPACE,
                            "Dimensions": dimensions,
                            "Metrics": metrics,
                        }],
                    }),
                );
                Value::Object(doc).to_string()
            })
            .collect()
    }

    /// Running totals in the Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for metric in Metric::ALL {
            let rows: Vec<(&Option<String>, &Series)> = series
                .iter()
                .filter(|((m, _), _)| *m == metric)
                .map(|((_, v), s)| (v, s))
                .collect();
            let name = metric.prometheus_name();
            let kind = match metric.kind() {
                Kind::Count => "counter",
                Kind::Distribution => "summary",
            };
            let _ = writeln!(out, "# HELP {name} {}", metric.help());
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let label = |value: &Option<String>| match (metric.dimension(), value) {
                (Some(dim), Some(v)) => format!(
                    "{{{}=\"{}\"}}",
                    dim.to_ascii_lowercase(),
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                ),
                _ => String::new(),
            };
            for (value, s) in rows {
                let labels = label(value);
                match metric.kind() {
                    Kind::Count => {
                        let _ = writeln!(out, "{name}{labels} {}", s.sum);
                    }
                    Kind::Distribution => {
                        let _ = writeln!(out, "{name}_sum{labels} {}", s.sum);
                        let _ = writeln!(out, "{name}_count{labels} {}", s.samples);
                        let _ = writeln!(out, "{name}_max{labels} {}", s.max);
                    }
                }
            }
        }
        out
    }

    /// The running total of a count (tests and the dev server's summary).
    pub fn total(&self, metric: Metric, value: Option<&str>) -> f64 {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        series
            .get(&(metric, value.map(str::to_owned)))
            .map_or(0.0, |s| s.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_documents_per_dimension_value_then_nothing_until_more_is_recorded() {
        let r = Registry::default();
        r.count(Metric::WebhookDeliveries, Some("whatsapp"), 1);
        r.count(Metric::WebhookEvents, Some("whatsapp"), 3);
        r.count(Metric::Sends, Some("sent"), 2);
        r.count(Metric::PacingDeferrals, None, 1);
        r.observe(Metric::QueueAge, Some("outbound"), 120.0);
        r.observe(Metric::QueueAge, Some("outbound"), 80.0);
        let docs: Vec<Value> = r
            .flush_emf("worker-outbound", 1_700_000_000_000)
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 4, "{docs:?}");
        let whatsapp = docs.iter().find(|d| d["Provider"] == "whatsapp").unwrap();
        assert_eq!(whatsapp["WebhookDeliveries"], 1);
        assert_eq!(whatsapp["WebhookEvents"], 3);
        assert_eq!(whatsapp["function"], "worker-outbound");
        let aws = &whatsapp["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(aws["Namespace"], "Switchboard");
        assert_eq!(aws["Dimensions"], json!([["Provider"]]));
        assert_eq!(aws["Metrics"].as_array().unwrap().len(), 2);
        assert_eq!(whatsapp["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let age = docs.iter().find(|d| d["Queue"] == "outbound").unwrap();
        assert_eq!(age["QueueAge"], json!([120.0, 80.0]));
        assert_eq!(
            age["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Milliseconds"
        );
        let plain = docs
            .iter()
            .find(|d| d.get("PacingDeferrals").is_some())
            .unwrap();
        assert_eq!(
            plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert!(r.flush_emf("worker-outbound", 0).is_empty(), "flushed once");
        r.count(Metric::Sends, Some("sent"), 1);
        assert_eq!(r.flush_emf("worker-outbound", 0).len(), 1);
        assert_eq!(
            r.total(Metric::Sends, Some("sent")),
            3.0,
            "totals keep running"
        );
    }

    #[test]
    fn prometheus_text() {
        let r = Registry::default();
        r.count(Metric::Sends, Some("sent"), 2);
        r.count(Metric::Sends, Some("retrying"), 1);
        r.observe(Metric::QueueAge, Some("inbound"), 40.0);
        r.observe(Metric::QueueAge, Some("inbound"), 60.0);
        let text = r.prometheus();
        assert!(
            text.contains("# TYPE switchboard_sends_total counter"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_sends_total{outcome=\"sent\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_sends_total{outcome=\"retrying\"} 1"),
            "{text}"
        );
        assert!(text.contains("switchboard_queue_age_milliseconds_sum{queue=\"inbound\"} 100"));
        assert!(text.contains("switchboard_queue_age_milliseconds_count{queue=\"inbound\"} 2"));
        assert!(text.contains("# TYPE switchboard_pacing_deferrals_total counter"));
    }
}
