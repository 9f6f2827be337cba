//! Finding the hooks of one event: the executables in `DIR/<event>.d/` of every hook directory
//! (the administrator's, then the packages' [`super::VENDOR_HOOK_DIR`]), merged by file name
//! the way systemd merges `/etc` over `/usr/lib`: a name in the administrator's directory
//! replaces the package's file of that name, and a symlink there to `/dev/null` masks it. The
//! result is in byte order of the file names, after the admission checks.
//!
//! This module only reads the file system; it never executes anything. Whether one file may
//! run is [`super::admit`]'s decision, the same one the runner takes again right before it
//! executes the file. The rules follow NetworkManager's dispatcher (the peer with the strictest
//! checks): skip dotfiles, editor and package-manager leftovers, directories and masks silently;
//! refuse non-executables and anything an unprivileged user could have written or swapped, with
//! a warning that is logged once per (path, reason) instead of on every event. A listing is
//! remembered while nothing it was taken from changed (the `cache` submodule).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing::{debug, warn};

use super::admit;
pub use super::admit::Skip;
use super::EVENT_DIRS;

/// Longest event name accepted; directory names are short words, this only bounds garbage.
const MAX_EVENT_NAME_LEN: usize = 64;

/// Suffixes of files left behind by editors and package managers; such files are never hooks.
const BACKUP_SUFFIXES: [&str; 5] = ["~", ".rpmnew", ".rpmsave", ".rpmorig", ".swp"];

/// `dpkg` leaves `name.dpkg-old`, `.dpkg-new`, `.dpkg-dist`, `.dpkg-tmp`, `.dpkg-bak`, …
const DPKG_MARKER: &str = ".dpkg-";

/// `S_IWGRP | S_IWOTH`.
const MODE_GROUP_OTHER_WRITE: u32 = 0o022;

/// Errors of hook discovery.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event name is not a plain name, so no path is built from it.
    #[error("invalid hook event name {event:?}: expected [a-z0-9-]+")]
    InvalidEvent {
        /// The name as received (possibly hostile; printed with escapes).
        event: String,
    },
    /// The event directory exists but cannot be listed.
    #[error("failed to read hook directory {}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// An entry of the event directory could not be examined for want of descriptors or
    /// memory: whether it would run is unknown, so nothing is listed.
    #[error("cannot examine hook {}", path.display())]
    Examine {
        /// The entry.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// A hook directory could not be created.
    #[error("failed to create hook directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
}

/// One admitted hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Full path (as listed, not resolved: the journal shows what the administrator put there).
    pub path: PathBuf,
    /// File name, for log fields (`hook=`); lossily decoded if it is not UTF-8.
    pub name: String,
}

/// The verdict on one directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted: it runs.
    Run,
    /// Not run, and why.
    Skip(Skip),
}

/// One entry of a hook directory with its verdict; what `network-brokerctl hooks` can list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The entry, as a script (path and name).
    pub script: Script,
    /// Whether it runs.
    pub verdict: Verdict,
    /// The files of the same name in later hook directories that this one replaces (or masks).
    pub overrides: Vec<PathBuf>,
}

/// Whether `event` is a plain event name (`[a-z0-9-]+`, at most 64 bytes). Only such names are
/// ever joined to a path: a name like `../../tmp/x` from a spoofed bus peer must not select a
/// directory (networkd-dispatcher's CVE-2022-29799).
pub fn is_valid_event_name(event: &str) -> bool {
    !event.is_empty()
        && event.len() <= MAX_EVENT_NAME_LEN
        && event
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The directory of an event's hooks, `dir/<event>.d`, or an error for a name that is not plain.
pub fn event_dir(dir: &Path, event: &str) -> Result<PathBuf, Error> {
    if !is_valid_event_name(event) {
        return Err(Error::InvalidEvent {
            event: event.to_owned(),
        });
    }
    Ok(dir.join(format!("{event}.d")))
}

/// Create `dir` and the standard event directories ([`EVENT_DIRS`]) that do not exist yet, mode
/// 0755. Existing directories are left as they are (an administrator's mode is theirs).
pub fn create_event_dirs(dir: &Path) -> Result<(), Error> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true).mode(0o755);
    for name in EVENT_DIRS {
        let path = dir.join(name);
        builder
            .create(&path)
            .map_err(|source| Error::CreateDir { path, source })?;
    }
    Ok(())
}

/// List every entry of `<dir>/<event>.d/` of every directory in `dirs` with its verdict, merged
/// by file name (an earlier directory's entry replaces a later one's of the same name, and
/// names those in [`Candidate::overrides`]), sorted by file name (byte order), with absolute
/// paths. A missing directory is an empty list. Logs nothing.
pub fn scan(
    dirs: &[PathBuf],
    event: &str,
    enforce_ownership: bool,
) -> Result<Vec<Candidate>, Error> {
    let mut by_name: BTreeMap<Vec<u8>, Candidate> = BTreeMap::new();
    for dir in dirs {
        for candidate in scan_dir(dir, event, enforce_ownership)? {
            let name = candidate
                .script
                .path
                .file_name()
                .map(|n| n.as_bytes().to_vec());
            match by_name.entry(name.unwrap_or_default()) {
                Entry::Vacant(slot) => {
                    slot.insert(candidate);
                }
                Entry::Occupied(mut winner) => {
                    winner.get_mut().overrides.push(candidate.script.path)
                }
            }
        }
    }
    Ok(by_name.into_values().collect())
}

/// Every entry of one `<dir>/<event>.d/` with its verdict, in no particular order.
fn scan_dir(dir: &Path, event: &str, enforce_ownership: bool) -> Result<Vec<Candidate>, Error> {
    let event_dir = event_dir(dir, event)?;
    // Hooks run with the working directory `/`, and a relative program path would be resolved
    // against one directory or the other depending on the platform: make it absolute now.
    let event_dir = std::path::absolute(&event_dir).unwrap_or(event_dir);
    let entries = match fs::read_dir(&event_dir) {
        Ok(entries) => entries,
        // No directory means no hooks for this event; the daemon creates only the standard ones.
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::ReadDir {
                path: event_dir,
                source,
            })
        }
    };
    let dir_verdict = if enforce_ownership {
        fs::metadata(&event_dir)
            .ok()
            .filter(|meta| meta.uid() == 0 && meta.mode() & MODE_GROUP_OTHER_WRITE == 0)
            .map_or(Some(Skip::UnsafeDirectory), |_| None)
    } else {
        None
    };

    let mut candidates = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::ReadDir {
            path: event_dir.clone(),
            source,
        })?;
        let file_name = entry.file_name();
        let script = Script {
            path: entry.path(),
            name: file_name.to_string_lossy().into_owned(),
        };
        // The same admission as right before the hook runs (the file is opened and closed
        // again here; the runner admits it once more and executes what it opened then).
        let skip =
            name_skip(&file_name).or_else(|| admit::admit(&script.path, enforce_ownership).err());
        if let Some(Skip::Exhausted { errno }) = skip {
            // Not "this hook is refused": the daemon cannot tell, so the listing fails.
            return Err(Error::Examine {
                path: script.path,
                source: io::Error::from_raw_os_error(errno),
            });
        }
        let verdict = match skip {
            // The directory verdict overrides every refusal, so the listing names the
            // directory as the reason, but still says "directory" for subdirectories and
            // "masked" for masks.
            None => dir_verdict.clone().map_or(Verdict::Run, Verdict::Skip),
            Some(skip) if skip.is_refusal() => Verdict::Skip(dir_verdict.clone().unwrap_or(skip)),
            Some(skip) => Verdict::Skip(skip),
        };
        candidates.push(Candidate {
            script,
            verdict,
            overrides: Vec::new(),
        });
    }
    Ok(candidates)
}

/// The hooks to run for `event` from the hook directories `dirs` (merged as [`scan`] does), in
/// order: byte order of the file names, independent of the locale, like run-parts and
/// nm-dispatcher. Refused entries are logged at `warn` once per (path, reason) while the
/// refusal lasts; silent skips are logged at `debug`.
pub fn discover(
    dirs: &[PathBuf],
    event: &str,
    enforce_ownership: bool,
) -> Result<Vec<Script>, Error> {
    discover_sized(dirs, event, enforce_ownership).map(|(scripts, _)| scripts)
}

/// [`discover`], and how many directory entries it examined (all directories together, the
/// skipped and the overridden ones included): what the next listing will likely cost.
pub fn discover_sized(
    dirs: &[PathBuf],
    event: &str,
    enforce_ownership: bool,
) -> Result<(Vec<Script>, usize), Error> {
    let (candidates, _) = cache::scan(dirs, event, enforce_ownership)?;
    let examined = candidates.len() + candidates.iter().map(|c| c.overrides.len()).sum::<usize>();
    let mut scripts = Vec::new();
    for candidate in candidates {
        match candidate.verdict {
            Verdict::Run => {
                // An admitted path forgets its old refusals, so breaking it again warns again.
                warned().forget(&candidate.script.path);
                scripts.push(candidate.script);
            }
            Verdict::Skip(skip) if skip.is_refusal() => {
                if warned().first(&candidate.script.path, skip.clone()) {
                    warn!(
                        hook = %candidate.script.name,
                        path = %candidate.script.path.display(),
                        reason = %skip,
                        "refusing to run hook {}: {skip}",
                        candidate.script.path.display()
                    );
                }
            }
            Verdict::Skip(skip) => {
                debug!(
                    path = %candidate.script.path.display(),
                    reason = %skip,
                    "skipping hook directory entry"
                );
            }
        }
    }
    Ok((scripts, examined))
}

/// Skips decided by the name alone.
fn name_skip(name: &OsStr) -> Option<Skip> {
    let bytes = name.as_bytes();
    if bytes.first() == Some(&b'.') {
        return Some(Skip::Dotfile);
    }
    let is_backup = BACKUP_SUFFIXES
        .iter()
        .any(|suffix| bytes.ends_with(suffix.as_bytes()))
        || bytes
            .windows(DPKG_MARKER.len())
            .any(|w| w == DPKG_MARKER.as_bytes());
    is_backup.then_some(Skip::Backup)
}

/// Bound on remembered refusals; past it the memory is cleared (and warnings may repeat) rather
/// than growing without limit when files with ever new names keep being refused.
const MAX_REMEMBERED_REFUSALS: usize = 4096;

/// The set of (path, reason) pairs already warned about.
#[derive(Debug, Default)]
struct WarnOnce {
    seen: Mutex<HashSet<(PathBuf, Skip)>>,
}

impl WarnOnce {
    /// Records the pair; true when it is new (and should be logged).
    fn first(&self, path: &Path, skip: Skip) -> bool {
        // A poisoned lock only means another thread panicked mid-insert; the set is still usable.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_REMEMBERED_REFUSALS {
            seen.clear();
        }
        seen.insert((path.to_path_buf(), skip))
    }

    /// Forgets every refusal of `path`.
    fn forget(&self, path: &Path) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.is_empty() {
            seen.retain(|(p, _)| p != path);
        }
    }
}

/// The process-wide refusal memory.
fn warned() -> &'static WarnOnce {
    static WARNED: OnceLock<WarnOnce> = OnceLock::new();
    WARNED.get_or_init(WarnOnce::default)
}

mod cache;

#[cfg(test)]
mod tests;
