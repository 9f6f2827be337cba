//! Unit tests of `crate::hooks::executor::serve`: the request checks (pure), and the executor
//! served on a socket in a temporary directory and driven by the broker's client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::hooks::executor::client::{self, STATUS_EXECUTOR_LOST};
use crate::hooks::executor::HookRun;

fn policy(dir: &Path) -> Policy {
    Policy {
        allowed_uid: rustix::process::geteuid().as_raw(),
        hook_dirs: vec![dir.to_path_buf()],
        idle_exit: None,
    }
}

fn request(path: &str) -> RunRequest {
    RunRequest {
        path: path.as_bytes().to_vec(),
        event: "routable".into(),
        link: Some("eth0".into()),
        env: vec![
            ("LINK".into(), "eth0".into()),
            ("PATH".into(), "/tmp/evil".into()),
        ],
        stdin: None,
        timeout_ms: 5_000,
    }
}

#[test]
fn a_hook_in_a_hook_directory_is_run_with_the_executors_own_path() {
    let policy = policy(Path::new("/etc/network-broker"));
    let (script, env) = check(&request("/etc/network-broker/routable.d/10-x"), &policy).unwrap();
    assert_eq!(
        script.path,
        Path::new("/etc/network-broker/routable.d/10-x")
    );
    assert_eq!(script.name, "10-x");
    assert_eq!(env.get("PATH"), Some(env::PATH));
    assert_eq!(env.get("LINK"), Some("eth0"));
}

#[test]
fn a_path_outside_the_hook_directories_is_refused() {
    let policy = policy(Path::new("/etc/network-broker"));
    for path in [
        "/bin/sh",
        "/etc/network-broker/routable.d/../../../bin/sh",
        "/etc/network-broker/carrier.d/10-x",
        "/etc/network-broker/routable.d/sub/10-x",
        "/etc/network-broker/routable.d",
        "routable.d/10-x",
        "/usr/lib/network-broker/routable.d/10-x",
    ] {
        assert!(
            matches!(check(&request(path), &policy), Err(Refusal::Place(_))),
            "{path} was not refused"
        );
    }
}

#[test]
fn loader_and_shell_variables_are_refused_whoever_asks() {
    let policy = policy(Path::new("/etc/network-broker"));
    for name in [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "BASH_ENV",
        "IFS",
        "not a name",
    ] {
        let mut asked = request("/etc/network-broker/routable.d/10-x");
        asked.env.push((name.into(), "/tmp/x".into()));
        assert!(
            matches!(check(&asked, &policy), Err(Refusal::Variable(n)) if n == name),
            "{name} was passed"
        );
    }
    let mut nul = request("/etc/network-broker/routable.d/10-x");
    nul.env.push(("X".into(), "a\0b".into()));
    assert!(matches!(check(&nul, &policy), Err(Refusal::Nul(_))));
    let mut event = request("/etc/network-broker/routable.d/10-x");
    event.event = "../routable".into();
    assert!(matches!(check(&event, &policy), Err(Refusal::Event(_))));
}

/// Runs `script` for the `routable` event through the executor on `socket`.
async fn run_in(
    socket: &Path,
    script: &Script,
    link: Option<&str>,
    env: &HookEnv,
    timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> crate::hooks::ScriptResult {
    let hook = HookRun {
        script,
        link,
        event: "routable",
        env,
        timeout,
        enforce_ownership: true,
    };
    client::run(socket, &hook, stop).await
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A hook directory (root's, as admission wants) with `routable.d/10-hook` running `body`,
/// and the socket path next to it.
fn hook_dir(body: &str) -> (tempfile::TempDir, std::path::PathBuf, Script) {
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let event_dir = tmp.path().join("routable.d");
    fs::create_dir(&event_dir).unwrap();
    fs::set_permissions(&event_dir, fs::Permissions::from_mode(0o755)).unwrap();
    let path = event_dir.join("10-hook");
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    let socket = tmp.path().join("executor.socket");
    let script = Script {
        path,
        name: "10-hook".into(),
    };
    (tmp, socket, script)
}

fn hook_env(out: &Path) -> HookEnv {
    HookEnv {
        vars: vec![
            ("OUT".into(), out.display().to_string()),
            ("PATH".into(), "/nowhere".into()),
        ],
        stdin: Some(Arc::from("{\"Name\":\"eth0\"}\n")),
        rejected: Vec::new(),
    }
}

#[tokio::test]
async fn the_executor_runs_the_hook_and_reports_its_status() {
    if !is_root() {
        return; // admission wants root-owned hooks
    }
    let (tmp, socket, script) = hook_dir("{ id -u; echo \"$PATH\"; cat; } > \"$OUT\"; exit 3");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = tokio::spawn(serve(listener, policy(tmp.path()), std::future::pending()));
    let out = tmp.path().join("out");
    let result = run_in(
        &socket,
        &script,
        Some("eth0"),
        &hook_env(&out),
        Duration::from_secs(10),
        std::future::pending(),
    )
    .await;
    assert_eq!(result.status, 3, "{result:?}");
    let written = fs::read_to_string(&out).unwrap();
    assert_eq!(
        written,
        format!("0\n{}\n{{\"Name\":\"eth0\"}}\n", env::PATH)
    );
    server.abort();
}

#[tokio::test]
async fn a_stop_kills_the_hook_and_still_gets_its_result() {
    if !is_root() {
        return;
    }
    let (tmp, socket, script) = hook_dir("echo $$ > \"$OUT\"; exec sleep 60");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = tokio::spawn(serve(listener, policy(tmp.path()), std::future::pending()));
    let out = tmp.path().join("out");
    let wait_for_pid = {
        let out = out.clone();
        async move {
            while fs::read_to_string(&out).map_or(true, |s| !s.ends_with('\n')) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let result = run_in(
        &socket,
        &script,
        None,
        &hook_env(&out),
        Duration::from_secs(60),
        wait_for_pid,
    )
    .await;
    assert_eq!(result.error, "killed: daemon shutting down", "{result:?}");
    let pid: i32 = fs::read_to_string(&out).unwrap().trim().parse().unwrap();
    let group = rustix::process::Pid::from_raw(pid).unwrap();
    assert!(rustix::process::test_kill_process_group(group).is_err());
    server.abort();
}

#[tokio::test]
async fn an_executor_that_dies_mid_hook_gives_a_failed_run_and_the_next_run_works() {
    if !is_root() {
        return;
    }
    let (tmp, socket, script) = hook_dir("echo started > \"$OUT\"; exec sleep 60");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = tokio::spawn(serve(listener, policy(tmp.path()), std::future::pending()));
    let out = tmp.path().join("out");
    let env = hook_env(&out);
    let hook = HookRun {
        script: &script,
        link: None,
        event: "routable",
        env: &env,
        timeout: Duration::from_secs(60),
        enforce_ownership: true,
    };
    let run = client::run(&socket, &hook, std::future::pending());
    let kill = async {
        while !out.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.abort();
        let _ = server.await;
    };
    let (result, ()) = tokio::join!(run, kill);
    assert_eq!(result.status, STATUS_EXECUTOR_LOST, "{result:?}");
    assert!(result.error.contains("hook executor lost"), "{result:?}");

    // A new executor on the same path (systemd would start one on its socket).
    fs::remove_file(&socket).unwrap();
    fs::write(&script.path, "#!/bin/sh\nexit 0\n").unwrap();
    let listener = UnixListener::bind(&socket).unwrap();
    let server = tokio::spawn(serve(listener, policy(tmp.path()), std::future::pending()));
    let result = run_in(
        &socket,
        &script,
        None,
        &hook_env(&out),
        Duration::from_secs(10),
        std::future::pending(),
    )
    .await;
    assert_eq!(result.status, 0, "{result:?}");
    server.abort();
}

#[tokio::test]
async fn an_unreachable_executor_is_a_failed_run() {
    let (_tmp, socket, script) = hook_dir("exit 0");
    let result = run_in(
        &socket,
        &script,
        None,
        &hook_env(Path::new("/dev/null")),
        Duration::from_secs(1),
        std::future::pending(),
    )
    .await;
    assert_eq!(result.status, STATUS_EXECUTOR_LOST);
    assert!(
        result.error.contains("cannot reach the hook executor"),
        "{result:?}"
    );
}

#[tokio::test]
async fn another_users_connection_is_refused_before_anything_runs() {
    if !is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return;
    }
    let (tmp, socket, _script) = hook_dir("touch \"$OUT\"");
    let listener = UnixListener::bind(&socket).unwrap();
    // Anyone may connect: the kernel's peer credentials are what refuses them.
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o666)).unwrap();
    let server = tokio::spawn(serve(listener, policy(tmp.path()), std::future::pending()));
    let out = tmp.path().join("out");
    let mut frame = Vec::new();
    let asked = RunRequest {
        env: vec![("OUT".into(), out.display().to_string())],
        ..request(&tmp.path().join("routable.d/10-hook").display().to_string())
    };
    write_frame(&mut frame, &asked).await.unwrap();
    // A client as uid 65534 writes a valid request and prints what comes back.
    let client = tokio::process::Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(
            "import socket,sys\n\
             s=socket.socket(socket.AF_UNIX)\n\
             s.connect(sys.argv[1])\n\
             try:\n s.sendall(sys.stdin.buffer.read()); print(len(s.recv(65536)))\n\
             except (BrokenPipeError, ConnectionResetError): print(0)",
        )
        .arg(&socket)
        .current_dir("/")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = client;
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = client.stdin.take().unwrap();
        stdin.write_all(&frame).await.unwrap();
    }
    let output = client.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "0",
        "a reply came back"
    );
    assert!(!out.exists(), "the hook ran for another user");
    server.abort();
}

#[tokio::test(start_paused = true)]
async fn an_idle_executor_exits_and_a_busy_one_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(tmp.path().join("s")).unwrap();
    let mut policy = policy(tmp.path());
    policy.idle_exit = Some(Duration::from_secs(30));
    tokio::time::timeout(
        Duration::from_secs(31),
        serve(listener, policy, std::future::pending()),
    )
    .await
    .expect("still serving after 30 s idle");
}
