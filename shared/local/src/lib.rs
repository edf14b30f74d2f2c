//! The embedded backend that runs Switchboard with no AWS account and no Docker:
//! SQLite for the item store and the queues, AES-256-GCM envelope encryption under a
//! local master key, secrets from the environment or `.env`.
//!
//! Only the binaries that run on it link it: the `switchboard` CLI (dev server and
//! tools) and a Lambda function built with its `embedded` feature. Deployed functions do
//! not, which keeps SQLite, `.env` parsing and this code out of every Lambda package.

mod sqlite;

pub mod cipher;
pub mod queue;
pub mod secrets;
pub mod store;

use std::path::Path;
use std::sync::Arc;

use switchboard_core::cipher::Cipher;
use switchboard_core::clock::Clock;
use switchboard_core::queue::Queue;
use switchboard_core::secrets::Secrets;
use switchboard_core::store::ItemStore;

pub use cipher::LocalCipher;
pub use queue::SqliteQueue;
pub use secrets::EnvSecrets;
pub use store::SqliteStore;

/// The four storage ports of the embedded backend, in the order the runtime's
/// `StoragePorts` takes them: item store, queues, cipher, secrets.
pub type Ports = (
    Arc<dyn ItemStore>,
    Arc<dyn Queue>,
    Arc<dyn Cipher>,
    Arc<dyn Secrets>,
);

/// Why the embedded backend could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("creating data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A SQLite database could not be opened or migrated.
    #[error("opening the SQLite {what}: {message}")]
    Sqlite {
        /// `store` or `queue`.
        what: &'static str,
        /// The cause.
        message: String,
    },
    /// The master key file could not be read or created.
    #[error(transparent)]
    MasterKey(#[from] cipher::KeyFileError),
}

/// Opens (creating on first run) the embedded backend in `data_dir`: `store.sqlite3`,
/// `queue.sqlite3` and `master.key`; secrets come from the environment, then `dotenv`.
/// The directory is made private (0700): it holds the master key and every tenant's data.
pub fn open(
    data_dir: &Path,
    dotenv: Option<&Path>,
    clock: Arc<dyn Clock>,
) -> Result<Ports, OpenError> {
    std::fs::create_dir_all(data_dir).map_err(|source| OpenError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let store = SqliteStore::open(&data_dir.join("store.sqlite3"), clock.clone()).map_err(|e| {
        OpenError::Sqlite {
            what: "store",
            message: e.to_string(),
        }
    })?;
    let queue = SqliteQueue::open(&data_dir.join("queue.sqlite3"), clock).map_err(|e| {
        OpenError::Sqlite {
            what: "queue",
            message: e.to_string(),
        }
    })?;
    let cipher = LocalCipher::open_or_create(&data_dir.join("master.key"))?;
    Ok((
        Arc::new(store),
        Arc::new(queue),
        Arc::new(cipher),
        Arc::new(EnvSecrets::load(dotenv)),
    ))
}
