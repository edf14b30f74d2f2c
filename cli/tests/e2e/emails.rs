//! Email end to end: a reminder email through the fake Resend (its request checked:
//! idempotency key, tags, parts), Resend's and SendGrid's signed delivery events moving
//! the email's status forward only and suppressing the address on a hard bounce or a
//! complaint, the suppression list (and lifting it), bad webhook input, the re-queue
//! sweep after a lost enqueue, billing notices to owners once per Stripe event, and
//! assignment emails with their quiet window and the opt-out.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::{OrgId, Role};
use switchboard_core::queue::{Queue, QueueName};
use switchboard_core::record::item;
use switchboard_core::secrets::SecretName;
use switchboard_core::store::Condition;
use switchboard_core::usecases::{notifications, users};
use switchboard_testkit::fixtures::{PHONE_NUMBER_ID, sign_standard};
use switchboard_testkit::sendgrid::SendGridSigner;

use crate::reminders::{
    RESEND_WEBHOOK_SECRET, Setup, appointment, at, book, contacts, deliver, setup, tick,
};
use crate::support::Backend;
use crate::time_and_faults::{Fault, FaultyQueue};

async fn emails(s: &Setup, query: &str) -> Vec<Value> {
    let (status, list) = s.h.get(&format!("/v1/emails{query}"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// Posts a Resend event signed with the test secret.
async fn resend_event(s: &Setup, id: &str, body: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(body).unwrap();
    let ts = switchboard_core::clock::Clock::now(&*s.clock).timestamp();
    let r =
        s.h.http
            .post(s.h.url("/webhooks/email/resend"))
            .header("content-type", "application/json")
            .header("svix-id", id)
            .header("svix-timestamp", ts.to_string())
            .header(
                "svix-signature",
                sign_standard(RESEND_WEBHOOK_SECRET, id, ts, &body),
            )
            .body(body)
            .send()
            .await
            .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn sendgrid_events(s: &Setup, signer: &SendGridSigner, body: &Value) -> StatusCode {
    let body = serde_json::to_vec(body).unwrap();
    let ts = switchboard_core::clock::Clock::now(&*s.clock).timestamp();
    let mut req =
        s.h.http
            .post(s.h.url("/webhooks/email/sendgrid"))
            .header("content-type", "application/json");
    for (k, v) in signer.headers(ts, &body) {
        req = req.header(k, v);
    }
    req.body(body).send().await.unwrap().status()
}

fn resend_payload(kind: &str, provider_id: &str, email: &Value, extra: Value) -> Value {
    let mut data = json!({
        "email_id": provider_id,
        "to": [email["to"]],
        "created_at": "2026-03-27T12:00:00.000Z",
        "tags": {"switchboard_email_id": email["id"], "org_id": "acme"},
    });
    if let (Some(d), Some(x)) = (data.as_object_mut(), extra.as_object()) {
        d.extend(x.clone());
    }
    json!({"type": kind, "created_at": "2026-03-27T12:00:00.000Z", "data": data})
}

/// Books a 1-hour email reminder for `contact` two hours on, runs the schedule an hour
/// later and sends what it queued.
async fn remind_by_email(s: &Setup, contact: &str) -> Value {
    let now = switchboard_core::clock::Clock::now(&*s.clock);
    let a = book(
        s,
        contact,
        json!({"starts_at": (now + Duration::hours(2)).to_rfc3339(), "timezone": "Europe/Amsterdam",
               "title": "Consult", "channel": "email", "reminders": ["1h"]}),
    )
    .await;
    s.clock.advance(Duration::hours(1));
    tick(s).await;
    deliver(s).await;
    appointment(s, a["id"].as_str().unwrap()).await
}

async fn events_and_suppression(backend: Backend) {
    let signer = SendGridSigner::generate();
    let s = setup(
        backend,
        at("2026-03-27T12:00:00Z"),
        None,
        vec![(
            SecretName::SendgridWebhookPublicKey,
            signer.public_key_base64(),
        )],
    )
    .await;
    let ids = contacts(&s, &[("+15550100001", "Ana", "Ana@Example.org")]).await;
    let ana = &ids[0];

    let a = remind_by_email(&s, ana).await;
    assert_eq!(a["reminders"][0]["email"]["status"], "sent", "{a}");
    let listed = emails(&s, "").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let email = listed[0].clone();
    assert_eq!(email["status"], "sent");
    assert_eq!(email["to"], "ana@example.org");
    assert_eq!(email["provider"], "resend");
    assert_eq!(email["kind"], "appointment_reminder");
    assert_eq!(a["reminders"][0]["email"]["email_id"], email["id"]);
    let provider_id = email["provider_id"].as_str().unwrap().to_owned();
    // What Resend received: one email, keyed by Switchboard's id, with both parts and tags.
    let requests = s.resend.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), "/emails");
    assert_eq!(
        requests[0]
            .headers
            .get("idempotency-key")
            .unwrap()
            .to_str()
            .unwrap(),
        email["id"].as_str().unwrap()
    );
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["from"], "\"Switchboard\" <reminders@example.com>");
    assert!(sent["html"].as_str().unwrap().contains("Consult"));
    assert!(sent["text"].as_str().unwrap().contains("Consult"));
    assert!(
        sent["tags"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "switchboard_email_id", "value": email["id"]})),
        "{sent}"
    );
    // Only admins see emails.
    let (status, _) = s.h.get("/v1/emails", &s.agent).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Delivered, then the same delivery again (a redelivery changes nothing).
    let delivered = resend_payload("email.delivered", &provider_id, &email, json!({}));
    let (status, out) = resend_event(&s, "msg_delivered_1", &delivered).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let (_, again) = resend_event(&s, "msg_delivered_1", &delivered).await;
    assert_eq!(again["duplicate"], true);
    s.h.drain(QueueName::Email).await;
    assert_eq!(emails(&s, "").await[0]["status"], "delivered");

    // Bad input loses nothing and says what is wrong.
    let body = serde_json::to_vec(&delivered).unwrap();
    let ts = at("2026-03-27T13:00:00Z").timestamp();
    let r =
        s.h.http
            .post(s.h.url("/webhooks/email/resend"))
            .header("content-type", "application/json")
            .header("svix-id", "msg_x")
            .header("svix-timestamp", ts.to_string())
            .header("svix-signature", "v1,bm90IGEgc2lnbmF0dXJl")
            .body(body.clone())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let ts = switchboard_core::clock::Clock::now(&*s.clock).timestamp();
    let signed = |body: &[u8], ctype: &str| {
        s.h.http
            .post(s.h.url("/webhooks/email/resend"))
            .header("content-type", ctype)
            .header("svix-id", "msg_y")
            .header("svix-timestamp", ts.to_string())
            .header(
                "svix-signature",
                sign_standard(RESEND_WEBHOOK_SECRET, "msg_y", ts, body),
            )
            .body(body.to_vec())
            .send()
    };
    assert_eq!(
        signed(&body, "text/plain").await.unwrap().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        signed(b"{not json", "application/json")
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    let big = vec![b' '; s.h.app.config().max_webhook_body + 1];
    assert_eq!(
        signed(&big, "application/json").await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // A hard bounce: status, reason, suppression; a late `delivered` does not undo it.
    let bounced = resend_payload(
        "email.bounced",
        &provider_id,
        &email,
        json!({"bounce": {"type": "Permanent", "subType": "General", "message": "mailbox does not exist"}}),
    );
    assert_eq!(
        resend_event(&s, "msg_bounced_1", &bounced).await.0,
        StatusCode::OK
    );
    assert_eq!(
        resend_event(&s, "msg_delivered_2", &delivered).await.0,
        StatusCode::OK
    );
    s.h.drain(QueueName::Email).await;
    let listed = emails(&s, "?status=bounced").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["reason"], "mailbox does not exist");
    assert!(emails(&s, "?status=delivered").await.is_empty());
    assert_eq!(emails(&s, "?to=ANA@example.org").await.len(), 1);
    let (status, err) = s.h.get("/v1/emails?status=lost", &s.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["field"], "status");

    // The next reminder to the suppressed address is skipped with the reason.
    let a = remind_by_email(&s, ana).await;
    assert_eq!(a["reminders"][0]["email"]["status"], "skipped", "{a}");
    assert_eq!(a["reminders"][0]["email"]["reason"], "suppressed_address");
    assert_eq!(s.emails.bodies().len(), 1);

    // Lifting it: admins only, 404 when not suppressed.
    let (status, _) =
        s.h.delete("/v1/email-suppressions/ana%40example.org", &s.agent)
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        s.h.delete("/v1/email-suppressions/ana%40example.org", &s.admin)
            .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) =
        s.h.delete("/v1/email-suppressions/ana%40example.org", &s.admin)
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = s.h.token("globex", Role::Admin);
    let (status, list) = s.h.get("/v1/emails", &other).await;
    assert_eq!(
        (status, list["items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );

    // SendGrid's signed batch: delivered then a spam complaint for the next email.
    let a = remind_by_email(&s, ana).await;
    assert_eq!(a["reminders"][0]["email"]["status"], "sent", "{a}");
    let second = emails(&s, "?status=sent").await[0].clone();
    let batch = json!([
        {"email": "ana@example.org", "timestamp": 1774616400, "event": "delivered", "sg_event_id": "sg-ev-1",
         "sg_message_id": "sgmsg.filter001", "switchboard_email_id": second["id"], "org_id": "acme"},
        {"email": "ana@example.org", "timestamp": 1774616460, "event": "spamreport", "sg_event_id": "sg-ev-2",
         "sg_message_id": "sgmsg.filter001", "switchboard_email_id": second["id"], "org_id": "acme"}
    ]);
    assert_eq!(sendgrid_events(&s, &signer, &batch).await, StatusCode::OK);
    let forged = SendGridSigner::generate();
    assert_eq!(
        sendgrid_events(&s, &forged, &batch).await,
        StatusCode::UNAUTHORIZED
    );
    s.h.drain(QueueName::Email).await;
    let complained = emails(&s, "?status=complained").await;
    assert_eq!(complained.len(), 1, "{complained:?}");
    assert_eq!(complained[0]["id"], second["id"]);
    let a = remind_by_email(&s, ana).await;
    assert_eq!(
        a["reminders"][0]["email"]["reason"], "suppressed_address",
        "a complaint suppresses: {a}"
    );
    assert_eq!(s.emails.bodies().len(), 2);
    s.h.stop().await;
}

#[tokio::test]
async fn events_and_suppression_sqlite() {
    events_and_suppression(Backend::Local).await;
}

#[tokio::test]
async fn events_and_suppression_dynamodb() {
    events_and_suppression(Backend::Aws).await;
}

/// A reminder whose email the queue did not take (the process could have died right
/// there): the claim and the email are stored together, so the re-queue sweep of a
/// later run sends it, once.
async fn a_lost_enqueue_is_sent_once_by_the_sweep(backend: Backend) {
    let fault = Arc::new(Mutex::new(Fault::Refuse));
    let f = fault.clone();
    let s = setup(
        backend,
        at("2026-03-27T12:00:00Z"),
        Some(Box::new(move |inner| {
            Arc::new(FaultyQueue {
                inner,
                fault: f,
                target: QueueName::Email,
            }) as Arc<dyn Queue>
        })),
        vec![],
    )
    .await;
    let ids = contacts(&s, &[("+15550100001", "Ana", "ana@example.org")]).await;
    let a = remind_by_email(&s, &ids[0]).await;
    assert_eq!(a["reminders"][0]["email"]["status"], "sent", "claimed: {a}");
    assert!(s.emails.bodies().is_empty(), "nothing reached the queue");
    assert_eq!(emails(&s, "").await[0]["status"], "queued");
    *fault.lock().unwrap() = Fault::None;
    // Too early for the sweep: it leaves a fresh email to its own enqueue.
    assert_eq!(tick(&s).await.requeued, 0);
    s.clock.advance(Duration::minutes(6));
    let (x, y) = tokio::join!(tick(&s), tick(&s));
    assert!(x.requeued + y.requeued >= 1, "{x:?} {y:?}");
    deliver(&s).await;
    s.clock.advance(Duration::minutes(6));
    assert_eq!(tick(&s).await.requeued, 0, "sent emails are not swept");
    deliver(&s).await;
    assert_eq!(
        s.emails.bodies().len(),
        1,
        "once, however many sweeps queued it"
    );
    assert_eq!(emails(&s, "").await[0]["status"], "sent");
    s.h.stop().await;
}

#[tokio::test]
async fn a_lost_enqueue_is_sent_once_by_the_sweep_sqlite() {
    a_lost_enqueue_is_sent_once_by_the_sweep(Backend::Local).await;
}

#[tokio::test]
async fn a_lost_enqueue_is_sent_once_by_the_sweep_dynamodb() {
    a_lost_enqueue_is_sent_once_by_the_sweep(Backend::Aws).await;
}

async fn seen(s: &Setup, id: &str, email: &str, role: Role) {
    let now = switchboard_core::clock::Clock::now(&*s.clock);
    let user = users::User {
        org_id: OrgId::parse("acme").unwrap(),
        id: id.into(),
        name: Some(format!("User {id}")),
        email: Some(email.into()),
        role,
        first_seen_at: now,
        last_seen_at: now,
    };
    s.h.app
        .services()
        .store
        .put(item(&user, 1).unwrap(), Condition::Always)
        .await
        .unwrap();
}

#[tokio::test]
async fn billing_notices_and_assignment_emails() {
    let s = setup(Backend::Local, at("2026-03-27T12:00:00Z"), None, vec![]).await;
    let svc = s.h.app.services();
    let org = OrgId::parse("acme").unwrap();
    // This deployment has no SendGrid key: the route is not there for it (404, not a 5xx
    // that would page someone).
    let r =
        s.h.http
            .post(s.h.url("/webhooks/email/sendgrid"))
            .header("content-type", "application/json")
            .body("[]")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    seen(&s, "owner-1", "owner@example.org", Role::Owner).await;
    seen(&s, "agent-2", "agent2@example.org", Role::Agent).await;
    let (status, _) =
        s.h.put_json(
            "/v1/settings/email",
            &s.admin,
            &json!({"billing_email": "billing@example.org", "locale": "en"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) =
        s.h.put_json(
            "/v1/settings/email",
            &s.admin,
            &json!({"reply_to": "not-an-address"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["field"], "reply_to");

    // A failed payment emails the billing address and the owner (not the agent), once
    // per event however often the event is applied.
    let invoice = json!({"amount_due": 4900, "currency": "eur"});
    for _ in 0..2 {
        notifications::on_billing_event(
            svc,
            &org,
            "invoice.payment_failed",
            "evt_fail_1",
            &invoice,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        notifications::on_billing_event(svc, &org, "invoice.paid", "evt_paid_1", &invoice)
            .await
            .unwrap(),
        0
    );
    s.h.drain(QueueName::Email).await;
    let mut to: Vec<String> = s
        .emails
        .bodies()
        .iter()
        .map(|b| b["to"][0].as_str().unwrap().to_owned())
        .collect();
    to.sort();
    assert_eq!(to, ["billing@example.org", "owner@example.org"]);
    let body = &s.emails.bodies()[0];
    assert!(
        body["text"].as_str().unwrap().contains("EUR 49.00"),
        "{body}"
    );
    assert!(
        body["html"]
            .as_str()
            .unwrap()
            .contains("https://app.example.com/settings/billing"),
        "{body}"
    );

    // Assignment: a customer writes, an admin assigns the conversation to agent-2.
    let now = switchboard_core::clock::Clock::now(&*s.clock).timestamp();
    let delivery =
        switchboard_testkit::fixtures::delivery(vec![switchboard_testkit::fixtures::text_change(
            PHONE_NUMBER_ID,
            "15550100009",
            "Zoe",
            "wamid.zoe-1",
            now,
            "Hello",
        )]);
    assert_eq!(s.h.webhook(&delivery).await.status(), StatusCode::OK);
    s.h.drain(QueueName::Inbound).await;
    let (_, list) = s.h.get("/v1/conversations", &s.admin).await;
    let conversation = list["items"][0]["id"].as_str().unwrap().to_owned();
    let assign = |who: &'static str| {
        let path = format!("/v1/conversations/{conversation}");
        let admin = s.admin.clone();
        let h = &s.h;
        async move { h.patch(&path, &admin, &json!({"assignee": who})).await.0 }
    };
    let before = s.emails.bodies().len();
    assert_eq!(assign("agent-2").await, StatusCode::OK);
    s.h.drain(QueueName::Email).await;
    let bodies = s.emails.bodies();
    assert_eq!(bodies.len(), before + 1);
    let mail = bodies.last().unwrap();
    assert_eq!(mail["to"], json!(["agent2@example.org"]));
    assert!(
        mail["html"].as_str().unwrap().contains(&format!(
            "https://app.example.com/conversations/{conversation}"
        )),
        "{mail}"
    );
    // Self-assignment emails no one; back to agent-2 within 15 minutes: the quiet window.
    // A second person still hears of it.
    assert_eq!(assign("test-user").await, StatusCode::OK);
    assert_eq!(assign("agent-2").await, StatusCode::OK);
    s.h.drain(QueueName::Email).await;
    assert_eq!(s.emails.bodies().len(), before + 1);
    seen(&s, "agent-3", "agent3@example.org", Role::Agent).await;
    assert_eq!(assign("agent-3").await, StatusCode::OK);
    s.h.drain(QueueName::Email).await;
    assert_eq!(
        s.emails.bodies().last().unwrap()["to"],
        json!(["agent3@example.org"])
    );
    let before = before + 1;
    // After the window it emails again — unless agent-2 turned it off.
    s.clock.advance(Duration::minutes(16));
    let agent2 = s.h.token_as("acme", Role::Agent, "agent-2");
    let (status, prefs) = s.h.get("/v1/users/me/notifications", &agent2).await;
    assert_eq!(
        (status, prefs),
        (StatusCode::OK, json!({"assignment_emails": true}))
    );
    let (status, err) =
        s.h.put_json(
            "/v1/users/me/notifications",
            &agent2,
            &json!({"assignment_emails": "no"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["field"], "assignment_emails");
    let (status, _) =
        s.h.put_json(
            "/v1/users/me/notifications",
            &agent2,
            &json!({"assignment_emails": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(assign("test-user").await, StatusCode::OK);
    assert_eq!(assign("agent-2").await, StatusCode::OK);
    s.h.drain(QueueName::Email).await;
    assert_eq!(
        s.emails.bodies().len(),
        before + 1,
        "agent-2 turned them off"
    );
    let (status, _) =
        s.h.put_json(
            "/v1/users/me/notifications",
            &agent2,
            &json!({"assignment_emails": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // agent-2's requests recorded them from a token without an e-mail claim; their
    // identity provider would carry it.
    seen(&s, "agent-2", "agent2@example.org", Role::Agent).await;
    assert_eq!(assign("test-user").await, StatusCode::OK);
    assert_eq!(assign("agent-2").await, StatusCode::OK);
    s.h.drain(QueueName::Email).await;
    assert_eq!(
        s.emails.bodies().len(),
        before + 2,
        "{:?}",
        emails(&s, "").await
    );
    s.h.stop().await;
}

/// Resend down (503), SendGrid as the fallback: the email goes through SendGrid, with the
/// request SendGrid documents (checked), and is recorded as sent by it.
#[tokio::test]
async fn a_failing_provider_hands_over_to_the_fallback() {
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let resend = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1..)
        .mount(&resend)
        .await;
    let sendgrid = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(header("authorization", "Bearer SG.fallback-key"))
        .and(body_partial_json(json!({
            "personalizations": [{"to": [{"email": "billing@example.org"}]}],
            "from": {"email": "notices@example.com"},
            "custom_args": {"org_id": "acme"},
        })))
        .respond_with(ResponseTemplate::new(202).insert_header("x-message-id", "sg-msg-1"))
        .expect(1)
        .mount(&sendgrid)
        .await;
    let mut opts = crate::support::Options {
        workers: false,
        email: Some(switchboard_runtime::config::EmailConfig {
            provider: switchboard_runtime::config::EmailProvider::Resend,
            fallback: Some(switchboard_runtime::config::EmailProvider::Sendgrid),
            from_address: "notices@example.com".into(),
            from_name: None,
            resend_api_url: resend.uri(),
            sendgrid_api_url: sendgrid.uri(),
            app_url: None,
        }),
        ..crate::support::Options::default()
    };
    opts.secrets
        .push((SecretName::ResendApiKey, "re_fallback_key".into()));
    opts.secrets
        .push((SecretName::SendgridApiKey, "SG.fallback-key".into()));
    let h = crate::support::Harness::with(opts).await;
    let admin = h.token("acme", Role::Admin);
    let (status, _) = h
        .put_json(
            "/v1/settings/email",
            &admin,
            &json!({"billing_email": "billing@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let org = OrgId::parse("acme").unwrap();
    let queued = notifications::on_billing_event(
        h.app.services(),
        &org,
        "customer.subscription.deleted",
        "evt_cancel_1",
        &json!({}),
    )
    .await
    .unwrap();
    assert_eq!(queued, 1);
    h.drain(QueueName::Email).await;
    let (_, list) = h.get("/v1/emails", &admin).await;
    assert_eq!(list["items"][0]["status"], "sent", "{list}");
    assert_eq!(list["items"][0]["provider"], "sendgrid");
    assert_eq!(list["items"][0]["provider_id"], "sg-msg-1");
    assert_eq!(list["items"][0]["kind"], "subscription_cancelled");
    h.stop().await;
}
