//! [`MetaAppApi`] over the Graph API: embedded signup's code exchange
//! (`GET /oauth/access_token`), `GET /debug_token`, `POST /{waba_id}/subscribed_apps`,
//! `POST /{phone_number_id}/register` and the number's health fields. The app secret
//! travels only in the query of the two app-level calls, as Graph requires; it never
//! appears in an error (transport errors are described without their URL).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::ids::{PhoneNumberId, WabaId};
use switchboard_core::meta_app::{
    AppCredentials, MetaAppApi, NumberHealth, RemoteTemplate, TokenInfo,
};
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

/// The fields of a listed template.
pub const TEMPLATE_FIELDS: &str =
    "id,name,language,category,status,quality_score,components,rejected_reason";
/// Templates per page (Graph's maximum is 100... for this edge it allows more, but pages
/// of 100 keep each answer small).
const TEMPLATE_PAGE: &str = "100";
/// A guard against a cursor that never ends.
const MAX_TEMPLATE_PAGES: usize = 200;

#[derive(Deserialize)]
struct TemplatePage {
    #[serde(default)]
    data: Vec<RemoteTemplate>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct CreatedTemplate {
    id: String,
    #[serde(default)]
    status: Option<String>,
}

#[async_trait]
impl MetaAppApi for GraphClient {
    async fn create_template(
        &self,
        token: &SecretString,
        waba_id: &WabaId,
        template: &Value,
    ) -> Result<(String, String), GraphError> {
        let req = self
            .http()
            .post(format!("{}/{}/message_templates", self.base(), waba_id))
            .json(template);
        let created: CreatedTemplate = self.call(req, token).await?;
        Ok((
            created.id,
            created.status.unwrap_or_else(|| "PENDING".into()),
        ))
    }

    async fn delete_template(
        &self,
        token: &SecretString,
        waba_id: &WabaId,
        name: &str,
    ) -> Result<(), GraphError> {
        let req = self
            .http()
            .delete(format!("{}/{}/message_templates", self.base(), waba_id))
            .query(&[("name", name)]);
        let _: Value = self.call(req, token).await?;
        Ok(())
    }

    async fn list_templates(
        &self,
        token: &SecretString,
        waba_id: &WabaId,
    ) -> Result<Vec<RemoteTemplate>, GraphError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_TEMPLATE_PAGES {
            let mut query = vec![("fields", TEMPLATE_FIELDS), ("limit", TEMPLATE_PAGE)];
            if let Some(a) = &after {
                query.push(("after", a.as_str()));
            }
            let req = self
                .http()
                .get(format!("{}/{}/message_templates", self.base(), waba_id))
                .query(&query);
            let page: TemplatePage = self.call(req, token).await?;
            out.extend(page.data);
            // Graph signals more with `paging.next`; the cursor to continue is `after`.
            match page
                .paging
                .filter(|p| p.next.is_some())
                .and_then(|p| p.cursors)
                .and_then(|c| c.after)
            {
                Some(a) => after = Some(a),
                None => return Ok(out),
            }
        }
        Ok(out)
    }

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
