//! AI replies end to end, against a fake OpenAI-compatible server that records every
//! request and fails on demand, with the clock moved by hand: the prompt (system prompt
//! first, the conversation in order, the answered message last, no phone number), drafts
//! accepted (edited) and rejected, a burst answered once, fallback on 5xx and timeouts
//! with a visible reason when both fail, auto mode within the caps, the hours and the
//! 24-hour window, handoff by keyword and by the model, the A/B split, sentiment filters,
//! summaries and translations, and the readout. The core flows run on both backends.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::clock::{Clock, FixedClock};
use switchboard_core::ids::{ContactId, OrgId, Role, WaId};
use switchboard_core::queue::QueueName;
use switchboard_core::secrets::SecretName;
use switchboard_core::usecases::ai::{Variant, variant_of};
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID};
use switchboard_testkit::llm::{Behaviour, FakeLlm, RecordedChat};
use wiremock::Mock;
use wiremock::matchers::{method, path};

use crate::reminders::Recorder;
use crate::support::{Backend, Harness, Options, graph_knowing_the_number};

const CUSTOMER: &str = "31612345678";
const OPENROUTER_KEY: &str = "sk-or-test-key";
const XAI_KEY: &str = "xai-test-key";
const PRIMARY: &str = "anthropic/claude-3.5-sonnet";
const FALLBACK: &str = "anthropic/claude-3-haiku";

struct Setup {
    h: Harness,
    clock: Arc<FixedClock>,
    llm: FakeLlm,
    sends: Recorder,
    _graph: wiremock::MockServer,
    admin: String,
    agent: String,
}

fn start() -> DateTime<Utc> {
    // A Monday, 10:00 UTC.
    Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()
}

/// Answers analysis calls (JSON asked for) with a negative analysis, and replies with a
/// fixed text.
fn standard_answers(llm: &FakeLlm) {
    llm.on_any_model(Behaviour::handler(|r: &RecordedChat| {
        if r.json {
            json!({"sentiment": "negative", "score": -0.7, "category": "billing", "language": "nl"})
                .to_string()
        } else {
            "We are open from 9 to 5.".to_owned()
        }
    }));
}

async fn setup(backend: Backend) -> Setup {
    setup_with(backend, None).await
}

async fn setup_with(backend: Backend, wrap_queue: Option<crate::support::QueueWrapper>) -> Setup {
    let clock = Arc::new(FixedClock::new(start()));
    let graph = graph_knowing_the_number().await;
    let sends = Recorder::default();
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
        .respond_with(sends.clone())
        .mount(&graph)
        .await;
    let llm = FakeLlm::start().await;
    let mut opts = Options {
        backend,
        graph_url: Some(format!("{}/v23.0", graph.uri())),
        workers: false,
        clock: Some(clock.clone()),
        llm_url: Some(llm.url()),
        wrap_queue,
        ..Options::default()
    };
    opts.secrets
        .push((SecretName::OpenrouterApiKey, OPENROUTER_KEY.into()));
    opts.secrets.push((SecretName::XaiApiKey, XAI_KEY.into()));
    let h = Harness::with(opts).await;
    h.connect("acme", PHONE_NUMBER_ID).await;
    let admin = h.token("acme", Role::Admin);
    let agent = h.token_as("acme", Role::Agent, "agent-1");
    Setup {
        h,
        clock,
        llm,
        sends,
        _graph: graph,
        admin,
        agent,
    }
}

async fn put_settings(s: &Setup, body: Value) -> Value {
    let (st, v) = s.h.put_json("/v1/ai/settings", &s.admin, &body).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

/// The customer writes `text` (as `customer`, `at` provider time); the inbound consumer
/// applies it. Returns the conversation id.
async fn customer_writes(
    s: &Setup,
    customer: &str,
    wamid: &str,
    text: &str,
    at: DateTime<Utc>,
) -> String {
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        customer,
        "Customer",
        wamid,
        at.timestamp(),
        text,
    )]);
    assert_eq!(s.h.webhook(&body).await.status(), StatusCode::OK);
    s.h.drain(QueueName::Inbound).await;
    conversation_of(customer)
}

fn conversation_of(customer: &str) -> String {
    switchboard_core::ids::ConversationId::for_thread(
        &OrgId::parse("acme").unwrap(),
        &switchboard_core::ids::PhoneNumberId::parse(PHONE_NUMBER_ID).unwrap(),
        &WaId::parse(customer).unwrap(),
    )
    .to_string()
}

async fn suggestions(s: &Setup, conv: &str) -> Vec<Value> {
    let (st, list) =
        s.h.get(&format!("/v1/conversations/{conv}/suggestions"), &s.agent)
            .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

fn reply_calls(llm: &FakeLlm) -> Vec<RecordedChat> {
    llm.requests().into_iter().filter(|r| !r.json).collect()
}

/// Sends what is on the outbound queue through the fake Graph; answers the texts sent.
async fn sent_texts(s: &Setup) -> Vec<String> {
    s.h.drain(QueueName::Outbound).await;
    s.sends
        .bodies()
        .iter()
        .filter_map(|b| b["text"]["body"].as_str().map(str::to_owned))
        .collect()
}

fn advance(s: &Setup, secs: i64) {
    s.clock.advance(chrono::Duration::seconds(secs));
}

async fn drafts_are_accepted_and_rejected(backend: Backend) {
    let s = setup(backend).await;
    standard_answers(&s.llm);
    put_settings(
        &s,
        json!({"enabled": true, "mode": "draft", "system_prompt": "You are the assistant of Bakkerij Jansen.",
            "categories": ["billing", "opening-hours"], "temperature": 0.2, "max_tokens": 300}),
    )
    .await;
    let conv = customer_writes(
        &s,
        CUSTOMER,
        "wamid.ai1",
        "Hoi! Bel me op +31 6 1234 5678, wanneer zijn jullie open?",
        start(),
    )
    .await;
    s.h.drain(QueueName::Ai).await;

    // The reply prompt: the org's prompt first in the system message, the customer's
    // message last, no phone number anywhere, the settings' parameters, the key.
    let calls = reply_calls(&s.llm);
    assert_eq!(calls.len(), 1, "one reply call");
    let call = &calls[0];
    assert_eq!(call.model, PRIMARY);
    assert_eq!(call.messages[0].role, "system");
    assert!(
        call.messages[0]
            .content
            .starts_with("You are the assistant of Bakkerij Jansen.")
    );
    let last = call.messages.last().unwrap();
    assert_eq!(last.role, "user");
    assert!(
        last.content.contains("wanneer zijn jullie open?"),
        "{}",
        last.content
    );
    let everything = s
        .llm
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect::<String>();
    for leak in [CUSTOMER, "6 1234 5678", "612345678"] {
        assert!(!everything.contains(leak), "{leak} was sent to a model");
    }
    assert_eq!(call.temperature, Some(0.2));
    assert_eq!(call.max_tokens, Some(300));
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("Bearer {OPENROUTER_KEY}").as_str())
    );
    // The analysis call asked for JSON and set the conversation's insight.
    assert!(s.llm.requests().iter().any(|r| r.json));
    let (_, c) =
        s.h.get(&format!("/v1/conversations/{conv}"), &s.agent)
            .await;
    assert_eq!(c["insight"]["sentiment"], "negative", "{c}");
    assert_eq!(c["insight"]["category"], "billing");
    assert_eq!(c["insight"]["language"], "nl");

    // One draft, with its variant and model.
    let list = suggestions(&s, &conv).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let draft = &list[0];
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["text"], "We are open from 9 to 5.");
    assert_eq!(draft["variant"], "a");
    assert_eq!(draft["model"], format!("openrouter:{PRIMARY}"));
    assert!(s.sends.bodies().is_empty(), "a draft sends nothing");

    // Accepted with an edit: sent through the send path, marked as an AI reply.
    let sid = draft["id"].as_str().unwrap();
    let accept = format!("/v1/conversations/{conv}/suggestions/{sid}/accept");
    let (st, r) =
        s.h.post(
            &accept,
            &s.agent,
            &json!({"text": "We zijn open van 9 tot 5."}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{r}");
    assert_eq!(r["suggestion"]["status"], "edited");
    assert_eq!(r["message"]["origin"]["kind"], "ai");
    assert_eq!(r["message"]["origin"]["auto"], false);
    assert_eq!(r["message"]["source"], "ai");
    assert_eq!(sent_texts(&s).await, ["We zijn open van 9 tot 5."]);
    // A second click sends nothing.
    let (st, e) = s.h.post(&accept, &s.agent, &json!({})).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("suggestion_not_draft"))
    );
    assert_eq!(sent_texts(&s).await.len(), 1);

    // Another question: a draft, rejected with a reason.
    advance(&s, 600);
    customer_writes(&s, CUSTOMER, "wamid.ai2", "En op zondag?", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    let list = suggestions(&s, &conv).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["status"], "draft", "newest first");
    let sid2 = list[0]["id"].as_str().unwrap();
    let (st, e) =
        s.h.post(
            &format!("/v1/conversations/{conv}/suggestions/{sid2}/reject"),
            &s.agent,
            &json!({"reason": 7}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let (st, r) =
        s.h.post(
            &format!("/v1/conversations/{conv}/suggestions/{sid2}/reject"),
            &s.agent,
            &json!({"reason": "wrong hours"}),
        )
        .await;
    assert_eq!(
        (st, r["status"].as_str()),
        (StatusCode::OK, Some("rejected")),
        "{r}"
    );
    assert_eq!(r["reason"], "wrong hours");

    // Another org sees none of it.
    let other = s.h.token("globex", Role::Admin);
    let (st, _) =
        s.h.get(&format!("/v1/conversations/{conv}/suggestions"), &other)
            .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) =
        s.h.post(
            &format!("/v1/conversations/{conv}/suggestions/{sid2}/reject"),
            &other,
            &json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // The readout.
    let (st, stats) =
        s.h.get(
            "/v1/ai/stats?from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z",
            &s.admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{stats}");
    let a = &stats["variants"][0];
    assert_eq!(a["variant"], "a");
    assert_eq!(a["calls"], 2);
    assert_eq!(a["drafts"], 2);
    assert_eq!(a["drafts_edited"], 1);
    assert_eq!(a["drafts_rejected"], 1);
    assert_eq!(a["replies_sent"], 1);
    assert!(
        a["latency_ms"]["p50"].is_u64() && a["latency_ms"]["p95"].is_u64(),
        "{a}"
    );
    assert!(a["tokens"]["prompt"].as_u64().unwrap() > 0);
    let analysis = stats["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "analysis")
        .unwrap();
    assert_eq!(analysis["calls"], 2);
    // Agents do not read the readout.
    let (st, _) = s.h.get("/v1/ai/stats", &s.agent).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    s.h.stop().await;
}

#[tokio::test]
async fn drafts_are_accepted_and_rejected_sqlite() {
    drafts_are_accepted_and_rejected(Backend::Local).await;
}

#[tokio::test]
async fn drafts_are_accepted_and_rejected_dynamodb() {
    drafts_are_accepted_and_rejected(Backend::Aws).await;
}

async fn auto_replies_within_caps_hours_and_window(backend: Backend) {
    let s = setup(backend).await;
    standard_answers(&s.llm);
    put_settings(
        &s,
        json!({"enabled": true, "mode": "auto", "analysis": false,
        "caps": {"per_conversation_per_day": 2}}),
    )
    .await;
    let conv = conversation_of(CUSTOMER);
    // A burst of three messages before the worker runs: one reply, to the last.
    for (i, text) in ["hallo", "ik heb een vraag", "wat kost een taart?"]
        .iter()
        .enumerate()
    {
        customer_writes(&s, CUSTOMER, &format!("wamid.b{i}"), text, s.clock.now()).await;
        advance(&s, 2);
    }
    s.h.drain(QueueName::Ai).await;
    let calls = reply_calls(&s.llm);
    assert_eq!(calls.len(), 1, "a burst is answered once");
    assert_eq!(
        calls[0].messages.last().unwrap().content,
        "wat kost een taart?"
    );
    let user_turns: Vec<&str> = calls[0]
        .messages
        .iter()
        .filter(|m| m.role == "user")
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(
        user_turns,
        ["hallo", "ik heb een vraag", "wat kost een taart?"],
        "in conversation order"
    );
    assert_eq!(sent_texts(&s).await, ["We are open from 9 to 5."]);
    let list = suggestions(&s, &conv).await;
    assert_eq!((list.len(), list[0]["status"].as_str()), (1, Some("sent")));
    let (_, msgs) =
        s.h.get(&format!("/v1/conversations/{conv}/messages"), &s.agent)
            .await;
    let sources: Vec<&str> = msgs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["customer", "customer", "customer", "ai"],
        "marked as AI's"
    );
    let auto = msgs["items"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (auto["origin"]["auto"].as_bool(), auto["sent_by"].as_str()),
        (Some(true), None)
    );
    // The job again (a redelivery): nothing more.
    let msg_id = list[0]["message_id"].as_str().unwrap().to_owned();
    let job = json!({"org_id": "acme", "conversation_id": conv, "message_id": msg_id}).to_string();
    let outcome = switchboard_core::usecases::ai::reply::process(
        s.h.app.services(),
        &s.h.app.config().billing,
        &job,
    )
    .await
    .unwrap();
    assert_eq!(
        outcome,
        switchboard_core::usecases::ai::reply::JobOutcome::Skipped("done")
    );

    // Second reply today, then the cap.
    advance(&s, 300);
    customer_writes(&s, CUSTOMER, "wamid.c1", "en een brood?", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    advance(&s, 300);
    customer_writes(&s, CUSTOMER, "wamid.c2", "en koekjes?", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    assert_eq!(
        sent_texts(&s).await.len(),
        2,
        "two per conversation per day"
    );
    assert_eq!(reply_calls(&s.llm).len(), 2, "a capped job calls no model");
    // The next day the cap is fresh.
    advance(&s, 86_400);
    customer_writes(&s, CUSTOMER, "wamid.c3", "nog een vraag", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    assert_eq!(sent_texts(&s).await.len(), 3);

    // A message whose window already closed (delivered a day late): a draft only.
    advance(&s, 60);
    let late = s.clock.now() - chrono::Duration::hours(25);
    customer_writes(&s, "31687654321", "wamid.late", "hallo?", late).await;
    s.h.drain(QueueName::Ai).await;
    let late_list = suggestions(&s, &conversation_of("31687654321")).await;
    assert_eq!(late_list[0]["status"], "draft");
    assert_eq!(late_list[0]["reason"], "window_closed");

    // Office hours all week with auto-replies outside them: drafts.
    put_settings(&s, json!({"enabled": true, "mode": "auto", "analysis": false,
        "business_hours": {"timezone": "Europe/Amsterdam", "windows": [{"days": ["mon","tue","wed","thu","fri","sat","sun"], "start": "00:00", "end": "24:00"}], "auto_reply": "outside"}})).await;
    advance(&s, 60);
    customer_writes(&s, "31611112222", "wamid.hours", "open?", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    let hours = suggestions(&s, &conversation_of("31611112222")).await;
    assert_eq!(
        (hours[0]["status"].as_str(), hours[0]["reason"].as_str()),
        (Some("draft"), Some("outside_auto_reply_hours"))
    );
    assert_eq!(sent_texts(&s).await.len(), 3);
    s.h.stop().await;
}

#[tokio::test]
async fn auto_replies_within_caps_hours_and_window_sqlite() {
    auto_replies_within_caps_hours_and_window(Backend::Local).await;
}

#[tokio::test]
async fn auto_replies_within_caps_hours_and_window_dynamodb() {
    auto_replies_within_caps_hours_and_window(Backend::Aws).await;
}

#[tokio::test]
async fn the_fallback_answers_and_both_failing_leaves_a_reason() {
    let s = setup(Backend::Local).await;
    put_settings(
        &s,
        json!({"enabled": true, "mode": "draft", "analysis": false, "timeout_secs": 1}),
    )
    .await;
    // The primary fails with a 503: the fallback answers.
    s.llm.on_model_once(PRIMARY, Behaviour::Status(503));
    s.llm.on_model(FALLBACK, Behaviour::reply("Fallback here."));
    let conv = customer_writes(&s, CUSTOMER, "wamid.f1", "hallo", start()).await;
    s.h.drain(QueueName::Ai).await;
    let list = suggestions(&s, &conv).await;
    assert_eq!(list[0]["text"], "Fallback here.");
    assert_eq!(list[0]["fallback"], true);
    assert_eq!(list[0]["model"], format!("openrouter:{FALLBACK}"));
    let models: Vec<String> = s.llm.requests().iter().map(|r| r.model.clone()).collect();
    assert_eq!(models, [PRIMARY, FALLBACK]);

    // The primary times out (the 1-second timeout is honoured) and the fallback is rate
    // limited: no reply, and the reason says why.
    s.llm.clear_rules();
    s.llm.clear_requests();
    s.llm.on_model(
        PRIMARY,
        Behaviour::reply("too late").after(Duration::from_secs(5)),
    );
    s.llm.on_model(FALLBACK, Behaviour::Status(429));
    advance(&s, 60);
    let started = std::time::Instant::now();
    customer_writes(&s, CUSTOMER, "wamid.f2", "hallo?", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the call was cut at its timeout"
    );
    let list = suggestions(&s, &conv).await;
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["reason"], "model_error:timeout,rate_limited");
    assert_eq!(list[0]["text"], Value::Null);

    // Empty and over-long output are not sent.
    s.llm.clear_rules();
    s.llm.on_any_model(Behaviour::reply("   "));
    advance(&s, 60);
    customer_writes(&s, CUSTOMER, "wamid.f3", "hallo!!", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    assert_eq!(suggestions(&s, &conv).await[0]["reason"], "empty_output");
    s.llm.clear_rules();
    s.llm.on_any_model(Behaviour::reply("x".repeat(4_097)));
    advance(&s, 60);
    customer_writes(&s, CUSTOMER, "wamid.f4", "hallo!!!", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    assert_eq!(suggestions(&s, &conv).await[0]["reason"], "too_long");
    s.h.stop().await;
}

#[tokio::test]
async fn handoff_by_keyword_and_by_the_model() {
    let s = setup(Backend::Local).await;
    standard_answers(&s.llm);
    put_settings(
        &s,
        json!({"enabled": true, "mode": "auto", "analysis": false}),
    )
    .await;
    // An agent is assigned; the customer asks for a person.
    let conv = customer_writes(&s, CUSTOMER, "wamid.h0", "hoi", start()).await;
    s.h.drain(QueueName::Ai).await;
    let (st, _) =
        s.h.patch(
            &format!("/v1/conversations/{conv}"),
            &s.admin,
            &json!({"assignee": "agent-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    s.llm.clear_requests();
    advance(&s, 3_600);
    customer_writes(
        &s,
        CUSTOMER,
        "wamid.h1",
        "Ik wil een MEDEWERKER spreken",
        s.clock.now(),
    )
    .await;
    s.h.drain(QueueName::Ai).await;
    assert!(
        reply_calls(&s.llm).is_empty(),
        "no model call on a handoff keyword"
    );
    let (_, c) =
        s.h.get(&format!("/v1/conversations/{conv}"), &s.agent)
            .await;
    assert_eq!(c["status"], "pending");
    assert_eq!(c["assignee"], Value::Null);
    assert!(
        c["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "handoff"),
        "{c}"
    );
    // Silent while handed off.
    advance(&s, 60);
    customer_writes(&s, CUSTOMER, "wamid.h2", "hallo??", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    assert!(reply_calls(&s.llm).is_empty());
    let (_, handoffs) =
        s.h.get("/v1/conversations?status=pending&label=handoff", &s.agent)
            .await;
    assert_eq!(handoffs["items"].as_array().unwrap().len(), 1);
    // A person reopens it: AI answers again; the model itself hands off.
    let (st, _) =
        s.h.patch(
            &format!("/v1/conversations/{conv}"),
            &s.admin,
            &json!({"status": "open"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    s.llm.clear_rules();
    s.llm.on_any_model(Behaviour::reply("[HANDOFF]"));
    advance(&s, 60);
    customer_writes(
        &s,
        CUSTOMER,
        "wamid.h3",
        "mijn bestelling is kapot!",
        s.clock.now(),
    )
    .await;
    s.h.drain(QueueName::Ai).await;
    assert_eq!(reply_calls(&s.llm).len(), 1);
    let (_, c) =
        s.h.get(&format!("/v1/conversations/{conv}"), &s.agent)
            .await;
    assert_eq!(c["status"], "pending");
    assert_eq!(suggestions(&s, &conv).await[0]["status"], "handoff");
    assert_eq!(
        sent_texts(&s).await.len(),
        1,
        "only the first auto-reply went out"
    );
    let (_, stats) =
        s.h.get(
            "/v1/ai/stats?from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z",
            &s.admin,
        )
        .await;
    assert_eq!(stats["variants"][0]["handoffs"], 2, "{stats}");
    s.h.stop().await;
}

#[tokio::test]
async fn an_assignee_replying_pauses_auto_replies() {
    let s = setup(Backend::Local).await;
    standard_answers(&s.llm);
    put_settings(
        &s,
        json!({"enabled": true, "mode": "auto", "analysis": false, "human_pause_minutes": 30}),
    )
    .await;
    let conv = customer_writes(&s, CUSTOMER, "wamid.p0", "hoi", start()).await;
    s.h.drain(QueueName::Ai).await;
    s.h.patch(
        &format!("/v1/conversations/{conv}"),
        &s.admin,
        &json!({"assignee": "agent-1"}),
    )
    .await;
    let (st, _) =
        s.h.post(
            &format!("/v1/conversations/{conv}/messages"),
            &s.agent,
            &json!({"type": "text", "text": {"body": "Ik help je!"}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    s.llm.clear_requests();
    advance(&s, 600);
    customer_writes(&s, CUSTOMER, "wamid.p1", "dank je", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    assert!(reply_calls(&s.llm).is_empty(), "the assignee is answering");
    advance(&s, 1_800);
    customer_writes(&s, CUSTOMER, "wamid.p2", "nog iets", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    assert_eq!(
        reply_calls(&s.llm).len(),
        1,
        "30 minutes after the assignee's reply"
    );
    s.h.stop().await;
}

#[tokio::test]
async fn the_ab_split_is_stable_per_contact() {
    let s = setup(Backend::Local).await;
    standard_answers(&s.llm);
    put_settings(
        &s,
        json!({"enabled": true, "mode": "draft", "analysis": false,
        "experiment": {"model": {"provider": "xai", "name": "grok-4"}, "weight": 50}}),
    )
    .await;
    let org = OrgId::parse("acme").unwrap();
    let customers: Vec<String> = (0..12).map(|i| format!("316200000{i:02}")).collect();
    for round in 0..2 {
        s.llm.clear_requests();
        for (i, c) in customers.iter().enumerate() {
            customer_writes(
                &s,
                c,
                &format!("wamid.ab{round}.{i}"),
                "hallo",
                s.clock.now(),
            )
            .await;
            s.h.drain(QueueName::Ai).await;
            let call = reply_calls(&s.llm).pop().unwrap();
            let contact = ContactId::for_wa_id(&org, &WaId::parse(c).unwrap());
            let (model, key) = match variant_of(&org, &contact, 50) {
                Variant::A => (PRIMARY, OPENROUTER_KEY),
                Variant::B => ("grok-4", XAI_KEY),
            };
            assert_eq!(call.model, model, "customer {c} in round {round}");
            assert_eq!(
                call.authorization.as_deref(),
                Some(format!("Bearer {key}").as_str())
            );
        }
        advance(&s, 600);
    }
    let (_, stats) =
        s.h.get(
            "/v1/ai/stats?from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z",
            &s.admin,
        )
        .await;
    let calls: u64 = stats["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(calls, 24, "{stats}");
    assert_eq!(stats["weight_b"], 50);
    assert_eq!(stats["variants"][1]["model"], "xai:grok-4");
    s.h.stop().await;
}

#[tokio::test]
async fn settings_are_validated_and_scoped() {
    let s = setup(Backend::Local).await;
    let (st, v) = s.h.get("/v1/ai/settings", &s.agent).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (v["enabled"].as_bool(), v["timeout_secs"].as_u64()),
        (Some(false), Some(20))
    );
    assert_eq!(
        v["handoff_keywords"],
        json!(["human", "agent", "medewerker", "mens"])
    );
    let (st, _) =
        s.h.put_json("/v1/ai/settings", &s.agent, &json!({"enabled": true}))
            .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for (body, field) in [
        (json!({"mode": "sometimes"}), "mode"),
        (json!({"system_prompt": "x".repeat(8_001)}), "system_prompt"),
        (
            json!({"experiment": {"model": {"provider": "xai", "name": "grok-4"}, "weight": 120}}),
            "experiment.weight",
        ),
        (
            json!({"model": {"provider": "acme", "name": "m"}}),
            "model.provider",
        ),
        (
            json!({"business_hours": {"timezone": "Europe/Nowhere", "windows": []}}),
            "business_hours.timezone",
        ),
    ] {
        let (st, e) = s.h.put_json("/v1/ai/settings", &s.admin, &body).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
    put_settings(&s, json!({"enabled": true, "model": {"provider": "custom", "name": "aisingapore/Gemma-SEA-LION-v4-27B-IT"}, "fallback_model": null})).await;
    let (_, v) = s.h.get("/v1/ai/settings", &s.agent).await;
    assert_eq!(
        v["model"],
        json!({"provider": "custom", "name": "aisingapore/Gemma-SEA-LION-v4-27B-IT"})
    );
    assert_eq!(v["fallback_model"], Value::Null);
    // Another org still has its defaults.
    let (_, other) =
        s.h.get("/v1/ai/settings", &s.h.token("globex", Role::Agent))
            .await;
    assert_eq!(other["enabled"], false);
    s.h.stop().await;
}

#[tokio::test]
async fn sentiment_filters_summaries_and_translations() {
    let s = setup(Backend::Local).await;
    // Summary and translation before AI is on: refused.
    let conv = customer_writes(
        &s,
        CUSTOMER,
        "wamid.s0",
        "Mijn taart is nooit aangekomen!",
        start(),
    )
    .await;
    let (st, e) =
        s.h.post(
            &format!("/v1/conversations/{conv}/summary"),
            &s.agent,
            &json!({}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("ai_disabled"))
    );
    assert!(s.llm.requests().is_empty(), "AI off: no job, no call");

    standard_answers(&s.llm);
    put_settings(&s, json!({"enabled": true, "categories": ["billing"]})).await;
    advance(&s, 60);
    customer_writes(
        &s,
        CUSTOMER,
        "wamid.s1",
        "Ik wil mijn geld terug",
        s.clock.now(),
    )
    .await;
    s.h.drain(QueueName::Ai).await;
    let (_, neg) =
        s.h.get("/v1/conversations?sentiment=negative", &s.agent)
            .await;
    assert_eq!(crate::support::ids(&neg), std::slice::from_ref(&conv));
    let (_, pos) =
        s.h.get("/v1/conversations?sentiment=positive", &s.agent)
            .await;
    assert!(crate::support::ids(&pos).is_empty());
    let (st, e) = s.h.get("/v1/conversations?sentiment=angry", &s.agent).await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sentiment"))
    );

    // A summary, stored and reused until a new message comes.
    s.llm.clear_rules();
    s.llm.on_any_model(Behaviour::reply(
        "The customer wants a refund for a cake that never came.",
    ));
    s.llm.clear_requests();
    let path = format!("/v1/conversations/{conv}/summary");
    let (st, sum) = s.h.post(&path, &s.agent, &json!({})).await;
    assert_eq!(st, StatusCode::OK, "{sum}");
    assert_eq!(
        (sum["summary"].as_str(), sum["cached"].as_bool()),
        (
            Some("The customer wants a refund for a cake that never came."),
            Some(false)
        )
    );
    let transcript = &s.llm.requests()[0];
    assert!(
        transcript
            .prompt_text()
            .contains("Customer: Mijn taart is nooit aangekomen!")
    );
    assert!(!transcript.body.to_string().contains(CUSTOMER));
    let (_, again) = s.h.post(&path, &s.agent, &json!({})).await;
    assert_eq!(again["cached"], true);
    assert_eq!(s.llm.requests().len(), 1);
    advance(&s, 60);
    customer_writes(&s, CUSTOMER, "wamid.s2", "Hallo?", s.clock.now()).await;
    s.llm.clear_requests();
    let (_, fresh) = s.h.post(&path, &s.agent, &json!({})).await;
    assert_eq!(fresh["cached"], false);

    // A translation, cached per message and language.
    let (_, msgs) =
        s.h.get(&format!("/v1/conversations/{conv}/messages"), &s.agent)
            .await;
    let first = msgs["items"][0]["id"].as_str().unwrap().to_owned();
    s.llm.clear_rules();
    s.llm.on_any_model(Behaviour::handler(|r: &RecordedChat| {
        assert!(
            r.messages[0].content.contains("code en"),
            "target language in the prompt"
        );
        "My cake never arrived!".to_owned()
    }));
    s.llm.clear_requests();
    let tpath = format!("/v1/messages/{first}/translate");
    let (st, t) = s.h.post(&tpath, &s.agent, &json!({"to": "EN"})).await;
    assert_eq!(st, StatusCode::OK, "{t}");
    assert_eq!(
        (t["text"].as_str(), t["to"].as_str(), t["cached"].as_bool()),
        (Some("My cake never arrived!"), Some("en"), Some(false))
    );
    let (_, t2) = s.h.post(&tpath, &s.agent, &json!({"to": "en"})).await;
    assert_eq!(t2["cached"], true);
    assert_eq!(s.llm.requests().len(), 1);
    let (st, e) = s.h.post(&tpath, &s.agent, &json!({"to": "klingon"})).await;
    assert_eq!(
        (st, e["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("to"))
    );
    let (st, _) =
        s.h.post(
            &tpath,
            &s.h.token("globex", Role::Agent),
            &json!({"to": "en"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // No model answers: 502 with a clear code, nothing cached.
    s.llm.clear_rules();
    s.llm.on_any_model(Behaviour::Status(500));
    let (st, e) = s.h.post(&tpath, &s.agent, &json!({"to": "de"})).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("model_unavailable"))
    );

    // The data subject's export holds what AI kept about the conversation; an erasure
    // takes it along (the AI log, which holds no personal data, stays for the readout).
    let org = OrgId::parse("acme").unwrap();
    let contact = ContactId::for_wa_id(&org, &WaId::parse(CUSTOMER).unwrap());
    let (st, export) =
        s.h.get(&format!("/v1/contacts/{contact}/export"), &s.admin)
            .await;
    assert_eq!(st, StatusCode::OK, "{export}");
    let ai = &export["conversations"][0]["ai"];
    assert_eq!(
        ai["summary"]["text"], "The customer wants a refund for a cake that never came.",
        "{ai}"
    );
    assert_eq!(ai["translations"][0]["text"], "My cake never arrived!");
    assert_eq!(
        ai["suggestions"].as_array().unwrap().len(),
        1,
        "the draft to 'Ik wil mijn geld terug'"
    );
    let (st, _) =
        s.h.delete(&format!("/v1/contacts/{contact}"), &s.admin)
            .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) =
        s.h.get(&format!("/v1/conversations/{conv}/suggestions"), &s.agent)
            .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.h.post(&tpath, &s.agent, &json!({"to": "en"})).await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "the message and its translations are gone"
    );
    let scan =
        s.h.app
            .services()
            .store
            .query(switchboard_core::store::Query::table(format!(
                "ORG#acme#CONV#{conv}"
            )))
            .await
            .unwrap();
    assert!(
        scan.items.is_empty(),
        "nothing left in the conversation's partition"
    );
    let (_, stats) =
        s.h.get(
            "/v1/ai/stats?from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z",
            &s.admin,
        )
        .await;
    assert!(stats["entries"].as_u64().unwrap() > 0);
    s.h.stop().await;
}

#[tokio::test]
async fn the_prompt_carries_the_contact_known_answers_and_notes_when_allowed() {
    let s = setup(Backend::Local).await;
    standard_answers(&s.llm);
    // An admin with an address, seen through the API: handoffs without an assignee
    // notify the org's admins.
    let boss = crate::contacts::token_for(
        &s.h,
        "acme",
        Role::Admin,
        "boss",
        json!({"email": "boss@example.org", "name": "Boss"}),
    );
    let (st, _) = s.h.get("/v1/users", &boss).await;
    assert_eq!(st, StatusCode::OK);
    put_settings(
        &s,
        json!({"enabled": true, "mode": "draft", "analysis": false}),
    )
    .await;
    let conv = customer_writes(&s, CUSTOMER, "wamid.x0", "hoi", start()).await;
    s.h.drain(QueueName::Ai).await;
    let org = OrgId::parse("acme").unwrap();
    let contact = ContactId::for_wa_id(&org, &WaId::parse(CUSTOMER).unwrap());
    let (st, c) = s.h.patch(&format!("/v1/contacts/{contact}"), &s.agent,
        &json!({"tags": ["vip"], "custom_fields": {"city": "Utrecht", "backup": "call +31 6 9999 8888"}})).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let (st, q) =
        s.h.post(
            "/v1/quick-replies",
            &s.agent,
            &json!({"shortcut": "hours", "body": "We are open 9-17 on weekdays."}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{q}");
    let (st, n) =
        s.h.post(
            &format!("/v1/contacts/{contact}/notes"),
            &s.agent,
            &json!({"body": "Allergic to nuts"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{n}");

    s.llm.clear_requests();
    advance(&s, 60);
    customer_writes(
        &s,
        CUSTOMER,
        "wamid.x1",
        "Wat zijn jullie openingstijden?",
        s.clock.now(),
    )
    .await;
    s.h.drain(QueueName::Ai).await;
    let system = reply_calls(&s.llm).pop().unwrap().messages[0]
        .content
        .clone();
    for want in [
        "tags: vip",
        "city: Utrecht",
        "/hours: We are open 9-17 on weekdays.",
        "backup: call [phone]",
    ] {
        assert!(
            system.contains(want),
            "{want} missing from the system message:\n{system}"
        );
    }
    assert!(
        !system.contains("Allergic"),
        "notes go only when the org allows it"
    );
    assert!(!system.contains("9999 8888"));

    put_settings(
        &s,
        json!({"enabled": true, "mode": "draft", "analysis": false, "use_notes": true}),
    )
    .await;
    s.llm.clear_requests();
    advance(&s, 60);
    customer_writes(&s, CUSTOMER, "wamid.x2", "En noten?", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    let system = reply_calls(&s.llm).pop().unwrap().messages[0]
        .content
        .clone();
    assert!(system.contains("Allergic to nuts"), "{system}");

    // A handoff of an unassigned conversation emails the admins.
    advance(&s, 60);
    customer_writes(&s, CUSTOMER, "wamid.x3", "I want a human", s.clock.now()).await;
    s.h.drain(QueueName::Ai).await;
    let (_, emails) = s.h.get("/v1/emails", &s.admin).await;
    let to: Vec<&str> = emails["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["to"].as_str())
        .collect();
    assert_eq!(to, ["boss@example.org"], "{emails}");
    let (_, c) =
        s.h.get(&format!("/v1/conversations/{conv}"), &s.agent)
            .await;
    assert_eq!(c["status"], "pending");
    s.h.stop().await;
}

#[tokio::test]
async fn an_accept_the_queue_did_not_take_is_sent_once_by_the_sweep() {
    use crate::time_and_faults::{Fault, FaultyQueue};
    let fault = Arc::new(std::sync::Mutex::new(Fault::None));
    let f = fault.clone();
    let s = setup_with(
        Backend::Local,
        Some(Box::new(move |inner| {
            Arc::new(FaultyQueue {
                inner,
                fault: f,
                target: QueueName::Outbound,
            }) as Arc<dyn switchboard_core::queue::Queue>
        })),
    )
    .await;
    standard_answers(&s.llm);
    put_settings(
        &s,
        json!({"enabled": true, "mode": "draft", "analysis": false}),
    )
    .await;
    let conv = customer_writes(&s, CUSTOMER, "wamid.q1", "hoi", start()).await;
    s.h.drain(QueueName::Ai).await;
    let sid = suggestions(&s, &conv).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The message is stored, the queue refuses it: 503, and the suggestion stays sending.
    *fault.lock().unwrap() = Fault::Refuse;
    let accept = format!("/v1/conversations/{conv}/suggestions/{sid}/accept");
    let (st, e) = s.h.post(&accept, &s.agent, &json!({})).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert_eq!(suggestions(&s, &conv).await[0]["status"], "sending");
    let (st, _) = s.h.post(&accept, &s.agent, &json!({})).await;
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "not a draft again: no second message"
    );
    // The sweep hands the stored message over; it goes once.
    *fault.lock().unwrap() = Fault::None;
    advance(&s, 180);
    let swept = cron_outbound_sweep::handle(&s.h.app, s.clock.now())
        .await
        .unwrap();
    assert_eq!(swept["requeued"], 1, "{swept}");
    assert_eq!(sent_texts(&s).await, ["We are open from 9 to 5."]);
    s.h.stop().await;
}
