//! The embedded backend that runs Switchboard with no AWS account and no Docker:
//! SQLite for the item store and the queues, AES-256-GCM envelope encryption under a
//! local master key, secrets from the environment or `.env`.

mod sqlite;

pub mod cipher;
pub mod files;
pub mod queue;
pub mod secrets;
pub mod store;

pub use cipher::LocalCipher;
pub use queue::SqliteQueue;
pub use secrets::EnvSecrets;
pub use store::SqliteStore;
