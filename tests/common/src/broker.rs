//! The daemon under test, run inside the lab: its configuration directory with hooks
//! ([`ConfigDir`], [`Hook`]) and the running process ([`Broker`]), stopped by its PID.

use crate::{broker_bin, wait_until, LabInfo, ScratchDir, BUS_NAME, START_TIMEOUT};
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Set in the daemon's environment by [`Broker`]; hooks must never see it (clean environment).
pub const LEAK_CANARY: &str = "NB_LEAK_CANARY";

/// Two hooks of the test event `nbtest`, one that succeeds (`10-ok`) and one that exits 3
/// (`20-fail`): what the hook-results tests run through `RunHooks`.
pub const OK_AND_FAILING_HOOKS: [Hook<'static>; 2] = [
    Hook {
        event: "nbtest",
        name: "10-ok",
        script: "#!/bin/sh\nexit 0\n",
    },
    Hook {
        event: "nbtest",
        name: "20-fail",
        script: "#!/bin/sh\nexit 3\n",
    },
];

/// A hook script to install: `DIR/<event>.d/<name>` with `script` as its contents.
#[derive(Debug, Clone, Copy)]
pub struct Hook<'a> {
    /// The event directory without `.d` (e.g. "routes-modified").
    pub event: &'a str,
    /// The file name.
    pub name: &'a str,
    /// The script text (with its `#!` line).
    pub script: &'a str,
}

/// A configuration directory under /tmp: root-owned (the tests run as root), 0755 dirs,
/// `network-broker.yaml` and the hooks (0755).  Removed on drop, kept when the test panics.
pub struct ConfigDir {
    dir: ScratchDir,
}

impl ConfigDir {
    /// Writes `yaml` (empty: no file, i.e. defaults) and `hooks` into a new directory.
    pub fn new(yaml: &str, hooks: &[Hook<'_>]) -> ConfigDir {
        Self::new_in(Path::new("/tmp"), yaml, hooks)
    }

    /// [`ConfigDir::new`] inside `parent` instead of `/tmp`: for tests that need to know what
    /// is next to the config dir (paths like `DIR/../x.d`).
    pub fn new_in(parent: &Path, yaml: &str, hooks: &[Hook<'_>]) -> ConfigDir {
        let dir = ScratchDir::new_in(parent, "nb-lab-");
        let path = dir.path();
        if !yaml.is_empty() {
            let f = path.join("network-broker.yaml");
            fs::write(&f, yaml).unwrap();
            fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        }
        for h in hooks {
            let d = path.join(format!("{}.d", h.event));
            fs::create_dir_all(&d).unwrap();
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
            let f = d.join(h.name);
            fs::write(&f, h.script).unwrap();
            fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        }
        ConfigDir { dir }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A `network-broker` running inside the lab machine.
///
/// Started as `network-broker --config-dir DIR` through `nsenter` (which execs in place, so
/// [`Broker::pid`] is the daemon's PID), with `NB_LEAK_CANARY=1` added to its environment and
/// stdout+stderr in `DIR/broker.log`.  Dropping it sends SIGTERM to that PID only, waits, and
/// sends SIGKILL if it does not exit; when the test is failing it prints the log's tail.
pub struct Broker {
    lab: LabInfo,
    child: Option<Child>,
    /// The daemon's PID.
    pub pid: u32,
    /// Its configuration directory.
    pub config: ConfigDir,
    /// A command put in front of the daemon's (e.g. `setpriv ...`), inside the lab.
    wrapper: Vec<String>,
}

impl Broker {
    /// Writes a config dir and starts the daemon, without waiting for anything.
    pub fn spawn(lab: &LabInfo, yaml: &str, hooks: &[Hook<'_>]) -> Broker {
        Self::spawn_with_config(lab, ConfigDir::new(yaml, hooks))
    }

    /// Starts the daemon on an existing config dir, without waiting for anything.
    pub fn spawn_with_config(lab: &LabInfo, config: ConfigDir) -> Broker {
        Self::spawn_wrapped(lab, config, &[])
    }

    /// [`Broker::spawn_with_config`] with `wrapper` in front of the daemon's command inside the
    /// lab, e.g. `setpriv --reuid=989 ...` to run it unprivileged.  The wrapper must exec the
    /// daemon in place (as `setpriv` does), so that [`Broker::pid`] stays the daemon's PID; a
    /// [`Broker::restart`] uses the same wrapper.
    pub fn spawn_wrapped(lab: &LabInfo, config: ConfigDir, wrapper: &[&str]) -> Broker {
        let wrapper: Vec<String> = wrapper.iter().map(|s| s.to_string()).collect();
        let child = Self::launch(lab, &config, false, &wrapper);
        Broker {
            lab: lab.clone(),
            pid: child.id(),
            child: Some(child),
            config,
            wrapper,
        }
    }

    /// [`Broker::start_with_config`] through `wrapper` ([`Broker::spawn_wrapped`]).
    pub fn start_wrapped(lab: &LabInfo, config: ConfigDir, wrapper: &[&str]) -> Broker {
        wait_name_free(lab);
        let mut b = Broker::spawn_wrapped(lab, config, wrapper);
        b.wait_owns_name();
        b
    }

    /// Stops the daemon (SIGTERM, as [`Broker::stop`]) if it runs, then starts a new one on the
    /// same config dir (and so the same `RuntimeDirectory`, if the YAML names one) and waits
    /// until it owns the bus name, as [`Broker::start`]. The new run's output is appended to
    /// the same log, after a line `=== restarted ===`.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        wait_name_free(&self.lab);
        let mut log = fs::OpenOptions::new()
            .append(true)
            .open(self.log_path())
            .unwrap();
        let _ = writeln!(log, "=== restarted ===");
        let child = Self::launch(&self.lab, &self.config, true, &self.wrapper);
        self.pid = child.id();
        self.child = Some(child);
        self.wait_owns_name();
    }

    /// Starts `network-broker --config-dir DIR` inside the lab, its output in `DIR/broker.log`
    /// (appended to, or truncated first).
    fn launch(lab: &LabInfo, config: &ConfigDir, append: bool, wrapper: &[String]) -> Child {
        let log_path = config.path().join("broker.log");
        let log = if append {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .unwrap()
        } else {
            fs::File::create(&log_path).unwrap()
        };
        let mut args: Vec<&OsStr> = wrapper.iter().map(OsStr::new).collect();
        args.extend([
            OsStr::new(broker_bin()),
            OsStr::new("--config-dir"),
            config.path().as_os_str(),
        ]);
        let mut cmd = lab.cmd(&args);
        cmd.env(LEAK_CANARY, "1")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // own process group: a ^C to the test runner does not hit the daemon mid-test;
            // it is stopped by PID in Drop (and `netlab.sh down` stops anything left in the lab)
            .process_group(0);
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start {} in the lab: {e}", broker_bin()))
    }

    /// Starts the daemon and waits until it owns `org.freedesktop.NetworkBroker1` on the lab
    /// bus; panics with its log if it exits or does not get there within [`START_TIMEOUT`].
    pub fn start(lab: &LabInfo, yaml: &str, hooks: &[Hook<'_>]) -> Broker {
        Self::start_with_config(lab, ConfigDir::new(yaml, hooks))
    }

    /// [`Broker::start`] on an existing config dir ([`ConfigDir::new_in`]).
    pub fn start_with_config(lab: &LabInfo, config: ConfigDir) -> Broker {
        wait_name_free(lab);
        let mut b = Broker::spawn_with_config(lab, config);
        b.wait_owns_name();
        b
    }

    /// Waits until this daemon (by PID) owns the bus name.
    pub fn wait_owns_name(&mut self) {
        let pid = self.pid;
        let what = format!("network-broker (PID {pid}) to own {BUS_NAME} on the lab bus");
        let start = Instant::now();
        loop {
            if let Some(st) = self.try_wait() {
                panic!(
                    "network-broker exited ({st}) before owning {BUS_NAME}\n--- its log ({}):\n{}",
                    self.log_path().display(),
                    self.log()
                );
            }
            match self.lab.name_owner_pid(BUS_NAME) {
                Some(p) if p == pid => return,
                owner => {
                    if start.elapsed() >= START_TIMEOUT {
                        panic!(
                            "timed out after {START_TIMEOUT:?} waiting for {what} (owner now: {owner:?})\n--- its log:\n{}",
                            self.log()
                        );
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log file.
    pub fn log_path(&self) -> PathBuf {
        self.config.path().join("broker.log")
    }

    /// The daemon's output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends SIGTERM to the daemon's PID and waits for it to exit (SIGKILL after 20 s, and a
    /// panic then: the contract is a clean stop on SIGTERM).  Returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let child = self.child.take().expect("broker already stopped");
        match terminate(child, Duration::from_secs(20)) {
            Ok(st) => st,
            Err(st) => panic!(
                "network-broker (PID {}) ignored SIGTERM for 20 s; killed ({st:?})\n--- its log:\n{}",
                self.pid,
                self.log()
            ),
        }
    }
}

/// The previous daemon has exited when its [`Broker`] was stopped or dropped, but the bus may
/// take a moment to notice its connection is gone: waits until the name is free.
fn wait_name_free(lab: &LabInfo) {
    wait_until(
        &format!("{BUS_NAME} to be free on the lab bus before starting the daemon"),
        Duration::from_secs(10),
        || match lab.name_owner_pid(BUS_NAME) {
            None => Ok(()),
            Some(pid) => Err(format!(
                "owned by PID {pid} (a daemon left over by another test or run? \
                 `tests/lab/netlab.sh down` stops everything in the lab)"
            )),
        },
    );
}

/// SIGTERM to `child`'s PID, wait up to `grace`, then SIGKILL.  `Ok` if it exited on SIGTERM.
fn terminate(mut child: Child, grace: Duration) -> Result<ExitStatus, Option<ExitStatus>> {
    if let Ok(Some(st)) = child.try_wait() {
        return Ok(st);
    }
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let start = Instant::now();
    while start.elapsed() < grace {
        if let Ok(Some(st)) = child.try_wait() {
            return Ok(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill(); // SIGKILL to this PID
    Err(child.wait().ok())
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            if terminate(child, Duration::from_secs(10)).is_err() {
                eprintln!("network-broker (PID {}) needed SIGKILL", self.pid);
            }
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "--- network-broker log, last {} lines ({}):\n{}",
                tail.len(),
                self.log_path().display(),
                tail.join("\n")
            );
        }
    }
}
