//! Nothing is lost and nothing is applied twice: a consumer failing mid-batch, poison
//! events reaching the DLQ and coming back, queued work surviving a restart.

use std::collections::HashSet;
use std::time::Duration;

use switchboard_core::ids::{ConversationId, OrgId, PhoneNumberId, Role, WaId};
use switchboard_core::page::PageRequest;
use switchboard_core::queue::{OutgoingMessage, QueueName, ReceivedMessage};
use switchboard_core::store::StoreError;
use switchboard_core::usecases::{inbox, ingest, integrations};
use switchboard_runtime::queue::settle;
use switchboard_testkit::fixtures::{self, PHONE_NUMBER_ID, WABA_ID};

use crate::support::{Harness, Options, StoreHooks};

async fn receive_all(h: &Harness) -> Vec<ReceivedMessage> {
    h.app
        .services()
        .queue
        .receive(
            QueueName::Inbound,
            10,
            Duration::from_secs(60),
            Duration::from_millis(100),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_mid_batch_then_redelivery_leaves_one_message_per_wamid() {
    // Transaction 1 connects the number; the inbound consumer's 3rd transaction fails.
    let h = Harness::with(Options {
        serve: false,
        // As a crash or a throttle would.
        wrap_store: Some(
            StoreHooks {
                transact: Some(Box::new(|n| match n {
                    3 => Err(StoreError::Unavailable(format!(
                        "injected failure on transaction {n}"
                    ))),
                    _ => Ok(()),
                })),
                ..StoreHooks::default()
            }
            .wrap(),
        ),
        ..Options::default()
    })
    .await;
    let svc = h.app.services().clone();
    let org = OrgId::parse("acme").unwrap();
    let connect = integrations::ConnectRequest {
        phone_number_id: Some(PHONE_NUMBER_ID.into()),
        waba_id: Some(WABA_ID.into()),
        access_token: Some("EAAG".into()),
        display_phone_number: None,
        messages_per_second: None,
    };
    integrations::connect(&svc, &Default::default(), &org, connect.validate().unwrap())
        .await
        .unwrap();

    // Customer A sends a1, a2, a3 (one FIFO group); customer B sends b1, b2.
    let mut changes = Vec::new();
    for (who, wamids) in [
        ("16505550001", ["a1", "a2", "a3"].as_slice()),
        ("16505550002", ["b1", "b2"].as_slice()),
    ] {
        for (i, w) in wamids.iter().enumerate() {
            changes.push(fixtures::text_change(
                PHONE_NUMBER_ID,
                who,
                who,
                &format!("wamid.{w}"),
                1_750_000_000 + i as i64,
                w,
            ));
        }
    }
    let body = fixtures::delivery(changes);
    ingest::accept_whatsapp(
        &svc,
        switchboard_webhooks::meta::split(&body).unwrap(),
        None,
    )
    .await
    .unwrap();

    let batch = receive_all(&h).await;
    assert_eq!(batch.len(), 5);
    let first = batch.clone();
    let outcome = worker_inbound::handle(&h.app, batch.clone()).await;
    // The injected failure hit one message; its group's later messages fail with it.
    assert!(
        !outcome.failures.is_empty(),
        "the injected failure is reported"
    );
    let failed_bodies: HashSet<String> = outcome
        .failures
        .iter()
        .map(|f| {
            batch
                .iter()
                .find(|m| m.id == f.id)
                .unwrap()
                .group_id
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(failed_bodies.len(), 1, "only one group failed");
    settle(&*svc.queue, QueueName::Inbound, &batch, &outcome, true).await;
    for f in &outcome.failures {
        let m = batch.iter().find(|m| m.id == f.id).unwrap();
        // The settle re-hid them for a backoff; make them due now.
        let _ = svc
            .queue
            .retry_later(QueueName::Inbound, &m.receipt, Duration::ZERO)
            .await;
    }

    // Redelivery of the failed ones, and a duplicate delivery of the whole first batch.
    let again = receive_all(&h).await;
    assert_eq!(again.len(), outcome.failures.len());
    let outcome2 = worker_inbound::handle(&h.app, again.clone()).await;
    assert!(outcome2.failures.is_empty(), "{outcome2:?}");
    settle(&*svc.queue, QueueName::Inbound, &again, &outcome2, true).await;
    let outcome3 = worker_inbound::handle(&h.app, first).await;
    assert!(outcome3.failures.is_empty());

    let phone = PhoneNumberId::parse(PHONE_NUMBER_ID).unwrap();
    for (who, expected) in [
        ("16505550001", vec!["a1", "a2", "a3"]),
        ("16505550002", vec!["b1", "b2"]),
    ] {
        let conv = ConversationId::for_thread(&org, &phone, &WaId::parse(who).unwrap());
        let page = inbox::list_messages(
            &svc,
            &org,
            &conv,
            PageRequest {
                limit: 100,
                after: None,
            },
        )
        .await
        .unwrap();
        let bodies: Vec<String> = page
            .items
            .iter()
            .map(|m| m["content"]["text"]["body"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(bodies, expected, "exactly one message per wamid, in order");
        let c = inbox::get_conversation(&svc, &org, &conv).await.unwrap();
        assert_eq!(
            c.unread_count as usize,
            expected.len(),
            "unread counted once per message"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_events_reach_the_dlq_and_redrive_through_the_cli() {
    let h = Harness::with(Options {
        serve: false,
        ..Options::default()
    })
    .await;
    let svc = h.app.services().clone();
    let poison = OutgoingMessage::fifo(
        r#"{"provider":"whatsapp","event":"missing"}"#.into(),
        "wa:1:2".into(),
        "poison-1".into(),
    );
    svc.queue
        .send(QueueName::Inbound, vec![poison])
        .await
        .unwrap();
    // Poison (an error retrying cannot fix) gets a few receives, then the consumer moves
    // it to the DLQ itself rather than retrying it for the day transient errors get.
    let poison_receives = switchboard_runtime::queue::POISON_RECEIVES;
    for receive in 1..=poison_receives {
        let batch = receive_all(&h).await;
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].receive_count, receive);
        let outcome = worker_inbound::handle(&h.app, batch.clone()).await;
        if receive < poison_receives {
            assert_eq!(outcome.failures.len(), 1, "a poison event fails every time");
        } else {
            assert_eq!(outcome.dead_letters.len(), 1, "then it is dead-lettered");
        }
        settle(&*svc.queue, QueueName::Inbound, &batch, &outcome, true).await;
        for m in &batch {
            let _ = svc
                .queue
                .retry_later(QueueName::Inbound, &m.receipt, Duration::ZERO)
                .await;
        }
    }
    assert!(receive_all(&h).await.is_empty(), "moved to the DLQ");
    let listed = switchboard_cli::commands::dlq_list(&h.app, QueueName::Inbound, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].contains("missing"));
    assert_eq!(
        switchboard_cli::commands::dlq_redrive(&h.app, QueueName::Inbound, 10)
            .await
            .unwrap(),
        1
    );
    let back = receive_all(&h).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].receive_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_work_survives_a_restart() {
    // Work is queued while no server runs (as after a shutdown), then a server starts
    // on the same data and applies it.
    let idle = Harness::with(Options {
        serve: false,
        ..Options::default()
    })
    .await;
    let svc = idle.app.services().clone();
    let org = OrgId::parse("acme").unwrap();
    let connect = integrations::ConnectRequest {
        phone_number_id: Some(PHONE_NUMBER_ID.into()),
        waba_id: Some(WABA_ID.into()),
        access_token: Some("EAAG".into()),
        display_phone_number: None,
        messages_per_second: None,
    };
    integrations::connect(&svc, &Default::default(), &org, connect.validate().unwrap())
        .await
        .unwrap();
    let body = fixtures::delivery(vec![fixtures::text_change(
        PHONE_NUMBER_ID,
        "16505551234",
        "S",
        "wamid.later",
        1_750_000_000,
        "while you were away",
    )]);
    ingest::accept_whatsapp(
        &svc,
        switchboard_webhooks::meta::split(&body).unwrap(),
        None,
    )
    .await
    .unwrap();

    let running = switchboard_cli::serve::start(idle.app.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", running.addr);
    let token = idle.token("acme", Role::Viewer);
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page: serde_json::Value = client
            .get(format!("{base}/v1/conversations"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["items"].as_array().is_some_and(|a| a.len() == 1) {
            assert_eq!(
                page["items"][0]["last_message"]["preview"],
                "while you were away"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "queued work was not applied after start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;
}
