//! The broker's side of the hook executor: one connection per hook run.
//!
//! Stopping a run (daemon shutdown) closes our side of the connection; the executor then kills
//! the hook's process group and still replies, so the result says "killed" as it does when the
//! broker runs hooks itself. An executor that cannot be reached, or that dies before its reply
//! (killed, restarted), makes the run fail with [`STATUS_EXECUTOR_LOST`]: the batch is reported
//! in `HooksCompleted` like any failed one, and the next run connects again (systemd starts
//! the executor anew on its socket).

use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tracing::warn;

use super::wire::{read_frame, write_frame, RunReply, RunRequest};
use super::HookRun;
use crate::error_chain::ErrorChain;
use crate::hooks::discover::Script;
use crate::hooks::ScriptResult;

/// Status reported when the executor could not be reached or gave no reply (as timeout(1)
/// reports its own failure).
pub const STATUS_EXECUTOR_LOST: u32 = 125;

/// Runs the hook in the executor listening on `socket`.
pub async fn run(socket: &Path, run: &HookRun<'_>, stop: impl Future<Output = ()>) -> ScriptResult {
    let script = run.script;
    let request = RunRequest {
        path: script.path.as_os_str().as_bytes().to_vec(),
        event: run.event.to_owned(),
        link: run.link.map(str::to_owned),
        env: run.env.vars.clone(),
        stdin: run.env.stdin.as_deref().map(str::to_owned),
        timeout_ms: u64::try_from(run.timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let mut stream = match UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(err) => {
            return lost(
                script,
                format!(
                    "cannot reach the hook executor at {}: {err}",
                    socket.display()
                ),
            )
        }
    };
    let (mut reader, mut writer) = stream.split();
    if let Err(err) = write_frame(&mut writer, &request).await {
        return lost(
            script,
            format!("hook executor refused the request: {}", ErrorChain(&err)),
        );
    }
    // One read for the whole run: a reply cut by a stop would be lost otherwise.
    let reply = read_frame::<_, RunReply>(&mut reader);
    tokio::pin!(reply, stop);
    let reply = tokio::select! {
        reply = &mut reply => reply,
        () = &mut stop => {
            let _ = writer.shutdown().await;
            reply.await
        }
    };
    match reply {
        Ok(Some(reply)) => ScriptResult {
            script: script.name.clone(),
            status: reply.status,
            error: reply.error,
        },
        Ok(None) => lost(
            script,
            "hook executor lost: it closed the connection before the hook's result".to_owned(),
        ),
        Err(err) => lost(script, format!("hook executor lost: {}", ErrorChain(&err))),
    }
}

fn lost(script: &Script, error: String) -> ScriptResult {
    warn!(hook = %script.name, status = STATUS_EXECUTOR_LOST, "{}: {error}", script.name);
    ScriptResult {
        script: script.name.clone(),
        status: STATUS_EXECUTOR_LOST,
        error,
    }
}
