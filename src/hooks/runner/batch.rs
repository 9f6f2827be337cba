//! Running one request of the runner's queues: its scripts are listed when it starts (so a
//! script added a moment ago runs at the next event), their environment is built, and they
//! run one after the other in name order until the end or the daemon's shutdown.
//!
//! The file system is read once per request: the hook directories and networkd's files of the
//! link (on `/run`, a few hundred bytes) together. A hand-off to the blocking pool costs two
//! thread wake-ups and switches per hook, which were 15 % of the daemon's CPU in a 200-link
//! burst with two hand-offs per request (docs/benchmarks.md, "CPU and latency"). So when the
//! last listing of the event's directories examined at most [`INLINE_ENTRIES`] entries (a
//! readdir and an `lstat`/open per entry, tens of microseconds, on the daemon's own thread),
//! the read is done in place; otherwise, and for the first listing and events named by an
//! administrator (`RunHooks`), in one hand-off to the blocking pool. Every request still asks
//! discovery, which answers from its remembered listing only while the directories and files
//! are unchanged (`discover::cache`): a script added a moment ago runs at the next event.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio::task;
use tracing::{debug, error, info, info_span, warn, Instrument};

use super::super::discover::{self, Script};
use super::super::executor::HookRun;
use super::super::{env, exec, networkd, BatchResult, HookEvent, Request, ScriptResult, Settings};
use super::{Phase, Queued};
use crate::error_chain::ErrorChain;
use crate::messages;
use crate::model::{LinkView, Snapshot};

/// Run the hooks of one request and send its result (when any hook ran).
pub(super) async fn run_batch(
    queued: Queued,
    snapshots: Option<watch::Receiver<Arc<Snapshot>>>,
    settings: Settings,
    results: mpsc::UnboundedSender<BatchResult>,
    phase: watch::Receiver<Phase>,
) {
    let Queued {
        mut request,
        reply,
        coalesced,
    } = queued;
    if let (Some(snapshots), Some(link)) = (&snapshots, &request.link) {
        request.link = Some(current_addresses(link, &snapshots.borrow()));
    }
    let ifindex = request.link.as_ref().map(|link| link.attrs.index);
    let (outcomes, complete) = run_request(&request, coalesced, &settings, phase).await;
    let batch = BatchResult {
        event: request.event.clone(),
        ifindex,
        results: outcomes,
        complete,
        coalesced,
    };
    if !batch.results.is_empty() {
        // A closed receiver means nobody publishes results; the hooks still ran.
        let _ = results.send(batch.clone());
    }
    reply.send(batch);
}

/// The outcome of each script that ran, and whether the request ran to its end.
async fn run_request(
    request: &Request,
    coalesced: u32,
    settings: &Settings,
    phase: watch::Receiver<Phase>,
) -> (Vec<ScriptResult>, bool) {
    let (listed, networkd) = read_files(settings, request).await;
    let scripts = match listed {
        Ok(scripts) => scripts,
        Err(Unlisted::Invalid) => return (Vec::new(), true),
        Err(Unlisted::Unreadable { dir, error }) => {
            // Not "no hooks": the caller (RunHooks, HooksCompleted) learns that the hooks
            // of this event could not even be listed (EMFILE, EACCES, EIO, ...).
            let unlisted = ScriptResult {
                script: dir,
                status: exec::STATUS_NOT_STARTED,
                error,
            };
            // Not run: a state whose hooks could not be listed runs again later.
            return (vec![unlisted], false);
        }
    };
    if scripts.is_empty() {
        debug!(event = %request.event, "no hooks for event");
        return (Vec::new(), true);
    }
    // The span (the event and link on every line the hooks' run logs) is made only for a
    // request with hooks to run: most transitions have none (a link going up passes four or
    // five states), and a span formats its fields when it is made: 2-3 % of the daemon's
    // samples in a burst when every request had one (docs/benchmarks.md, "CPU and latency,
    // 2026-12-04").
    let ifindex = request.link.as_ref().map(|link| link.attrs.index);
    let ifname = request.link.as_ref().map(|link| link.attrs.name.as_str());
    let span = info_span!("hooks.batch", event = %request.event, ifindex, ifname);
    run_listed(
        &scripts,
        request,
        networkd.as_ref(),
        coalesced,
        settings,
        phase,
    )
    .instrument(span)
    .await
}

/// Runs the listed `scripts` of `request` and logs the outcome.
async fn run_listed(
    scripts: &[Script],
    request: &Request,
    networkd: Option<&networkd::NetworkdFiles>,
    coalesced: u32,
    settings: &Settings,
    phase: watch::Receiver<Phase>,
) -> (Vec<ScriptResult>, bool) {
    let env = environment(request, settings, networkd);
    let ifname = request.link.as_ref().map(|link| link.attrs.name.as_str());
    let outcomes = run_scripts(scripts, request, ifname, &env, settings, &phase).await;
    let failed = outcomes.iter().filter(|r| r.status != 0).count();
    info!(
        ran = outcomes.len(),
        failed,
        coalesced,
        "{}",
        messages::hooks_completed(ifname, request.event.as_str(), outcomes.len(), failed)
    );
    // Killed or skipped by the shutdown: not run as far as the memory is concerned. (A
    // script that failed or timed out on its own did run.)
    let complete = outcomes.len() == scripts.len() && *phase.borrow() != Phase::Kill;
    (outcomes, complete)
}

/// The environment and input of the request's hooks, with networkd's files of the link (when
/// it has any); variables that cannot be passed are logged.
fn environment(
    request: &Request,
    settings: &Settings,
    networkd: Option<&networkd::NetworkdFiles>,
) -> env::HookEnv {
    let env = env::build(request, settings, networkd);
    for rejected in &env.rejected {
        warn!(
            var = %rejected.name,
            reason = %rejected.reason,
            "not passing variable {} to the {} hooks: {}",
            rejected.name,
            request.event,
            rejected.reason
        );
    }
    env
}

/// Runs `scripts` in order; none starts once the runner is stopping.
async fn run_scripts(
    scripts: &[Script],
    request: &Request,
    ifname: Option<&str>,
    env: &env::HookEnv,
    settings: &Settings,
    phase: &watch::Receiver<Phase>,
) -> Vec<ScriptResult> {
    let mut outcomes = Vec::with_capacity(scripts.len());
    for script in scripts {
        if *phase.borrow() != Phase::Running {
            let skipped = scripts.len() - outcomes.len();
            info!(
                skipped,
                "daemon stopping: not starting the remaining {skipped} {} hook(s)", request.event
            );
            break;
        }
        let stop = wait_for_kill(phase.clone());
        let run = HookRun {
            script,
            link: ifname,
            event: request.event.as_str(),
            env,
            timeout: settings.timeout,
            enforce_ownership: settings.enforce_ownership,
        };
        let outcome = settings.executor.run(&run, stop).await;
        outcomes.push(outcome);
    }
    outcomes
}

/// `link` as the request captured it, with the addresses the broker shows for it now.
///
/// systemd-networkd adds an address and then announces the state it gives (`routable`); its
/// bus signal can reach the broker a moment before the kernel's message about that address
/// does, so the view captured at the transition may lack the address that caused it
/// (`tests/lab_networkd.rs` saw `IP_ADDRS` empty for `routable`). The hook starts after both
/// have arrived, so it takes the addresses from the current picture; the states stay those
/// of the transition. A link gone or renamed since keeps the captured view.
pub(super) fn current_addresses(link: &Arc<LinkView>, now: &Snapshot) -> Arc<LinkView> {
    match now.links.get(&link.attrs.index) {
        Some(current)
            if current.attrs.name == link.attrs.name && current.addresses != link.addresses =>
        {
            let mut view = LinkView::clone(link);
            view.addresses = current.addresses.clone();
            Arc::new(view)
        }
        _ => Arc::clone(link),
    }
}

/// Why a request has no list of scripts.
enum Unlisted {
    /// The event name is not a plain name (a caller's bug; logged).
    Invalid,
    /// The event directory exists but could not be read: the directory and the error.
    Unreadable { dir: String, error: String },
}

/// Most directory entries (all hook directories of an event together) whose listing is done
/// on the daemon's thread rather than handed to the blocking pool.
const INLINE_ENTRIES: usize = 64;

/// How many entries the last listing of each event examined (absent: never listed, or the
/// listing failed), shared by every batch of the daemon. Keyed by the events the daemon
/// itself raises (networkd's state values, `manager`, `routes-modified`), so it stays as
/// small as networkd's vocabulary.
static LAST_EXAMINED: Mutex<BTreeMap<&'static str, usize>> = Mutex::new(BTreeMap::new());

/// The key of `event` in [`LAST_EXAMINED`]; `None` for names an administrator chose.
pub(super) fn examined_key(event: &HookEvent) -> Option<&'static str> {
    match event {
        HookEvent::State(state) => Some(state),
        HookEvent::Manager => Some("manager"),
        HookEvent::RoutesModified => Some("routes-modified"),
        HookEvent::Named(_) => None,
    }
}

fn last_examined() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, usize>> {
    // A poisoned lock only means a batch panicked mid-insert; the sizes are still usable.
    LAST_EXAMINED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lists the request's scripts and, when there are any and the request has a link, reads
/// networkd's files of the link, in place when the last listing was small, else in one
/// hand-off to the blocking pool (the module's doc). Failures to list are logged.
async fn read_files(
    settings: &Settings,
    request: &Request,
) -> (
    Result<Vec<Script>, Unlisted>,
    Option<networkd::NetworkdFiles>,
) {
    let dirs = settings.hook_dirs();
    let wanted = request.event.as_str().to_owned();
    let enforce = settings.enforce_ownership;
    let state_dir = settings.networkd_state_dir.clone();
    let index = request.link.as_ref().map(|link| link.attrs.index);
    let key = examined_key(&request.event);
    let read = move || {
        let listed = discover::discover_sized(&dirs, &wanted, enforce);
        if let Some(key) = key {
            match &listed {
                Ok((_, examined)) => last_examined().insert(key, *examined),
                Err(_) => last_examined().remove(key),
            };
        }
        let listed = listed.map(|(scripts, _)| scripts);
        let files = match (&listed, index) {
            (Ok(scripts), Some(index)) if !scripts.is_empty() => {
                Some(networkd::read(&state_dir, index))
            }
            _ => None,
        };
        (listed, files)
    };
    let small = key.is_some_and(|key| {
        last_examined()
            .get(key)
            .is_some_and(|examined| *examined <= INLINE_ENTRIES)
    });
    let read = if small {
        Ok(read())
    } else {
        task::spawn_blocking(read).await
    };
    let event = request.event.as_str();
    match read {
        Ok((listed, files)) => (listed_or_logged(settings, event, Ok(listed)), files),
        Err(err) => (listed_or_logged(settings, event, Err(err)), None),
    }
}

/// The scripts, or why there is no list (logged).
fn listed_or_logged(
    settings: &Settings,
    event: &str,
    listed: Result<Result<Vec<Script>, discover::Error>, task::JoinError>,
) -> Result<Vec<Script>, Unlisted> {
    match listed {
        Ok(Ok(scripts)) => Ok(scripts),
        Ok(Err(err @ discover::Error::InvalidEvent { .. })) => {
            warn!(error = %err, "not running the {event} hooks: {err}");
            Err(Unlisted::Invalid)
        }
        Ok(Err(err)) => {
            let error = ErrorChain(&err).to_string();
            error!(error = %error, "cannot list the {event} hooks, none run: {error}");
            let dir = match &err {
                discover::Error::ReadDir { path, .. }
                | discover::Error::Examine { path, .. }
                | discover::Error::CreateDir { path, .. } => path.to_string_lossy().into_owned(),
                discover::Error::InvalidEvent { .. } => String::new(),
            };
            Err(Unlisted::Unreadable { dir, error })
        }
        Err(err) => {
            error!(error = %err, "looking for the {event} hooks failed: {err}");
            Err(Unlisted::Unreadable {
                dir: settings.dir.to_string_lossy().into_owned(),
                error: format!("hook discovery failed: {err}"),
            })
        }
    }
}

/// Resolves when the runner decides to kill running scripts.
async fn wait_for_kill(mut phase: watch::Receiver<Phase>) {
    if phase.wait_for(|p| *p == Phase::Kill).await.is_err() {
        // The runner is gone without a shutdown; only the script's own timeout applies.
        std::future::pending::<()>().await;
    }
}
