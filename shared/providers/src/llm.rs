//! The language-model client: one OpenAI-compatible `POST {base}/chat/completions` for
//! every preset (OpenRouter, xAI, a custom server such as Ollama).
//!
//! Why one client: the three presets speak the same wire format and differ only in
//! their base URL, their key and OpenRouter's optional `X-Title` (the app name its
//! dashboard shows). Base URLs come from the deployment's configuration; keys from the
//! secrets port at each call, so a rotated key takes effect with the secrets cache. A
//! preset without a base URL is not configured; OpenRouter and xAI without a key are
//! not configured either, while the custom preset works without one (Ollama asks for
//! none, and then no `Authorization` header is sent).
//!
//! Each call has the request's own timeout, connection and body included, replacing the
//! shared HTTP client's default (a long completion may need more than it allows). No
//! retry happens here: the caller (a queue consumer) decides from the error's kind.
//!
//! Prompts carry customers' words and completions answer them: neither is logged or put
//! in an error, nor is the key. A provider's refusal keeps its `error.message` (it says
//! which model or parameter was wrong), shortened and with the key cut out.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::llm::{ChatMessage, ChatRequest, Completion, LlmApi, LlmError, LlmProvider};
use switchboard_core::secrets::{SecretName, SecretString, Secrets};
use tracing::warn;

/// The application name OpenRouter shows for our requests (`X-Title`).
pub const OPENROUTER_TITLE: &str = "Switchboard";

/// Longest provider error message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

/// Shortest key cut out of a provider's message (a shorter "key" would match words).
const MIN_KEY_CHARS: usize = 8;

/// The OpenAI-compatible chat client of every preset.
#[derive(Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    secrets: Arc<dyn Secrets>,
    openrouter: Option<String>,
    xai: Option<String>,
    custom: Option<String>,
}

impl std::fmt::Debug for ChatClient {
    // Base URLs only, without any credentials or query a URL may hold; never a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |base: &Option<String>| base.as_deref().map(redacted_url);
        f.debug_struct("ChatClient")
            .field("openrouter", &shown(&self.openrouter))
            .field("xai", &shown(&self.xai))
            .field("custom", &shown(&self.custom))
            .finish()
    }
}

impl ChatClient {
    /// A client with no preset configured; add base URLs with [`ChatClient::with_base`].
    pub fn new(http: reqwest::Client, secrets: Arc<dyn Secrets>) -> Self {
        Self {
            http,
            secrets,
            openrouter: None,
            xai: None,
            custom: None,
        }
    }

    /// Configures `provider` at `base_url` (`https://openrouter.ai/api/v1`, …; a trailing
    /// slash is dropped). An empty URL leaves the preset unconfigured.
    pub fn with_base(mut self, provider: LlmProvider, base_url: impl Into<String>) -> Self {
        let base = base_url.into().trim().trim_end_matches('/').to_owned();
        *self.slot(provider) = (!base.is_empty()).then_some(base);
        self
    }

    /// The base URL of `provider`, when configured.
    pub fn base(&self, provider: LlmProvider) -> Option<&str> {
        match provider {
            LlmProvider::Openrouter => self.openrouter.as_deref(),
            LlmProvider::Xai => self.xai.as_deref(),
            LlmProvider::Custom => self.custom.as_deref(),
        }
    }

    fn slot(&mut self, provider: LlmProvider) -> &mut Option<String> {
        match provider {
            LlmProvider::Openrouter => &mut self.openrouter,
            LlmProvider::Xai => &mut self.xai,
            LlmProvider::Custom => &mut self.custom,
        }
    }

    /// The preset's key: required for OpenRouter and xAI, optional for the custom preset.
    async fn key(&self, provider: LlmProvider) -> Result<Option<SecretString>, LlmError> {
        let key = self
            .secrets
            .get(key_name(provider))
            .await
            .map_err(|_| LlmError::Transport("secret store unavailable".into()))?
            .filter(|k| !k.expose().trim().is_empty());
        match (key, provider) {
            (None, LlmProvider::Openrouter | LlmProvider::Xai) => {
                Err(LlmError::NotConfigured(provider.as_str()))
            }
            (key, _) => Ok(key),
        }
    }

    /// Sends the request and reads the answer (the caller bounds it in time).
    async fn call(
        &self,
        base: &str,
        key: Option<&SecretString>,
        req: &ChatRequest,
    ) -> Result<Completion, LlmError> {
        let provider = req.model.provider;
        let mut builder = self
            .http
            .post(format!("{base}/chat/completions"))
            // Replaces the shared client's total timeout for this call.
            .timeout(req.timeout)
            .json(&Body::of(req));
        if let Some(key) = key {
            builder = builder.bearer_auth(key.expose());
        }
        if provider == LlmProvider::Openrouter {
            builder = builder.header("X-Title", OPENROUTER_TITLE);
        }
        let resp = builder.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return completion(&bytes);
        }
        warn!(
            provider = provider.as_str(),
            model = %req.model.name,
            status,
            "the language model provider refused a completion"
        );
        Err(match status {
            429 => LlmError::RateLimited,
            408 => LlmError::Timeout,
            500..=599 => LlmError::Server(status),
            _ => LlmError::Refused {
                status,
                message: provider_message(&bytes, key),
            },
        })
    }
}

/// The secret holding `provider`'s key.
pub fn key_name(provider: LlmProvider) -> SecretName {
    match provider {
        LlmProvider::Openrouter => SecretName::OpenrouterApiKey,
        LlmProvider::Xai => SecretName::XaiApiKey,
        LlmProvider::Custom => SecretName::LlmCustomApiKey,
    }
}

#[async_trait]
impl LlmApi for ChatClient {
    async fn complete(&self, req: &ChatRequest) -> Result<Completion, LlmError> {
        let provider = req.model.provider;
        let base = self
            .base(provider)
            .ok_or(LlmError::NotConfigured(provider.as_str()))?;
        let key = self.key(provider).await?;
        // reqwest bounds the exchange; this also bounds anything around it, so the
        // caller's budget holds whatever stalls.
        tokio::time::timeout(
            req.timeout + Duration::from_millis(50),
            self.call(base, key.as_ref(), req),
        )
        .await
        .unwrap_or(Err(LlmError::Timeout))
    }

    fn configured(&self, provider: LlmProvider) -> bool {
        self.base(provider).is_some()
    }
}

/// The JSON body of `POST /chat/completions`. Typed rather than built with `json!` so
/// that an `f32` temperature is written as written (`0.2`, not `0.20000000298023224`).
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat>,
    stream: bool,
}

#[derive(Serialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> Body<'a> {
    fn of(req: &'a ChatRequest) -> Self {
        Self {
            model: &req.model.name,
            messages: &req.messages,
            temperature: req.temperature,
            max_tokens: req.max_tokens,
            response_format: req.json.then_some(ResponseFormat {
                kind: "json_object",
            }),
            stream: false,
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<AnswerMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    // A string, null, or (some servers) an array of `{"type": "text", "text": …}` parts.
    #[serde(default)]
    content: Option<Value>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// A 2xx body read as a completion. Error texts name the shape, never the content.
fn completion(bytes: &[u8]) -> Result<Completion, LlmError> {
    let answer: Answer = serde_json::from_slice(bytes).map_err(|e| {
        // serde's message may quote the body; the position does not.
        LlmError::Malformed(format!(
            "not a chat completion (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let first = answer.choices.and_then(|c| c.into_iter().next());
    let Some(choice) = first else {
        // OpenRouter answers 200 with an error object when the upstream model fails.
        return Err(match answer.error {
            Some(e) if !e.is_null() => LlmError::Server(502),
            _ => LlmError::Malformed("no choices".into()),
        });
    };
    let content = match choice.message.and_then(|m| m.content) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        Some(_) => return Err(LlmError::Malformed("content is not text".into())),
    };
    let tokens = |n: Option<u64>| u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX);
    let (prompt, completion) = answer
        .usage
        .map(|u| (u.prompt_tokens, u.completion_tokens))
        .unwrap_or_default();
    Ok(Completion {
        content,
        prompt_tokens: tokens(prompt),
        completion_tokens: tokens(completion),
        finish_reason: choice.finish_reason,
    })
}

/// The provider's `error.message` (OpenAI's shape; a bare `error` string also counts),
/// with the key cut out, control characters flattened and at most
/// [`MAX_MESSAGE_CHARS`] characters.
fn provider_message(bytes: &[u8], key: Option<&SecretString>) -> String {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let mut text = match error {
        Some(Value::String(s)) => s.clone(),
        Some(e) => e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no error detail")
            .to_owned(),
        None => "no error detail".to_owned(),
    };
    if let Some(key) = key.map(SecretString::expose)
        && key.len() >= MIN_KEY_CHARS
    {
        text = text.replace(key, "<redacted>");
    }
    let cut: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    cut.trim().to_owned()
}

/// A failed exchange: a timeout, or a transport failure described without the URL.
fn transport(e: reqwest::Error) -> LlmError {
    if e.is_timeout() {
        return LlmError::Timeout;
    }
    let what = if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer could not be read"
    } else {
        "request failed"
    };
    // The innermost cause ("Connection refused (os error 111)", a DNS failure) names no
    // URL; the outer layers do.
    let mut cause = None;
    let mut next = std::error::Error::source(&e);
    while let Some(c) = next {
        cause = Some(c);
        next = c.source();
    }
    let detail = cause
        .map(|c| format!(": {}", c.to_string().chars().take(120).collect::<String>()))
        .unwrap_or_default();
    LlmError::Transport(format!("{what}{detail}"))
}

/// `url` without user info, query or fragment (what a log or `Debug` may show).
fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<unparsable>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_core::llm::{ChatRole, ModelRef};
    use switchboard_core::secrets::SecretsError;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const OPENROUTER_KEY: &str = "sk-or-v1-0123456789abcdef";
    const XAI_KEY: &str = "xai-fedcba9876543210";

    #[derive(Debug, Default)]
    struct Keys(Vec<(SecretName, &'static str)>);

    #[async_trait]
    impl Secrets for Keys {
        async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretsError> {
            Ok(self
                .0
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| SecretString::new(*v)))
        }
    }

    fn all_keys() -> Keys {
        Keys(vec![
            (SecretName::OpenrouterApiKey, OPENROUTER_KEY),
            (SecretName::XaiApiKey, XAI_KEY),
        ])
    }

    /// A client with every preset at `{mock}/api/v1/` (trailing slash included, to show
    /// it is dropped).
    fn client(server: &MockServer, keys: Keys) -> ChatClient {
        let base = format!("{}/api/v1/", server.uri());
        LlmProvider::ALL.into_iter().fold(
            ChatClient::new(reqwest::Client::new(), Arc::new(keys)),
            |c, p| c.with_base(p, base.clone()),
        )
    }

    fn request(provider: LlmProvider, json: bool) -> ChatRequest {
        ChatRequest {
            model: ModelRef::new(provider, "anthropic/claude-3.5-sonnet"),
            messages: vec![
                ChatMessage::new(ChatRole::System, "You draft replies for a dental clinic."),
                ChatMessage::new(ChatRole::User, "Can I move my appointment to Friday?"),
                ChatMessage::new(ChatRole::Assistant, "Let me check."),
            ],
            temperature: Some(0.2),
            max_tokens: Some(300),
            timeout: Duration::from_secs(5),
            json,
        }
    }

    fn answer(content: Value) -> Value {
        json!({
            "id": "gen-1",
            "object": "chat.completion",
            "model": "anthropic/claude-3.5-sonnet",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
        })
    }

    fn expected_body(json_mode: bool) -> Value {
        let mut body = json!({
            "model": "anthropic/claude-3.5-sonnet",
            "messages": [
                {"role": "system", "content": "You draft replies for a dental clinic."},
                {"role": "user", "content": "Can I move my appointment to Friday?"},
                {"role": "assistant", "content": "Let me check."}
            ],
            "temperature": 0.2,
            "max_tokens": 300,
            "stream": false
        });
        if json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        body
    }

    #[tokio::test]
    async fn openrouter_posts_the_chat_with_key_and_title_and_reads_the_answer() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/chat/completions"))
            .and(header(
                "authorization",
                format!("Bearer {OPENROUTER_KEY}").as_str(),
            ))
            .and(header("x-title", "Switchboard"))
            .and(header("content-type", "application/json"))
            .and(body_json(expected_body(false)))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(answer(json!("Friday at 10 works."))),
            )
            .expect(1)
            .mount(&server)
            .await;
        let done = client(&server, all_keys())
            .complete(&request(LlmProvider::Openrouter, false))
            .await
            .unwrap();
        assert_eq!(
            done,
            Completion {
                content: "Friday at 10 works.".into(),
                prompt_tokens: 42,
                completion_tokens: 7,
                finish_reason: Some("stop".into()),
            }
        );
    }

    #[tokio::test]
    async fn xai_sends_its_own_key_no_title_and_json_mode_when_asked() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/chat/completions"))
            .and(header(
                "authorization",
                format!("Bearer {XAI_KEY}").as_str(),
            ))
            .and(body_json(expected_body(true)))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(answer(json!("{\"intent\":\"move\"}"))),
            )
            .expect(1)
            .mount(&server)
            .await;
        let done = client(&server, all_keys())
            .complete(&request(LlmProvider::Xai, true))
            .await
            .unwrap();
        assert_eq!(done.content, "{\"intent\":\"move\"}");
        let sent = &server.received_requests().await.unwrap()[0];
        assert!(!sent.headers.contains_key("x-title"));
    }

    #[tokio::test]
    async fn optional_fields_are_left_out_and_missing_parts_read_as_defaults() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/chat/completions"))
            .and(body_json(json!({
                "model": "llama3.1",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": false
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "choices": [{"message": {"role": "assistant", "content": null}}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        let req = ChatRequest {
            model: ModelRef::new(LlmProvider::Custom, "llama3.1"),
            messages: vec![ChatMessage::new(ChatRole::User, "hi")],
            temperature: None,
            max_tokens: None,
            timeout: Duration::from_secs(5),
            json: false,
        };
        let done = client(&server, Keys::default())
            .complete(&req)
            .await
            .unwrap();
        assert_eq!(done, Completion::default());
    }

    #[tokio::test]
    async fn custom_without_a_key_sends_no_authorization_and_with_one_sends_it() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer(json!("ok"))))
            .mount(&server)
            .await;
        let req = request(LlmProvider::Custom, false);
        client(&server, Keys::default())
            .complete(&req)
            .await
            .unwrap();
        let keyed = Keys(vec![(SecretName::LlmCustomApiKey, "ollama-proxy-token")]);
        client(&server, keyed).complete(&req).await.unwrap();
        let sent = server.received_requests().await.unwrap();
        assert!(!sent[0].headers.contains_key("authorization"));
        assert!(!sent[0].headers.contains_key("x-title"));
        assert_eq!(
            sent[1].headers.get("authorization").unwrap(),
            "Bearer ollama-proxy-token"
        );
    }

    #[tokio::test]
    async fn statuses_map_to_errors() {
        let server = MockServer::start().await;
        let cases = [
            (429, json!({"error": {"message": "slow down"}})),
            (408, json!({})),
            (503, json!({"error": {"message": "upstream down"}})),
            (
                400,
                json!({"error": {"message": format!("anthropic/nope is not a valid model ID (key {OPENROUTER_KEY})"), "code": 400}}),
            ),
            (401, json!({"error": "bad\nkey"})),
            (404, json!("not json at all")),
        ];
        let c = client(&server, all_keys());
        let mut got = Vec::new();
        for (status, body) in cases {
            server.reset().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).set_body_json(body))
                .mount(&server)
                .await;
            got.push(
                c.complete(&request(LlmProvider::Openrouter, false))
                    .await
                    .unwrap_err(),
            );
        }
        assert_eq!(
            got,
            [
                LlmError::RateLimited,
                LlmError::Timeout,
                LlmError::Server(503),
                LlmError::Refused {
                    status: 400,
                    message: "anthropic/nope is not a valid model ID (key <redacted>)".into()
                },
                LlmError::Refused {
                    status: 401,
                    message: "bad key".into()
                },
                LlmError::Refused {
                    status: 404,
                    message: "no error detail".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn a_long_provider_message_is_cut() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(422)
                    .set_body_json(json!({"error": {"message": "é".repeat(500)}})),
            )
            .mount(&server)
            .await;
        match client(&server, all_keys())
            .complete(&request(LlmProvider::Xai, false))
            .await
        {
            Err(LlmError::Refused {
                status: 422,
                message,
            }) => {
                assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS)
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn odd_successes() {
        let server = MockServer::start().await;
        let c = client(&server, all_keys());
        let cases = [
            // OpenRouter's 200 carrying an upstream failure.
            (
                json!({"error": {"message": "Provider returned error", "code": 502}}),
                Err(LlmError::Server(502)),
            ),
            (
                json!({"choices": []}),
                Err(LlmError::Malformed("no choices".into())),
            ),
            (
                json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "finish_reason": "length"}], "usage": {"prompt_tokens": 3}}),
                Ok(Completion {
                    content: "ab".into(),
                    prompt_tokens: 3,
                    completion_tokens: 0,
                    finish_reason: Some("length".into()),
                }),
            ),
        ];
        for (body, expected) in cases {
            server.reset().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .mount(&server)
                .await;
            assert_eq!(
                c.complete(&request(LlmProvider::Openrouter, false)).await,
                expected
            );
        }
        // A body that is not JSON: the error names a position, never the text.
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("Sure! Friday at 10."))
            .mount(&server)
            .await;
        match c.complete(&request(LlmProvider::Openrouter, false)).await {
            Err(LlmError::Malformed(m)) => assert!(!m.contains("Friday"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_slow_answer_is_a_timeout_at_the_requests_deadline() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(answer(json!("late")))
                    .set_delay(Duration::from_secs(3)),
            )
            .mount(&server)
            .await;
        let mut req = request(LlmProvider::Openrouter, false);
        req.timeout = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let err = client(&server, all_keys())
            .complete(&req)
            .await
            .unwrap_err();
        assert_eq!(err, LlmError::Timeout);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn the_requests_timeout_replaces_the_clients_shorter_one() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(answer(json!("worth the wait")))
                    .set_delay(Duration::from_millis(400)),
            )
            .mount(&server)
            .await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let c = ChatClient::new(http, Arc::new(all_keys()))
            .with_base(LlmProvider::Xai, format!("{}/api/v1", server.uri()));
        let done = c.complete(&request(LlmProvider::Xai, false)).await.unwrap();
        assert_eq!(done.content, "worth the wait");
    }

    #[tokio::test]
    async fn missing_keys_and_bases_are_not_configured_and_send_nothing() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer(json!("ok"))))
            .expect(0)
            .mount(&server)
            .await;
        let c = client(&server, Keys::default());
        for p in [LlmProvider::Openrouter, LlmProvider::Xai] {
            assert_eq!(
                c.complete(&request(p, false)).await,
                Err(LlmError::NotConfigured(p.as_str()))
            );
        }
        let bare = ChatClient::new(reqwest::Client::new(), Arc::new(all_keys()))
            .with_base(LlmProvider::Openrouter, "  ");
        for p in LlmProvider::ALL {
            assert!(!bare.configured(p));
            assert_eq!(
                bare.complete(&request(p, false)).await,
                Err(LlmError::NotConfigured(p.as_str()))
            );
            assert!(c.configured(p));
        }
        server.verify().await;
    }

    #[tokio::test]
    async fn a_connection_failure_is_transport_without_url_or_key() {
        // A port nothing listens on: bind, note it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = ChatClient::new(reqwest::Client::new(), Arc::new(all_keys())).with_base(
            LlmProvider::Openrouter,
            format!("http://127.0.0.1:{port}/api/v1?token=abc"),
        );
        match c.complete(&request(LlmProvider::Openrouter, false)).await {
            Err(LlmError::Transport(m)) => {
                assert!(m.starts_with("connection failed"), "{m}");
                assert!(!m.contains("127.0.0.1") && !m.contains("token"), "{m}");
                assert!(!m.contains(OPENROUTER_KEY), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn debug_shows_bases_but_no_key_or_credentials() {
        let c = ChatClient::new(reqwest::Client::new(), Arc::new(all_keys()))
            .with_base(LlmProvider::Openrouter, "https://openrouter.ai/api/v1")
            .with_base(
                LlmProvider::Custom,
                "https://proxy:s3cr3t-pass@llm.internal/v1?api_key=k3y",
            );
        let text = format!("{c:?}");
        assert!(text.contains("openrouter.ai/api/v1"), "{text}");
        assert!(text.contains("llm.internal/v1"), "{text}");
        for secret in [OPENROUTER_KEY, XAI_KEY, "s3cr3t", "k3y"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn each_preset_has_its_own_secret() {
        assert_eq!(
            key_name(LlmProvider::Openrouter).as_str(),
            "OPENROUTER_API_KEY"
        );
        assert_eq!(key_name(LlmProvider::Xai).as_str(), "XAI_API_KEY");
        assert_eq!(key_name(LlmProvider::Custom).as_str(), "LLM_CUSTOM_API_KEY");
    }
}
