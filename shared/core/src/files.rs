//! Private key files (the local master key, the dev signing key): read if present, else
//! created with mode 0600. In the core because the embedded backend and the runtime's dev
//! key both keep one, and the runtime must not depend on the embedded backend.

use std::io::Write as _;
use std::path::Path;

/// Reads `path`, or creates it (mode 0600, parent directories included) with the bytes
/// `make` returns. If another process creates it first, its bytes win, so every process
/// sharing a data dir ends up with the same key.
pub fn read_or_create_private(
    path: &Path,
    make: impl FnOnce() -> std::io::Result<Vec<u8>>,
) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let bytes = make()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(&bytes)?;
                    file.sync_all()?;
                    Ok(bytes)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
