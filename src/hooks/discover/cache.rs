//! The remembered listing of an event's hook directories: [`scan`] answers from it while a
//! `stat` of every path it depends on (the event directories, the directories above them, the
//! listed entries) is what it was when it was taken.
//!
//! Listing a directory admits every entry (`super::admit`: an open and a stat per path
//! component, an `access` check), and the daemon lists at every hook request: 10.7 % of its
//! CPU in a 200-link burst (docs/benchmarks.md, "CPU and latency, 2026-12-03"). Revalidating
//! costs one `stat` per path instead. Whatever changes a listing changes what those `stat`s
//! return: adding, removing, renaming or masking an entry changes its directory's
//! modification and change times, and a `chmod`, `chown` or write of a file changes its
//! change time, which no user can set. The directories above an event directory are compared
//! by identity, owner and mode only (what admission checks of them), not by their times.
//!
//! Timestamps come from the kernel's coarse clock: two changes within one tick carry the same
//! times. A listing taken in the same tick as a change could then look current after a second
//! change in that tick, so a listing is only remembered when every time it saw is older than
//! [`SETTLED`] before the listing started (git's "racily clean" entries, the same problem).
//! Not remembered either: a listing with a refused entry (it is listed again at every request,
//! so the refusal ends as soon as the file is fixed, and is warned about once as before), and
//! one whose paths lead through symlinks other than masks (the directories behind a symlink
//! are not all known here). Remembering a listing never lets a file run that admission would
//! refuse: the runner admits every file again right before it executes it.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{event_dir, Candidate, Error, Verdict};

/// How long before a listing started a time it sees must be for the listing to be
/// remembered; far above any kernel tick (1–10 ms).
pub(super) const SETTLED: Duration = Duration::from_secs(1);

/// Most remembered listings; past it the oldest is forgotten (events an administrator names
/// through `RunHooks` are not bounded by networkd's vocabulary).
const MAX_LISTINGS: usize = 64;

/// What a `stat` says about one path, as far as a listing depends on it; `None`: no such
/// file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<[i64; 10]>);

/// How a path is `stat`ed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// Through symlinks, with its times: an event directory, a hook that runs.
    Follow,
    /// The entry itself, with its times: a skipped entry (a mask is the symlink).
    Entry,
    /// Through symlinks, only which file it is and its owner and mode: a directory above an
    /// event directory, which admission checks for who may write it. Its times move whenever
    /// anything in it is created or removed (`/tmp`, `/etc`), which changes no listing.
    Identity,
}

impl Stamp {
    fn of(meta: &Metadata, how: How) -> Self {
        let times = how != How::Identity;
        let size = if times { meta.size() as i64 } else { 0 };
        let time = |value: i64| if times { value } else { 0 };
        // Plain integers compared for equality: the casts only have to be injective.
        Stamp(Some([
            meta.dev() as i64,
            meta.ino() as i64,
            i64::from(meta.mode()),
            i64::from(meta.uid()),
            i64::from(meta.gid()),
            size,
            time(meta.mtime()),
            time(meta.mtime_nsec()),
            time(meta.ctime()),
            time(meta.ctime_nsec()),
        ]))
    }

    /// `path`'s stamp; an error other than "no such file" makes the listing unverifiable.
    fn read(path: &Path, how: How) -> io::Result<Self> {
        let meta = if how == How::Entry {
            fs::symlink_metadata(path)
        } else {
            fs::metadata(path)
        };
        match meta {
            Ok(meta) => Ok(Stamp::of(&meta, how)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Stamp(None)),
            Err(err) => Err(err),
        }
    }

    /// Whether both times are older than `bound` (a missing file has none, an
    /// [`How::Identity`] stamp keeps none).
    fn settled_before(&self, bound: Duration) -> bool {
        let Some(fields) = &self.0 else {
            return true;
        };
        let at = |secs: i64, nsec: i64| {
            u64::try_from(secs)
                .ok()
                .zip(u32::try_from(nsec).ok())
                .map(|(s, n)| Duration::new(s, n))
        };
        [(fields[6], fields[7]), (fields[8], fields[9])]
            .into_iter()
            .all(|(secs, nsec)| at(secs, nsec).is_some_and(|time| time < bound))
    }
}

/// One path a listing depends on and how it looked.
#[derive(Debug, Clone)]
struct Checked {
    path: PathBuf,
    how: How,
    stamp: Stamp,
}

impl Checked {
    fn current(&self) -> bool {
        Stamp::read(&self.path, self.how).is_ok_and(|now| now == self.stamp)
    }
}

/// A remembered listing and what it was taken from.
#[derive(Debug)]
struct Listing {
    dirs: Vec<PathBuf>,
    event: String,
    enforce_ownership: bool,
    checked: Vec<Checked>,
    candidates: Vec<Candidate>,
}

static LISTINGS: Mutex<Vec<Listing>> = Mutex::new(Vec::new());

fn listings() -> std::sync::MutexGuard<'static, Vec<Listing>> {
    // A poisoned lock only means a listing panicked mid-update; entries are whole values.
    LISTINGS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where [`scan`]'s answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The remembered listing, still current.
    Remembered,
    /// The directories, listed afresh; `kept`: remembered for the next request.
    Listed { kept: bool },
}

/// [`super::scan`], from the remembered listing while it is current.
pub(super) fn scan(
    dirs: &[PathBuf],
    event: &str,
    enforce_ownership: bool,
) -> Result<(Vec<Candidate>, Source), Error> {
    scan_settled(dirs, event, enforce_ownership, SETTLED)
}

/// [`scan`] with the settling time as a parameter (the tests use zero, to see a listing of
/// files they just wrote remembered).
pub(super) fn scan_settled(
    dirs: &[PathBuf],
    event: &str,
    enforce_ownership: bool,
    settled: Duration,
) -> Result<(Vec<Candidate>, Source), Error> {
    {
        let mut remembered = listings();
        let found = remembered.iter().position(|listing| {
            listing.enforce_ownership == enforce_ownership
                && listing.event == event
                && listing.dirs == dirs
        });
        if let Some(position) = found {
            if remembered[position].checked.iter().all(Checked::current) {
                return Ok((remembered[position].candidates.clone(), Source::Remembered));
            }
            remembered.remove(position);
        }
    }
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let candidates = super::scan(dirs, event, enforce_ownership)?;
    let checked = checks(dirs, event, &candidates)
        .filter(|checked| {
            let bound = started.saturating_sub(settled);
            settled.is_zero() || checked.iter().all(|c| c.stamp.settled_before(bound))
        })
        .filter(|_| {
            !candidates
                .iter()
                .any(|c| matches!(&c.verdict, Verdict::Skip(skip) if skip.is_refusal()))
        });
    let kept = checked.is_some();
    if let Some(checked) = checked {
        let mut remembered = listings();
        if remembered.len() >= MAX_LISTINGS {
            remembered.remove(0);
        }
        remembered.push(Listing {
            dirs: dirs.to_vec(),
            event: event.to_owned(),
            enforce_ownership,
            checked,
            candidates: candidates.clone(),
        });
    }
    Ok((candidates, Source::Listed { kept }))
}

/// The stamps a listing of `candidates` depends on: each event directory (also a missing
/// one: creating it is a change), the directories above an existing one (admission refuses
/// a path through a directory others may write, `Skip::UnsafePath`), and each listed entry,
/// the one that won its name (an overridden entry matters only by its name, which its
/// directory's times cover). `None`, and the listing is not remembered, when one cannot be
/// read, when a directory's path leads through a symlink, or when an entry that runs is a
/// symlink: the directories such a path leads through are not all on the list.
fn checks(dirs: &[PathBuf], event: &str, candidates: &[Candidate]) -> Option<Vec<Checked>> {
    let mut checked: Vec<Checked> = Vec::with_capacity(dirs.len() * 4 + candidates.len());
    for dir in dirs {
        let path = event_dir(dir, event).ok()?;
        // The same absolute path the listing read (`scan_dir`).
        let path = std::path::absolute(&path).unwrap_or(path);
        let exists = check(&mut checked, &path, How::Follow)?;
        if exists {
            if fs::canonicalize(&path).ok()? != path {
                return None;
            }
            for above in path.ancestors().skip(1) {
                if !checked.iter().any(|c| c.path == above) {
                    check(&mut checked, above, How::Identity)?;
                }
            }
        }
    }
    for candidate in candidates {
        let path = &candidate.script.path;
        if candidate.verdict == Verdict::Run {
            if fs::symlink_metadata(path).ok()?.file_type().is_symlink() {
                return None;
            }
            check(&mut checked, path, How::Follow)?;
        } else {
            // Skipped for its name or its own type (dotfile, backup, directory, mask).
            check(&mut checked, path, How::Entry)?;
        }
    }
    Some(checked)
}

/// Appends `path`'s stamp; whether it exists, or `None` when it cannot be read.
fn check(checked: &mut Vec<Checked>, path: &Path, how: How) -> Option<bool> {
    let stamp = Stamp::read(path, how).ok()?;
    let exists = stamp.0.is_some();
    checked.push(Checked {
        path: path.to_path_buf(),
        how,
        stamp,
    });
    Some(exists)
}
