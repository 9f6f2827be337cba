//! Running one hook: spawn it with a clean environment in a process group of its own, feed it
//! its standard input, forward its output to the log line by line, enforce the timeout on the
//! whole process group, and always reap it.
//!
//! This module knows nothing about queues or events; the runner decides what runs when. It
//! never blocks the caller on the hook's pipes: standard input is written by a task whose
//! failure (a hook that does not read) is ignored, and the output is read for at most
//! [`OUTPUT_DRAIN`] after the hook exited (a background process may keep the pipes open); then
//! the pipes are closed. No descriptor of a run outlives it.

use std::ffi::OsString;
use std::future::Future;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn, Instrument, Span};

use super::admit;
use super::discover::Script;
use super::env::HookEnv;
use super::ScriptResult;
use crate::messages::{self, HookEnd, HookSubject};
use crate::model::link_name;

/// Time between `SIGTERM` and `SIGKILL` to the process group of a hook that timed out.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Status reported for a hook that ran into its timeout (as timeout(1) reports).
pub const STATUS_TIMEOUT: u32 = 124;
/// Status reported for a hook that could not be started (as shells report).
pub const STATUS_NOT_STARTED: u32 = 127;

/// How long to read, after the hook exited, the rest of its output. Only a background process
/// that inherited the pipes makes it last; at the end the pipes are closed (`docs/hooks.md`).
pub const OUTPUT_DRAIN: Duration = Duration::from_secs(1);
/// Longest line logged at once; longer lines are split, so a hook cannot make us buffer
/// without bound.
const MAX_LINE: usize = 4096;
/// How often to look whether a terminated process group is gone during the grace period.
const GROUP_POLL: Duration = Duration::from_millis(50);

/// What the hook receives for `name`: the text, except `LINK`, which carries the kernel's
/// bytes of the name (a name that is not text is escaped everywhere else, and the escaping is
/// reversible), so `ip link show dev "$LINK"` finds the link.
fn exec_value(name: &str, value: &str) -> OsString {
    if name == "LINK" {
        OsString::from_vec(link_name::kernel_bytes(value))
    } else {
        OsString::from(value)
    }
}

/// Run `script` with `env`, killing its process group after `timeout` or when `stop` resolves
/// (daemon shutdown), and return its outcome. Never fails: every failure is a [`ScriptResult`].
/// The script is admitted ([`admit::admit`], with `enforce_ownership`) right before it starts;
/// a refusal is status 127, `refused: <reason>`. `link` and `event` say what it runs for, in
/// its log lines.
pub async fn run(
    script: &Script,
    link: Option<&str>,
    event: &str,
    env: &HookEnv,
    timeout: Duration,
    enforce_ownership: bool,
    stop: impl Future<Output = ()>,
) -> ScriptResult {
    let started = Instant::now();
    let subject = HookSubject {
        hook: &script.name,
        link,
        event,
    };
    let mut child = match start(script, &subject, env, enforce_ownership, started) {
        Ok(child) => child,
        Err(not_started) => return not_started,
    };
    let pid = child.id();
    let pgid = pid
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(Pid::from_raw);
    let span = info_span!("hook.run", hook = %script.name, pid);
    let mut guard = GroupGuard(pgid);

    let writer = match (child.stdin.take(), env.stdin.clone()) {
        (Some(mut pipe), Some(data)) => Some(tokio::spawn(async move {
            // A hook need not read its input: EPIPE (SIGPIPE is ignored in Rust programs) just
            // ends the write; dropping the pipe gives a reading hook its end of file.
            let _ = pipe.write_all(data.as_bytes()).await;
        })),
        _ => None,
    };
    // Owned by this run: dropping the set (this future abandoned) aborts the readers too, so
    // their pipes never outlive the run.
    let mut readers = JoinSet::new();
    if let Some(out) = child.stdout.take() {
        readers.spawn(forward(out, script.name.clone(), Stream::Stdout).instrument(span.clone()));
    }
    if let Some(err) = child.stderr.take() {
        readers.spawn(forward(err, script.name.clone(), Stream::Stderr).instrument(span.clone()));
    }

    let ended = wait_or_stop(&mut child, pgid, script, &subject, timeout, stop)
        .instrument(span.clone())
        .await;
    // Reaped. Processes it left behind after a normal exit are its business (a hook may
    // start a daemon); only a timeout condemns the whole group.
    guard.disarm();

    close_pipes(writer, &mut readers, &span, &subject).await;
    log_end(script, &subject, &span, started, ended)
}

/// Admits `script` and spawns it with `env`, or says why it did not start. Apart from [`run`]
/// because a hook that never started ends here, with its own log line, before any pipe, task
/// or process group of the run exists.
fn start(
    script: &Script,
    subject: &HookSubject<'_>,
    env: &HookEnv,
    enforce_ownership: bool,
    started: Instant,
) -> Result<Child, ScriptResult> {
    // Admitted again now, whatever discovery said a moment ago, and what runs is the file
    // this admission opened and checked.
    let admitted = match admit::admit(&script.path, enforce_ownership) {
        Ok(admitted) => admitted,
        Err(skip) => {
            warn!(hook = %script.name, reason = %skip, "refusing to run {subject}: {skip}");
            return Err(result(
                script,
                STATUS_NOT_STARTED,
                format!("refused: {skip}"),
            ));
        }
    };
    let spawned = admitted.spawn(|command| {
        command
            .env_clear()
            .envs(
                env.vars
                    .iter()
                    .map(|(name, value)| (name, exec_value(name, value))),
            )
            .current_dir("/")
            .stdin(if env.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so the timeout reaches everything it started (the original killed
            // only the direct child and left the rest running).
            .process_group(0);
    });
    match spawned {
        Ok(child) => Ok(child),
        Err(err) => {
            let error = format!("failed to start: {err}");
            let end = HookEnd::Failed(error.clone());
            warn!(
                message_id = end.message_id(),
                hook = %script.name,
                status = STATUS_NOT_STARTED,
                error = %err,
                "{}",
                messages::hook_ended(subject, &end, started.elapsed())
            );
            Err(result(script, STATUS_NOT_STARTED, error))
        }
    }
}

/// Waits for the hook to exit, for `timeout` to pass or for `stop` to resolve, and stops its
/// process group in the last two cases; returns its status code, error text and end. Apart
/// from [`run`] because this is where a run's outcome is decided, whichever way it ends, and
/// the hook is always reaped before it returns.
async fn wait_or_stop(
    child: &mut Child,
    pgid: Option<Pid>,
    script: &Script,
    subject: &HookSubject<'_>,
    timeout: Duration,
    stop: impl Future<Output = ()>,
) -> (u32, String, HookEnd) {
    let ending = tokio::select! {
        waited = child.wait() => match waited {
            Ok(status) => Ending::Exited(status),
            Err(err) => Ending::WaitFailed(err),
        },
        () = tokio::time::sleep(timeout) => Ending::TimedOut,
        () = stop => Ending::Stopped,
    };
    match ending {
        Ending::Exited(status) => {
            let (code, error) = describe(status);
            (code, error, end_of(status))
        }
        Ending::TimedOut => {
            warn!(
                hook = %script.name,
                timeout_s = timeout.as_secs_f64(),
                "{subject} timed out after {}; terminating its process group",
                messages::Elapsed(timeout)
            );
            let _ = terminate(child, pgid).await;
            (
                STATUS_TIMEOUT,
                format!("timed out after {} s", timeout.as_secs_f64()),
                HookEnd::TimedOut(timeout),
            )
        }
        Ending::Stopped => {
            warn!(
                hook = %script.name,
                "{subject}: the daemon is stopping, terminating its process group"
            );
            let (status, _) = match terminate(child, pgid).await {
                Ok(status) => describe(status),
                Err(_) => (STATUS_TIMEOUT, String::new()),
            };
            (
                status,
                "killed: daemon shutting down".to_owned(),
                HookEnd::Stopped,
            )
        }
        Ending::WaitFailed(err) => {
            let _ = terminate(child, pgid).await;
            let error = format!("failed to wait for hook: {err}");
            (1, error.clone(), HookEnd::Failed(error))
        }
    }
}

/// Stops feeding the reaped hook's standard input and reads the rest of its output for at
/// most [`OUTPUT_DRAIN`]. Apart from [`run`] because it is what keeps a run's descriptors and
/// tasks from outliving it, whatever the hook left behind.
async fn close_pipes(
    writer: Option<JoinHandle<()>>,
    readers: &mut JoinSet<()>,
    span: &Span,
    subject: &HookSubject<'_>,
) {
    if let Some(writer) = writer {
        // Nobody reads any more (or only a background process does): stop writing, and wait
        // until the task is gone, so that its end of the pipe is closed now.
        writer.abort();
        let _ = writer.await;
    }
    // The rest of the output, for a bounded time: a process the hook left behind (`setsid
    // daemon &` without redirection) may hold the pipes for ever, and each run would keep two
    // descriptors and a task until the daemon runs out of descriptors. After the bound the
    // pipes are closed; such a process gets EPIPE (or SIGPIPE) when it writes again.
    let drain = async { while readers.join_next().await.is_some() {} };
    if tokio::time::timeout(OUTPUT_DRAIN, drain).await.is_err() {
        info!(
            parent: span,
            drain_ms = u64::try_from(OUTPUT_DRAIN.as_millis()).unwrap_or(u64::MAX),
            "{subject} left processes holding its output; closing its pipes"
        );
        readers.shutdown().await;
    }
}

/// Logs how the run ended (at `info` for a success, else at `warn` with its `MESSAGE_ID`) and
/// makes its [`ScriptResult`]. Apart from [`run`] because it is the one line every started
/// hook ends with, written once its pipes are closed.
fn log_end(
    script: &Script,
    subject: &HookSubject<'_>,
    span: &Span,
    started: Instant,
    (status, error, end): (u32, String, HookEnd),
) -> ScriptResult {
    let elapsed = started.elapsed();
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let text = messages::hook_ended(subject, &end, elapsed);
    if end == HookEnd::Succeeded {
        info!(parent: span, hook = %script.name, status, duration_ms, "{text}");
    } else {
        warn!(
            parent: span,
            message_id = end.message_id(),
            hook = %script.name,
            status,
            duration_ms,
            error = %error,
            "{text}"
        );
    }
    result(script, status, error)
}

/// How a hook that exited ended, for its log line.
fn end_of(status: ExitStatus) -> HookEnd {
    match (status.code(), status.signal()) {
        (Some(0), _) => HookEnd::Succeeded,
        (Some(code), _) => HookEnd::Exited(u32::try_from(code).unwrap_or(255)),
        (None, Some(signal)) => HookEnd::Signalled(u32::try_from(signal).unwrap_or(0)),
        (None, None) => HookEnd::Failed(format!("unexpected wait status {status}")),
    }
}

/// How the wait for the hook ended.
enum Ending {
    Exited(ExitStatus),
    TimedOut,
    Stopped,
    WaitFailed(io::Error),
}

fn result(script: &Script, status: u32, error: String) -> ScriptResult {
    ScriptResult {
        script: script.path.to_string_lossy().into_owned(),
        status,
        error,
    }
}

/// Status code and error text of an exit: the exit code, or 128+N for signal N (as shells do).
fn describe(status: ExitStatus) -> (u32, String) {
    if let Some(code) = status.code() {
        let code = u32::try_from(code).unwrap_or(255);
        let error = if code == 0 {
            String::new()
        } else {
            format!("exited with status {code}")
        };
        (code, error)
    } else if let Some(signal) = status.signal() {
        let signal = u32::try_from(signal).unwrap_or(0);
        (128 + signal, format!("killed by signal {signal}"))
    } else {
        (1, format!("unexpected wait status {status}"))
    }
}

/// `SIGTERM` to the group, up to [`KILL_GRACE`] for the group to go, then `SIGKILL` to what is
/// left, and reap the hook.
async fn terminate(child: &mut Child, pgid: Option<Pid>) -> io::Result<ExitStatus> {
    let deadline = Instant::now() + KILL_GRACE;
    signal_group(child, pgid, Signal::TERM);
    let early = tokio::time::timeout_at(deadline, child.wait()).await;
    // The leader may go first; its children still get the rest of the grace period. While any
    // member lives the group id cannot be reused, so signalling it stays safe after the reap.
    if let Some(pgid) = pgid {
        while Instant::now() < deadline && test_kill_process_group(pgid).is_ok() {
            tokio::time::sleep(GROUP_POLL).await;
        }
    }
    signal_group(child, pgid, Signal::KILL);
    match early {
        Ok(waited) => waited,
        Err(_) => child.wait().await,
    }
}

fn signal_group(child: &mut Child, pgid: Option<Pid>, signal: Signal) {
    match pgid {
        Some(pgid) => match kill_process_group(pgid, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(err) => debug!(error = %err, "failed to signal hook process group"),
        },
        // No pid means tokio already reaped it; nothing of the group is reachable any more.
        None => {
            let _ = child.start_kill();
        }
    }
}

/// Kills the hook's process group if the run is abandoned (its future dropped, e.g. at runtime
/// shutdown) while the hook still runs; tokio reaps the leader in the background.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Log each line of `pipe`: stdout at `info`, stderr at `warn`, tagged with the hook's name.
async fn forward<R: AsyncRead + Unpin>(pipe: R, hook: String, stream: Stream) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
        match (&mut reader).take(limit).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        // Hooks may print anything; invalid UTF-8 is shown with replacement characters.
        let text = String::from_utf8_lossy(&line);
        match stream {
            Stream::Stdout => info!(hook = %hook, stream = "stdout", "{hook}: {text}"),
            Stream::Stderr => warn!(hook = %hook, stream = "stderr", "{hook}: {text}"),
        }
    }
}

#[cfg(test)]
mod tests;
