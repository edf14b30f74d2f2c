//! Shared SQLite plumbing: opening a database with the pragmas Switchboard relies on,
//! and running blocking calls off the async runtime.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// Opens a database in WAL mode. `synchronous=NORMAL` keeps every committed
/// transaction across a process crash (the dev server's failure mode); only an OS
/// crash may lose the last commits, acceptable for a development backend.
pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Runs `f` on a blocking thread with the connection locked. The error case is a
/// panicked or cancelled task, reported as text.
pub(crate) async fn blocking<T: Send + 'static>(
    conn: Arc<Mutex<Connection>>,
    f: impl FnOnce(&mut Connection) -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(move || {
        // A poisoned lock only means another call panicked mid-way; SQLite rolled its
        // transaction back, so the connection is still consistent.
        let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    })
    .await
    .map_err(|e| format!("sqlite task failed: {e}"))
}
