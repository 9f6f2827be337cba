//! Hook scripts: the administrator's executables in `DIR/<event>.d/`, run for an event and a
//! link. `Handle` is the effect actor the broker talks to: requests of one link run in order,
//! one at a time; different links run in parallel.
//!
//! - [`admit`]: whether one file may run (the admission checks), and starting exactly that file;
//! - [`mod@discover`]: which files of `DIR/<event>.d/` run, in which order (admission checks);
//! - [`mod@event`]: the events hooks run for, and the directory and `STATE` each selects;
//! - [`mod@env`]: the environment and standard input of a hook (pure), with the link's JSON
//!   document built in [`json`] (the shared link document of src/link_json/, and `Networkd`);
//! - [`exec`]: running one hook (clean environment, process group, timeout, output to the log);
//! - [`runner`]: the actor behind [`Handle`] (per-link queues, cross-link parallelism);
//! - [`dispatched`]: which state hooks already ran during this boot, and [`dispatched_file`]:
//!   that memory kept in the runtime directory across restarts of the daemon.
//!
//! The user-facing contract is `docs/hooks.md`.

pub mod admit;
pub mod discover;
pub mod dispatched;
pub mod dispatched_file;
pub mod env;
pub mod event;
pub mod exec;
pub mod executor;
pub mod json;
pub mod networkd;
pub mod runner;

pub use discover::{discover, Error, Script};
pub use dispatched::Dispatched;
pub use env::{json_for, HookEnv};
pub use event::{HookEvent, InvalidEventName, EVENT_DIRS};
pub use executor::Executor;
pub use runner::{spawn, Handle};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::model::{IfIndex, Lease, LinkView};

/// Where packages put hooks: `<event>.d/` here run merged with the administrator's in the
/// configuration directory, by file name, the administrator's file winning (`docs/hooks.md`).
pub const VENDOR_HOOK_DIR: &str = "/usr/lib/network-broker";

/// A request to run the hooks of one event.
#[derive(Debug, Clone)]
pub struct Request {
    /// The event, which names the directory (`routable.d`, `routes-modified.d`, …).
    pub event: HookEvent,
    /// The link the event is about (its state when the event happened); `None` for `manager`.
    /// Shared with the broker's snapshot of that moment, not copied: a queued request costs a
    /// pointer while the link does not change, and at most one copy of the view when it does.
    pub link: Option<Arc<LinkView>>,
    /// Event-specific variables added to the environment (e.g. `OperationalState=routable`).
    pub vars: Vec<(String, String)>,
    /// The dhclient lease the event is about (`Generator: dhclient`): it gives `DHCP_LEASE`,
    /// `DNS`, `DOMAIN`, `DOMAINSEARCH` and the JSON's `"Lease"`.
    pub lease: Option<Lease>,
    /// The link's policy-routing table as the bus shows it (`RoutingTable`, 0 when none), so
    /// the JSON is the same link document as `Link.Describe()`'s.
    pub routing_table: u32,
}

/// The outcome of one script, as published in `HooksCompleted` (`a(sus)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptResult {
    /// Full path of the script.
    pub script: String,
    /// Exit status; 128+N when killed by signal N, 124 on timeout, 127 when it could not start.
    pub status: u32,
    /// Empty on success, otherwise what went wrong.
    pub error: String,
}

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult {
    /// The event.
    pub event: HookEvent,
    /// The link, `None` for manager events.
    pub ifindex: Option<IfIndex>,
    /// One entry per script run, in the order they ran.
    pub results: Vec<ScriptResult>,
    /// Whether every script ran to its end: false when the daemon's shutdown skipped some or
    /// killed one. A batch that did not complete counts as not run (the broker's memory of
    /// dispatched states does not record it, so the next start runs it again).
    pub complete: bool,
    /// How many earlier requests of the same link were coalesced into this one because the
    /// link's backlog was full (`HookBacklog`): their hooks did not run separately. 0 normally.
    pub coalesced: u32,
}

/// What the runner needs from the configuration; replaced on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The configuration directory holding `<event>.d/`.
    pub dir: PathBuf,
    /// Per-script timeout.
    pub timeout: Duration,
    /// Whether to pass the link as JSON.
    pub emit_json: bool,
    /// Refuse scripts not owned by root or writable by group/others (true when running as root).
    pub enforce_ownership: bool,
    /// Where systemd-networkd keeps link state files and leases (`/run/systemd/netif`).
    pub networkd_state_dir: PathBuf,
    /// Most requests one link (or the manager) may have waiting; beyond it the backlog is
    /// coalesced ([`runner`]). At least 1.
    pub backlog: usize,
    /// The packages' hook directory ([`VENDOR_HOOK_DIR`]), merged under [`Settings::dir`].
    pub vendor_dir: Option<PathBuf>,
    /// Who executes the hooks.
    pub executor: Executor,
}

impl Settings {
    /// The hook directories in order of precedence: the administrator's, then the packages'.
    pub fn hook_dirs(&self) -> Vec<PathBuf> {
        std::iter::once(self.dir.clone())
            .chain(self.vendor_dir.clone())
            .collect()
    }
}

/// How hooks are found and run beyond the configuration file: fixed when the daemon starts
/// (its command line, `network-broker(8)`), kept across reloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Refuse scripts not owned by root or writable by group/others.
    pub enforce_ownership: bool,
    /// The packages' hook directory, if any ([`VENDOR_HOOK_DIR`]).
    pub vendor_dir: Option<PathBuf>,
    /// Who executes the hooks.
    pub executor: Executor,
}

impl Launch {
    /// Hooks from the configuration directory alone, run by this process.
    pub fn in_process(enforce_ownership: bool) -> Self {
        Launch {
            enforce_ownership,
            vendor_dir: None,
            executor: Executor::InProcess,
        }
    }
}

impl Settings {
    /// The runner's settings under `config`. `launch` (ownership enforcement, the vendor
    /// directory, the executor) follows how the daemon was started, not the file.
    pub fn from_config(config: &Config, launch: &Launch) -> Self {
        Settings {
            dir: config.dir.clone(),
            timeout: config.system.hook_timeout,
            emit_json: config.network.emit_json,
            enforce_ownership: launch.enforce_ownership,
            networkd_state_dir: config.network.networkd_state_dir.clone(),
            backlog: config.system.hook_backlog,
            vendor_dir: launch.vendor_dir.clone(),
            executor: launch.executor.clone(),
        }
    }
}

/// One hook that would run: its event (directory stem) and full path.
pub type ListedHook = (String, PathBuf);

/// Every admitted hook of every standard event directory under `settings`, per event in run
/// order. A directory that cannot be read is an error, never an empty list: the caller must not
/// conclude that no hook would run when the daemon cannot even tell (EMFILE, EACCES, EIO).
pub fn list(settings: &Settings) -> Result<Vec<ListedHook>, Error> {
    let dirs = settings.hook_dirs();
    let mut listed = Vec::new();
    for dir_name in EVENT_DIRS {
        let event = dir_name.trim_end_matches(".d");
        for script in discover(&dirs, event, settings.enforce_ownership)? {
            listed.push((event.to_string(), script.path));
        }
    }
    Ok(listed)
}

/// What running a request would do, computed exactly as the runner does it but without running
/// anything: the scripts in order, the environment and standard input they would get (the dry
/// run of `network-brokerctl run-hooks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// Full paths of the admitted scripts, in run order.
    pub scripts: Vec<String>,
    /// The environment, sorted by name.
    pub env: Vec<(String, String)>,
    /// Standard input (the JSON document); empty means `/dev/null`.
    pub stdin: String,
}

/// Why a dry run has no answer.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    /// The event's hook directory could not be listed.
    #[error("cannot list the {event} hooks")]
    Discover {
        /// The event.
        event: HookEvent,
        /// Why.
        #[source]
        source: discover::Error,
    },
    /// The blocking task that reads the directories failed (a panic, or the runtime stopping).
    #[error("dry run failed")]
    Task(#[source] tokio::task::JoinError),
}

/// See [`DryRun`]. Reads the hook directory and networkd's files off the async threads.
pub async fn dry_run(request: Request, settings: Settings) -> Result<DryRun, DryRunError> {
    tokio::task::spawn_blocking(move || {
        let scripts = discover(
            &settings.hook_dirs(),
            request.event.as_str(),
            settings.enforce_ownership,
        )
        .map_err(|source| DryRunError::Discover {
            event: request.event.clone(),
            source,
        })?;
        let networkd = request
            .link
            .as_ref()
            .map(|link| networkd::read(&settings.networkd_state_dir, link.attrs.index));
        let env = env::build(&request, &settings, networkd.as_ref());
        Ok(DryRun {
            scripts: scripts
                .into_iter()
                .map(|s| s.path.to_string_lossy().into_owned())
                .collect(),
            env: env.vars,
            stdin: env.stdin.map(|s| s.to_string()).unwrap_or_default(),
        })
    })
    .await
    .map_err(DryRunError::Task)?
}

#[cfg(test)]
mod tests;
