//! AI replies: drafts and auto-replies to customers from OpenAI-compatible models, with a
//! fallback model, an A/B split between two models, guardrails and handoff to a person;
//! and the smaller helps around them: sentiment, category and language of each customer
//! message, conversation summaries and message translation.
//!
//! The pieces:
//! - [`settings`]: the org's `GET/PUT /v1/ai/settings`.
//! - [`reply`]: the `ai` queue's job — after `worker-inbound` applies a customer message it
//!   queues one job per conversation (FIFO); `worker-ai` analyses the message and answers
//!   the latest one of a burst, or hands the conversation to a person.
//! - [`context`]: what a model is told (and what it never is: phone numbers, other
//!   contacts).
//! - [`suggestions`]: the reply records — drafts agents accept or reject, auto-replies,
//!   and replies the models could not give, with the reason.
//! - [`stats`]: every model call and every outcome, logged per org for the A/B readout.
//! - [`insight`]: sentiment, summaries and translations.

pub mod context;
pub mod insight;
pub mod reply;
pub mod settings;
pub mod stats;
pub mod suggestions;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use insight::{Insight, Sentiment};
pub use settings::AiSettings;

use crate::ids::OrgId;

/// The partition of an org's AI records that are not about one conversation (settings,
/// daily caps, the call log).
pub(crate) fn ai_pk(org: &OrgId) -> String {
    format!("ORG#{org}#AI")
}

/// Which of the experiment's two arms a contact is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The settings' `model`.
    A,
    /// The experiment's `model`.
    B,
}

impl Variant {
    /// The name in records and statistics.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::A => "a",
            Variant::B => "b",
        }
    }
}

/// The variant of a contact under an experiment giving `weight` percent (0–100) to B.
///
/// Stable: a hash of the org and contact picks one of 10,000 buckets, so the same
/// customer always meets the same model and a change of weight moves only the buckets
/// between the old and new boundary.
pub fn variant_of(org: &OrgId, contact: &crate::ids::ContactId, weight: u8) -> Variant {
    let digest = switchboard_webhooks::sha256_hex(&[
        b"ai-variant\x1f",
        org.as_str().as_bytes(),
        b"\x1f",
        contact.as_str().as_bytes(),
    ]);
    let bucket = u64::from_str_radix(&digest[..12], 16).unwrap_or(0) % 10_000;
    if bucket < u64::from(weight.min(100)) * 100 {
        Variant::B
    } else {
        Variant::A
    }
}

/// A short JSON view of a model reference.
pub(crate) fn model_view(m: &crate::llm::ModelRef) -> Value {
    json!({"provider": m.provider.as_str(), "name": m.name})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ContactId;

    #[test]
    fn the_split_is_stable_and_close_to_the_weight() {
        let org = OrgId::parse("acme").unwrap();
        let contacts: Vec<ContactId> = (0..10_000)
            .map(|i| ContactId::from_uuid(crate::ids::derived_uuid(&["t", &i.to_string()])))
            .collect();
        for weight in [0u8, 10, 30, 50, 75, 100] {
            let b = contacts
                .iter()
                .filter(|c| variant_of(&org, c, weight) == Variant::B)
                .count();
            let share = b as f64 / 100.0;
            assert!(
                (share - f64::from(weight)).abs() <= 2.0,
                "weight {weight}: {share}% went to B"
            );
        }
        // The same contact always lands in the same arm.
        for c in contacts.iter().take(100) {
            assert_eq!(variant_of(&org, c, 50), variant_of(&org, c, 50));
        }
        // Raising the weight only moves contacts from A to B.
        for c in &contacts {
            if variant_of(&org, c, 30) == Variant::B {
                assert_eq!(variant_of(&org, c, 60), Variant::B);
            }
        }
    }
}
