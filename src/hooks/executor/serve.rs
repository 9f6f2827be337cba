//! The hook executor's side: accept a connection, check who is asking, check what is asked,
//! run it with [`exec::run`], reply.
//!
//! Who: the kernel's peer credentials (`SO_PEERCRED`) of the connection must carry the one
//! uid the executor serves (the broker's user); anyone else is refused before a byte is read.
//! What: the broker's word is not trusted beyond what it may decide. The script must lie
//! directly in `<hook dir>/<event>.d/` of one of the executor's own hook directories, and is
//! admitted again right before it runs (root-owned, not group- or world-writable, not setuid,
//! the open file executed, [`super::super::admit`]); the environment may not carry a variable
//! that changes how the loader or a shell starts, and `PATH` is the executor's own.

use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::OwnedReadHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::wire::{read_frame, write_frame, RunReply, RunRequest};
use crate::error_chain::ErrorChain;
use crate::hooks::discover::{is_valid_event_name, Script};
use crate::hooks::env::{self, HookEnv};
use crate::hooks::exec;

/// Pause after a failed `accept` (out of descriptors, say) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the executor serves and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The only uid whose connections are served (the broker's user).
    pub allowed_uid: u32,
    /// The directories whose `<event>.d/` hold hooks it may run (`/etc/network-broker`,
    /// `/usr/lib/network-broker`).
    pub hook_dirs: Vec<PathBuf>,
    /// Exit after this long without a connection (systemd keeps the socket and starts the
    /// executor again on the next one); `None` serves until stopped.
    pub idle_exit: Option<Duration>,
}

/// Why a request is not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The event name is not a plain name.
    #[error("invalid event name {0:?}")]
    Event(String),
    /// The path is not `<hook dir>/<event>.d/<name>` for one of the executor's hook dirs.
    #[error("{0} is not in a hook directory of the executor")]
    Place(String),
    /// A variable name is not a portable shell name, or one the executor never passes.
    #[error("variable {0:?} is not passed to hooks")]
    Variable(String),
    /// A variable's value holds a NUL byte, which no environment can carry.
    #[error("variable {0:?} holds a NUL byte")]
    Nul(String),
}

/// The script, environment and timeout `request` asks for, if the policy allows it.
pub fn check(request: &RunRequest, policy: &Policy) -> Result<(Script, HookEnv), Refusal> {
    if !is_valid_event_name(&request.event) {
        return Err(Refusal::Event(request.event.clone()));
    }
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&request.path));
    let place = || Refusal::Place(path.display().to_string());
    let plain = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let event_dir = format!("{}.d", request.event);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(place());
    };
    let in_hook_dir = dir.file_name() == Some(std::ffi::OsStr::new(&event_dir))
        && dir
            .parent()
            .is_some_and(|root| policy.hook_dirs.iter().any(|d| d == root));
    if !plain || !in_hook_dir {
        return Err(place());
    }
    let mut vars = Vec::with_capacity(request.env.len());
    for (name, value) in &request.env {
        if !env::is_valid_var_name(name) || env::is_unsafe_var_name(name) {
            return Err(Refusal::Variable(name.clone()));
        }
        if value.contains('\0') {
            return Err(Refusal::Nul(name.clone()));
        }
        if name != "PATH" {
            vars.push((name.clone(), value.clone()));
        }
    }
    vars.push(("PATH".to_owned(), env::PATH.to_owned()));
    vars.sort();
    let script = Script {
        name: name.to_string_lossy().into_owned(),
        path,
    };
    let env = HookEnv {
        vars,
        stdin: request.stdin.as_deref().map(Arc::from),
        rejected: Vec::new(),
    };
    Ok((script, env))
}

/// Serves `listener` until `shutdown` resolves or, with [`Policy::idle_exit`], until no
/// connection came for that long. At shutdown, running hooks are stopped (their process groups
/// killed, as the broker does at its own stop) and their replies sent before it returns.
pub async fn serve(listener: UnixListener, policy: Policy, shutdown: impl Future<Output = ()>) {
    let policy = Arc::new(policy);
    let (stopping_tx, stopping) = watch::channel(false);
    let mut runs = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let idle_for = if runs.is_empty() {
            policy.idle_exit
        } else {
            None
        };
        let idle = async {
            match idle_for {
                Some(after) => tokio::time::sleep(after).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if admitted_peer(&stream, policy.allowed_uid) {
                        runs.spawn(handle(stream, Arc::clone(&policy), stopping.clone()));
                    }
                }
                Err(err) => {
                    warn!(error = %err, "hook executor: accept failed: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = runs.join_next(), if !runs.is_empty() => {}
            () = idle => {
                info!("hook executor idle: exiting until the next hook (systemd keeps its socket)");
                return;
            }
            () = &mut shutdown => break,
        }
    }
    let _ = stopping_tx.send(true);
    if !runs.is_empty() {
        info!(
            running = runs.len(),
            "hook executor stopping: killing the running hooks"
        );
    }
    while runs.join_next().await.is_some() {}
}

/// Whether the kernel says the peer is the served user; logs a refusal.
fn admitted_peer(stream: &UnixStream, allowed_uid: u32) -> bool {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == allowed_uid => true,
        Ok(cred) => {
            warn!(
                uid = cred.uid(),
                pid = cred.pid(),
                "hook executor: refusing a connection from uid {} (pid {}): only uid {allowed_uid} may ask for hooks",
                cred.uid(),
                cred.pid().unwrap_or_default()
            );
            false
        }
        Err(err) => {
            warn!(error = %err, "hook executor: refusing a connection whose peer is unknown: {err}");
            false
        }
    }
}

/// One run: request, checks, [`exec::run`], reply.
async fn handle(stream: UnixStream, policy: Arc<Policy>, mut stopping: watch::Receiver<bool>) {
    let (mut reader, mut writer) = stream.into_split();
    let request: RunRequest = match read_frame(&mut reader).await {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(err) => {
            warn!(
                "hook executor: dropping a malformed request: {}",
                ErrorChain(&err)
            );
            return;
        }
    };
    let reply = match check(&request, &policy) {
        Err(refusal) => {
            warn!(reason = %refusal, "hook executor: refusing to run a hook: {refusal}");
            RunReply {
                status: exec::STATUS_NOT_STARTED,
                error: format!("refused by the hook executor: {refusal}"),
            }
        }
        Ok((script, env)) => {
            let stop = async {
                tokio::select! {
                    () = peer_gone(&mut reader) => debug!("hook executor: the broker ended the run"),
                    _ = stopping.wait_for(|stopping| *stopping) => {}
                }
            };
            let timeout = Duration::from_millis(request.timeout_ms);
            let link = request.link.as_deref();
            let result = exec::run(&script, link, &request.event, &env, timeout, true, stop).await;
            RunReply {
                status: result.status,
                error: result.error,
            }
        }
    };
    // The broker may be gone (it stopped): then nobody waits for the reply.
    let _ = write_frame(&mut writer, &reply).await;
}

/// Resolves when the broker closes its side of the connection (or sends anything more, which
/// the protocol does not allow) or the connection fails.
async fn peer_gone(reader: &mut OwnedReadHalf) {
    let mut byte = [0u8; 1];
    let _ = reader.read(&mut byte).await;
}

#[cfg(test)]
mod tests;
