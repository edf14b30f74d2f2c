//! The email to an org's admins when Switchboard disables one of its webhook endpoints:
//! sent to the admins it has seen with an address (not to agents), naming the endpoint by
//! its description or its URL's scheme and host (never the path or query, which can hold a
//! token), once per endpoint and failing run however often the worker calls it, and to the
//! billing recipients when no admin has an address.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_core::ids::{OrgId, Role};
use switchboard_core::queue::QueueName;
use switchboard_core::record::item;
use switchboard_core::store::Condition;
use switchboard_core::usecases::notifications::on_webhook_endpoint_disabled;
use switchboard_core::usecases::users::User;
use switchboard_core::usecases::webhooks_out::Endpoint;

use crate::reminders::{Setup, at, setup};
use crate::support::Backend;

const SECRET_URL: &str = "https://hooks.example.com/t/s3cr3t-path?token=tok_abc123";

/// Records `id` as a person of `org` Switchboard has seen, with an address.
async fn seen(s: &Setup, org: &str, id: &str, email: &str, role: Role) {
    let now = switchboard_core::clock::Clock::now(&*s.clock);
    let user = User {
        org_id: OrgId::parse(org).unwrap(),
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

/// An endpoint Switchboard has just disabled, failing since `failing_since`.
fn disabled_endpoint(
    org: &str,
    id: &str,
    description: Option<&str>,
    failing_since: DateTime<Utc>,
) -> Endpoint {
    Endpoint {
        id: id.into(),
        org_id: OrgId::parse(org).unwrap(),
        url: SECRET_URL.into(),
        description: description.map(str::to_owned),
        events: Vec::new(),
        disabled: true,
        disabled_reason: Some("failing".into()),
        secrets: Vec::new(),
        failing_since: Some(failing_since),
        last_success_at: None,
        created_at: failing_since - Duration::days(30),
        updated_at: failing_since + Duration::days(5),
    }
}

/// The org's emails of the new kind, as `GET /v1/emails` lists them.
async fn notices(s: &Setup, token: &str) -> Vec<Value> {
    let (status, list) = s.h.get("/v1/emails", token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "webhook_endpoint_disabled")
        .cloned()
        .collect()
}

#[tokio::test]
async fn admins_are_emailed_once_when_an_endpoint_is_disabled() {
    let s = setup(Backend::Local, at("2026-03-27T12:00:00Z"), None, vec![]).await;
    let svc = s.h.app.services();
    let now = switchboard_core::clock::Clock::now(&*s.clock);
    seen(&s, "acme", "admin-1", "Admin@Example.org", Role::Admin).await;
    seen(&s, "acme", "agent-2", "agent2@example.org", Role::Agent).await;

    // The worker disabled it, and (a retried message) does so twice.
    let failing_since = now - Duration::days(5);
    let ep = disabled_endpoint(
        "acme",
        "we_0123456789abcdef0123456789abcdef",
        None,
        failing_since,
    );
    on_webhook_endpoint_disabled(svc, &ep).await;
    on_webhook_endpoint_disabled(svc, &ep).await;

    let listed = notices(&s, &s.admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["to"], "admin@example.org");
    assert_eq!(listed[0]["status"], "queued");
    assert_eq!(
        listed[0]["subject"],
        "Switchboard disabled a webhook endpoint of Switchboard"
    );

    // What the provider received: one email, to the admin only, naming the endpoint by its
    // scheme and host, with a button to the webhook settings.
    s.h.drain(QueueName::Email).await;
    let bodies = s.emails.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let mail = &bodies[0];
    assert_eq!(mail["to"], json!(["admin@example.org"]));
    let (html, text) = (
        mail["html"].as_str().unwrap(),
        mail["text"].as_str().unwrap(),
    );
    for part in [html, text] {
        assert!(part.contains("https://hooks.example.com"), "{part}");
        assert!(!part.contains("s3cr3t"), "{part}");
        assert!(!part.contains("tok_abc123"), "{part}");
        assert!(!part.contains("hooks.example.com/"), "{part}");
        assert!(
            part.contains("https://app.example.com/settings/webhooks"),
            "{part}"
        );
        // Failing since 2026-03-22 12:00 UTC.
        assert!(part.contains("Sunday 22 March 2026"), "{part}");
    }
    assert!(
        text.contains("because you are an administrator of Switchboard"),
        "{text}"
    );
    assert_eq!(notices(&s, &s.admin).await[0]["status"], "sent");

    // Enabled again, failing again and disabled again later: that is news, and emailed.
    let again = disabled_endpoint(
        "acme",
        "we_0123456789abcdef0123456789abcdef",
        None,
        now + Duration::days(1),
    );
    on_webhook_endpoint_disabled(svc, &again).await;
    assert_eq!(notices(&s, &s.admin).await.len(), 2);

    // An org whose admins Switchboard knows no address of: its billing address hears of it,
    // in the org's language, the endpoint named by its description.
    let globex = s.h.token("globex", Role::Admin);
    let (status, _) =
        s.h.put_json(
            "/v1/settings/email",
            &globex,
            &json!({"billing_email": "billing@globex.example", "locale": "nl"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ep = disabled_endpoint(
        "globex",
        "we_fedcba9876543210fedcba9876543210",
        Some("Order sync"),
        failing_since,
    );
    on_webhook_endpoint_disabled(svc, &ep).await;
    let listed = notices(&s, &globex).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["to"], "billing@globex.example");
    assert!(
        listed[0]["subject"]
            .as_str()
            .unwrap()
            .contains("uitgeschakeld"),
        "{listed:?}"
    );
    s.h.drain(QueueName::Email).await;
    let mail = s.emails.bodies().last().unwrap().clone();
    assert_eq!(mail["to"], json!(["billing@globex.example"]));
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("Order sync"), "{text}");
    assert!(!text.contains("hooks.example.com"), "{text}");
    s.h.stop().await;
}
