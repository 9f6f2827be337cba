//! Watching the lease files' directories: inotify on each parent directory (a watch on a
//! file dies with a rename), directories that do not exist yet checked again, those that
//! cannot be watched polled, and the filter that keeps the source's own reads from waking it.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::POLL_INTERVAL;
use crate::lease::FilePattern;

/// The inotify watcher and the state of each directory.
pub(super) struct Watch {
    /// `None` if no watcher could be created: every directory is polled.
    watcher: Option<RecommendedWatcher>,
    dirs: Vec<Dir>,
}

/// One watched (or to-be-watched) directory.
struct Dir {
    path: PathBuf,
    state: DirState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirState {
    /// Does not exist (or is not a directory).
    Missing,
    /// Watched; `(device, inode)` of the directory the watch is on, to notice a replacement.
    Watched(u64, u64),
    /// Exists but cannot be watched: re-read at every poll. `(device, inode)` as above.
    Polled(u64, u64),
}

impl Watch {
    pub(super) fn new(patterns: &Arc<[FilePattern]>, notices: mpsc::Sender<()>) -> Self {
        let mut dirs: Vec<Dir> = Vec::new();
        for pattern in patterns.iter() {
            if !dirs.iter().any(|d| d.path == pattern.dir()) {
                dirs.push(Dir {
                    path: pattern.dir().to_path_buf(),
                    state: DirState::Missing,
                });
            }
        }
        let filter = Relevance {
            patterns: Arc::clone(patterns),
            dirs: dirs.iter().map(|d| d.path.clone()).collect(),
        };
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if filter.is_relevant(&event) {
                // Full means a notice is already pending, which covers this one.
                let _ = notices.try_send(());
            }
        });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                warn!(
                    "leases: cannot create an inotify watcher ({e}); checking the lease files \
                     every {} s instead",
                    POLL_INTERVAL.as_secs()
                );
                None
            }
        };
        let mut watch = Watch { watcher, dirs };
        watch.supervise();
        watch
    }

    /// Watches directories that appeared or were replaced, forgets those that are gone.
    /// Returns whether any directory changed state (its files must then be read again).
    pub(super) fn supervise(&mut self) -> bool {
        let mut changed = false;
        for dir in &mut self.dirs {
            let found = std::fs::metadata(&dir.path)
                .ok()
                .filter(std::fs::Metadata::is_dir)
                .map(|m| (m.dev(), m.ino()));
            let next = match (dir.state, found) {
                (DirState::Missing, None) => continue,
                (DirState::Watched(d, i) | DirState::Polled(d, i), Some(id)) if (d, i) == id => {
                    if matches!(dir.state, DirState::Watched(..)) || self.watcher.is_none() {
                        continue;
                    }
                    // Polled: try to watch it again (a watch may have been freed).
                    Some(id)
                }
                (_, found) => found,
            };
            if let (Some(watcher), DirState::Watched(..)) = (self.watcher.as_mut(), dir.state) {
                // Already gone if the directory was deleted; nothing to do about an error.
                let _ = watcher.unwatch(&dir.path);
            }
            let old = dir.state;
            dir.state = match next {
                None => {
                    debug!(
                        "leases: {} does not exist; checking again",
                        dir.path.display()
                    );
                    DirState::Missing
                }
                Some((dev, ino)) => match self.watcher.as_mut() {
                    None => DirState::Polled(dev, ino),
                    Some(watcher) => match watcher.watch(&dir.path, RecursiveMode::NonRecursive) {
                        Ok(()) => {
                            debug!("leases: watching {}", dir.path.display());
                            DirState::Watched(dev, ino)
                        }
                        Err(e) => {
                            if !matches!(old, DirState::Polled(..)) {
                                warn!(
                                    "leases: cannot watch {} ({e}); reading its lease files \
                                     every {} s instead",
                                    dir.path.display(),
                                    POLL_INTERVAL.as_secs()
                                );
                            }
                            DirState::Polled(dev, ino)
                        }
                    },
                },
            };
            changed |= dir.state != old;
        }
        changed
    }

    /// Whether some existing directory is polled rather than watched.
    pub(super) fn polling(&self) -> bool {
        self.dirs
            .iter()
            .any(|d| matches!(d.state, DirState::Polled(..)))
    }

    /// The directories that exist.
    pub(super) fn present(&self) -> BTreeSet<PathBuf> {
        self.dirs
            .iter()
            .filter(|d| d.state != DirState::Missing)
            .map(|d| d.path.clone())
            .collect()
    }
}

/// Decides, on notify's thread, whether an event may concern the lease files.
pub(super) struct Relevance {
    pub(super) patterns: Arc<[FilePattern]>,
    pub(super) dirs: Vec<PathBuf>,
}

impl Relevance {
    pub(super) fn is_relevant(&self, event: &notify::Result<notify::Event>) -> bool {
        let event = match event {
            Ok(event) => event,
            // A failing watcher may have missed something: read everything again.
            Err(_) => return true,
        };
        if event.need_rescan() || event.paths.is_empty() {
            return true;
        }
        let kind_matters = match event.kind {
            // Opens and reads change nothing (and the source's own reads cause them); a close
            // after writing ends a rewrite.
            EventKind::Access(notify::event::AccessKind::Close(
                notify::event::AccessMode::Write,
            )) => true,
            EventKind::Access(_) => false,
            EventKind::Any
            | EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Remove(_)
            | EventKind::Other => true,
        };
        // By file name, whatever directory notify names: a directory watched under two
        // names (a symlink) is reported under one of them only.
        kind_matters
            && event.paths.iter().any(|path| {
                self.dirs.iter().any(|d| d == path)
                    || path
                        .file_name()
                        .is_some_and(|name| self.patterns.iter().any(|p| p.matches(name)))
            })
    }
}
