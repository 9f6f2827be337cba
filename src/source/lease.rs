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

mod read;
mod watcher;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::debounce::Debouncer;
use crate::event::{Event, EventSender};
use crate::lease::{current, next_expiry, FilePattern, PatternError};
use crate::model::Lease;
use read::{read_files, Outcome, Parsed};
#[cfg(test)]
use watcher::Relevance;
use watcher::Watch;

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

/// Follows the lease files listed in `files` and reports on `events` until `cancel` fires.
///
/// Each path is absolute and its file name may hold one `*` (`/var/lib/dhcp/dhclient.*.leases`;
/// see [`FilePattern`]). Sends [`Event::Leases`] once at start and then on every change of the
/// set of current leases (see the module documentation). A new list in `files` (a reload that
/// changed `LeaseFiles`) re-targets the source: new files are watched and read, the files no
/// longer listed are forgotten and their leases leave the set, as if the files were deleted.
/// Returns `Ok(())` on cancellation or when the broker's queue is closed, and an error only
/// for a path of the first list that is not valid, before anything else: missing files and
/// directories, unreadable or broken files, and a missing inotify are all handled without
/// stopping.
pub async fn run(
    files: watch::Receiver<Vec<PathBuf>>,
    events: EventSender,
    cancel: CancellationToken,
) -> Result<(), Error> {
    run_with(files, events, cancel, Timing::default()).await
}

async fn run_with(
    mut files: watch::Receiver<Vec<PathBuf>>,
    events: EventSender,
    cancel: CancellationToken,
    timing: Timing,
) -> Result<(), Error> {
    let patterns = patterns(&files.borrow_and_update())?;
    log_following("following", &patterns);

    // The watcher's callback runs on notify's thread. One pending notice is all the loop
    // needs: every read happens after the notice was taken, so it sees every change that
    // caused a notice still queued or dropped for being redundant.
    let (notify_tx, mut notices) = mpsc::channel::<()>(1);
    let mut watch = Watch::new(&patterns, notify_tx.clone());
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
            Ok(()) = files.changed() => {
                let listed = files.borrow_and_update().clone();
                source.retarget(&listed, &mut watch, &notify_tx);
                source.read(&mut watch, false, &events, &cancel).await
            }
            Some(()) = notices.recv() => {
                source.debounce.touch((), Instant::now());
                true
            }
            () = wait(source.debounce.next_deadline()) => {
                source.debounce.forget(());
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

/// The patterns of a list of paths, or the first path that is not valid.
fn patterns(files: &[PathBuf]) -> Result<Arc<[FilePattern]>, Error> {
    let patterns = files
        .iter()
        .map(|path| {
            FilePattern::new(path).map_err(|reason| Error::Path {
                path: path.clone(),
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(patterns.into())
}

fn log_following(what: &str, patterns: &[FilePattern]) {
    let listed: Vec<String> = patterns.iter().map(ToString::to_string).collect();
    info!("leases: {what} {}", listed.join(" "));
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
    /// File events: read after `quiet` without events, but no later than `max` after the
    /// first one.
    debounce: Debouncer<(), Instant>,
    retry_at: Option<Instant>,
    expiry_at: Option<Instant>,
}

#[derive(Debug)]
struct Failure {
    message: String,
    warned: bool,
}

impl Source {
    fn new(patterns: Arc<[FilePattern]>, timing: Timing) -> Self {
        Source {
            patterns,
            timing,
            files: BTreeMap::new(),
            failures: BTreeMap::new(),
            sent: None,
            debounce: Debouncer::new(timing.quiet, timing.max),
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

    /// Follows `listed` from now on instead of the old list (a reload changed `LeaseFiles`):
    /// watches the new directories and forgets the files no pattern matches any more, so the
    /// next read sends the set without their leases. An invalid list (the configuration
    /// rejects one, so only a bug brings it here) keeps the old one.
    fn retarget(&mut self, listed: &[PathBuf], watch: &mut Watch, notices: &mpsc::Sender<()>) {
        let patterns = match patterns(listed) {
            Ok(patterns) => patterns,
            Err(err) => {
                warn!("leases: {err}; following the old list");
                return;
            }
        };
        log_following("now following", &patterns);
        let listed = |path: &PathBuf| patterns.iter().any(|p| p.matches_path(path));
        self.files.retain(|path, _| listed(path));
        self.failures.retain(|path, _| listed(path));
        // A new watcher: the old one's watches are dropped with it, and its filter knew only
        // the old names.
        *watch = Watch::new(&patterns, notices.clone());
        self.patterns = patterns;
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

#[cfg(test)]
mod tests;
