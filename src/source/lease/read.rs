//! Reading the lease files: which files match, each read whole, safely (no link out of its
//! directory, no FIFO that hangs, no huge file) and parsed. Blocking; the source runs it on
//! tokio's blocking pool.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::debug;

use super::MAX_FILE_BYTES;
use crate::lease::{parse, FilePattern};
use crate::model::Lease;

/// One file, parsed.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    pub(super) modified: SystemTime,
    pub(super) leases: Vec<Lease>,
}

/// What one read found for one file.
pub(super) enum Outcome {
    Parsed(Parsed),
    Failed(String),
}

/// Reads and parses every file matching `patterns` in the directories of `present`.
/// Blocking; runs on tokio's blocking pool. Files that vanish while being read are simply
/// absent from the result. `known` are the files of the last read: if a directory cannot be
/// listed, they are tried one by one, so that their failure keeps their leases rather than
/// their absence dropping them.
pub(super) fn read_files(
    patterns: &[FilePattern],
    present: &BTreeSet<PathBuf>,
    known: &BTreeSet<PathBuf>,
) -> BTreeMap<PathBuf, Outcome> {
    let mut paths = BTreeSet::new();
    for pattern in patterns {
        if !present.contains(pattern.dir()) {
            continue;
        }
        if let Some(path) = pattern.exact() {
            paths.insert(path);
            continue;
        }
        match std::fs::read_dir(pattern.dir()) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    if pattern.matches(&entry.file_name()) {
                        paths.insert(entry.path());
                    }
                }
            }
            Err(e) => {
                debug!("leases: cannot list {}: {e}", pattern.dir().display());
                paths.extend(known.iter().filter(|p| pattern.matches_path(p)).cloned());
            }
        }
    }
    let mut outcomes = BTreeMap::new();
    for path in paths {
        match read_file(&path) {
            Ok(Some((modified, text))) => {
                let outcome = match parse(&text) {
                    Ok(leases) => Outcome::Parsed(Parsed { modified, leases }),
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                outcomes.insert(path, outcome);
            }
            Ok(None) => {}
            Err(message) => {
                outcomes.insert(path, Outcome::Failed(message));
            }
        }
    }
    outcomes
}

/// The text and modification time of one file; `None` if it does not exist or is not a
/// regular file (a directory that happens to match the glob).
fn read_file(path: &Path) -> Result<Option<(SystemTime, String)>, String> {
    let file = match open_beneath(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
            return Err(
                "not read: a symbolic link out of its directory (lease files are read only \
                 inside the directory they are configured in)"
                    .to_owned(),
            )
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(
                "not read: a symbolic link, and this kernel cannot tell where it \
                 points safely (no openat2)"
                    .to_owned(),
            )
        }
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes, not read"));
    }
    // dhclient escapes every non-printable byte, so a real file is ASCII; anything else is
    // read lossily and left to the parser to judge.
    Ok(Some((
        modified,
        String::from_utf8_lossy(&bytes).into_owned(),
    )))
}

/// Opens `path` for reading without following a link out of its directory: the daemon reads
/// lease files as root, and a link in a lease directory to `/etc/shadow` or
/// `/proc/self/environ` must not make it read (and log) that file. `openat2` with
/// `RESOLVE_BENEATH` resolves the name inside the directory only (a link to a file beside
/// it is followed; `..`, absolute targets and `/proc` magic links fail with `EXDEV`). On a
/// kernel without `openat2` (before 5.6), no link is followed at all (`O_NOFOLLOW`: `ELOOP`).
///
/// Non-blocking, so that a FIFO matching a glob cannot hang the read forever (a regular file
/// ignores the flag); the caller then refuses it as not a regular file.
fn open_beneath(path: &Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};

    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(ErrorKind::NotFound.into());
    };
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let opened = rustix::fs::openat2(
        &dir,
        name,
        flags,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    );
    let fd = match opened {
        Err(rustix::io::Errno::NOSYS) => {
            rustix::fs::openat(&dir, name, flags | OFlags::NOFOLLOW, Mode::empty())?
        }
        other => other?,
    };
    Ok(std::fs::File::from(fd))
}
