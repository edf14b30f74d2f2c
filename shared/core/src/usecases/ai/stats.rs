//! The AI log and the A/B readout (`GET /v1/ai/stats?from&to`).
//!
//! Every model call and every outcome of a reply (sent, drafted, accepted, edited,
//! rejected, handed off, failed) is one small entry in the org's AI log partition, keyed
//! by time. The entries hold ids, the variant, the model, latency and token counts: never
//! a prompt, a reply or anything about the customer, so they outlive an erasure safely.
//! The readout reads the entries of a time range and folds them per variant.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::warn;

use crate::clock::{fmt_time, rfc3339_millis};
use crate::error::{Error, Result};
use crate::ids::{OrgId, SuggestionId};
use crate::record::{Record, decode_all, item};
use crate::services::Services;
use crate::store::{Condition, Query, SortKey};

use super::Variant;

/// How long log entries are kept.
pub const LOG_RETENTION_DAYS: i64 = 400;
/// The longest range one readout covers.
pub const MAX_RANGE_DAYS: i64 = 92;
/// The most entries one readout folds (beyond it the readout says it is partial).
pub const MAX_ENTRIES: usize = 200_000;

/// Why a model was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A reply to a customer.
    Reply,
    /// Sentiment, category and language of a customer message.
    Analysis,
    /// A conversation summary.
    Summary,
    /// A message translation.
    Translation,
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// One model call (its outcome in `outcome`).
    Call,
    /// An auto-reply handed to the send path.
    Sent,
    /// A draft stored for an agent.
    Drafted,
    /// A draft sent as it was.
    Accepted,
    /// A draft sent after an agent changed it.
    Edited,
    /// A draft an agent turned down.
    Rejected,
    /// The conversation was handed to a person.
    Handoff,
    /// Neither model gave a usable reply.
    Failed,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Owner.
    pub org_id: OrgId,
    /// Unique within the org's log.
    pub id: String,
    /// When.
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    /// What.
    pub event: Event,
    /// Why the model was called (calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// The contact's variant (replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Variant>,
    /// `provider:name` of the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whether the fallback model was used.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// Call latency, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: u32,
    /// `ok` or the error's code (calls); a reason (failures, rejections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The reply the entry is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion_id: Option<SuggestionId>,
}

fn log_pk(org: &OrgId) -> String {
    format!("{}#LOG", super::ai_pk(org))
}

impl Record for LogEntry {
    fn key(&self) -> (String, String) {
        (
            log_pk(&self.org_id),
            format!("{}#{}", fmt_time(self.at), self.id),
        )
    }

    fn ttl(&self) -> Option<i64> {
        Some((self.at + Duration::days(LOG_RETENTION_DAYS)).timestamp())
    }
}

impl LogEntry {
    /// An entry of `event` at `at`; the other fields are filled by the caller.
    pub fn new(org: &OrgId, event: Event, at: DateTime<Utc>) -> Self {
        Self {
            org_id: org.clone(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            at,
            event,
            purpose: None,
            variant: None,
            model: None,
            fallback: false,
            latency_ms: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            outcome: None,
            suggestion_id: None,
        }
    }

    /// An outcome entry about a reply.
    pub fn outcome(
        org: &OrgId,
        event: Event,
        at: DateTime<Utc>,
        variant: Option<Variant>,
        suggestion: &SuggestionId,
    ) -> Self {
        let mut e = Self::new(org, event, at);
        e.variant = variant;
        e.suggestion_id = Some(suggestion.clone());
        e
    }
}

/// Writes a log entry. The log is a readout, not state: a failed write is logged and
/// never fails the work it describes.
pub async fn record(svc: &Services, entry: &LogEntry) {
    let written = match item(entry, 1) {
        Ok(it) => svc
            .store
            .put(it, Condition::Always)
            .await
            .map_err(Error::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = written {
        warn!(org_id = %entry.org_id, event = ?entry.event, error = %e, "could not write an AI log entry");
    }
}

#[derive(Debug, Default)]
struct Fold {
    calls: u64,
    call_errors: u64,
    fallback_calls: u64,
    latencies: Vec<u64>,
    prompt_tokens: u64,
    completion_tokens: u64,
    sent: u64,
    drafted: u64,
    accepted: u64,
    edited: u64,
    rejected: u64,
    handoffs: u64,
    failed: u64,
}

/// The `q`-quantile (0–1) of sorted values, nearest rank.
fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl Fold {
    fn add(&mut self, e: &LogEntry) {
        match e.event {
            Event::Call => {
                self.calls += 1;
                if e.outcome.as_deref() != Some("ok") {
                    self.call_errors += 1;
                }
                if e.fallback {
                    self.fallback_calls += 1;
                }
                if let Some(ms) = e.latency_ms {
                    self.latencies.push(ms);
                }
                self.prompt_tokens += u64::from(e.prompt_tokens);
                self.completion_tokens += u64::from(e.completion_tokens);
            }
            Event::Sent => self.sent += 1,
            Event::Drafted => self.drafted += 1,
            Event::Accepted => self.accepted += 1,
            Event::Edited => self.edited += 1,
            Event::Rejected => self.rejected += 1,
            Event::Handoff => self.handoffs += 1,
            Event::Failed => self.failed += 1,
        }
    }

    fn view(mut self) -> Value {
        self.latencies.sort_unstable();
        json!({
            "calls": self.calls,
            "call_errors": self.call_errors,
            "fallback_calls": self.fallback_calls,
            "replies_sent": self.sent + self.accepted + self.edited,
            "auto_replies_sent": self.sent,
            "drafts": self.drafted,
            "drafts_accepted": self.accepted,
            "drafts_edited": self.edited,
            "drafts_rejected": self.rejected,
            "handoffs": self.handoffs,
            "failed": self.failed,
            "latency_ms": {
                "p50": quantile(&self.latencies, 0.5),
                "p95": quantile(&self.latencies, 0.95),
            },
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
            },
        })
    }
}

/// Parses `from`/`to` (RFC 3339; default: the last 7 days up to now).
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let parse = |v: &str, field: &str| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                Error::validation(
                    field,
                    "invalid_time",
                    format!("{field} is an RFC 3339 time"),
                )
            })
    };
    let to = to.map(|v| parse(v, "to")).transpose()?.unwrap_or(now);
    let from = from
        .map(|v| parse(v, "from"))
        .transpose()?
        .unwrap_or(to - Duration::days(7));
    if from >= to {
        return Err(Error::validation(
            "from",
            "invalid_range",
            "from is before to",
        ));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(Error::validation(
            "from",
            "range_too_long",
            format!("a readout covers at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// `GET /v1/ai/stats`: per variant (replies) and per purpose (every call).
pub async fn readout(
    svc: &Services,
    org: &OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Value> {
    let settings = super::settings::load_settings(svc, org).await?;
    let mut variants: std::collections::BTreeMap<&'static str, Fold> = Default::default();
    let mut purposes: std::collections::BTreeMap<&'static str, Fold> = Default::default();
    let mut models: std::collections::BTreeMap<(String, String), u64> = Default::default();
    let mut read = 0usize;
    let mut after = None;
    let mut partial = false;
    loop {
        let page = svc
            .store
            .query(
                Query::table(log_pk(org))
                    .sort(SortKey::Between(
                        fmt_time(from),
                        format!("{}~", fmt_time(to)),
                    ))
                    .limit(1_000)
                    .after(after),
            )
            .await?;
        for e in decode_all::<LogEntry>(&page.items)? {
            if e.at >= to {
                continue;
            }
            read += 1;
            if let Some(p) = e.purpose {
                purposes.entry(purpose_name(p)).or_default().add(&e);
            }
            let is_reply = e.event != Event::Call || e.purpose == Some(Purpose::Reply);
            if is_reply && let Some(v) = e.variant {
                variants.entry(v.as_str()).or_default().add(&e);
                if e.event == Event::Call
                    && let Some(m) = &e.model
                {
                    *models
                        .entry((v.as_str().to_owned(), m.clone()))
                        .or_default() += 1;
                }
            }
        }
        match page.next {
            Some(p) if read < MAX_ENTRIES => after = Some(p),
            Some(_) => {
                partial = true;
                break;
            }
            None => break,
        }
    }
    let has_b = settings.experiment.is_some() || variants.contains_key("b");
    let mut variant_view = |name: &'static str, model: &crate::llm::ModelRef| {
        let fold = variants.remove(name).unwrap_or_default();
        let mut v = fold.view();
        v["variant"] = json!(name);
        v["model"] = json!(model.to_string());
        v["models_called"] = models
            .iter()
            .filter(|((variant, _), _)| variant == name)
            .map(|((_, m), n)| json!({"model": m, "calls": n}))
            .collect();
        v
    };
    let mut out_variants = vec![variant_view("a", &settings.model)];
    let b_model = settings
        .experiment
        .as_ref()
        .map(|e| e.model.clone())
        .unwrap_or_else(|| settings.model.clone());
    if has_b {
        out_variants.push(variant_view("b", &b_model));
    }
    Ok(json!({
        "from": fmt_time(from),
        "to": fmt_time(to),
        "weight_b": settings.experiment.as_ref().map(|e| e.weight),
        "variants": out_variants,
        "purposes": purposes.into_iter().map(|(k, f)| {
            let mut v = f.view();
            v["purpose"] = json!(k);
            v
        }).collect::<Vec<_>>(),
        "entries": read,
        "partial": partial,
    }))
}

fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::Reply => "reply",
        Purpose::Analysis => "analysis",
        Purpose::Summary => "summary",
        Purpose::Translation => "translation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.95), Some(95));
        assert_eq!(quantile(&[7], 0.95), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn ranges_are_checked() {
        let now = Utc::now();
        assert!(range(None, None, now).is_ok());
        assert!(range(Some("yesterday"), None, now).is_err());
        assert!(
            range(
                Some("2026-01-01T00:00:00Z"),
                Some("2025-01-01T00:00:00Z"),
                now
            )
            .is_err()
        );
        assert!(
            range(
                Some("2025-01-01T00:00:00Z"),
                Some("2026-01-01T00:00:00Z"),
                now
            )
            .is_err()
        );
    }
}
