//! [`MetaAppApi`] over the Graph API: embedded signup's code exchange
//! (`GET /oauth/access_token`), `GET /debug_token`, `POST /{waba_id}/subscribed_apps`,
//! `POST /{phone_number_id}/register` and the number's health fields. The app secret
//! travels only in the query of the two app-level calls, as Graph requires; it never
//! appears in an error (transport errors are described without their URL).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::ids::{PhoneNumberId, WabaId};
use switchboard_core::meta_app::{AppCredentials, MetaAppApi, NumberHealth, TokenInfo};
use switchboard_core::secrets::SecretString;
use switchboard_core::whatsapp::GraphError;

use crate::whatsapp::GraphClient;

/// The fields of a number's health.
pub const HEALTH_FIELDS: &str =
    "display_phone_number,verified_name,quality_rating,messaging_limit_tier,name_status,status";

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
}

#[derive(Deserialize)]
struct DebugBody {
    data: DebugData,
}

#[derive(Deserialize)]
struct DebugData {
    #[serde(default)]
    is_valid: bool,
    /// 0 for a token that never expires.
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    scopes: Vec<String>,
}

fn app_token(app: &AppCredentials) -> SecretString {
    SecretString::new(format!("{}|{}", app.app_id, app.app_secret.expose()))
}

#[async_trait]
impl MetaAppApi for GraphClient {
    async fn exchange_code(
        &self,
        app: &AppCredentials,
        code: &str,
    ) -> Result<SecretString, GraphError> {
        let req = self
            .http()
            .get(format!("{}/oauth/access_token", self.base()))
            .query(&[
                ("client_id", app.app_id.as_str()),
                ("client_secret", app.app_secret.expose()),
                ("code", code),
            ]);
        let body: TokenBody = self.call_unauthenticated(req).await?;
        Ok(SecretString::new(body.access_token))
    }

    async fn debug_token(
        &self,
        app: &AppCredentials,
        token: &SecretString,
    ) -> Result<TokenInfo, GraphError> {
        let req = self
            .http()
            .get(format!("{}/debug_token", self.base()))
            .query(&[("input_token", token.expose())]);
        let body: DebugBody = self.call(req, &app_token(app)).await?;
        Ok(TokenInfo {
            is_valid: body.data.is_valid,
            expires_at: body.data.expires_at.filter(|t| *t > 0),
            scopes: body.data.scopes,
        })
    }

    async fn subscribe_app(
        &self,
        token: &SecretString,
        waba_id: &WabaId,
    ) -> Result<(), GraphError> {
        let req = self
            .http()
            .post(format!("{}/{}/subscribed_apps", self.base(), waba_id));
        let _: Value = self.call(req, token).await?;
        Ok(())
    }

    async fn register_number(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
        pin: &str,
    ) -> Result<(), GraphError> {
        let req = self
            .http()
            .post(format!("{}/{}/register", self.base(), phone_number_id))
            .json(&json!({"messaging_product": "whatsapp", "pin": pin}));
        let _: Value = self.call(req, token).await?;
        Ok(())
    }

    async fn number_health(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
    ) -> Result<NumberHealth, GraphError> {
        let req = self
            .http()
            .get(format!("{}/{}", self.base(), phone_number_id))
            .query(&[("fields", HEALTH_FIELDS)]);
        self.call(req, token).await
    }
}
