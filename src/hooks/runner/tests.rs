//! Unit tests of `crate::hooks::runner`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use super::batch::current_addresses;
use super::*;
use crate::hooks::env::tests::{big_link, sample_link, settings};
use crate::hooks::env::{self, MAX_ARG_STRLEN};
use crate::hooks::exec;
use crate::model::LinkView;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn a_hook_takes_the_addresses_of_the_current_picture_and_the_states_of_its_transition() {
    use crate::model::fixtures::{address, link};
    let mut captured = LinkView::new(link(3, "eth1"));
    captured
        .states
        .insert(crate::model::StateProperty::Operational, "routable");
    let captured = Arc::new(captured);
    let mut now = LinkView::clone(&captured);
    now.addresses = vec![address("192.168.78.2", 24)];
    let mut picture = Snapshot::default();
    picture.links.insert(3, Arc::new(now));

    let view = current_addresses(&captured, &picture);
    assert_eq!(view.addresses, vec![address("192.168.78.2", 24)]);
    assert_eq!(view.states, captured.states);

    // Renamed (or gone) since: the captured view stands.
    let mut renamed = LinkView::clone(&picture.links[&3]);
    renamed.attrs.name = "wan0".into();
    picture.links.insert(3, Arc::new(renamed));
    assert!(Arc::ptr_eq(
        &current_addresses(&captured, &picture),
        &captured
    ));
    picture.links.clear();
    assert!(Arc::ptr_eq(
        &current_addresses(&captured, &picture),
        &captured
    ));
}

fn hook(dir: &Path, event: &str, name: &str, body: &str) {
    let event_dir = dir.join(format!("{event}.d"));
    fs::create_dir_all(&event_dir).unwrap();
    fs::set_permissions(&event_dir, fs::Permissions::from_mode(0o755)).unwrap();
    let path = event_dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn link(index: IfIndex, name: &str) -> LinkView {
    let mut link = sample_link();
    link.attrs.index = index;
    link.attrs.name = name.into();
    link
}

fn request(event: &str, link: Option<LinkView>, vars: &[(&str, &str)]) -> Request {
    Request {
        event: event.into(),
        link: link.map(std::sync::Arc::new),
        vars: vars
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        lease: None,
        routing_table: 0,
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<BatchResult>) -> BatchResult {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no hook result in time")
        .expect("results channel closed")
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn queued(event: &str, reply: Reply) -> Queued {
    Queued {
        request: request(event, Some(link(1, "eth1")), &[]),
        reply,
        coalesced: 0,
    }
}

fn shape(queue: &VecDeque<Queued>) -> Vec<(String, u32, bool)> {
    queue
        .iter()
        .map(|q| {
            let waiting = matches!(q.reply, Reply::Waiting(_));
            (q.request.event.to_string(), q.coalesced, waiting)
        })
        .collect()
}

#[test]
fn coalescing_keeps_each_events_latest_in_order_and_every_waiting_caller() {
    let (waiting, _outcome) = oneshot::channel();
    let (tracked, mut dropped) = oneshot::channel();
    let mut queue: VecDeque<Queued> = VecDeque::from([
        queued("routable", Reply::Tracking(tracked)),
        queued("carrier", Reply::None),
        queued("routable", Reply::Waiting(waiting)),
        queued("carrier", Reply::None),
        queued("routable", Reply::None),
    ]);
    assert_eq!(coalesce(&mut queue, 4), 2);
    let owned = |e: &str, n, w| (e.to_string(), n, w);
    assert_eq!(
        shape(&queue),
        [
            owned("routable", 0, true),
            owned("carrier", 1, false),
            owned("routable", 1, false)
        ]
    );
    // The tracked request that went away tells its submitter it did not run.
    assert!(dropped.try_recv().is_err());

    // A bound below the number of events: the oldest go into the latest.
    let mut queue: VecDeque<Queued> = ["carrier", "degraded", "routable"]
        .into_iter()
        .map(|e| queued(e, Reply::None))
        .collect();
    assert_eq!(coalesce(&mut queue, 1), 2);
    assert_eq!(shape(&queue), [owned("routable", 2, false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_runs_requests_of_one_link_strictly_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let log_str = log.to_string_lossy().into_owned();
    for name in ["10-first", "20-second"] {
        hook(
            tmp.path(),
            "routable",
            name,
            &format!(
                "echo \"$MARK {name} start\" >> \"$OUT\"\nsleep 0.2\necho \"$MARK {name} end\" >> \"$OUT\""
            ),
        );
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), false), tx);
    for mark in ["a", "b", "c"] {
        handle.submit(request(
            "routable",
            Some(link(7, "eth7")),
            &[("MARK", mark), ("OUT", &log_str)],
        ));
    }
    for _ in 0..3 {
        let result = next(&mut rx).await;
        assert_eq!(result.event, "routable");
        assert_eq!(result.ifindex, Some(7));
        assert_eq!(result.results.len(), 2);
        assert!(result.results[0].script.ends_with("/routable.d/10-first"));
        assert!(result.results.iter().all(|r| r.status == 0));
    }
    let mut expected = Vec::new();
    for mark in ["a", "b", "c"] {
        for name in ["10-first", "20-second"] {
            expected.push(format!("{mark} {name} start"));
            expected.push(format!("{mark} {name} end"));
        }
    }
    assert_eq!(lines(&log), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_runs_different_links_in_parallel() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    hook(
        tmp.path(),
        "routable",
        "50-mark",
        "echo \"start $LINK\" >> \"$OUT\"\nsleep 0.5\necho \"end $LINK\" >> \"$OUT\"",
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), false), tx);
    let out = log.to_string_lossy().into_owned();
    handle.submit(request("routable", Some(link(1, "eth1")), &[("OUT", &out)]));
    handle.submit(request("routable", Some(link(2, "eth2")), &[("OUT", &out)]));
    let mut seen = vec![next(&mut rx).await.ifindex, next(&mut rx).await.ifindex];
    seen.sort();
    assert_eq!(seen, [Some(1), Some(2)]);
    let lines = lines(&log);
    assert_eq!(lines.len(), 4);
    // Both started before either ended: the two links overlapped in time.
    assert!(
        lines[0].starts_with("start ") && lines[1].starts_with("start "),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_limit_serialises_links_beyond_it() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    hook(
        tmp.path(),
        "routable",
        "50-mark",
        "echo \"start $LINK\" >> \"$OUT\"\nsleep 0.2\necho \"end $LINK\" >> \"$OUT\"",
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn_with_limit(settings(tmp.path().into(), false), tx, 1);
    let out = log.to_string_lossy().into_owned();
    handle.submit(request("routable", Some(link(1, "eth1")), &[("OUT", &out)]));
    handle.submit(request("routable", Some(link(2, "eth2")), &[("OUT", &out)]));
    next(&mut rx).await;
    next(&mut rx).await;
    assert_eq!(
        lines(&log),
        ["start eth1", "end eth1", "start eth2", "end eth2"]
    );
}

#[tokio::test]
async fn runner_sends_no_result_without_scripts_and_picks_up_new_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), false), tx);
    handle.submit(request("routable", Some(link(1, "eth1")), &[]));
    handle.submit(request("../etc", None, &[]));
    handle.idle().await;
    assert!(rx.try_recv().is_err());

    hook(tmp.path(), "routable", "new", "exit 4");
    handle.submit(request("routable", Some(link(1, "eth1")), &[]));
    let result = next(&mut rx).await;
    assert_eq!(result.results.len(), 1);
    assert_eq!(result.results[0].status, 4);
    assert_eq!(result.results[0].error, "exited with status 4");
}

#[test]
fn only_the_daemons_own_events_remember_the_size_of_their_listing() {
    let key =
        |name: &str| super::batch::examined_key(&crate::hooks::HookEvent::parse(name).unwrap());
    assert_eq!(key("routable"), Some("routable"));
    assert_eq!(key("off"), Some("off"));
    assert_eq!(key("routes-modified"), Some("routes-modified"));
    assert_eq!(key("manager"), Some("manager"));
    assert_eq!(key("my-event"), None);
}

/// Once a listing was small, the next ones are done in place: they still see every hook added
/// or removed since (docs/hooks.md: a script added a moment ago runs at the next event).
#[tokio::test]
async fn listings_in_place_see_hooks_added_and_removed_between_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), false), tx);
    let mut statuses = async || {
        handle.submit(request("routable", Some(link(1, "eth1")), &[]));
        let batch = next(&mut rx).await;
        batch.results.iter().map(|r| r.status).collect::<Vec<u32>>()
    };
    hook(tmp.path(), "routable", "10-first", "exit 3");
    assert_eq!(statuses().await, [3]);
    hook(tmp.path(), "routable", "20-second", "exit 4");
    assert_eq!(statuses().await, [3, 4]);
    fs::remove_file(tmp.path().join("routable.d/10-first")).unwrap();
    assert_eq!(statuses().await, [4]);
}

#[tokio::test]
async fn run_answers_its_caller_with_or_without_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), false), tx);
    let none = handle
        .run(request("routable", Some(link(1, "eth1")), &[]))
        .await
        .unwrap();
    assert!(none.results.is_empty());

    hook(tmp.path(), "routable", "ok", "exit 0");
    let ran = handle
        .run(request("routable", Some(link(1, "eth1")), &[]))
        .await
        .unwrap();
    assert_eq!(ran.results.len(), 1);
    assert_eq!((ran.event.as_str(), ran.ifindex), ("routable", Some(1)));
    // The batch is published as well, for HooksCompleted.
    assert_eq!(next(&mut rx).await, ran);
}

#[tokio::test]
async fn runner_runs_manager_hooks_without_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    hook(
        tmp.path(),
        "manager",
        "m",
        &format!(
            "echo \"$EVENT ${{LINK-unset}} $OperationalState\" > {}",
            out.display()
        ),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), true), tx);
    handle.submit(request(
        "manager",
        None,
        &[("OperationalState", "degraded")],
    ));
    let result = next(&mut rx).await;
    assert_eq!(result.ifindex, None);
    assert_eq!(result.results[0].status, 0);
    assert_eq!(lines(&out), ["manager unset degraded"]);
}

#[tokio::test]
async fn runner_applies_new_settings_to_later_batches() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    hook(first.path(), "routable", "one", "exit 1");
    hook(second.path(), "routable", "two", "exit 2");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(first.path().into(), false), tx);
    handle.submit(request("routable", Some(link(1, "eth1")), &[]));
    assert_eq!(next(&mut rx).await.results[0].status, 1);
    handle.update_settings(settings(second.path().into(), false));
    handle.submit(request("routable", Some(link(1, "eth1")), &[]));
    assert_eq!(next(&mut rx).await.results[0].status, 2);
}

#[tokio::test]
async fn runner_passes_clean_env_and_large_json_on_stdin() {
    // Edition 2021: set_var is safe; the name is unique to this test.
    std::env::set_var("NETWORK_BROKER_RUNNER_LEAK_MARKER", "leaked");
    let tmp = tempfile::tempdir().unwrap();
    let env_out = tmp.path().join("env");
    let stdin_out = tmp.path().join("stdin");
    hook(
        tmp.path(),
        "routable",
        "dump",
        &format!(
            "/usr/bin/env > {}\ncat > {}",
            env_out.display(),
            stdin_out.display()
        ),
    );
    let link = big_link(2 * MAX_ARG_STRLEN);
    let expected_json = env::json_for(&link, Some("routable"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), true), tx);
    handle.submit(request(
        "routable",
        Some(link),
        &[("OperationalState", "routable")],
    ));
    let result = next(&mut rx).await;
    assert_eq!(result.results[0].status, 0, "{}", result.results[0].error);

    let env_text = fs::read_to_string(&env_out).unwrap();
    assert!(!env_text.contains("NETWORK_BROKER_RUNNER_LEAK_MARKER"));
    let mut names: Vec<&str> = env_text
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .filter(|n| !["PWD", "OLDPWD", "SHLVL", "_"].contains(n))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ADDR",
            "EVENT",
            "IFACE",
            "IP6_ADDRS",
            "IP_ADDRS",
            "JSON_TRUNCATED",
            "LINK",
            "LINKINDEX",
            "OperationalState",
            "PATH"
        ]
    );
    assert!(env_text.contains("JSON_TRUNCATED=1\n"));
    assert_eq!(
        fs::read_to_string(&stdin_out).unwrap(),
        format!("{expected_json}\n")
    );
}

#[tokio::test]
async fn runner_json_env_matches_stdin_when_small() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    hook(
        tmp.path(),
        "routable",
        "cmp",
        &format!(
            "printf '%s\\n' \"$JSON\" > {out}.env\ncat > {out}.stdin",
            out = out.display()
        ),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), true), tx);
    handle.submit(request(
        "routable",
        Some(sample_link()),
        &[("OperationalState", "routable")],
    ));
    assert_eq!(next(&mut rx).await.results[0].status, 0);
    let from_env = fs::read_to_string(format!("{}.env", out.display())).unwrap();
    let from_stdin = fs::read_to_string(format!("{}.stdin", out.display())).unwrap();
    assert_eq!(from_env, from_stdin);
    assert_eq!(
        from_env,
        format!("{}\n", env::json_for(&sample_link(), Some("routable")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_shutdown_kills_running_hooks_and_drops_queued_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let started = tmp.path().join("started");
    hook(
        tmp.path(),
        "routable",
        "10-hang",
        &format!("echo $$ >> {}\nexec sleep 1000", started.display()),
    );
    hook(tmp.path(), "routable", "20-never", "exit 0");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), false), tx);
    handle.submit(request("routable", Some(link(1, "eth1")), &[]));
    handle.submit(request("routable", Some(link(1, "eth1")), &[]));
    // Wait until the first hook runs (polling a file the hook writes, bounded).
    let deadline = std::time::Instant::now() + WAIT;
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline, "hook never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let begun = std::time::Instant::now();
    tokio::time::timeout(WAIT, handle.shutdown(Duration::from_millis(200)))
        .await
        .expect("shutdown did not finish");
    assert!(begun.elapsed() < Duration::from_millis(200) + exec::KILL_GRACE + WAIT / 4);

    let result = next(&mut rx).await;
    assert_eq!(result.results.len(), 1, "the second script must not start");
    assert_eq!(result.results[0].status, 128 + 15);
    assert_eq!(result.results[0].error, "killed: daemon shutting down");
    assert!(!result.complete, "a killed batch is not complete");
    // The queued request was dropped, and the runner is gone.
    assert!(tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .is_none());
    assert_eq!(lines(&started).len(), 1);
    handle.submit(request("routable", Some(link(1, "eth1")), &[]));
    handle.idle().await;
}

/// Root-owned `hook` and a `nobody`-owned `evil` in a directory `nobody` owns, swapped
/// with `renameat2(RENAME_EXCHANGE)` by `nobody` as fast as it can, reached through a
/// root-owned symlink in `sec.d/`: `RunHooks` must never execute `evil` as root (before
/// the walk checked the directories on the resolved path and the runner executed the
/// descriptor it had checked, most runs did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_never_runs_a_file_swapped_in_by_another_user() {
    const RUNS: usize = 200;
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root to create files of another user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let out = tmp.path().join("out");
    let theirs = tmp.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).unwrap();
    let write = |name: &str, body: &str| {
        let path = theirs.join(name);
        fs::write(
            &path,
            format!("#!/bin/sh\necho {body} >> {}\n", out.display()),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    let good = write("hook", "good");
    let evil = write("evil", "evil");
    std::os::unix::fs::chown(&evil, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let conf = tmp.path().join("conf");
    let sec = conf.join("sec.d");
    fs::create_dir_all(&sec).unwrap();
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&sec, fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&good, sec.join("30-link")).unwrap();
    // A hook before it, so that the batch's scripts (admitted together) start a moment
    // apart, as they do in real life.
    let slow = sec.join("10-slow");
    fs::write(&slow, "#!/bin/sh\nsleep 0.05\n").unwrap();
    fs::set_permissions(&slow, fs::Permissions::from_mode(0o755)).unwrap();

    // The swapper, as uid/gid 65534 (python3 is one of the test dependencies).
    let mut swapper = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import ctypes, os\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             os.chdir(os.environ['DIR'])\n\
             while True:\n\
             \x20   libc.renameat2(-100, b'hook', -100, b'evil', 2)\n",
        )
        .env_clear()
        .env("DIR", &theirs)
        .uid(65534)
        .gid(65534)
        .spawn()
        .unwrap();

    let (tx, _rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(conf.clone(), false), tx);
    let mut refused = 0;
    for _ in 0..RUNS {
        let batch = handle
            .run(request("sec", Some(link(1, "eth1")), &[]))
            .await
            .unwrap();
        refused += usize::from(!batch.results.iter().any(|r| r.script.ends_with("30-link")));
    }
    swapper.kill().unwrap();
    swapper.wait().unwrap();

    let text = fs::read_to_string(&out).unwrap_or_default();
    let evil_runs = text.lines().filter(|l| *l == "evil").count();
    let good_runs = text.lines().filter(|l| *l == "good").count();
    eprintln!("{RUNS} runs: evil {evil_runs}, good {good_runs}, refused {refused}");
    assert_eq!(evil_runs, 0, "a file of uid 65534 ran as root");
    // The link leads through a directory uid 65534 owns: refused, never run.
    assert_eq!(refused, RUNS);
}

#[tokio::test]
async fn runner_reports_an_unreadable_hook_directory_as_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    // Not a directory: listing it fails (as EMFILE, EACCES or EIO would).
    fs::write(tmp.path().join("routable.d"), "").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), false), tx);
    let batch = handle
        .run(request("routable", Some(link(1, "eth1")), &[]))
        .await
        .unwrap();
    assert_eq!(batch.results.len(), 1, "{batch:?}");
    let failure = &batch.results[0];
    assert!(failure.script.ends_with("/routable.d"), "{failure:?}");
    assert_eq!(failure.status, exec::STATUS_NOT_STARTED);
    assert!(
        failure.error.starts_with("failed to read hook directory ")
            && failure.error.ends_with("Not a directory (os error 20)"),
        "{}",
        failure.error
    );
    // HooksCompleted says so too.
    assert_eq!(next(&mut rx).await, batch);
}

/// Open descriptors of this process.
fn fd_count() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Kill the processes listed in `pidfile`, each by PID, after checking that it still is
/// the `sleep 1000` a hook started (a PID may have been reused).
fn kill_sleepers(pidfile: &Path) -> usize {
    let mut killed = 0;
    for pid in fs::read_to_string(pidfile).unwrap_or_default().lines() {
        let Ok(pid) = pid.trim().parse::<i32>() else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline == b"sleep\x001000\x00" {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                killed += 1;
            }
        }
    }
    killed
}

/// 2,000 runs of a hook that leaves a daemon holding its stdout and stderr: every run
/// succeeds and the runner's process holds no more descriptors afterwards than before
/// (before the drain was bounded, each run kept two pipes open for as long as the daemon
/// lived, and after ~500 runs every hook failed with EMFILE).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_closes_the_pipes_a_daemonized_child_keeps() {
    const RUNS: usize = 2000;
    // Links in parallel, so that the 1 s drain of each run overlaps the others'.
    const LINKS: u32 = 64;
    let tmp = tempfile::tempdir().unwrap();
    let pids = tmp.path().join("pids");
    hook(
        tmp.path(),
        "routable",
        "50-daemon",
        &format!("setsid sleep 1000 &\necho $! >> {}\nexit 0", pids.display()),
    );
    // Kills the sleepers however the test ends (a panic included).
    struct Sleepers<'a>(&'a Path);
    impl Drop for Sleepers<'_> {
        fn drop(&mut self) {
            kill_sleepers(self.0);
        }
    }
    let _sleepers = Sleepers(&pids);
    let (tx, _rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), false), tx);
    // One run first, so that the runtime's own descriptors (its blocking pool, the
    // signal pipe of tokio's process reaper) exist before counting.
    handle
        .run(request("routable", Some(link(1, "eth1")), &[]))
        .await
        .unwrap();
    let before = fd_count();
    let mut outcomes = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let index = 1 + u32::try_from(i).unwrap() % LINKS;
        outcomes.push(handle.run(request("routable", Some(link(index, "ethx")), &[])));
    }
    let mut failed = Vec::new();
    for outcome in outcomes {
        let batch = outcome.await.unwrap();
        failed.extend(batch.results.into_iter().filter(|r| r.status != 0));
    }
    handle.idle().await;
    let after = fd_count();
    let killed = kill_sleepers(&pids);
    eprintln!(
        "{RUNS} runs: {} failed, descriptors before {before}, after {after}, sleepers killed {killed}",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} runs failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    // Slack for descriptors other tests of this process open meanwhile; a leak of two
    // per run would be 4,000.
    assert!(
        after <= before + 64,
        "descriptors grew from {before} to {after} over {RUNS} runs"
    );
}

/// A link with 12,000 addresses: its hooks run (the address lists once made `execve`
/// fail with E2BIG, "Argument list too long", for every hook of the link).
#[tokio::test]
async fn runner_runs_hooks_of_a_link_with_12000_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    let env_out = tmp.path().join("env");
    hook(
        tmp.path(),
        "routable",
        "dump",
        &format!("/usr/bin/env > {}\ncat > /dev/null", env_out.display()),
    );
    let mut link = sample_link();
    link.addresses = (0..12_000u32)
        .map(|i| crate::model::Address {
            ip: std::net::IpAddr::V4((0x0a00_0000 + i).into()),
            prefix_len: 8,
            label: None,
            scope: 0,
            flags: 0x80,
        })
        .collect();
    let (tx, _rx) = mpsc::unbounded_channel();
    let handle = spawn(settings(tmp.path().into(), true), tx);
    let batch = handle
        .run(request(
            "routable",
            Some(link),
            &[("OperationalState", "routable")],
        ))
        .await
        .unwrap();
    assert_eq!(batch.results.len(), 1);
    assert_eq!(batch.results[0].status, 0, "{}", batch.results[0].error);
    let env_text = fs::read_to_string(&env_out).unwrap();
    assert!(env_text.lines().any(|l| l == "IP_ADDRS_TRUNCATED=1"));
    assert!(env_text.lines().any(|l| l == "JSON_TRUNCATED=1"));
}
