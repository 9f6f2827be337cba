//! Where a hook runs: in this process, or in the hook executor, a separate root service
//! (`network-broker-executor`, started by systemd on its socket) that runs the hooks the
//! unprivileged, sandboxed broker chose (`docs/security.md`, "Who runs hooks").
//!
//! Both ways end in [`super::exec::run`]: admission of the very file, clean environment, JSON
//! on standard input, timeout and process-group kill, output to the journal. The executor only
//! adds a socket between the runner and that function, so there is one execution path:
//!
//! - [`wire`]: the protocol (one length-prefixed JSON request and reply per run);
//! - [`serve`]: the executor's side (peer check by the kernel's `SO_PEERCRED`, the request's
//!   own checks, the run);
//! - [`client`]: the broker's side (a lost executor is a failed run, never a lost event).

pub mod client;
pub mod serve;
pub mod wire;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use super::discover::Script;
use super::env::HookEnv;
use super::exec;
use super::ScriptResult;

/// Who executes hooks for the runner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Executor {
    /// This process, as the daemon's own user (a root daemon in the lab, a container, or
    /// installed without systemd; or the packaged unprivileged daemon, whose hooks then keep
    /// its sandbox).
    #[default]
    InProcess,
    /// The hook executor listening on this socket (`network-broker --hook-executor`).
    Socket(PathBuf),
}

/// One hook to run: what [`exec::run`] takes besides its stop signal.
#[derive(Debug, Clone, Copy)]
pub struct HookRun<'a> {
    /// The script as discovery listed it.
    pub script: &'a Script,
    /// The link it runs for (escaped text), for the log.
    pub link: Option<&'a str>,
    /// The event, for the log and the executor's check.
    pub event: &'a str,
    /// Its environment and standard input.
    pub env: &'a HookEnv,
    /// Its timeout.
    pub timeout: Duration,
    /// Whether admission requires root ownership (the executor always requires it).
    pub enforce_ownership: bool,
}

impl Executor {
    /// Runs the hook as [`exec::run`] does, here or in the executor, until it ends or `stop`
    /// resolves. Never fails: every failure, an unreachable or lost executor included, is a
    /// [`ScriptResult`].
    pub async fn run(&self, run: &HookRun<'_>, stop: impl Future<Output = ()>) -> ScriptResult {
        match self {
            Executor::InProcess => {
                exec::run(
                    run.script,
                    run.link,
                    run.event,
                    run.env,
                    run.timeout,
                    run.enforce_ownership,
                    stop,
                )
                .await
            }
            Executor::Socket(socket) => client::run(socket, run, stop).await,
        }
    }
}
