//! Factories for each port on each backend, for the contract macros.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use switchboard_aws::{DynamoStore, KmsCipher, SecretsManager, SqsQueue};
use switchboard_core::cipher::Cipher;
use switchboard_core::clock::{Clock, FixedClock, SystemClock};
use switchboard_core::queue::Queue;
use switchboard_core::secrets::{SecretName, Secrets};
use switchboard_core::store::ItemStore;
use switchboard_local::{EnvSecrets, LocalCipher, SqliteQueue, SqliteStore};

use crate::moto;

/// A fixed clock at 2026-06-01T12:00:00Z (shared so tests can move it).
pub fn fixed_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap(),
    ))
}

/// A SQLite store in a temporary file (WAL needs a file; kept alive by the store).
pub async fn local_store(clock: Arc<dyn Clock>) -> Arc<dyn ItemStore> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("store.sqlite3"), clock).expect("open sqlite");
    // The directory must outlive the store; tests are short, so leak it.
    std::mem::forget(dir);
    Arc::new(store)
}

/// A DynamoDB store on a fresh moto table.
pub async fn aws_store(clock: Arc<dyn Clock>) -> Arc<dyn ItemStore> {
    let clients = moto::clients().await;
    let deployment = moto::deploy(&clients).await;
    Arc::new(DynamoStore::new(
        clients.dynamodb.clone(),
        deployment.table,
        clock,
    ))
}

/// A SQLite queue (real clock: visibility timeouts are waited out).
pub async fn local_queue() -> Arc<dyn Queue> {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = SqliteQueue::open(&dir.path().join("queue.sqlite3"), Arc::new(SystemClock))
        .expect("open queue");
    std::mem::forget(dir);
    Arc::new(q)
}

/// SQS queues on moto.
pub async fn aws_queue() -> Arc<dyn Queue> {
    let clients = moto::clients().await;
    let deployment = moto::deploy(&clients).await;
    Arc::new(SqsQueue::new(clients.sqs.clone(), deployment.queues))
}

/// The local cipher with a fresh key file.
pub async fn local_cipher() -> Arc<dyn Cipher> {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = LocalCipher::open_or_create(&dir.path().join("master.key")).expect("key");
    Arc::new(c)
}

/// KMS on moto with a fresh key.
pub async fn aws_cipher() -> Arc<dyn Cipher> {
    let clients = moto::clients().await;
    let key = switchboard_bootstrap::create_key(&clients, "switchboard test")
        .await
        .expect("create key");
    Arc::new(KmsCipher::new(clients.kms.clone(), key))
}

/// Local secrets holding `value` for the WhatsApp app secret.
pub async fn local_secrets(value: &str) -> Arc<dyn Secrets> {
    Arc::new(EnvSecrets::from_pairs([(
        SecretName::WhatsAppAppSecret,
        value,
    )]))
}

/// Secrets Manager on moto holding `value` for the WhatsApp app secret under a fresh
/// prefix.
pub async fn aws_secrets(value: &str, ttl: Duration) -> (Arc<dyn Secrets>, String) {
    let clients = moto::clients().await;
    let prefix = format!("t{}/", uuid::Uuid::new_v4().simple());
    let id = format!("{prefix}{}", SecretName::WhatsAppAppSecret.as_str());
    clients
        .secrets
        .create_secret()
        .name(&id)
        .secret_string(value)
        .send()
        .await
        .expect("create secret");
    (
        Arc::new(SecretsManager::new(clients.secrets.clone(), prefix, ttl)),
        id,
    )
}

/// Files under a fresh data dir, URLs signed for `public_url`.
pub fn file_objects_at(public_url: &str) -> Arc<switchboard_runtime::objects::FileObjects> {
    let dir = tempfile::tempdir().expect("tempdir");
    let o =
        switchboard_runtime::objects::FileObjects::open(dir.path(), public_url).expect("objects");
    std::mem::forget(dir);
    Arc::new(o)
}

/// Files under a fresh data dir.
pub async fn file_objects() -> Arc<dyn switchboard_core::objects::ObjectStore> {
    file_objects_at("http://127.0.0.1:3000")
}

/// A fresh bucket on moto.
pub async fn s3_objects() -> Arc<dyn switchboard_core::objects::ObjectStore> {
    let bucket = format!("switchboard-test-{}", uuid::Uuid::new_v4().simple());
    // moto creates a bucket on an unsigned PUT of its name.
    let r = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto::endpoint()))
        .send()
        .await
        .expect("moto");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    Arc::new(switchboard_aws::S3Objects::with_sdk(
        reqwest::Client::new(),
        bucket,
        moto::sdk_config().await,
    ))
}
