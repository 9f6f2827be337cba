//! Unit tests of `crate::hooks::exec`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;

fn script(dir: &Path, name: &str, body: &str) -> Script {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    Script {
        path,
        name: name.into(),
    }
}

fn env(vars: &[(&str, &str)], stdin: Option<String>) -> HookEnv {
    HookEnv {
        vars: vars
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        stdin: stdin.map(Arc::from),
        rejected: Vec::new(),
    }
}

async fn run_plain(script: &Script, env: &HookEnv, timeout: Duration) -> ScriptResult {
    run(
        script,
        Some("eth0"),
        "routable",
        env,
        timeout,
        false,
        std::future::pending(),
    )
    .await
}

/// Whether a process is gone (a zombie counts as gone: it runs no code, and the init of
/// a container may never reap it).
fn process_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap().trim_start().chars().next();
            matches!(state, Some('Z' | 'X'))
        }
    }
}

/// SIGKILL is delivered asynchronously: the process may still be listed for a moment after
/// kill(2) returned, so wait (bounded) for it to go rather than look once.
fn gone_soon(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if process_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &PathBuf) -> u32 {
    fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn exec_reports_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = script(tmp.path(), "ok", "exit 0");
    let r = run_plain(&ok, &env(&[], None), Duration::from_secs(5)).await;
    assert_eq!(r.status, 0);
    assert_eq!(r.error, "");
    assert_eq!(r.script, ok.path.to_string_lossy());

    let fail = script(tmp.path(), "fail", "echo out; echo err >&2; exit 3");
    let r = run_plain(&fail, &env(&[], None), Duration::from_secs(5)).await;
    assert_eq!(r.status, 3);
    assert_eq!(r.error, "exited with status 3");
}

#[tokio::test]
async fn exec_reports_signal_as_128_plus_n() {
    let tmp = tempfile::tempdir().unwrap();
    let s = script(tmp.path(), "kill", "kill -KILL $$");
    let r = run_plain(&s, &env(&[], None), Duration::from_secs(5)).await;
    assert_eq!(r.status, 128 + 9);
    assert_eq!(r.error, "killed by signal 9");
}

#[tokio::test]
async fn exec_reports_127_when_it_cannot_start() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = Script {
        path: tmp.path().join("missing"),
        name: "missing".into(),
    };
    let r = run_plain(&missing, &env(&[], None), Duration::from_secs(5)).await;
    assert_eq!(r.status, STATUS_NOT_STARTED);
    assert!(r.error.starts_with("refused: "), "{}", r.error);

    let bad_interpreter = script(tmp.path(), "bad", "");
    fs::write(&bad_interpreter.path, "#!/nonexistent/interpreter\n").unwrap();
    let r = run_plain(&bad_interpreter, &env(&[], None), Duration::from_secs(5)).await;
    assert_eq!(r.status, STATUS_NOT_STARTED);
}

#[tokio::test]
async fn link_carries_the_kernels_bytes_of_a_name_that_is_not_text() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = script(
        tmp.path(),
        "link",
        "printf '%s|%s' \"$LINK\" \"$OTHER\" > \"$OUT\"",
    );
    let out_str = out.to_string_lossy().into_owned();
    let r = run_plain(
        &s,
        &env(
            &[
                ("OUT", &out_str),
                ("LINK", "\\xff\\xfeA"),
                ("OTHER", "\\xff"),
            ],
            None,
        ),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.error);
    // LINK is decoded to the kernel's bytes; any other variable stays as written.
    assert_eq!(fs::read(&out).unwrap(), b"\xff\xfeA|\\xff");
}

#[tokio::test]
async fn exec_runs_in_root_directory_with_only_the_given_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = script(
        tmp.path(),
        "env",
        "pwd > \"$OUT\"; /usr/bin/env >> \"$OUT\"",
    );
    let out_str = out.to_string_lossy().into_owned();
    let r = run_plain(
        &s,
        &env(&[("OUT", &out_str), ("PATH", "/usr/bin:/bin")], None),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(r.status, 0);
    let text = fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("/"));
    let names: Vec<&str> = lines.map(|l| l.split('=').next().unwrap()).collect();
    // The shell may add PWD/OLDPWD/SHLVL/_ itself; nothing else may appear.
    for name in names {
        assert!(
            ["OUT", "PATH", "PWD", "OLDPWD", "SHLVL", "_"].contains(&name),
            "unexpected variable {name}"
        );
    }
}

#[tokio::test]
async fn exec_timeout_kills_the_whole_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pid");
    let s = script(
        tmp.path(),
        "hang",
        "sleep 1000 &\necho $! > \"$PIDFILE\"\nwait",
    );
    let started = std::time::Instant::now();
    let r = run_plain(
        &s,
        &env(&[("PIDFILE", &pidfile.to_string_lossy())], None),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(r.status, STATUS_TIMEOUT);
    assert_eq!(r.error, "timed out after 0.5 s");
    assert!(started.elapsed() < Duration::from_secs(10));
    let grandchild = read_pid(&pidfile);
    assert!(gone_soon(grandchild), "grandchild {grandchild} survived");
}

#[tokio::test]
async fn exec_timeout_escalates_to_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pid");
    // Both the shell and its child ignore SIGTERM (an ignored disposition survives exec).
    let s = script(
        tmp.path(),
        "stubborn",
        "trap '' TERM\nsleep 1000 &\necho $! > \"$PIDFILE\"\nwhile :; do wait; done",
    );
    let started = std::time::Instant::now();
    let r = run_plain(
        &s,
        &env(&[("PIDFILE", &pidfile.to_string_lossy())], None),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(r.status, STATUS_TIMEOUT);
    assert!(started.elapsed() >= KILL_GRACE);
    assert!(started.elapsed() < KILL_GRACE + Duration::from_secs(5));
    let grandchild = read_pid(&pidfile);
    assert!(gone_soon(grandchild), "grandchild {grandchild} survived");
}

#[tokio::test]
async fn exec_stop_terminates_the_hook() {
    let tmp = tempfile::tempdir().unwrap();
    let s = script(tmp.path(), "hang", "exec sleep 1000");
    let r = run(
        &s,
        Some("eth0"),
        "routable",
        &env(&[], None),
        Duration::from_secs(60),
        false,
        tokio::time::sleep(Duration::from_millis(200)),
    )
    .await;
    assert_eq!(r.status, 128 + 15);
    assert_eq!(r.error, "killed: daemon shutting down");
}

#[tokio::test]
async fn exec_delivers_large_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("stdin");
    let s = script(tmp.path(), "cat", "cat > \"$OUT\"");
    let payload: String = (0..300 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let r = run_plain(
        &s,
        &env(&[("OUT", &out.to_string_lossy())], Some(payload.clone())),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(r.status, 0);
    assert_eq!(fs::read_to_string(&out).unwrap(), payload);
}

#[tokio::test]
async fn exec_completes_when_the_hook_ignores_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let s = script(tmp.path(), "ignore", "exit 0");
    let payload = "x".repeat(1024 * 1024);
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        run_plain(&s, &env(&[], Some(payload)), Duration::from_secs(5)),
    )
    .await
    .expect("runner blocked on a hook that does not read stdin");
    assert_eq!(r.status, 0);
}

#[tokio::test]
async fn exec_does_not_wait_for_background_processes_holding_pipes() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pid");
    // The background sleep keeps stdin, stdout and stderr open after the hook exits.
    let s = script(
        tmp.path(),
        "bg",
        "sleep 1000 &\necho $! > \"$PIDFILE\"\nexit 0",
    );
    let started = std::time::Instant::now();
    let r = run_plain(
        &s,
        &env(
            &[("PIDFILE", &pidfile.to_string_lossy())],
            Some("y".repeat(1024 * 1024)),
        ),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(r.status, 0);
    assert!(started.elapsed() < OUTPUT_DRAIN + Duration::from_secs(3));
    let pid = read_pid(&pidfile);
    // A normal exit leaves what the hook started alone; clean up after the test.
    assert!(!process_gone(pid));
    let _ = rustix::process::kill_process(
        Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(),
        Signal::KILL,
    );
}

#[test]
fn describe_maps_exit_codes_and_signals() {
    assert_eq!(describe(ExitStatus::from_raw(0)), (0, String::new()));
    assert_eq!(
        describe(ExitStatus::from_raw(2 << 8)),
        (2, "exited with status 2".into())
    );
    assert_eq!(
        describe(ExitStatus::from_raw(15)),
        (143, "killed by signal 15".into())
    );
}
