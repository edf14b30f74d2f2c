//! A fake OpenAI-compatible language-model server for end-to-end tests: it records every
//! `POST /v1/chat/completions` and answers by rules on the model name.
//!
//! Why a fake rather than a mock per test: AI flows make several calls (a suggestion, a
//! summary, a translation) with prompts built deep inside the app; a test wants to say
//! "model `m1` answers this, `m2` is down" once, then read what the app actually sent
//! (prompt, temperature, key) afterwards. Every answer is a proper chat completion with
//! `usage`, so token accounting is exercised too.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use switchboard_testkit::llm::{Behaviour, FakeLlm};
//! let fake = FakeLlm::start().await;
//! fake.on_model("m1", Behaviour::reply("Friday at 10 works."));
//! fake.on_model_once("m2", Behaviour::Status(503));
//! fake.on_model("slow", Behaviour::Delay(Duration::from_secs(5), Box::new(Behaviour::reply("late"))));
//! // Point OPENROUTER_API_URL / XAI_API_URL / LLM_CUSTOM_API_URL at `fake.url()`, run the
//! // app, then:
//! assert_eq!(fake.requests()[0].model, "m1");
//! # }
//! ```
//!
//! Rules are tried in the order they were added; the first whose model matches answers,
//! and a one-shot rule is then removed. With no matching rule the answer is
//! [`DEFAULT_REPLY`]. Token counts: prompt = characters of all messages / 4, completion
//! = characters of the reply / 4, each at least 1.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// The reply when no rule matches.
pub const DEFAULT_REPLY: &str = "ok";

/// The path the fake serves, below [`FakeLlm::url`].
const COMPLETIONS_PATH: &str = "/v1/chat/completions";

/// Computes a reply from the request.
pub type ReplyFn = Arc<dyn Fn(&RecordedChat) -> String + Send + Sync>;

/// How the fake answers a request.
#[derive(Clone)]
pub enum Behaviour {
    /// A completion with this content.
    Reply(String),
    /// This HTTP status with an OpenAI-shaped error body
    /// (`{"error": {"message": "fake status 503", "code": 503}}`).
    Status(u16),
    /// The inner behaviour after a delay (for timeouts).
    Delay(Duration, Box<Behaviour>),
    /// A completion whose content is this JSON, serialised.
    Json(Value),
    /// A completion whose content the function computes from the request.
    Handler(ReplyFn),
    /// This status and body verbatim (an OpenRouter-style `200` carrying an `error`, a
    /// body that is not a completion).
    Raw(u16, Value),
}

impl Behaviour {
    /// [`Behaviour::Reply`] of `text`.
    pub fn reply(text: impl Into<String>) -> Self {
        Behaviour::Reply(text.into())
    }

    /// [`Behaviour::Handler`] of `f`.
    pub fn handler(f: impl Fn(&RecordedChat) -> String + Send + Sync + 'static) -> Self {
        Behaviour::Handler(Arc::new(f))
    }

    /// [`Behaviour::Delay`] of `self` by `delay`.
    pub fn after(self, delay: Duration) -> Self {
        Behaviour::Delay(delay, Box::new(self))
    }
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Behaviour::Reply(t) => f.debug_tuple("Reply").field(t).finish(),
            Behaviour::Status(s) => f.debug_tuple("Status").field(s).finish(),
            Behaviour::Delay(d, b) => f.debug_tuple("Delay").field(d).field(b).finish(),
            Behaviour::Json(v) => f.debug_tuple("Json").field(v).finish(),
            Behaviour::Handler(_) => f.write_str("Handler(..)"),
            Behaviour::Raw(s, v) => f.debug_tuple("Raw").field(s).field(v).finish(),
        }
    }
}

/// One message of a recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    /// `system`, `user` or `assistant` (as sent).
    pub role: String,
    /// The text.
    pub content: String,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedChat {
    /// `model` (empty when the body was not a JSON object with one).
    pub model: String,
    /// `messages`, in order.
    pub messages: Vec<RecordedMessage>,
    /// `temperature`, if sent.
    pub temperature: Option<f32>,
    /// `max_tokens`, if sent.
    pub max_tokens: Option<u32>,
    /// Whether `response_format` was `{"type": "json_object"}`.
    pub json: bool,
    /// The `Authorization` header, if sent (`Bearer …`).
    pub authorization: Option<String>,
    /// The `X-Title` header, if sent (OpenRouter's app name).
    pub title: Option<String>,
    /// When it arrived.
    pub received_at: Instant,
    /// The whole JSON body (`Null` when it did not parse).
    pub body: Value,
}

impl RecordedChat {
    /// The content of the first message of `role`.
    pub fn message(&self, role: &str) -> Option<&str> {
        self.messages
            .iter()
            .find(|m| m.role == role)
            .map(|m| m.content.as_str())
    }

    /// Every message's text, joined with newlines (for `contains` checks).
    pub fn prompt_text(&self) -> String {
        self.messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug)]
struct Rule {
    /// `None`: any model.
    model: Option<String>,
    behaviour: Behaviour,
    once: bool,
}

#[derive(Debug, Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    requests: Mutex<Vec<RecordedChat>>,
    served: Mutex<u64>,
}

/// A running fake; it stops when dropped.
#[derive(Debug)]
pub struct FakeLlm {
    server: MockServer,
    state: Arc<State>,
}

/// A poisoned lock only means another test thread panicked; the data is still fine.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeLlm {
    /// Starts a fake on a random local port.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(State::default());
        Mock::given(method("POST"))
            .and(path(COMPLETIONS_PATH))
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The base URL to configure (`http://127.0.0.1:<port>/v1`).
    pub fn url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// Answers requests for `model` with `behaviour` from now on (after earlier rules
    /// for the same model).
    pub fn on_model(&self, model: impl Into<String>, behaviour: Behaviour) {
        self.push(Some(model.into()), behaviour, false);
    }

    /// Answers the next request for `model` with `behaviour`, once.
    pub fn on_model_once(&self, model: impl Into<String>, behaviour: Behaviour) {
        self.push(Some(model.into()), behaviour, true);
    }

    /// Answers requests for any model with `behaviour` (after earlier rules).
    pub fn on_any_model(&self, behaviour: Behaviour) {
        self.push(None, behaviour, false);
    }

    /// Answers the next request for any model with `behaviour`, once.
    pub fn on_any_model_once(&self, behaviour: Behaviour) {
        self.push(None, behaviour, true);
    }

    fn push(&self, model: Option<String>, behaviour: Behaviour, once: bool) {
        lock(&self.state.rules).push(Rule {
            model,
            behaviour,
            once,
        });
    }

    /// Removes every rule (answers are [`DEFAULT_REPLY`] again).
    pub fn clear_rules(&self) {
        lock(&self.state.rules).clear();
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedChat> {
        lock(&self.state.requests).clone()
    }

    /// The requests for `model`, oldest first.
    pub fn requests_for(&self, model: &str) -> Vec<RecordedChat> {
        lock(&self.state.requests)
            .iter()
            .filter(|r| r.model == model)
            .cloned()
            .collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }
}

/// The wiremock responder holding the rules.
struct Responder(Arc<State>);

impl Respond for Responder {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let chat = record(request);
        lock(&self.0.requests).push(chat.clone());
        if chat.body.is_null() {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"message": "the body is not JSON", "code": 400}}));
        }
        let behaviour = {
            let mut rules = lock(&self.0.rules);
            let found = rules
                .iter()
                .position(|r| r.model.as_ref().is_none_or(|m| *m == chat.model));
            match found {
                Some(i) if rules[i].once => rules.remove(i).behaviour,
                Some(i) => rules[i].behaviour.clone(),
                None => Behaviour::reply(DEFAULT_REPLY),
            }
        };
        let n = {
            let mut served = lock(&self.0.served);
            *served += 1;
            *served
        };
        answer(&behaviour, &chat, n)
    }
}

/// What was sent, read leniently: a field of the wrong type reads as absent.
fn record(request: &wiremock::Request) -> RecordedChat {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    RecordedChat {
        model: text(&body, "model"),
        messages: body
            .get("messages")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .map(|m| RecordedMessage {
                        role: text(m, "role"),
                        content: text(m, "content"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        temperature: body
            .get("temperature")
            .and_then(Value::as_f64)
            .map(|t| t as f32),
        max_tokens: body
            .get("max_tokens")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        json: body
            .pointer("/response_format/type")
            .and_then(Value::as_str)
            == Some("json_object"),
        authorization: header("authorization"),
        title: header("x-title"),
        received_at: Instant::now(),
        body,
    }
}

/// Tokens as the fake counts them: a quarter of the characters, at least 1.
fn tokens(chars: usize) -> usize {
    (chars / 4).max(1)
}

fn answer(behaviour: &Behaviour, chat: &RecordedChat, n: u64) -> ResponseTemplate {
    let content = match behaviour {
        Behaviour::Reply(text) => text.clone(),
        Behaviour::Json(value) => value.to_string(),
        Behaviour::Handler(f) => f(chat),
        Behaviour::Status(status) => {
            return ResponseTemplate::new(*status).set_body_json(json!({
                "error": {"message": format!("fake status {status}"), "code": status}
            }));
        }
        Behaviour::Raw(status, body) => {
            return ResponseTemplate::new(*status).set_body_json(body);
        }
        Behaviour::Delay(delay, inner) => return answer(inner, chat, n).set_delay(*delay),
    };
    let prompt_chars: usize = chat
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum();
    let prompt_tokens = tokens(prompt_chars);
    let completion_tokens = tokens(content.chars().count());
    ResponseTemplate::new(200).set_body_json(json!({
        "id": format!("chatcmpl-fake-{n}"),
        "object": "chat.completion",
        "created": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "model": chat.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn chat(fake: &FakeLlm, body: Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/chat/completions", fake.url()))
            .bearer_auth("sk-test-key")
            .header("X-Title", "Switchboard")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    fn body(model: &str, user: &str) -> Value {
        json!({
            "model": model,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": user}
            ],
            "stream": false
        })
    }

    fn content(answer: &Value) -> &str {
        answer["choices"][0]["message"]["content"].as_str().unwrap()
    }

    #[tokio::test]
    async fn records_requests_and_answers_with_a_default_completion() {
        let fake = FakeLlm::start().await;
        let mut b = body("m1", "Hello there, how are you?");
        b["temperature"] = json!(0.2);
        b["max_tokens"] = json!(300);
        b["response_format"] = json!({"type": "json_object"});
        let (status, answer) = chat(&fake, b).await;
        assert_eq!(status, 200);
        assert_eq!(content(&answer), DEFAULT_REPLY);
        assert_eq!(answer["model"], "m1");
        assert_eq!(answer["choices"][0]["finish_reason"], "stop");
        // "Be brief." (9) + "Hello there, how are you?" (25) = 34 chars → 8; "ok" → 1.
        assert_eq!(
            answer["usage"],
            json!({"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9})
        );

        let recorded = fake.requests();
        assert_eq!(recorded.len(), 1);
        let r = &recorded[0];
        assert_eq!(r.model, "m1");
        assert_eq!(
            r.messages,
            [
                RecordedMessage {
                    role: "system".into(),
                    content: "Be brief.".into()
                },
                RecordedMessage {
                    role: "user".into(),
                    content: "Hello there, how are you?".into()
                },
            ]
        );
        assert_eq!(r.message("user"), Some("Hello there, how are you?"));
        assert_eq!(r.temperature, Some(0.2));
        assert_eq!(r.max_tokens, Some(300));
        assert!(r.json);
        assert_eq!(r.authorization.as_deref(), Some("Bearer sk-test-key"));
        assert_eq!(r.title.as_deref(), Some("Switchboard"));
        assert!(r.prompt_text().contains("how are you"));

        fake.clear_requests();
        assert!(fake.requests().is_empty());
        let (_, _) = chat(&fake, body("m2", "x")).await;
        let r = &fake.requests()[0];
        assert!(!r.json && r.temperature.is_none() && r.max_tokens.is_none());
    }

    #[tokio::test]
    async fn rules_match_the_model_in_order_and_one_shot_rules_are_used_up() {
        let fake = FakeLlm::start().await;
        fake.on_model_once("m1", Behaviour::Status(503));
        fake.on_model("m1", Behaviour::reply("Friday works."));
        fake.on_model("m2", Behaviour::Json(json!({"intent": "reschedule"})));
        fake.on_model(
            "echo",
            Behaviour::handler(|r| r.message("user").unwrap_or("").to_uppercase()),
        );
        fake.on_model("raw", Behaviour::Raw(200, json!({"error": {"code": 502}})));

        let (status, err) = chat(&fake, body("m1", "a")).await;
        assert_eq!(status, 503);
        assert_eq!(err["error"]["message"], "fake status 503");
        for _ in 0..2 {
            let (status, answer) = chat(&fake, body("m1", "a")).await;
            assert_eq!((status, content(&answer)), (200, "Friday works."));
        }
        let (_, answer) = chat(&fake, body("m2", "a")).await;
        assert_eq!(
            serde_json::from_str::<Value>(content(&answer)).unwrap(),
            json!({"intent": "reschedule"})
        );
        let (_, answer) = chat(&fake, body("echo", "shout this")).await;
        assert_eq!(content(&answer), "SHOUT THIS");
        assert_eq!(answer["usage"]["completion_tokens"], 2);
        assert_eq!(
            chat(&fake, body("raw", "a")).await,
            (200, json!({"error": {"code": 502}}))
        );
        let (_, answer) = chat(&fake, body("other", "a")).await;
        assert_eq!(content(&answer), DEFAULT_REPLY);
        assert_eq!(fake.requests_for("m1").len(), 3);
        assert_eq!(fake.requests().len(), 7);

        fake.on_any_model_once(Behaviour::Status(429));
        assert_eq!(chat(&fake, body("other", "a")).await.0, 429);
        assert_eq!(chat(&fake, body("other", "a")).await.0, 200);
        fake.clear_rules();
        let (_, answer) = chat(&fake, body("m1", "a")).await;
        assert_eq!(content(&answer), DEFAULT_REPLY);
    }

    #[tokio::test]
    async fn a_delayed_answer_arrives_late_and_is_recorded_on_arrival() {
        let fake = FakeLlm::start().await;
        fake.on_model(
            "slow",
            Behaviour::reply("late").after(Duration::from_millis(300)),
        );
        let started = Instant::now();
        let sent = reqwest::Client::new()
            .post(format!("{}/chat/completions", fake.url()))
            .timeout(Duration::from_millis(100))
            .json(&body("slow", "a"))
            .send()
            .await;
        assert!(sent.unwrap_err().is_timeout());
        let r = &fake.requests()[0];
        assert!(r.received_at.duration_since(started) < Duration::from_millis(100));
        assert_eq!(r.authorization, None);

        let started = Instant::now();
        let (status, answer) = chat(&fake, body("slow", "a")).await;
        assert_eq!((status, content(&answer)), (200, "late"));
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
