//! [`SendApi`] over the Graph API, and the sandbox that stands in for it on the embedded
//! backend without a Graph URL.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::ids::PhoneNumberId;
use switchboard_core::secrets::SecretString;
use switchboard_core::send_api::{SendApi, SendApiMessage};
use switchboard_core::whatsapp::GraphError;

use crate::whatsapp::GraphClient;

/// The request body of a Send API call.
pub fn send_body(msg: &SendApiMessage<'_>) -> Value {
    let mut body = json!({
        "recipient": {"id": msg.recipient},
        "messaging_type": msg.messaging_type,
        "message": msg.message,
    });
    if let Some(tag) = msg.tag {
        body["tag"] = Value::String(tag.to_owned());
    }
    body
}

#[derive(Deserialize)]
struct Sent {
    #[serde(default)]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[async_trait]
impl SendApi for GraphClient {
    async fn send(
        &self,
        token: &SecretString,
        msg: &SendApiMessage<'_>,
    ) -> Result<String, GraphError> {
        let req = self
            .http()
            .post(format!("{}/{}/messages", self.base(), msg.account))
            .json(&send_body(msg));
        let sent: Sent = self.call(req, token).await?;
        sent.message_id.ok_or_else(|| {
            GraphError::Transport("the Send API accepted the message but returned no id".into())
        })
    }

    async fn account_name(
        &self,
        token: &SecretString,
        account: &PhoneNumberId,
        instagram: bool,
    ) -> Result<Option<String>, GraphError> {
        let fields = if instagram { "id,username" } else { "id,name" };
        let req = self
            .http()
            .get(format!("{}/{}", self.base(), account))
            .query(&[("fields", fields)]);
        let named: Named = self.call(req, token).await?;
        Ok(named.name.or(named.username))
    }
}

/// Accepts every message with a made-up `mid` (the embedded backend without a Graph URL).
#[derive(Debug, Default)]
pub struct SandboxSendApi;

#[async_trait]
impl SendApi for SandboxSendApi {
    async fn send(
        &self,
        _token: &SecretString,
        _msg: &SendApiMessage<'_>,
    ) -> Result<String, GraphError> {
        Ok(format!("m_sandbox_{}", uuid::Uuid::new_v4().simple()))
    }

    async fn account_name(
        &self,
        _token: &SecretString,
        _account: &PhoneNumberId,
        _instagram: bool,
    ) -> Result<Option<String>, GraphError> {
        Ok(None)
    }
}
