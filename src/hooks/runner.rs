//! The hook runner actor: takes [`Request`]s from the broker through a [`Handle`], runs the
//! hooks of each request and reports one [`BatchResult`] per request that ran any hook.
//!
//! Ordering: requests with the same key (the link's ifindex; all link-less requests such as
//! `manager` share one key) run one at a time in submission order, so a link's `routable` hooks
//! never race its `no-carrier` hooks. Requests with different keys run in parallel, up to
//! [`MAX_PARALLEL_BATCHES`] at once; keys beyond that wait their turn in arrival order. Within
//! a request the scripts run one after the other in name order.
//!
//! Backlog: each key keeps at most [`Settings::backlog`] requests waiting (`HookBacklog`). A
//! request that would exceed it coalesces the backlog: of the waiting requests of each event
//! only the latest stays (it carries the newest state of the link, and its hooks see it), in
//! the order of those latest requests, so the request just submitted, the link's current
//! state, always runs and runs last. Should that still exceed the bound, the oldest go too.
//! Requests a caller waits for ([`Handle::run`], the bus's `RunHooks`) are never dropped. The
//! survivors carry how many requests were merged into them ([`BatchResult::coalesced`], the
//! bus's `HooksCompleted`), and coalescing is logged (at info once until the key's next batch
//! starts). So queued memory is bounded per key whatever the event rate, and each request
//! shares its link view instead of copying it.
//!
//! The actor owns only queues; it never blocks on a hook. Each running request is a task of
//! its own, and scripts are discovered when the request starts, so a script added a moment ago
//! runs at the next event.

mod backlog;
mod batch;
#[cfg(test)]
mod recorder;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{self, JoinSet};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::{BatchResult, DryRun, DryRunError, ListedHook, Request, Settings};
use crate::config::Config;
use crate::model::{IfIndex, Snapshot};
use crate::time::sleep_until_opt;
use backlog::coalesce;
use batch::run_batch;
#[cfg(test)]
pub(crate) use recorder::{Recorder, Submitted};

/// Most requests (of different links) running at the same time. A bound on processes started
/// by one burst of events (a switch restart flapping 200 VLANs), not a bound on queued work.
pub const MAX_PARALLEL_BATCHES: usize = 64;

/// The ordering key: requests with equal keys run one after another.
type Key = Option<IfIndex>;

/// Cloneable handle to the hook runner. Dropping every handle lets the runner finish the work
/// already submitted and then stop.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Command>,
}

/// What a submitter wants to hear back about its request.
#[derive(Debug)]
enum Reply {
    /// Nothing.
    None,
    /// The outcome; the caller waits, so the request is never coalesced away.
    Waiting(oneshot::Sender<BatchResult>),
    /// The outcome if it runs; if it is coalesced away the sender is dropped, which the
    /// receiver sees as "did not run".
    Tracking(oneshot::Sender<BatchResult>),
}

impl Reply {
    fn send(self, batch: BatchResult) {
        match self {
            Reply::None => {}
            Reply::Waiting(reply) | Reply::Tracking(reply) => drop(reply.send(batch)),
        }
    }
}

/// A request waiting in its key's queue.
#[derive(Debug)]
struct Queued {
    request: Request,
    reply: Reply,
    /// Earlier requests merged into this one.
    coalesced: u32,
}

/// How many requests the runner holds (for tests and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests waiting now, all keys together.
    pub queued: usize,
    /// The longest any one key's queue has been.
    pub peak_backlog: usize,
    /// Requests coalesced away since the start.
    pub coalesced: u64,
}

#[derive(Debug)]
enum Command {
    // Boxed: keeps the command small next to `Settings`.
    Submit(Box<Request>, Reply),
    Settings(Settings),
    /// A reload's settings; ownership enforcement, the vendor directory and the executor stay
    /// as they were.
    Reconfigure(Box<Settings>),
    DryRun(Box<Request>, oneshot::Sender<Result<DryRun, DryRunError>>),
    List(oneshot::Sender<Result<Vec<ListedHook>, super::Error>>),
    Follow(watch::Receiver<Arc<Snapshot>>),
    Idle(oneshot::Sender<()>),
    Stats(oneshot::Sender<Stats>),
    Shutdown {
        grace: Duration,
        done: oneshot::Sender<()>,
    },
}

/// Where the runner is in its life; scripts watch it to learn when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Normal operation.
    Running,
    /// Shutting down: start no further script, let running ones finish.
    Draining,
    /// Shutdown grace is over: kill running scripts.
    Kill,
}

/// Start the runner on the current Tokio runtime (must be called from within one). Results
/// go to `results`; a closed receiver only means nobody listens.
pub fn spawn(settings: Settings, results: mpsc::UnboundedSender<BatchResult>) -> Handle {
    spawn_with_limit(settings, results, MAX_PARALLEL_BATCHES)
}

fn spawn_with_limit(
    settings: Settings,
    results: mpsc::UnboundedSender<BatchResult>,
    max_parallel: usize,
) -> Handle {
    let (tx, rx) = mpsc::unbounded_channel();
    let runner = Runner::new(settings, results, max_parallel);
    tokio::spawn(runner.run(rx));
    Handle { tx }
}

impl Handle {
    /// Queue `request`; never blocks. It runs unless a later request of its link coalesces
    /// it away (the module's "Backlog"). After [`Handle::shutdown`] requests are dropped with
    /// a warning.
    pub fn submit(&self, request: Request) {
        self.send_request(request, Reply::None);
    }

    /// Queue `request` like [`Handle::submit`] and get its outcome when it runs: the batch
    /// (with no results when the event has no scripts). The receiver errors when the request
    /// did not run: coalesced away, or the runner stopped first.
    pub fn track(&self, request: Request) -> oneshot::Receiver<BatchResult> {
        let (reply, outcome) = oneshot::channel();
        self.send_request(request, Reply::Tracking(reply));
        outcome
    }

    /// Queue `request` for a caller that waits for its outcome (never coalesced away). The
    /// receiver errors when the runner stops first.
    pub fn run(&self, request: Request) -> oneshot::Receiver<BatchResult> {
        let (reply, outcome) = oneshot::channel();
        self.send_request(request, Reply::Waiting(reply));
        outcome
    }

    fn send_request(&self, request: Request, reply: Reply) {
        let event = request.event.clone();
        if self
            .tx
            .send(Command::Submit(Box::new(request), reply))
            .is_err()
        {
            warn!(%event, "hook runner has stopped: not running the {event} hooks");
        }
    }

    /// Take hooks' addresses from the broker's published picture from now on (see
    /// [`current_addresses`]).
    pub fn follow(&self, snapshots: watch::Receiver<Arc<Snapshot>>) {
        if self.tx.send(Command::Follow(snapshots)).is_err() {
            debug!("hook runner has stopped, not following the broker's picture");
        }
    }

    /// How many requests the runner holds; `None` once it has stopped.
    pub async fn stats(&self) -> Option<Stats> {
        let (reply, stats) = oneshot::channel();
        self.tx.send(Command::Stats(reply)).ok()?;
        stats.await.ok()
    }

    /// Replace the settings. Requests that start after this call use the new settings, including
    /// requests submitted earlier that are still queued; running requests keep theirs.
    pub fn update_settings(&self, settings: Settings) {
        if self.tx.send(Command::Settings(settings)).is_err() {
            debug!("hook runner has stopped, ignoring new settings");
        }
    }

    /// Takes a reloaded configuration's part of the settings, like [`Handle::update_settings`];
    /// whether ownership is enforced stays as the runner was started (it follows the daemon's
    /// privileges, not the file).
    pub fn reconfigure(&self, config: &Config) {
        let settings = Settings::from_config(config, &super::Launch::in_process(false));
        if self
            .tx
            .send(Command::Reconfigure(Box::new(settings)))
            .is_err()
        {
            debug!("hook runner has stopped, ignoring the new configuration");
        }
    }

    /// What running `request` would do now, with the settings the runner would run it with
    /// (see [`DryRun`]); `None` once the runner has stopped.
    pub async fn dry_run(&self, request: Request) -> Option<Result<DryRun, DryRunError>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::DryRun(Box::new(request), reply))
            .ok()?;
        answer.await.ok()
    }

    /// Every hook that would run now, with the settings the runner runs them with
    /// ([`super::list`]); `None` once the runner has stopped.
    pub async fn list(&self) -> Option<Result<Vec<ListedHook>, super::Error>> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Command::List(reply)).ok()?;
        answer.await.ok()
    }

    /// Wait until every request submitted before this call has finished and its result has been
    /// sent. Returns at once when the runner has stopped.
    pub async fn idle(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Idle(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Stop the runner: drop queued requests that have not started, start no further script,
    /// give running scripts `grace` to finish, then terminate their process groups (`SIGTERM`,
    /// [`super::exec::KILL_GRACE`], `SIGKILL`; they report "killed: daemon shutting down"). Returns when
    /// every script has been reaped and every result sent, so at most `grace` +
    /// [`super::exec::KILL_GRACE`] plus a moment. Calling it again waits again (with the earlier of the
    /// two deadlines).
    pub async fn shutdown(&self, grace: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Shutdown { grace, done }).is_ok() {
            let _ = wait.await;
        }
    }
}

/// The actor's state: per-key queues and the running batches.
struct Runner {
    settings: Settings,
    /// The broker's published picture, once [`Handle::follow`] gave it: a hook's addresses are
    /// the link's when the hook starts (see [`current_addresses`]).
    snapshots: Option<watch::Receiver<Arc<Snapshot>>>,
    results: mpsc::UnboundedSender<BatchResult>,
    max_parallel: usize,
    /// Requests waiting, per key; only non-empty queues are kept.
    queues: HashMap<Key, VecDeque<Queued>>,
    /// See [`Stats`].
    peak_backlog: usize,
    coalesced: u64,
    /// Keys that coalesced since their last batch started: logged at info once per such
    /// stretch, not at every request of a flood.
    coalescing: HashSet<Key>,
    /// Keys with a queue and no running batch, in the order they became ready (each once).
    ready: VecDeque<Key>,
    /// Keys with a running batch.
    running: HashSet<Key>,
    /// The running batches, and the key of each.
    tasks: JoinSet<()>,
    task_keys: HashMap<task::Id, Key>,
    phase: watch::Sender<Phase>,
    /// When running scripts are killed, once shutdown began.
    kill_at: Option<Instant>,
    idle_waiters: Vec<oneshot::Sender<()>>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
}

impl Runner {
    fn new(
        settings: Settings,
        results: mpsc::UnboundedSender<BatchResult>,
        max_parallel: usize,
    ) -> Self {
        Runner {
            snapshots: None,
            settings,
            results,
            max_parallel: max_parallel.max(1),
            queues: HashMap::new(),
            peak_backlog: 0,
            coalesced: 0,
            coalescing: HashSet::new(),
            ready: VecDeque::new(),
            running: HashSet::new(),
            tasks: JoinSet::new(),
            task_keys: HashMap::new(),
            phase: watch::Sender::new(Phase::Running),
            kill_at: None,
            idle_waiters: Vec::new(),
            shutdown_waiters: Vec::new(),
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut open = true;
        loop {
            if self.is_idle() {
                for waiter in self.idle_waiters.drain(..) {
                    let _ = waiter.send(());
                }
                if !open || self.stopping() {
                    break;
                }
            }
            let kill_at = self.kill_at;
            let killing = *self.phase.borrow() == Phase::Kill;
            tokio::select! {
                command = rx.recv(), if open => match command {
                    Some(command) => self.handle(command),
                    // Every handle is gone: finish what was submitted, then stop.
                    None => open = false,
                },
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    let id = match &joined {
                        Ok((id, ())) => *id,
                        Err(err) => {
                            error!(error = %err, "a hook batch task failed: {err}");
                            err.id()
                        }
                    };
                    self.finished(id);
                }
                () = sleep_until_opt(kill_at), if kill_at.is_some() && !killing => {
                    info!("shutdown grace over: terminating the hooks still running");
                    self.phase.send_replace(Phase::Kill);
                }
                else => break,
            }
        }
        for waiter in self.shutdown_waiters.drain(..) {
            let _ = waiter.send(());
        }
        debug!("hook runner stopped");
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Submit(request, _) if self.stopping() => {
                warn!(
                    event = %request.event,
                    "hook runner stopping: not running the {} hooks",
                    request.event
                );
            }
            Command::Submit(request, reply) => self.enqueue(*request, reply),
            Command::Settings(settings) => self.settings = settings,
            Command::Reconfigure(settings) => {
                // How hooks are found and run beyond the file stays as the daemon started.
                let (vendor_dir, executor) = (
                    self.settings.vendor_dir.take(),
                    self.settings.executor.clone(),
                );
                self.settings = Settings {
                    enforce_ownership: self.settings.enforce_ownership,
                    vendor_dir,
                    executor,
                    ..*settings
                };
            }
            Command::DryRun(request, reply) => {
                let settings = self.settings.clone();
                tokio::spawn(async move {
                    let _ = reply.send(super::dry_run(*request, settings).await);
                });
            }
            Command::List(reply) => {
                let settings = self.settings.clone();
                tokio::spawn(async move {
                    let listed = tokio::task::spawn_blocking(move || super::list(&settings)).await;
                    // A listing task that panicked answers nothing; the caller sees "stopping".
                    if let Ok(listed) = listed {
                        let _ = reply.send(listed);
                    }
                });
            }
            Command::Follow(snapshots) => self.snapshots = Some(snapshots),
            Command::Idle(done) => self.idle_waiters.push(done),
            Command::Stats(reply) => {
                let _ = reply.send(Stats {
                    queued: self.queues.values().map(VecDeque::len).sum(),
                    peak_backlog: self.peak_backlog,
                    coalesced: self.coalesced,
                });
            }
            Command::Shutdown { grace, done } => {
                if !self.stopping() {
                    let dropped: usize = self.queues.values().map(VecDeque::len).sum();
                    self.queues.clear();
                    self.ready.clear();
                    if dropped > 0 {
                        info!(
                            dropped,
                            "hook runner stopping: dropping {dropped} queued hook request(s)"
                        );
                    }
                    self.phase.send_replace(Phase::Draining);
                }
                let at = Instant::now() + grace;
                self.kill_at = Some(self.kill_at.map_or(at, |earlier| earlier.min(at)));
                self.shutdown_waiters.push(done);
            }
        }
    }

    fn stopping(&self) -> bool {
        *self.phase.borrow() != Phase::Running
    }

    fn is_idle(&self) -> bool {
        self.running.is_empty() && self.queues.is_empty()
    }

    fn enqueue(&mut self, request: Request, reply: Reply) {
        let key = request.link.as_ref().map(|link| link.attrs.index);
        let queue = self.queues.entry(key).or_default();
        // A new queue of a key that is not running becomes ready; otherwise the key is already
        // running or already ready and picks the request up in turn.
        if queue.is_empty() && !self.running.contains(&key) {
            self.ready.push_back(key);
        }
        queue.push_back(Queued {
            request,
            reply,
            coalesced: 0,
        });
        let bound = self.settings.backlog.max(1);
        if queue.len() > bound {
            let before = queue.len();
            let dropped = coalesce(queue, bound);
            let kept = queue.len();
            self.coalesced += dropped as u64;
            if self.coalescing.insert(key) {
                info!(
                    ifindex = key,
                    waiting = before,
                    kept,
                    dropped,
                    backlog = bound,
                    "hook backlog full, coalescing waiting requests into the latest state"
                );
            } else {
                debug!(ifindex = key, kept, dropped, "hook backlog coalesced again");
            }
        }
        self.peak_backlog = self.peak_backlog.max(queue.len());
        self.fill();
    }

    fn finished(&mut self, id: task::Id) {
        if let Some(key) = self.task_keys.remove(&id) {
            self.running.remove(&key);
            // Back of the line: a busy link does not starve links waiting for a slot.
            if self.queues.contains_key(&key) {
                self.ready.push_back(key);
            }
        }
        self.fill();
    }

    /// Start ready keys while there are free slots.
    fn fill(&mut self) {
        while self.running.len() < self.max_parallel {
            let Some(key) = self.ready.pop_front() else {
                break;
            };
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            let Some(queued) = queue.pop_front() else {
                self.queues.remove(&key);
                continue;
            };
            if queue.is_empty() {
                self.queues.remove(&key);
            }
            self.coalescing.remove(&key);
            let batch = run_batch(
                queued,
                self.snapshots.clone(),
                self.settings.clone(),
                self.results.clone(),
                self.phase.subscribe(),
            );
            let id = self.tasks.spawn(batch).id();
            self.task_keys.insert(id, key);
            self.running.insert(key);
        }
    }
}

#[cfg(test)]
mod tests;
