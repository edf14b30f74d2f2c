//! The port to what Switchboard does as a Meta app rather than for one number: embedded
//! signup (exchange the code, subscribe the app to the business account, register the
//! number), token introspection (`debug_token`) and the number's health as Graph reports
//! it. `shared/providers` implements it over the Graph API; without a Graph URL there is
//! none (signup answers 503 and sync has nothing to read).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::{PhoneNumberId, WabaId};
use crate::secrets::SecretString;
use crate::whatsapp::GraphError;

/// The app's credentials: its id (configuration) and secret (secrets port).
#[derive(Debug, Clone)]
pub struct AppCredentials {
    /// `META_APP_ID`.
    pub app_id: String,
    /// `META_APP_SECRET`.
    pub app_secret: SecretString,
}

/// What `debug_token` says about a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Whether Meta still honours it (false once revoked or expired).
    pub is_valid: bool,
    /// When it expires (Unix seconds); `None` for a token that never does.
    pub expires_at: Option<i64>,
    /// The permissions granted.
    pub scopes: Vec<String>,
}

/// A number's health as Graph reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberHealth {
    /// Display form.
    pub display_phone_number: Option<String>,
    /// The business name Meta verified.
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    pub quality_rating: Option<String>,
    /// `TIER_250`, `TIER_1K`, `TIER_10K`, `TIER_100K`, `TIER_UNLIMITED`.
    pub messaging_limit_tier: Option<String>,
    /// The display name's review: `APPROVED`, `PENDING_REVIEW`, `DECLINED`, …
    pub name_status: Option<String>,
    /// The number's status: `CONNECTED`, `FLAGGED`, `RESTRICTED`, `DISCONNECTED`, …
    pub status: Option<String>,
}

/// A template as Graph lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteTemplate {
    /// Meta's id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// Category.
    #[serde(default)]
    pub category: String,
    /// Status.
    #[serde(default)]
    pub status: String,
    /// `{score, date}`.
    #[serde(default)]
    pub quality_score: Option<serde_json::Value>,
    /// Components.
    #[serde(default)]
    pub components: serde_json::Value,
    /// Why it was rejected (`NONE` when it was not).
    #[serde(default)]
    pub rejected_reason: Option<String>,
}

/// Calls Switchboard makes as the Meta app.
#[async_trait]
pub trait MetaAppApi: Send + Sync + std::fmt::Debug {
    /// Exchanges an embedded-signup `code` for a business token.
    async fn exchange_code(
        &self,
        app: &AppCredentials,
        code: &str,
    ) -> Result<SecretString, GraphError>;

    /// Introspects `token` with the app's own access token.
    async fn debug_token(
        &self,
        app: &AppCredentials,
        token: &SecretString,
    ) -> Result<TokenInfo, GraphError>;

    /// Subscribes the app to the business account's webhooks.
    async fn subscribe_app(&self, token: &SecretString, waba_id: &WabaId)
    -> Result<(), GraphError>;

    /// Registers the number for the Cloud API with its two-step verification PIN.
    async fn register_number(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
        pin: &str,
    ) -> Result<(), GraphError>;

    /// Every template of a business account (all pages).
    async fn list_templates(
        &self,
        token: &SecretString,
        waba_id: &WabaId,
    ) -> Result<Vec<RemoteTemplate>, GraphError>;

    /// Submits a template for review; returns Meta's id and status.
    async fn create_template(
        &self,
        token: &SecretString,
        waba_id: &WabaId,
        template: &serde_json::Value,
    ) -> Result<(String, String), GraphError>;

    /// Deletes a template (every language of the name).
    async fn delete_template(
        &self,
        token: &SecretString,
        waba_id: &WabaId,
        name: &str,
    ) -> Result<(), GraphError>;

    /// Reads the number's name, quality, tier and status.
    async fn number_health(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
    ) -> Result<NumberHealth, GraphError>;
}

/// Unique customers a number may start conversations with per rolling 24 hours under
/// Meta's messaging limit `tier`; `None` when unlimited or unknown.
pub fn tier_limit(tier: &str) -> Option<u64> {
    match tier {
        "TIER_50" => Some(50),
        "TIER_250" => Some(250),
        "TIER_1K" => Some(1_000),
        "TIER_2K" => Some(2_000),
        "TIER_10K" => Some(10_000),
        "TIER_100K" => Some(100_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_daily_unique_customer_limits() {
        assert_eq!(tier_limit("TIER_250"), Some(250));
        assert_eq!(tier_limit("TIER_1K"), Some(1_000));
        assert_eq!(tier_limit("TIER_100K"), Some(100_000));
        assert_eq!(tier_limit("TIER_UNLIMITED"), None);
        assert_eq!(tier_limit("something new"), None);
    }
}
