//! The WhatsApp Graph API client.
//!
//! Errors come back as `{"error": {"message", "type", "code", "error_subcode",
//! "error_data": {"details"}, "fbtrace_id"}}`; the client turns them into
//! [`GraphError::Api`] with Graph's code so callers can classify them (190 token,
//! 131047 window, 130429 throughput, …). The access token only ever travels in the
//! `Authorization` header; it is never logged and never part of an error.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::ids::PhoneNumberId;
use switchboard_core::secrets::SecretString;
use switchboard_core::whatsapp::{
    GraphError, MediaInfo, OutboundMessage, PhoneNumberInfo, WhatsAppApi,
};

/// A Graph API client bound to a base URL such as `https://graph.facebook.com/v23.0`.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GraphClient({})", self.base)
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    error_user_title: Option<String>,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

impl GraphClient {
    /// A client for `base` (trailing slashes ignored).
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a request and decodes a JSON answer or a Graph error.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        token: &SecretString,
    ) -> Result<T, GraphError> {
        self.call_unauthenticated(req.bearer_auth(token.expose()))
            .await
    }

    /// [`GraphClient::call`] for a request that carries its credentials itself (the
    /// code exchange sends the app's in the query, as Graph requires).
    pub async fn call_unauthenticated<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, GraphError> {
        let resp = req
            .send()
            .await
            .map_err(|e| GraphError::Transport(transport_message(e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| GraphError::Transport(transport_message(e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| GraphError::Transport(format!("unreadable Graph answer: {e}")));
        }
        Err(decode_error(status.as_u16(), &bytes))
    }
}

/// A transport error's description without the URL (which is harmless here, but query
/// strings elsewhere may carry tokens).
fn transport_message(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

/// Masks every run of seven or more digits to its last four (`••••1234`): Meta's error
/// texts quote phone numbers and page-scoped ids, and these texts reach logs and the
/// message's stored error. Error codes (at most six digits) stay readable.
pub fn scrub_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 7 {
            out.push_str(&switchboard_core::ids::mask_phone(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Decodes a Graph error body (or describes a non-Graph failure).
pub fn decode_error(http_status: u16, body: &[u8]) -> GraphError {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) => GraphError::Api {
            http_status,
            code: env.error.code.unwrap_or(0),
            subcode: env.error.error_subcode,
            message: scrub_ids(
                &env.error
                    .error_user_title
                    .or(env.error.message)
                    .unwrap_or_else(|| "unknown Graph error".into()),
            ),
            details: env
                .error
                .error_data
                .and_then(|d| d.details)
                .map(|d| scrub_ids(&d)),
        },
        Err(_) => GraphError::Api {
            http_status,
            code: 0,
            subcode: None,
            message: format!("Graph answered HTTP {http_status} without an error object"),
            details: None,
        },
    }
}

#[derive(Deserialize)]
struct PhoneNumberBody {
    #[serde(default)]
    display_phone_number: Option<String>,
    #[serde(default)]
    verified_name: Option<String>,
}

#[derive(Deserialize)]
struct SendBody {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

/// The multipart body of a media upload: `messaging_product`, `type` and the `file`.
pub fn multipart_body(boundary: &str, mime_type: &str, bytes: &[u8]) -> Vec<u8> {
    let ext = mime_type
        .split('/')
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap_or("bin");
    let mut body = Vec::with_capacity(bytes.len() + 512);
    for (name, value) in [("messaging_product", "whatsapp"), ("type", mime_type)] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.{ext}\"\r\nContent-Type: {mime_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// The Graph request body of a message: Meta's message object plus routing fields.
pub fn message_body(msg: &OutboundMessage<'_>) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": msg.to.as_str(),
    });
    if let Value::Object(content) = msg.content {
        for (k, v) in content {
            body[k.as_str()] = v.clone();
        }
    }
    if let Some(wamid) = msg.reply_to {
        body["context"] = json!({"message_id": wamid});
    }
    if let Some(data) = msg.callback_data {
        body["biz_opaque_callback_data"] = Value::String(data.to_owned());
    }
    body
}

#[async_trait]
impl WhatsAppApi for GraphClient {
    async fn phone_number(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
    ) -> Result<PhoneNumberInfo, GraphError> {
        let req = self
            .http
            .get(format!("{}/{}", self.base, phone_number_id))
            .query(&[("fields", "display_phone_number,verified_name")]);
        let body: PhoneNumberBody = self.call(req, token).await?;
        Ok(PhoneNumberInfo {
            display_phone_number: body.display_phone_number,
            verified_name: body.verified_name,
        })
    }

    async fn send_message(
        &self,
        token: &SecretString,
        msg: &OutboundMessage<'_>,
    ) -> Result<String, GraphError> {
        let req = self
            .http
            .post(format!("{}/{}/messages", self.base, msg.phone_number_id))
            .json(&message_body(msg));
        let body: SendBody = self.call(req, token).await?;
        body.messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| {
                GraphError::Transport("Graph accepted the message but returned no id".into())
            })
    }

    async fn mark_read(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
        wamid: &str,
    ) -> Result<(), GraphError> {
        let req = self
            .http
            .post(format!("{}/{}/messages", self.base, phone_number_id))
            .json(&json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid}));
        let _: Value = self.call(req, token).await?;
        Ok(())
    }

    async fn upload_media(
        &self,
        token: &SecretString,
        phone_number_id: &PhoneNumberId,
        mime_type: &str,
        bytes: &[u8],
    ) -> Result<String, GraphError> {
        let boundary = format!("switchboard-{}", uuid::Uuid::new_v4().simple());
        let req = self
            .http
            .post(format!("{}/{}/media", self.base, phone_number_id))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(multipart_body(&boundary, mime_type, bytes));
        let uploaded: Uploaded = self.call(req, token).await?;
        Ok(uploaded.id)
    }

    async fn media_info(
        &self,
        token: &SecretString,
        media_id: &str,
    ) -> Result<MediaInfo, GraphError> {
        if media_id.is_empty()
            || !media_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(GraphError::Api {
                http_status: 400,
                code: 100,
                subcode: None,
                message: "invalid media id".into(),
                details: None,
            });
        }
        let req = self.http.get(format!("{}/{}", self.base, media_id));
        self.call(req, token).await
    }

    async fn download(
        &self,
        token: &SecretString,
        url: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, GraphError> {
        let mut resp = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| GraphError::Transport(transport_message(e)))?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.bytes().await.unwrap_or_default();
            return Err(decode_error(status.as_u16(), &bytes));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| GraphError::Transport(transport_message(e)))?
        {
            if out.len() + chunk.len() > max_bytes {
                return Err(GraphError::Transport(format!(
                    "media is larger than {max_bytes} bytes"
                )));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client(server: &MockServer) -> GraphClient {
        GraphClient::new(
            crate::http_client("switchboard-test"),
            format!("{}/v23.0/", server.uri()),
        )
    }

    #[test]
    fn long_digit_runs_in_error_texts_are_masked() {
        assert_eq!(
            scrub_ids("No matching user found for 6873012345678901"),
            "No matching user found for ••••8901"
        );
        assert_eq!(
            scrub_ids("(#131047) Message failed: +16505551234 outside window"),
            "(#131047) Message failed: +••••1234 outside window"
        );
        assert_eq!(scrub_ids("code 100, 123456"), "code 100, 123456");
    }

    #[tokio::test]
    async fn reads_the_phone_number_with_the_bearer_token() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v23.0/106540352242922"))
            .and(query_param("fields", "display_phone_number,verified_name"))
            .and(header("authorization", "Bearer EAAG-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "display_phone_number": "+1 555-078-3881", "verified_name": "Acme Shoes", "id": "106540352242922"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let info = client(&server)
            .phone_number(
                &SecretString::new("EAAG-token"),
                &PhoneNumberId::parse("106540352242922").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            info.display_phone_number.as_deref(),
            Some("+1 555-078-3881")
        );
        assert_eq!(info.verified_name.as_deref(), Some("Acme Shoes"));
    }

    #[tokio::test]
    async fn graph_errors_keep_their_code_and_never_the_token() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "error": {"message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "AbC"}
            })))
            .mount(&server)
            .await;
        let err = client(&server)
            .phone_number(
                &SecretString::new("EAAG-secret-token"),
                &PhoneNumberId::parse("12345").unwrap(),
            )
            .await
            .unwrap_err();
        match &err {
            GraphError::Api {
                http_status,
                code,
                subcode,
                ..
            } => {
                assert_eq!((*http_status, *code, *subcode), (401, 190, Some(463)));
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{err:?} {err}").contains("EAAG-secret-token"));
    }

    #[tokio::test]
    async fn sends_meta_shaped_bodies_and_reads_the_wamid() {
        use wiremock::matchers::body_json;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v23.0/106540352242922/messages"))
            .and(header("authorization", "Bearer EAAG-token"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                "type": "text", "text": {"body": "Yes, size M is in stock"},
                "context": {"message_id": "wamid.in"}, "biz_opaque_callback_data": "msg_1"
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp", "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
                "messages": [{"id": "wamid.out1", "message_status": "accepted"}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v23.0/106540352242922/messages"))
            .and(body_json(json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in"})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server);
        let token = SecretString::new("EAAG-token");
        let pn = PhoneNumberId::parse("106540352242922").unwrap();
        let to = switchboard_core::ids::WaId::parse("16505551234").unwrap();
        let content = json!({"type": "text", "text": {"body": "Yes, size M is in stock"}});
        let msg = OutboundMessage {
            phone_number_id: &pn,
            to: &to,
            content: &content,
            reply_to: Some("wamid.in"),
            callback_data: Some("msg_1"),
        };
        assert_eq!(c.send_message(&token, &msg).await.unwrap(), "wamid.out1");
        c.mark_read(&token, &pn, "wamid.in").await.unwrap();
    }

    #[tokio::test]
    async fn media_info_then_download_with_the_token() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v23.0/1003383421387256"))
            .and(header("authorization", "Bearer EAAG-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "url": format!("{}/media/abc", server.uri()), "mime_type": "image/jpeg", "sha256": "x", "file_size": 4, "id": "1003383421387256"
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/media/abc"))
            .and(header("authorization", "Bearer EAAG-token"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![1u8, 2, 3, 4]))
            .mount(&server)
            .await;
        let c = client(&server);
        let token = SecretString::new("EAAG-token");
        let info = c.media_info(&token, "1003383421387256").await.unwrap();
        assert_eq!(info.mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(
            c.download(&token, &info.url, 10).await.unwrap(),
            vec![1, 2, 3, 4]
        );
        assert!(matches!(
            c.download(&token, &info.url, 3).await,
            Err(GraphError::Transport(_))
        ));
        assert!(c.media_info(&token, "../evil").await.is_err());
    }

    #[tokio::test]
    async fn non_json_errors_and_unreachable_hosts() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
            .mount(&server)
            .await;
        let err = client(&server)
            .phone_number(
                &SecretString::new("t"),
                &PhoneNumberId::parse("12345").unwrap(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                GraphError::Api {
                    http_status: 502,
                    code: 0,
                    ..
                }
            ),
            "{err:?}"
        );
        let dead = GraphClient::new(crate::http_client("t"), "http://127.0.0.1:9");
        let err = dead
            .phone_number(
                &SecretString::new("t"),
                &PhoneNumberId::parse("12345").unwrap(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, GraphError::Transport(_)), "{err:?}");
    }
}
