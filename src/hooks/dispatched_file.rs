//! The memory of dispatched states ([`Dispatched`]) across restarts of the daemon: a small
//! text file in the runtime directory (`/run/network-broker/dispatched`), which the next boot
//! starts without. The broker hands each new version out; the task here writes it, so the
//! broker itself never touches a file.
//!
//! Writes are spaced [`MIN_INTERVAL`] apart: a burst of completed hooks (thousands of links
//! appearing) costs a few writes of the whole file, not one per hook. The last version is
//! always written, also when the broker stops during the wait; a daemon killed within the
//! interval runs those hooks once more at its next start, which is the failure direction the
//! memory already has (see [`super::dispatched`]): a hook is never skipped for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::Dispatched;

/// File name inside the runtime directory.
pub const FILE_NAME: &str = "dispatched";

/// Least time between the starts of two writes.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

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
/// old one), latest first: versions handed out within [`MIN_INTERVAL`] of the last write, or
/// while it ran, are written as one. Returns once the sender is gone and its last version
/// is written.
pub async fn write_task(dir: PathBuf, mut memory: watch::Receiver<Dispatched>) {
    let mut last_write: Option<Instant> = None;
    while memory.changed().await.is_ok() {
        if let Some(at) = last_write {
            let due = at + MIN_INTERVAL;
            // Wait for the interval's end, but not past the broker's stop.
            while Instant::now() < due {
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    changed = memory.changed() => if changed.is_err() { break },
                }
            }
        }
        last_write = Some(Instant::now());
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
