//! dhclient's lease files as an event source. This module follows the configured lease files
//! (`Network.LeaseFiles`), re-reads them when they change and sends the broker the current
//! lease of every interface ([`Event::Leases`]) whenever that set changes, including when a
//! lease expires. It decides nothing: what a new, changed or lost lease means is the broker's
//! business.
//!
//! # Watching
//!
//! dhclient appends to its file and now and then truncates and rewrites it in place; other
//! clients, editors and administrators replace files by renaming over them or delete and
//! recreate them; and the file, even its directory, may not exist yet when the daemon starts.
//! A watch on the file itself dies with a rename or a delete, so the source watches each
//! **parent directory** (inotify through `notify`, not recursive) and reacts to any creation,
//! modification, removal, rename or close-after-write of a name matching one of the paths.
//! Opens and reads (its own included) are ignored.
//!
//! A directory that does not exist (or is replaced, or cannot be watched) is checked again
//! every [`POLL_INTERVAL`]: once it appears it is watched and its files are read. A directory
//! that exists but cannot be watched (no inotify instance or watch left) is *polled*: its files
//! are re-read at every check. If no inotify watcher can be created at all, every directory is
//! polled. None of this ever stops the source: the original network-broker exited when its one
//! file was missing and systemd restarted it in a loop.
//!
//! # Reading
//!
//! Events are debounced ([`DEBOUNCE_QUIET`] of quiet, at most [`DEBOUNCE_MAX`] after the
//! first), then every matching file is read whole and parsed ([`crate::lease::parse`]). A file
//! that fails to parse (garbage, or half-written: dhclient writes a block with several
//! `write`s) keeps the leases it had at its last good read, and is read again once more after
//! [`RETRY_AFTER`] and at every later event; the daemon warns when a file fails twice in a row
//! (a single failure is most likely a write in progress). The other files are taken as they
//! are now, so one broken file cannot freeze the others. A file that is gone takes its leases
//! with it.
//!
//! The blocks of all files are put in the order their files were last modified (oldest
//! first), then [`crate::lease::current`] picks the last unexpired block of each interface: if
//! two files hold the same interface, the one written most recently wins.
//!
//! # Sending
//!
//! The set is sent at start (even when empty) and then whenever it differs from the last one
//! sent, by full equality: a renewal that only moves the times is sent too, so the broker
//! always holds the current expiry; it compares leases with [`Lease::same_content`] and runs
//! nothing for such a renewal. The source wakes at the earliest `expire` among the current
//! leases (and at every [`POLL_INTERVAL`], which also covers wall-clock jumps) to drop expired
//! leases without any file event.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::event::{Event, EventSender};
use crate::lease::{current, next_expiry, parse, FilePattern, PatternError};
use crate::model::Lease;

/// Quiet time after the last file event before the files are read.
pub const DEBOUNCE_QUIET: Duration = Duration::from_millis(250);
/// Longest delay between the first file event and the read, however busy the files are.
pub const DEBOUNCE_MAX: Duration = Duration::from_secs(2);
/// Delay of the one extra read after a file failed to parse: dhclient may have been writing.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often directories are checked (appeared, gone, replaced), unwatchable ones re-read,
/// and expiry re-evaluated against the wall clock.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Files larger than this are not read: dhclient rewrites its file every 20 leases, so a real
/// one stays a few kilobytes; a huge file is a mistake that must not bloat a root daemon.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why the lease source could not start. Once running it never fails.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path the configuration should have rejected.
    #[error("invalid lease file path {}: {reason}", path.display())]
    Path {
        /// The path as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: PatternError,
    },
}

/// The source's clocks; tests shorten them.
#[derive(Debug, Clone, Copy)]
struct Timing {
    quiet: Duration,
    max: Duration,
    retry: Duration,
    poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            quiet: DEBOUNCE_QUIET,
            max: DEBOUNCE_MAX,
            retry: RETRY_AFTER,
            poll: POLL_INTERVAL,
        }
    }
}

/// Follows the lease files `files` and reports on `events` until `cancel` fires.
///
/// Each path is absolute and its file name may hold one `*` (`/var/lib/dhcp/dhclient.*.leases`;
/// see [`FilePattern`]). Sends [`Event::Leases`] once at start and then on every change of the
/// set of current leases (see the module documentation). Returns `Ok(())` on cancellation or
/// when the broker's queue is closed, and an error only for a path that is not valid, before
/// anything else: missing files and directories, unreadable or broken files, and a missing
/// inotify are all handled without stopping.
pub async fn run(
    files: Vec<PathBuf>,
    events: EventSender,
    cancel: CancellationToken,
) -> Result<(), Error> {
    run_with(files, events, cancel, Timing::default()).await
}

async fn run_with(
    files: Vec<PathBuf>,
    events: EventSender,
    cancel: CancellationToken,
    timing: Timing,
) -> Result<(), Error> {
    let patterns = files
        .iter()
        .map(|path| {
            FilePattern::new(path).map_err(|reason| Error::Path {
                path: path.clone(),
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let patterns: Arc<[FilePattern]> = patterns.into();
    let listed: Vec<String> = patterns.iter().map(ToString::to_string).collect();
    info!("leases: following {}", listed.join(" "));

    // The watcher's callback runs on notify's thread. One pending notice is all the loop
    // needs: every read happens after the notice was taken, so it sees every change that
    // caused a notice still queued or dropped for being redundant.
    let (notify_tx, mut notices) = mpsc::channel::<()>(1);
    let mut watch = Watch::new(&patterns, notify_tx);
    let mut source = Source::new(patterns, timing);

    // Sent even if empty: the broker learns that the source runs and what holds now.
    if !source.read(&mut watch, false, &events, &cancel).await {
        return Ok(());
    }
    let mut ticks = tokio::time::interval_at(Instant::now() + timing.poll, timing.poll);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let flow = tokio::select! {
            () = cancel.cancelled() => {
                debug!("leases: cancelled, lease source stopping");
                return Ok(());
            }
            Some(()) = notices.recv() => {
                source.debounce.poke(Instant::now(), timing);
                true
            }
            () = wait(source.debounce.deadline) => {
                source.debounce = Debounce::default();
                source.read(&mut watch, false, &events, &cancel).await
            }
            () = wait(source.retry_at) => {
                source.retry_at = None;
                source.read(&mut watch, true, &events, &cancel).await
            }
            () = wait(source.expiry_at) => source.reevaluate(&events, &cancel).await,
            _ = ticks.tick() => {
                if watch.supervise() || watch.polling() {
                    source.read(&mut watch, false, &events, &cancel).await
                } else {
                    source.reevaluate(&events, &cancel).await
                }
            }
        };
        if !flow {
            return Ok(());
        }
    }
}

/// Sleeps until `deadline`, or forever when there is none.
async fn wait(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Now as Unix seconds (0 if the clock is before 1970).
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The debounce window: `deadline` is when to read, if anything happened.
#[derive(Debug, Default, Clone, Copy)]
struct Debounce {
    first: Option<Instant>,
    deadline: Option<Instant>,
}

impl Debounce {
    /// Another event at `now`: read after `quiet` without events, but no later than `max`
    /// after the first one.
    fn poke(&mut self, now: Instant, timing: Timing) {
        let first = *self.first.get_or_insert(now);
        self.deadline = Some((now + timing.quiet).min(first + timing.max));
    }
}

/// What the source knows between reads.
struct Source {
    patterns: Arc<[FilePattern]>,
    timing: Timing,
    /// Each file's leases from its last good read, by path.
    files: BTreeMap<PathBuf, Parsed>,
    /// Files whose last read failed, and whether that was already warned about.
    failures: BTreeMap<PathBuf, Failure>,
    /// The last set sent; `None` before the first.
    sent: Option<BTreeMap<String, Lease>>,
    debounce: Debounce,
    retry_at: Option<Instant>,
    expiry_at: Option<Instant>,
}

/// One file, parsed.
#[derive(Debug, Clone)]
struct Parsed {
    modified: SystemTime,
    leases: Vec<Lease>,
}

#[derive(Debug)]
struct Failure {
    message: String,
    warned: bool,
}

/// What one read found for one file.
enum Outcome {
    Parsed(Parsed),
    Failed(String),
}

impl Source {
    fn new(patterns: Arc<[FilePattern]>, timing: Timing) -> Self {
        Source {
            patterns,
            timing,
            files: BTreeMap::new(),
            failures: BTreeMap::new(),
            sent: None,
            debounce: Debounce::default(),
            retry_at: None,
            expiry_at: None,
        }
    }

    /// Brings the watches up to date, reads and parses every matching file, and sends the
    /// set if it changed. `is_retry`: this is the one extra read after a failure. Returns
    /// `false` when the source must stop (cancelled, or the broker's queue closed).
    async fn read(
        &mut self,
        watch: &mut Watch,
        is_retry: bool,
        events: &EventSender,
        cancel: &CancellationToken,
    ) -> bool {
        watch.supervise();
        let patterns = Arc::clone(&self.patterns);
        let present = watch.present();
        let known: BTreeSet<PathBuf> = self.files.keys().cloned().collect();
        let reading = tokio::task::spawn_blocking(move || read_files(&patterns, &present, &known));
        let outcomes = tokio::select! {
            () = cancel.cancelled() => return false,
            joined = reading => match joined {
                Ok(outcomes) => outcomes,
                Err(e) => {
                    // Cannot happen short of a bug; keep the previous state and go on.
                    warn!("leases: reading the lease files failed: {e}");
                    return true;
                }
            },
        };
        let mut failed = false;
        self.files.retain(|path, _| outcomes.contains_key(path));
        self.failures.retain(|path, _| outcomes.contains_key(path));
        for (path, outcome) in outcomes {
            match outcome {
                Outcome::Parsed(parsed) => {
                    if self.failures.remove(&path).is_some_and(|f| f.warned) {
                        info!("leases: {} parses again", path.display());
                    }
                    self.files.insert(path, parsed);
                }
                Outcome::Failed(message) => {
                    failed = true;
                    self.failed(&path, message);
                }
            }
        }
        if failed && !is_retry {
            self.retry_at = Some(Instant::now() + self.timing.retry);
        }
        self.reevaluate(events, cancel).await
    }

    /// Records that `path` failed; warns when it also failed at the previous read (once per
    /// distinct message), since a single failure is most likely a write in progress.
    fn failed(&mut self, path: &Path, message: String) {
        let kept = match self.files.get(path) {
            Some(parsed) => format!("keeping its {} earlier lease(s)", parsed.leases.len()),
            None => "ignoring it".to_owned(),
        };
        match self.failures.get_mut(path) {
            Some(failure) if failure.warned && failure.message == message => {
                debug!("leases: {}: still {message}", path.display());
            }
            Some(failure) => {
                warn!(
                    "leases: {}: {message}; {kept} until it is fixed",
                    path.display()
                );
                *failure = Failure {
                    message,
                    warned: true,
                };
            }
            None => {
                debug!(
                    "leases: {}: {message}; {kept} and reading it again (a write in progress?)",
                    path.display()
                );
                self.failures.insert(
                    path.to_path_buf(),
                    Failure {
                        message,
                        warned: false,
                    },
                );
            }
        }
    }

    /// Computes the current set from what is known and sends it if it changed; schedules the
    /// next expiry. Returns `false` when the source must stop.
    async fn reevaluate(&mut self, events: &EventSender, cancel: &CancellationToken) -> bool {
        let now = unix_now();
        let mut files: Vec<(&PathBuf, &Parsed)> = self.files.iter().collect();
        // Oldest-written first, so that the most recent file's blocks come last.
        files.sort_by(|a, b| (a.1.modified, a.0).cmp(&(b.1.modified, b.0)));
        let leases: Vec<Lease> = files
            .into_iter()
            .flat_map(|(_, parsed)| parsed.leases.iter().cloned())
            .collect();
        let set = current(&leases, now);
        self.expiry_at = next_expiry(&set, now).map(|at| {
            // Wake just after the second it expires at (`expire <= now` is expired). The
            // timer is monotonic and the expiry is wall-clock time; the poll tick re-evaluates
            // often enough to cover clock jumps, so far futures are simply capped.
            let target = UNIX_EPOCH + Duration::from_secs(at.unsigned_abs());
            let wait = target
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .min(Duration::from_secs(86_400));
            Instant::now() + wait + Duration::from_millis(5)
        });
        if self.sent.as_ref() == Some(&set) {
            return true;
        }
        let names: Vec<&str> = set.keys().map(String::as_str).collect();
        debug!("leases: current leases: {}", names.join(" "));
        self.sent = Some(set.clone());
        tokio::select! {
            () = cancel.cancelled() => false,
            sent = events.send(Event::Leases(set)) => {
                if sent.is_err() {
                    info!("leases: broker queue closed, lease source stopping");
                }
                sent.is_ok()
            }
        }
    }
}

/// Reads and parses every file matching `patterns` in the directories of `present`.
/// Blocking; runs on tokio's blocking pool. Files that vanish while being read are simply
/// absent from the result. `known` are the files of the last read: if a directory cannot be
/// listed, they are tried one by one, so that their failure keeps their leases rather than
/// their absence dropping them.
fn read_files(
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

/// The inotify watcher and the state of each directory.
struct Watch {
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
    fn new(patterns: &Arc<[FilePattern]>, notices: mpsc::Sender<()>) -> Self {
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
    fn supervise(&mut self) -> bool {
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
    fn polling(&self) -> bool {
        self.dirs
            .iter()
            .any(|d| matches!(d.state, DirState::Polled(..)))
    }

    /// The directories that exist.
    fn present(&self) -> BTreeSet<PathBuf> {
        self.dirs
            .iter()
            .filter(|d| d.state != DirState::Missing)
            .map(|d| d.path.clone())
            .collect()
    }
}

/// Decides, on notify's thread, whether an event may concern the lease files.
struct Relevance {
    patterns: Arc<[FilePattern]>,
    dirs: Vec<PathBuf>,
}

impl Relevance {
    fn is_relevant(&self, event: &notify::Result<notify::Event>) -> bool {
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

#[cfg(test)]
mod tests;
