//! The memory of dispatched states ([`Dispatched`]) across restarts of the daemon: a small
//! text file in the runtime directory (`/run/network-broker/dispatched`), which the next boot
//! starts without. The broker hands each new version out; the task here writes it, so the
//! broker itself never touches a file.

use std::path::{Path, PathBuf};

use tokio::sync::watch;
use tracing::{debug, warn};

use super::Dispatched;

/// File name inside the runtime directory.
pub const FILE_NAME: &str = "dispatched";

/// Reads the file; a missing or unreadable file is an empty memory.
pub fn load(dir: &Path) -> Dispatched {
    let path = dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => Dispatched::parse(&text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Dispatched::default(),
        Err(err) => {
            warn!(path = %path.display(), error = %err, "cannot read the dispatched states from {}, starting afresh: {err}", path.display());
            Dispatched::default()
        }
    }
}

/// Writes each new memory to `dir/dispatched` (atomically: a temporary file renamed over the
/// old one), latest first: intermediate versions are skipped when writes fall behind.
pub async fn write_task(dir: PathBuf, mut memory: watch::Receiver<Dispatched>) {
    while memory.changed().await.is_ok() {
        let text = memory.borrow_and_update().render();
        let target = dir.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&target, &text)).await;
        match written {
            Ok(Ok(())) => debug!("dispatched states saved"),
            Ok(Err(err)) => {
                warn!(dir = %dir.display(), error = %err, "cannot save the dispatched states in {}: {err}", dir.display())
            }
            Err(err) => warn!(error = %err, "saving the dispatched states failed: {err}"),
        }
    }
}

fn write_atomically(dir: &Path, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{FILE_NAME}.tmp"));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, dir.join(FILE_NAME))
}

#[cfg(test)]
mod tests;
