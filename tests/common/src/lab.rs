//! The lab: finding it ([`Lab::require`], or a skip), one lab test at a time per test binary,
//! commands inside the lab machine and the peer netns, `netlab.sh` for this lab, and background
//! processes inside it ([`LabChild`]).

use crate::{describe_cmd, output_of, CmdOutput};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};

/// Where `netlab.sh` builds the lab unless `LAB_DIR` says otherwise.
pub const DEFAULT_LAB_DIR: &str = "/tmp/network-broker-lab";

/// `tests/lab/netlab.sh`, for the subcommands a test needs (`networkd stop|start`).
pub const NETLAB_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../lab/netlab.sh");

/// True when running under CI (`CI=true`), where a skipped lab test must fail.
pub fn under_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Writes to the real stderr, bypassing the test harness's output capture, so that a SKIP is
/// visible in the `cargo test` output even for a test that passes.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Where the lab is, as written by `netlab.sh up` into `$LAB_DIR/run/lab.env`.
#[derive(Debug, Clone)]
pub struct LabInfo {
    /// `LAB_DIR`.
    pub dir: PathBuf,
    /// The lab machine's network namespace name (`labhost`).
    pub netns_host: String,
    /// The peer network namespace name (`labpeer`).
    pub netns_peer: String,
    pub(crate) netns_host_path: String,
    pub(crate) mntns: String,
    pub(crate) utsns: String,
}

/// A lab that is up, held by one test at a time (see [`Lab::require`]).
pub struct Lab {
    info: LabInfo,
    _serial: MutexGuard<'static, ()>,
}

impl std::ops::Deref for Lab {
    type Target = LabInfo;
    fn deref(&self) -> &LabInfo {
        &self.info
    }
}

/// One lab test at a time per test binary: they share the daemon's unique bus name.
static SERIAL: Mutex<()> = Mutex::new(());

impl Lab {
    /// The lab, when this process runs as root and the lab is up.  Otherwise: under `CI=true`
    /// a panic (a skipped lab test must fail CI), else `SKIP: <reason>` on stderr and `None`.
    ///
    /// ```ignore
    /// let Some(lab) = Lab::require() else { return };
    /// ```
    pub fn require() -> Option<Lab> {
        let guard = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match LabInfo::probe() {
            Ok(info) => Some(Lab {
                info,
                _serial: guard,
            }),
            Err(reason) => {
                if under_ci() {
                    panic!(
                        "lab test cannot run, and CI=true forbids skipping it: {reason}\n\
                         (`make test` brings the lab up around the lab tests)"
                    );
                }
                say(&format!("SKIP: {reason}"));
                None
            }
        }
    }

    /// The plain description of the lab, for helpers that outlive a borrow.
    pub fn info(&self) -> LabInfo {
        self.info.clone()
    }
}

impl LabInfo {
    fn probe() -> Result<LabInfo, String> {
        if !rustix::process::geteuid().is_root() {
            return Err(
                "lab tests need root (namespaces, veths, the daemon): run them as root, \
                        e.g. `sudo make test`"
                    .into(),
            );
        }
        let dir = std::env::var_os("LAB_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_LAB_DIR));
        let env_file = dir.join("run/lab.env");
        let text = fs::read_to_string(&env_file).map_err(|e| {
            format!(
                "the lab is not up ({}: {e}); bring it up with `tests/lab/netlab.sh up` \
                 (LAB_DIR={}) or run `make test`",
                env_file.display(),
                dir.display()
            )
        })?;
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .collect();
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.to_string())
                .ok_or_else(|| format!("{} lacks {k}: lab from another version? run `tests/lab/netlab.sh down` and `up`", env_file.display()))
        };
        let info = LabInfo {
            dir,
            netns_host: get("LAB_NETNS_HOST")?,
            netns_peer: get("LAB_NETNS_PEER")?,
            netns_host_path: get("LAB_NETNS_HOST_PATH")?,
            mntns: get("LAB_MNTNS")?,
            utsns: get("LAB_UTSNS")?,
        };
        for p in [&info.netns_host_path, &info.mntns, &info.utsns] {
            if !Path::new(p).exists() {
                return Err(format!(
                    "{} says the lab is up, but {p} is missing: stale lab? run `tests/lab/netlab.sh down` and `up`",
                    env_file.display()
                ));
            }
        }
        let bus = info.output(&["busctl", "--timeout=5", "list", "--no-pager"]);
        if !bus.success() {
            return Err(format!(
                "the lab's bus does not answer:\n{}",
                bus.describe()
            ));
        }
        Ok(info)
    }

    /// A command that runs `args` inside the lab machine: the lab netns + mount ns + UTS ns,
    /// with `DBUS_SYSTEM_BUS_ADDRESS` at the lab bus.  `nsenter` and `env` exec in place, so
    /// the spawned child's PID is the command's own.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount={}", self.mntns))
            .arg(format!("--uts={}", self.utsns))
            .arg(format!("--net={}", self.netns_host_path))
            .arg("--wd=/") // nsenter resets the cwd anyway: only absolute paths inside
            .arg("env")
            .arg("DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket")
            .args(args);
        c
    }

    /// Runs `args` inside the lab machine; never panics.
    pub fn output<S: AsRef<OsStr>>(&self, args: &[S]) -> CmdOutput {
        output_of(self.cmd(args))
    }

    /// Runs `args` inside the lab machine and returns its stdout; panics (with stdout and
    /// stderr) when it fails.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        self.output(args).ok()
    }

    /// A command that runs `args` in the peer network namespace.
    pub fn peer_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns_peer]).args(args);
        c
    }

    /// Runs `args` in the peer netns and returns its stdout; panics when it fails.
    pub fn peer_run<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        output_of(self.peer_cmd(args)).ok()
    }

    /// The namespace prefix the lab was built with (`LAB_NS_PREFIX`, default `lab`): the host
    /// netns is `<prefix>host`.
    pub fn ns_prefix(&self) -> &str {
        self.netns_host
            .strip_suffix("host")
            .unwrap_or(&self.netns_host)
    }

    /// Runs `tests/lab/netlab.sh ARGS` for this lab (its `LAB_DIR` and `LAB_NS_PREFIX`).
    pub fn netlab(&self, args: &[&str]) -> CmdOutput {
        let mut c = Command::new(NETLAB_SH);
        c.args(args)
            .env("LAB_DIR", &self.dir)
            .env("LAB_NS_PREFIX", self.ns_prefix());
        output_of(c)
    }

    /// Starts `args` inside the lab machine in the background, stdout and stderr appended to
    /// `log`; the process is killed (by its PID) when the handle is dropped.
    pub fn spawn_logged<S: AsRef<OsStr>>(&self, args: &[S], log: &Path) -> LabChild {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let mut cmd = self.cmd(args);
        let what = describe_cmd(&cmd);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{what}` in the lab: {e}"));
        LabChild {
            pid: child.id(),
            child: Some(child),
            what,
            log: log.to_path_buf(),
        }
    }
}

/// A background process inside the lab ([`LabInfo::spawn_logged`]). `nsenter` and `env` exec
/// in place, so [`LabChild::pid`] is the program's own PID; it is SIGKILLed on drop.
pub struct LabChild {
    child: Option<Child>,
    /// Its PID.
    pub pid: u32,
    what: String,
    log: PathBuf,
}

impl LabChild {
    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills it (SIGKILL to its PID) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LabChild {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- output of `{}`:\n{}", self.what, self.log());
        }
        self.kill();
    }
}
