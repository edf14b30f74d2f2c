//! The port to language models: one OpenAI-compatible chat completion, named by a
//! provider preset and a model.
//!
//! The client (in `switchboard-providers`) knows each provider's base URL and key from the
//! deployment's configuration, never from an org: an org's settings only choose among the
//! presets the deployment has configured. What goes into a prompt (and what must never:
//! phone numbers, other contacts) is decided by [`crate::usecases::ai`]; the client only
//! carries it and never logs it.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A provider preset (`openrouter`, `xai`, `custom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmProvider {
    /// OpenRouter (`OPENROUTER_API_URL`, key `OPENROUTER_API_KEY`).
    Openrouter,
    /// xAI (`XAI_API_URL`, key `XAI_API_KEY`).
    Xai,
    /// Any OpenAI-compatible server the deployment names (`LLM_CUSTOM_API_URL`, optional
    /// key `LLM_CUSTOM_API_KEY`), such as Ollama in the deployment's VPC.
    Custom,
}

impl LlmProvider {
    /// Every preset.
    pub const ALL: [LlmProvider; 3] = [
        LlmProvider::Openrouter,
        LlmProvider::Xai,
        LlmProvider::Custom,
    ];

    /// The name used in settings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LlmProvider::Openrouter => "openrouter",
            LlmProvider::Xai => "xai",
            LlmProvider::Custom => "custom",
        }
    }

    /// Parses a preset name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A model: a provider preset and the model's name there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelRef {
    /// The preset.
    pub provider: LlmProvider,
    /// The model's name at the provider (`anthropic/claude-3.5-sonnet`, `grok-3`, …).
    pub name: String,
}

impl ModelRef {
    /// A model of `provider`.
    pub fn new(provider: LlmProvider, name: impl Into<String>) -> Self {
        Self {
            provider,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.provider.as_str(), self.name)
    }
}

/// Who a chat message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The customer (or the question asked of the model).
    User,
    /// The business's earlier replies.
    Assistant,
}

/// One message of a prompt.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Its author.
    pub role: ChatRole,
    /// Its text.
    pub content: String,
}

impl std::fmt::Debug for ChatMessage {
    // Prompts carry customers' words: only their size is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatMessage")
            .field("role", &self.role)
            .field("chars", &self.content.chars().count())
            .finish()
    }
}

impl ChatMessage {
    /// A message of `role`.
    pub fn new(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// One chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model.
    pub model: ModelRef,
    /// The prompt, system message first.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature, if set.
    pub temperature: Option<f32>,
    /// The completion's token limit, if set.
    pub max_tokens: Option<u32>,
    /// How long the call may take, connection included.
    pub timeout: Duration,
    /// Ask for a JSON object (`response_format: {"type": "json_object"}`).
    pub json: bool,
}

/// A model's answer.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Completion {
    /// The first choice's text.
    pub content: String,
    /// Tokens of the prompt, as the provider counted them.
    pub prompt_tokens: u32,
    /// Tokens of the completion.
    pub completion_tokens: u32,
    /// Why the model stopped (`stop`, `length`, …).
    pub finish_reason: Option<String>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("chars", &self.content.chars().count())
            .field("prompt_tokens", &self.prompt_tokens)
            .field("completion_tokens", &self.completion_tokens)
            .field("finish_reason", &self.finish_reason)
            .finish()
    }
}

/// How a model call failed. Messages never carry the prompt or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The deployment has no base URL (or no key) for this preset.
    #[error("language model provider {0} is not configured")]
    NotConfigured(&'static str),
    /// No answer within the request's timeout.
    #[error("the model did not answer in time")]
    Timeout,
    /// 429: the provider's rate limit.
    #[error("rate limited by the provider (429)")]
    RateLimited,
    /// 5xx: the provider failed.
    #[error("provider error (HTTP {0})")]
    Server(u16),
    /// Another 4xx: the request was refused (bad model name, refused key, …).
    #[error("refused by the provider (HTTP {status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The provider's error message, shortened.
        message: String,
    },
    /// Connection failed.
    #[error("could not reach the provider: {0}")]
    Transport(String),
    /// A 2xx whose body is not a chat completion.
    #[error("unexpected answer from the provider: {0}")]
    Malformed(String),
}

impl LlmError {
    /// A short code for records and statistics.
    pub fn code(&self) -> &'static str {
        match self {
            LlmError::NotConfigured(_) => "not_configured",
            LlmError::Timeout => "timeout",
            LlmError::RateLimited => "rate_limited",
            LlmError::Server(_) => "server_error",
            LlmError::Refused { .. } => "refused",
            LlmError::Transport(_) => "transport",
            LlmError::Malformed(_) => "malformed",
        }
    }
}

/// The language-model port.
#[async_trait]
pub trait LlmApi: Send + Sync + std::fmt::Debug {
    /// One chat completion.
    async fn complete(&self, req: &ChatRequest) -> Result<Completion, LlmError>;

    /// Whether `provider` has a base URL in this deployment (settings naming a preset
    /// without one are refused).
    fn configured(&self, provider: LlmProvider) -> bool;
}

/// The port when no model is configured at all: every call is refused as not configured.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoModels;

#[async_trait]
impl LlmApi for NoModels {
    async fn complete(&self, req: &ChatRequest) -> Result<Completion, LlmError> {
        Err(LlmError::NotConfigured(req.model.provider.as_str()))
    }

    fn configured(&self, _provider: LlmProvider) -> bool {
        false
    }
}
