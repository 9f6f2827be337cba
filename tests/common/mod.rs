//! The lab harness shared by the integration tests (`tests/lab_*.rs`).
//!
//! The lab itself is built by `tests/lab/netlab.sh up` (see the comments there and the team's
//! `NOTES.md`): network namespaces `labhost` (+ a persistent mount and UTS namespace: "the lab
//! machine") and `labpeer`, a private system bus, systemd-networkd, resolved, polkitd, dnsmasq
//! and dhclient.  `up` writes `$LAB_DIR/run/lab.env`, which this module reads to find it.
//!
//! What this module gives a test:
//! * [`Lab::require`]: the lab handle, or a skip (`SKIP: ...` on stderr, test returns) when not
//!   root or the lab is not up; under `CI=true` a skip is a failure (panic), so CI cannot go
//!   green without running the lab tests.  The handle also serialises the tests of one test
//!   binary: the daemon's bus name is unique, so only one daemon may run at a time.
//! * commands inside the lab machine ([`LabInfo::cmd`], [`LabInfo::run`]) and in the peer
//!   netns ([`LabInfo::peer_run`]), with panics that show stdout/stderr;
//! * [`Broker`]: a `network-broker` started inside the lab with its own config dir, stopped
//!   (SIGTERM to its PID only) on drop, its log printed when the test fails;
//!   [`Broker::restart`] stops it and starts another on the same config dir;
//!   [`BROKERCTL_BIN`] is the command-line client;
//! * bus helpers on top of `busctl --json=short` ([`LabInfo::get_property`], [`LabInfo::call`],
//!   [`LabInfo::introspect`]) and a signal [`Monitor`];
//! * [`TestLink`]: veth pairs with unique names, deleted on drop;
//! * real traffic: [`LabInfo::send_udp`] sends datagrams from an address of the lab machine
//!   (from a thread moved into its netns), [`LabInfo::peer_rx_packets`] counts what arrived on
//!   a peer link;
//! * [`wait_until`]: poll a condition with a generous timeout (the tests never assert on time);
//! * [`HookRecorder`]: hook scripts that record every run (environment, stdin, order);
//! * systemd-networkd in the lab: its properties ([`LabInfo::try_networkd_property`]), stopping
//!   and starting it ([`LabInfo::stop_networkd`], via `netlab.sh networkd stop|start`), and
//!   guards that undo what a test did to the lab even when it fails ([`NetworkdStopped`],
//!   [`PeerLinkDown`], [`LabChild`]);
//! * the lab's dhclient: releasing its lease or stopping it and starting it again
//!   ([`LabInfo::release_dhclient`], [`LabInfo::stop_dhclient`], via
//!   `netlab.sh dhclient release|stop|start`, guard [`DhclientStopped`]);
//! * systemd-resolved's and systemd-hostnamed's own view, read back with busctl
//!   ([`resolved_link`], [`wait_resolved`], [`hostnamed_property`]), and guards that restore
//!   them ([`ResolvedRevertOnDrop`], [`StaticHostnameOnDrop`]).
#![allow(dead_code)] // every test binary uses a different part of this module
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The daemon's bus name (contract).
pub const BUS_NAME: &str = "org.freedesktop.NetworkBroker1";
/// The manager object (contract).
pub const MANAGER_PATH: &str = "/org/freedesktop/NetworkBroker1";
/// The manager interface (contract).
pub const MANAGER_IFACE: &str = "org.freedesktop.NetworkBroker1.Manager";
/// The per-link interface (contract).
pub const LINK_IFACE: &str = "org.freedesktop.NetworkBroker1.Link";
/// The standard properties interface.
pub const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";
/// Where `netlab.sh` builds the lab unless `LAB_DIR` says otherwise.
pub const DEFAULT_LAB_DIR: &str = "/tmp/network-broker-lab";
/// The daemon under test, built by cargo for the integration tests.
pub const BROKER_BIN: &str = env!("CARGO_BIN_EXE_network-broker");
/// The command-line client, built by cargo next to the daemon (run it inside the lab with
/// [`LabInfo::run`]: the harness sets `DBUS_SYSTEM_BUS_ADDRESS` to the lab bus there).
pub const BROKERCTL_BIN: &str = env!("CARGO_BIN_EXE_network-brokerctl");
/// Set in the daemon's environment by [`Broker`]; hooks must never see it (clean environment).
pub const LEAK_CANARY: &str = "NB_LEAK_CANARY";

/// How long a daemon gets to claim its bus name.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a signal or property change gets to show up.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// The object path of link `ifindex`, escaped as systemd escapes it: the first character is a
/// digit, so it becomes `_3<digit>`; the other digits stay (4 -> `_34`, 12 -> `_312`).
pub fn link_path(ifindex: u32) -> String {
    format!("{MANAGER_PATH}/link/_3{ifindex}")
}

/// `tests/lab/netlab.sh`, for the subcommands a test needs (`networkd stop|start`).
pub const NETLAB_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/netlab.sh");

/// systemd-networkd's bus name.
pub const NETWORKD_NAME: &str = "org.freedesktop.network1";
/// networkd's manager object.
pub const NETWORKD_PATH: &str = "/org/freedesktop/network1";
/// networkd's manager interface.
pub const NETWORKD_MANAGER_IFACE: &str = "org.freedesktop.network1.Manager";
/// networkd's per-link interface.
pub const NETWORKD_LINK_IFACE: &str = "org.freedesktop.network1.Link";

/// networkd's object path of link `ifindex` (the same escaping as [`link_path`]).
pub fn networkd_link_path(ifindex: u32) -> String {
    format!("{NETWORKD_PATH}/link/_3{ifindex}")
}

/// The wall clock in nanoseconds since the epoch: the same clock and unit as `date +%s%N`,
/// which [`HookRecorder`]'s script stamps each run with, so a test can take a mark and select
/// the runs that *started* after it.
pub fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
}

/// True when running under CI (`CI=true`), where a skipped lab test must fail.
pub fn under_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Writes to the real stderr, bypassing the test harness's output capture, so that a SKIP is
/// visible in the `cargo test` output even for a test that passes.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

// ------------------------------------------------------------------------------------------
// waiting

/// Polls `probe` until it returns `Ok`, for at most `timeout`; panics with `what` and the last
/// `Err` (a description of the state seen) on timeout.  The timeout is a safety net, not an
/// assertion: pick it generously.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) => {
                if start.elapsed() >= timeout {
                    panic!("timed out after {timeout:?} waiting for {what}\n  last state: {last}");
                }
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Waits until `count()` has not changed for `quiet`, at most `timeout` in all, and returns the
/// settled value.  For counting things (hook runs) whose end has no event of its own.
pub fn wait_settled(
    what: &str,
    quiet: Duration,
    timeout: Duration,
    mut count: impl FnMut() -> usize,
) -> usize {
    let mut last = count();
    let mut since = Instant::now();
    wait_until(what, timeout, || {
        let now = count();
        if now != last {
            last = now;
            since = Instant::now();
        }
        if since.elapsed() >= quiet {
            Ok(now)
        } else {
            Err(format!("count {now}, still changing"))
        }
    })
}

// ------------------------------------------------------------------------------------------
// running commands

/// A finished command, with text output.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// What ran (for messages).
    pub what: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl CmdOutput {
    fn from_output(what: String, out: Output) -> Self {
        CmdOutput {
            what,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// A full description for panic messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` exited with {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.what,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }

    /// The stdout, or a panic with everything when the command failed.
    pub fn ok(self) -> String {
        if !self.success() {
            panic!("{}", self.describe());
        }
        self.stdout
    }
}

fn describe_cmd(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion, capturing its output (stdin: /dev/null).
pub fn output_of(mut cmd: Command) -> CmdOutput {
    let what = describe_cmd(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    CmdOutput::from_output(what, out)
}

/// Runs `cmd` with `input` on its stdin, capturing its output.
pub fn output_with_input(mut cmd: Command, input: &str) -> CmdOutput {
    let what = describe_cmd(&cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(data.as_bytes());
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for `{what}`: {e}"));
    let _ = writer.join();
    CmdOutput::from_output(what, out)
}

/// Runs `cmd` (stdin /dev/null), killing it (by its PID) if it has not exited after `timeout`.
/// Returns `None` on timeout.  For commands that are expected to exit by themselves.
pub fn output_within(mut cmd: Command, timeout: Duration) -> Option<CmdOutput> {
    let what = describe_cmd(&cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let pipes = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let (mut o, mut e) = pipes;
        let (mut so, mut se) = (Vec::new(), Vec::new());
        let t = std::thread::spawn(move || {
            let _ = e.read_to_end(&mut se);
            se
        });
        let _ = o.read_to_end(&mut so);
        (so, t.join().unwrap_or_default())
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = reader.join().unwrap_or_default();
    status.map(|status| {
        CmdOutput::from_output(
            what,
            Output {
                status,
                stdout,
                stderr,
            },
        )
    })
}

// ------------------------------------------------------------------------------------------
// the lab

/// Where the lab is, as written by `netlab.sh up` into `$LAB_DIR/run/lab.env`.
#[derive(Debug, Clone)]
pub struct LabInfo {
    /// `LAB_DIR`.
    pub dir: PathBuf,
    /// The lab machine's network namespace name (`labhost`).
    pub netns_host: String,
    /// The peer network namespace name (`labpeer`).
    pub netns_peer: String,
    netns_host_path: String,
    mntns: String,
    utsns: String,
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

    /// Feeds `batch` (lines of `ip` commands) to one `ip -batch -` inside the lab machine:
    /// thousands of changes in one process, as NOTES.md recommends.
    pub fn ip_batch(&self, batch: &str) {
        let out = output_with_input(self.cmd(&["ip", "-batch", "-"]), batch);
        if !out.success() {
            panic!("{}", out.describe());
        }
    }

    // ---- kernel state (as `ip` shows it inside the lab)

    /// `ip -j link show dev NAME` inside the lab: the link's JSON object.
    pub fn kernel_link(&self, name: &str) -> Value {
        let text = self.run(&["ip", "-j", "link", "show", "dev", name]);
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ip -j link show {name}: {e}: {text}"));
        v.get(0)
            .cloned()
            .unwrap_or_else(|| panic!("no link {name}: {text}"))
    }

    /// The link's kernel operstate, lowercase, as the daemon publishes it ("up", "down", ...).
    pub fn kernel_operstate(&self, name: &str) -> String {
        self.kernel_link(name)["operstate"]
            .as_str()
            .unwrap_or("unknown")
            .to_lowercase()
    }

    /// Every address of the link as the kernel shows it (`ip -j addr show dev NAME`).
    pub fn kernel_addresses(&self, name: &str) -> BTreeSet<(IpAddr, u8)> {
        let text = self.run(&["ip", "-j", "addr", "show", "dev", name]);
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ip -j addr show {name}: {e}: {text}"));
        let mut set = BTreeSet::new();
        for a in v[0]["addr_info"].as_array().into_iter().flatten() {
            let ip: IpAddr = a["local"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad addr_info entry {a} in {text}"));
            let len = a["prefixlen"]
                .as_u64()
                .and_then(|l| u8::try_from(l).ok())
                .unwrap_or_else(|| panic!("bad prefixlen in {a}"));
            set.insert((ip, len));
        }
        set
    }

    // ---- traffic (real packets through the lab's links)

    /// Sends `count` UDP datagrams to `dst` from a socket bound to `src` (an address of the
    /// lab machine), from inside the lab's network namespace: a thread of the test process
    /// moves into it with setns(2) (the lab has no ping). Where they leave is the kernel's
    /// choice, as for any program on the lab machine; count them with
    /// [`LabInfo::peer_rx_packets`]. Panics when the socket cannot be bound or a send fails.
    pub fn send_udp(&self, src: IpAddr, dst: SocketAddr, count: usize) {
        let netns = self.netns_host_path.clone();
        let sender = std::thread::Builder::new()
            .name("udp-in-lab".into())
            .spawn(move || {
                use std::os::fd::AsFd as _;
                // A thread of its own: no other test code ever runs in the lab's namespace.
                let file = fs::File::open(&netns).unwrap_or_else(|e| panic!("{netns}: {e}"));
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .unwrap_or_else(|e| panic!("setns into {netns}: {e}"));
                let socket = std::net::UdpSocket::bind(SocketAddr::new(src, 0))
                    .unwrap_or_else(|e| panic!("bind a UDP socket to {src} in the lab: {e}"));
                for _ in 0..count {
                    socket
                        .send_to(b"network-broker lab", dst)
                        .unwrap_or_else(|e| panic!("send from {src} to {dst}: {e}"));
                }
            })
            .expect("spawn the sending thread");
        if let Err(panic) = sender.join() {
            std::panic::resume_unwind(panic);
        }
    }

    /// Packets link `dev` of the peer netns has received: what the lab machine sent through
    /// the veth whose other end is `dev` (`ip -n PEER -s -j link show dev DEV`).
    pub fn peer_rx_packets(&self, dev: &str) -> u64 {
        let text = output_of({
            let mut c = Command::new("ip");
            c.args([
                "-n",
                &self.netns_peer,
                "-s",
                "-j",
                "link",
                "show",
                "dev",
                dev,
            ]);
            c
        })
        .ok();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ip -s -j link show {dev}: {e}: {text}"));
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .unwrap_or_else(|| panic!("no rx packet count for {dev} in the peer netns: {text}"))
    }

    // ---- the bus (busctl inside the lab)

    /// `busctl --json=short ARGS` inside the lab, parsed; `Err` describes the failure.
    pub fn try_busctl_json(&self, args: &[&str]) -> Result<Value, String> {
        let mut full = vec!["busctl", "--json=short", "--timeout=10"];
        full.extend_from_slice(args);
        let out = self.output(&full);
        if !out.success() {
            return Err(out.describe());
        }
        serde_json::from_str(out.stdout.trim())
            .map_err(|e| format!("{}: not JSON ({e}):\n{}", out.what, out.stdout))
    }

    /// `busctl --json=short ARGS` inside the lab, parsed; panics on failure.
    pub fn busctl_json(&self, args: &[&str]) -> Value {
        self.try_busctl_json(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads a property of the daemon's object `path`: the value's `data` (JSON form of the
    /// D-Bus value: `a(sy)` -> `[["10.0.0.1",24],...]`).
    pub fn try_get_property(&self, path: &str, iface: &str, prop: &str) -> Result<Value, String> {
        let v = self.try_busctl_json(&["get-property", BUS_NAME, path, iface, prop])?;
        Ok(v["data"].clone())
    }

    /// [`Self::try_get_property`], panicking on failure.
    pub fn get_property(&self, path: &str, iface: &str, prop: &str) -> Value {
        self.try_get_property(path, iface, prop)
            .unwrap_or_else(|e| panic!("get-property {path} {iface} {prop}: {e}"))
    }

    /// Calls a method of the daemon: `args` are busctl's signature and values (may be empty).
    /// Returns the reply's `data` (an array with one element per out argument).
    pub fn call(&self, path: &str, iface: &str, method: &str, args: &[&str]) -> Value {
        let mut full = vec!["call", BUS_NAME, path, iface, method];
        full.extend_from_slice(args);
        self.busctl_json(&full)["data"].clone()
    }

    /// `ListLinks()` as (ifindex, name, object path).
    pub fn try_list_links(&self) -> Result<Vec<(u32, String, String)>, String> {
        let v =
            self.try_busctl_json(&["call", BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListLinks"])?;
        let arr = v["data"][0]
            .as_array()
            .ok_or_else(|| format!("ListLinks reply is not a(iso): {v}"))?;
        arr.iter()
            .map(|e| {
                Ok((
                    e[0].as_u64()
                        .and_then(|i| u32::try_from(i).ok())
                        .ok_or_else(|| format!("bad ifindex in {e}"))?,
                    e[1].as_str()
                        .ok_or_else(|| format!("bad name in {e}"))?
                        .to_owned(),
                    e[2].as_str()
                        .ok_or_else(|| format!("bad path in {e}"))?
                        .to_owned(),
                ))
            })
            .collect()
    }

    /// The daemon's `Addresses` of link `ifindex`, as a set of (address, prefix length).
    pub fn try_link_addresses(&self, ifindex: u32) -> Result<BTreeSet<(IpAddr, u8)>, String> {
        let v = self.try_get_property(&link_path(ifindex), LINK_IFACE, "Addresses")?;
        parse_addresses(&v)
    }

    /// The PID of the process owning bus name `name`, or `None` when nobody owns it.
    pub fn name_owner_pid(&self, name: &str) -> Option<u32> {
        let v = self
            .try_busctl_json(&[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "GetConnectionUnixProcessID",
                "s",
                name,
            ])
            .ok()?;
        v["data"][0].as_u64().and_then(|p| u32::try_from(p).ok())
    }

    /// The introspection data of the daemon's object `path`.
    pub fn introspect(&self, path: &str) -> Introspection {
        let xml = self.run(&[
            "busctl",
            "--timeout=10",
            "introspect",
            "--xml-interface",
            BUS_NAME,
            path,
        ]);
        Introspection::parse(&xml)
    }

    // ---- the lab itself (netlab.sh) and systemd-networkd

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

    /// The ifindex of link `name` inside the lab machine.
    pub fn ifindex(&self, name: &str) -> u32 {
        self.kernel_link(name)["ifindex"]
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or_else(|| panic!("no ifindex for {name}"))
    }

    /// The unique name (`:1.42`) owning bus name `name`, or `None` when nobody owns it.
    pub fn name_owner(&self, name: &str) -> Option<String> {
        let v = self
            .try_busctl_json(&[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "GetNameOwner",
                "s",
                name,
            ])
            .ok()?;
        v["data"][0].as_str().map(str::to_owned)
    }

    /// A property of systemd-networkd's object `path` (`NETWORKD_PATH` or
    /// [`networkd_link_path`]), read from networkd itself: the value's `data`.
    pub fn try_networkd_property(
        &self,
        path: &str,
        iface: &str,
        prop: &str,
    ) -> Result<Value, String> {
        let v = self.try_busctl_json(&["get-property", NETWORKD_NAME, path, iface, prop])?;
        Ok(v["data"].clone())
    }

    /// The PID in `$LAB_DIR/run/pids/networkd.pid` (written by `netlab.sh up` and
    /// `netlab.sh networkd start`, removed by `netlab.sh networkd stop`).
    pub fn networkd_pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.join("run/pids/networkd.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Stops the lab's systemd-networkd (`netlab.sh networkd stop`: SIGTERM to the PID in its
    /// pid file only, then waits until it is gone and its bus name is free). The returned guard
    /// starts it again when dropped, so a failing test does not leave the lab without networkd;
    /// call [`NetworkdStopped::start`] to start it at a chosen moment.
    pub fn stop_networkd(&self) -> NetworkdStopped {
        let out = self.netlab(&["networkd", "stop"]);
        if !out.success() {
            panic!("stopping the lab's networkd failed\n{}", out.describe());
        }
        ServiceStopped::new(self, "networkd", Some(NETWORKD_NAME))
    }

    /// Sets link `name` in the peer netns (`labnd1p`, ...) down; the returned guard sets it up
    /// again when dropped ([`PeerLinkDown::up`] does it at a chosen moment).
    pub fn peer_link_down(&self, name: &str) -> PeerLinkDown {
        self.peer_run(&["ip", "link", "set", name, "down"]);
        PeerLinkDown {
            lab: self.clone(),
            name: name.to_owned(),
            up: false,
        }
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

/// A lab service (`networkd`, `dhclient`) stopped through `netlab.sh SERVICE stop|release`;
/// started again on drop, or earlier with [`ServiceStopped::start`].
pub struct ServiceStopped {
    lab: LabInfo,
    /// The `netlab.sh` subcommand (`networkd`, `dhclient`).
    service: &'static str,
    /// A bus name that must be free before the service starts again (a stand-in the test
    /// killed just before may still hold it for a moment).
    bus_name: Option<&'static str>,
    started: bool,
}

/// systemd-networkd stopped by [`LabInfo::stop_networkd`].
pub type NetworkdStopped = ServiceStopped;
/// The lab's dhclient stopped by [`LabInfo::release_dhclient`] or [`LabInfo::stop_dhclient`].
pub type DhclientStopped = ServiceStopped;

impl ServiceStopped {
    fn new(lab: &LabInfo, service: &'static str, bus_name: Option<&'static str>) -> Self {
        ServiceStopped {
            lab: lab.clone(),
            service,
            bus_name,
            started: false,
        }
    }

    /// Starts the service again the way `netlab.sh up` does (`netlab.sh SERVICE start`, which
    /// returns once it is ready); panics if that fails.
    pub fn start(&mut self) {
        self.started = true;
        let out = self.start_now();
        if !out.success() {
            panic!(
                "starting the lab's {} failed\n{}",
                self.service,
                out.describe()
            );
        }
    }

    fn start_now(&self) -> CmdOutput {
        if let Some(name) = self.bus_name {
            let start = Instant::now();
            while self.lab.name_owner_pid(name).is_some()
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.lab.netlab(&[self.service, "start"])
    }
}

impl Drop for ServiceStopped {
    fn drop(&mut self) {
        if !self.started {
            let out = self.start_now();
            if !out.success() {
                eprintln!(
                    "cleanup: restarting {} failed\n{}",
                    self.service,
                    out.describe()
                );
            }
        }
    }
}

/// A link of the peer netns set down by [`LabInfo::peer_link_down`]; set up again on drop.
pub struct PeerLinkDown {
    lab: LabInfo,
    name: String,
    up: bool,
}

impl PeerLinkDown {
    /// Sets the link up again now.
    pub fn up(&mut self) {
        self.lab.peer_run(&["ip", "link", "set", &self.name, "up"]);
        self.up = true;
    }
}

impl Drop for PeerLinkDown {
    fn drop(&mut self) {
        if !self.up {
            let out =
                output_of(
                    self.lab
                        .peer_cmd(&["ip", "link", "set", self.name.as_str(), "up"]),
                );
            if !out.success() {
                eprintln!("cleanup: {}", out.describe());
            }
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

/// Parses an `a(sy)` JSON value (`[["addr", len], ...]`) into a set; addresses are compared as
/// `IpAddr`, so the daemon's and `ip`'s textual forms need not agree.
pub fn parse_addresses(v: &Value) -> Result<BTreeSet<(IpAddr, u8)>, String> {
    let arr = v
        .as_array()
        .ok_or_else(|| format!("Addresses is not an array: {v}"))?;
    arr.iter()
        .map(|e| {
            let ip = e[0]
                .as_str()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .ok_or_else(|| format!("bad address in {e}"))?;
            let len = e[1]
                .as_u64()
                .and_then(|l| u8::try_from(l).ok())
                .ok_or_else(|| format!("bad prefix length in {e}"))?;
            Ok((ip, len))
        })
        .collect()
}

/// A short description of how two address sets differ (for wait messages).
pub fn diff_summary(got: &BTreeSet<(IpAddr, u8)>, want: &BTreeSet<(IpAddr, u8)>) -> String {
    let missing: Vec<_> = want.difference(got).collect();
    let extra: Vec<_> = got.difference(want).collect();
    let mut s = format!(
        "daemon has {} addresses, kernel {}; {} missing, {} extra",
        got.len(),
        want.len(),
        missing.len(),
        extra.len()
    );
    for (label, list) in [("missing", &missing), ("extra", &extra)] {
        if !list.is_empty() {
            let sample: Vec<String> = list
                .iter()
                .take(5)
                .map(|(a, l)| format!("{a}/{l}"))
                .collect();
            let _ = write!(s, "; {label} e.g. {}", sample.join(" "));
        }
    }
    s
}

// ------------------------------------------------------------------------------------------
// introspection XML (a tiny reader: busctl's and zbus's output, attributes in any order)

/// One argument of a method or signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// Its name, if any.
    pub name: Option<String>,
    /// Its D-Bus signature.
    pub ty: String,
    /// "in" or "out" for methods (None for signals).
    pub direction: Option<String>,
}

/// One interface of an introspected object.
#[derive(Debug, Clone, Default)]
pub struct Interface {
    /// Methods and their arguments.
    pub methods: BTreeMap<String, Vec<Arg>>,
    /// Signals and their arguments.
    pub signals: BTreeMap<String, Vec<Arg>>,
    /// Properties: (signature, access).
    pub properties: BTreeMap<String, (String, String)>,
}

impl Interface {
    /// The concatenated signature of a method's out arguments.
    pub fn method_out(&self, name: &str) -> Option<String> {
        self.methods.get(name).map(|args| {
            args.iter()
                .filter(|a| a.direction.as_deref() == Some("out"))
                .map(|a| a.ty.as_str())
                .collect()
        })
    }

    /// The concatenated signature of a signal's arguments.
    pub fn signal_sig(&self, name: &str) -> Option<String> {
        self.signals
            .get(name)
            .map(|args| args.iter().map(|a| a.ty.as_str()).collect())
    }

    /// A property's signature.
    pub fn property_type(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(|(t, _)| t.as_str())
    }
}

/// An introspected object: its interfaces by name, and the raw XML for messages.
#[derive(Debug, Clone, Default)]
pub struct Introspection {
    /// Interfaces by name.
    pub interfaces: BTreeMap<String, Interface>,
    /// Child node names.
    pub nodes: Vec<String>,
    /// The XML as received.
    pub xml: String,
}

fn xml_attrs(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_owned();
        let after = rest[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            break;
        };
        let body = &after[1..];
        let Some(end) = body.find(q) else { break };
        out.insert(key, body[..end].to_owned());
        rest = &body[end + 1..];
    }
    out
}

impl Introspection {
    /// Reads introspection XML.
    pub fn parse(xml: &str) -> Introspection {
        enum Member {
            None,
            Method(String),
            Signal(String),
        }
        let mut me = Introspection {
            xml: xml.to_owned(),
            ..Default::default()
        };
        let mut iface: Option<String> = None;
        let mut member = Member::None;
        let mut depth_node = 0usize;
        let mut rest = xml;
        while let Some(lt) = rest.find('<') {
            rest = &rest[lt + 1..];
            if rest.starts_with("!--") {
                rest = rest.find("-->").map_or("", |e| &rest[e + 3..]);
                continue;
            }
            let Some(gt) = rest.find('>') else { break };
            let tag = &rest[..gt];
            rest = &rest[gt + 1..];
            if tag.starts_with('!') || tag.starts_with('?') {
                continue;
            }
            if let Some(end) = tag.strip_prefix('/') {
                match end.trim() {
                    "interface" => iface = None,
                    "method" | "signal" => member = Member::None,
                    "node" => depth_node = depth_node.saturating_sub(1),
                    _ => {}
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let elem = tag.split_whitespace().next().unwrap_or("");
            let attrs = xml_attrs(&tag[elem.len()..]);
            let name = attrs.get("name").cloned().unwrap_or_default();
            match elem {
                "node" => {
                    if depth_node >= 1 && !name.is_empty() {
                        me.nodes.push(name);
                    }
                    if !self_closing {
                        depth_node += 1;
                    }
                }
                "interface" => {
                    me.interfaces.entry(name.clone()).or_default();
                    iface = (!self_closing).then_some(name);
                }
                "method" | "signal" => {
                    if let Some(i) = &iface {
                        let e = me.interfaces.get_mut(i).unwrap();
                        if elem == "method" {
                            e.methods.entry(name.clone()).or_default();
                        } else {
                            e.signals.entry(name.clone()).or_default();
                        }
                    }
                    member = match (self_closing, elem) {
                        (true, _) => Member::None,
                        (false, "method") => Member::Method(name),
                        (false, _) => Member::Signal(name),
                    };
                }
                "arg" => {
                    let arg = Arg {
                        name: attrs.get("name").cloned(),
                        ty: attrs.get("type").cloned().unwrap_or_default(),
                        direction: attrs.get("direction").cloned(),
                    };
                    if let Some(i) = &iface {
                        let e = me.interfaces.get_mut(i).unwrap();
                        match &member {
                            Member::Method(m) => {
                                let mut arg = arg;
                                // the default direction of a method argument is "in"
                                arg.direction.get_or_insert_with(|| "in".into());
                                e.methods.get_mut(m).unwrap().push(arg);
                            }
                            Member::Signal(s) => e.signals.get_mut(s).unwrap().push(arg),
                            Member::None => {}
                        }
                    }
                }
                "property" => {
                    if let Some(i) = &iface {
                        me.interfaces.get_mut(i).unwrap().properties.insert(
                            name,
                            (
                                attrs.get("type").cloned().unwrap_or_default(),
                                attrs.get("access").cloned().unwrap_or_default(),
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        me
    }

    /// The interface `name`, or a panic that shows the XML.
    pub fn interface(&self, name: &str) -> &Interface {
        self.interfaces.get(name).unwrap_or_else(|| {
            panic!(
                "interface {name} not in the introspection data (has: {:?})\n{}",
                self.interfaces.keys().collect::<Vec<_>>(),
                self.xml
            )
        })
    }
}

// ------------------------------------------------------------------------------------------
// the daemon under test

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
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl ConfigDir {
    /// Writes `yaml` (empty: no file, i.e. defaults) and `hooks` into a new directory.
    pub fn new(yaml: &str, hooks: &[Hook<'_>]) -> ConfigDir {
        Self::new_in(Path::new("/tmp"), yaml, hooks)
    }

    /// [`ConfigDir::new`] inside `parent` instead of `/tmp`: for tests that need to know what
    /// is next to the config dir (paths like `DIR/../x.d`).
    pub fn new_in(parent: &Path, yaml: &str, hooks: &[Hook<'_>]) -> ConfigDir {
        let dir = tempfile::Builder::new()
            .prefix("nb-lab-")
            .tempdir_in(parent)
            .expect("create a config dir");
        let path = dir.path().to_path_buf();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
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
        ConfigDir {
            dir: Some(dir),
            path,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(d) = self.dir.take() {
                let p = d.keep();
                eprintln!(
                    "(test failed: config dir kept for inspection: {})",
                    p.display()
                );
            }
        }
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
            OsStr::new(BROKER_BIN),
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
            .unwrap_or_else(|e| panic!("cannot start {BROKER_BIN} in the lab: {e}"))
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

// ------------------------------------------------------------------------------------------
// signal monitor

/// `busctl --json=short monitor` inside the lab, collecting parsed messages in the background.
///
/// It is ready when [`Monitor::start`] returns: it emits a sentinel signal and waits to see it,
/// so no signal sent after `start` can be missed.
pub struct Monitor {
    child: Option<Child>,
    msgs: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    lab: LabInfo,
}

static SYNC_SEQ: AtomicU32 = AtomicU32::new(0);
const SYNC_IFACE: &str = "org.netlab.Sync";

impl Monitor {
    /// Starts monitoring the lab bus for messages matching any of `matches` (D-Bus match
    /// rules, e.g. `type='signal',path_namespace='/org/freedesktop/NetworkBroker1'`).
    pub fn start(lab: &LabInfo, matches: &[&str]) -> Monitor {
        let mut args: Vec<String> = vec!["busctl".into(), "--json=short".into(), "monitor".into()];
        for m in matches {
            args.push(format!("--match={m}"));
        }
        args.push(format!("--match=type='signal',interface='{SYNC_IFACE}'"));
        let mut child = lab
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start busctl monitor in the lab");
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let m2 = Arc::clone(&msgs);
        let e2 = Arc::clone(&stderr);
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        m2.lock().unwrap().push(v);
                    }
                }
            }),
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut e = e2.lock().unwrap();
                    e.push_str(&line);
                    e.push('\n');
                }
            }),
        ];
        let mon = Monitor {
            child: Some(child),
            msgs,
            stderr,
            readers,
            lab: lab.clone(),
        };
        mon.sync();
        mon
    }

    /// Emits a sentinel signal and waits until the monitor has seen it: everything emitted
    /// before this call returned has been delivered to the monitor by then.
    pub fn sync(&self) {
        let token = format!(
            "sync-{}-{}",
            std::process::id(),
            SYNC_SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let seen = |token: &str| {
            self.msgs.lock().unwrap().iter().any(|m| {
                m["interface"] == SYNC_IFACE && m["payload"]["data"][0].as_str() == Some(token)
            })
        };
        // the first emit may race with the monitor's own BecomeMonitor call: repeat it
        wait_until(
            "the bus monitor to see its sentinel signal",
            EVENT_TIMEOUT,
            || {
                self.lab.run(&[
                    "busctl",
                    "emit",
                    "/org/netlab/sync",
                    SYNC_IFACE,
                    "Ping",
                    "s",
                    &token,
                ]);
                if seen(&token) {
                    Ok(())
                } else {
                    Err(format!("monitor stderr: {}", self.stderr.lock().unwrap()))
                }
            },
        );
    }

    /// Every message seen so far (JSON objects as busctl prints them: `type`, `sender`, `path`,
    /// `interface`, `member`, `payload: {type, data}`), sentinels excluded.
    pub fn messages(&self) -> Vec<Value> {
        let msgs = self.msgs.lock().unwrap();
        msgs.iter()
            .filter(|m| m["interface"] != SYNC_IFACE)
            .cloned()
            .collect()
    }

    /// The messages seen after `mark` ([`Monitor::mark`]), sentinels excluded.  (`mark` counts
    /// the sentinels too, so skip on this, never on [`Monitor::messages`].)
    pub fn messages_after(&self, mark: usize) -> Vec<Value> {
        let msgs = self.msgs.lock().unwrap();
        msgs.iter()
            .skip(mark)
            .filter(|m| m["interface"] != SYNC_IFACE)
            .cloned()
            .collect()
    }

    /// How many messages have been seen so far: pass it to [`Monitor::wait_for_after`] to look
    /// only at what comes later.
    pub fn mark(&self) -> usize {
        self.msgs.lock().unwrap().len()
    }

    /// Waits for a message satisfying `pred` among all messages seen since `start`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_after(0, what, timeout, pred)
    }

    /// Waits for a message satisfying `pred` among the messages seen after `mark`.
    pub fn wait_for_after(
        &self,
        mark: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_until(what, timeout, || {
            let msgs = self.msgs.lock().unwrap();
            if let Some(m) = msgs.iter().skip(mark).find(|m| pred(m)) {
                return Ok(m.clone());
            }
            let recent: Vec<String> = msgs
                .iter()
                .skip(mark)
                .filter(|m| m["interface"] != SYNC_IFACE)
                .rev()
                .take(8)
                .map(|m| {
                    format!(
                        "{} {} {}.{} {}",
                        m["type"].as_str().unwrap_or("?"),
                        m["path"].as_str().unwrap_or("?"),
                        m["interface"].as_str().unwrap_or("?"),
                        m["member"].as_str().unwrap_or("?"),
                        m["payload"]["data"]
                    )
                })
                .collect();
            Err(format!(
                "{} messages since mark, most recent first:\n    {}",
                msgs.len().saturating_sub(mark),
                recent.join("\n    ")
            ))
        })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL to busctl's PID (nsenter and env exec in place)
            let _ = c.wait();
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// Whether `m` is signal `iface.member` from object `path`.
pub fn is_signal(m: &Value, path: &str, iface: &str, member: &str) -> bool {
    m["type"] == "signal" && m["path"] == path && m["interface"] == iface && m["member"] == member
}

/// For a `PropertiesChanged` message of interface `iface`: `Some(Some(value))` when `prop` is in
/// the changed properties, `Some(None)` when it is invalidated, `None` when not mentioned.
pub fn changed_property(m: &Value, iface: &str, prop: &str) -> Option<Option<Value>> {
    let data = &m["payload"]["data"];
    if m["member"] != "PropertiesChanged" || data[0] != iface {
        return None;
    }
    if let Some(v) = data[1].get(prop) {
        return Some(Some(v["data"].clone()));
    }
    if data[2]
        .as_array()
        .is_some_and(|inv| inv.iter().any(|p| p == prop))
    {
        return Some(None);
    }
    None
}

// ------------------------------------------------------------------------------------------
// test links

static LINK_SEQ: AtomicU32 = AtomicU32::new(0);

/// A veth pair made for one test, deleted on drop.  Names are `nbt<pid%1000>x<n>` and
/// `...p` for the peer end (at most 11 characters; the kernel allows 15).
///
/// Pitfall (NOTES.md): when the two ends of a veth sit in different namespaces and happen to
/// have the same ifindex, the kernel's linkwatch delays carrier-*down* by up to ~1 s and
/// coalesces faster flaps.  [`TestLink::veth`] keeps both ends in labhost (distinct ifindexes),
/// which is what address and route tests want; tests of carrier flaps with the peer end in
/// labpeer ([`TestLink::veth_to_peer`]) must check the two ifindexes differ.
pub struct TestLink {
    lab: LabInfo,
    /// The end in labhost that the test watches.
    pub name: String,
    /// The other end.
    pub peer: String,
    /// `name`'s ifindex in labhost.
    pub ifindex: u32,
    deleted: bool,
}

impl TestLink {
    fn next_names() -> (String, String) {
        let n = LINK_SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("nbt{}x{n}", std::process::id() % 1000);
        let peer = format!("{name}p");
        (name, peer)
    }

    /// A veth pair with both ends in labhost, both up (so the link has carrier).
    pub fn veth(lab: &LabInfo) -> TestLink {
        let (name, peer) = Self::next_names();
        lab.ip_batch(&format!(
            "link add {name} type veth peer name {peer}\nlink set {peer} up\nlink set {name} up\n"
        ));
        Self::finish(lab, name, peer)
    }

    /// A veth pair with both ends in labhost, both down: the test brings them up itself, to see
    /// the whole carrier ladder (off, no-carrier, carrier, ...).
    pub fn veth_down(lab: &LabInfo) -> TestLink {
        let (name, peer) = Self::next_names();
        lab.ip_batch(&format!("link add {name} type veth peer name {peer}\n"));
        Self::finish(lab, name, peer)
    }

    /// A veth pair with `name` in labhost and the peer end in labpeer, both up.  Created from
    /// the host side (`ip -n labhost ... netns labpeer`): inside the lab /run is a tmpfs, so
    /// `ip netns` names do not resolve there.
    pub fn veth_to_peer(lab: &LabInfo) -> TestLink {
        let (name, peer) = Self::next_names();
        output_of({
            let mut c = Command::new("ip");
            c.args([
                "-n",
                &lab.netns_host,
                "link",
                "add",
                &name,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "netns",
                &lab.netns_peer,
            ]);
            c
        })
        .ok();
        lab.peer_run(&["ip", "link", "set", &peer, "up"]);
        lab.run(&["ip", "link", "set", &name, "up"]);
        Self::finish(lab, name, peer)
    }

    fn finish(lab: &LabInfo, name: String, peer: String) -> TestLink {
        let ifindex = lab.kernel_link(&name)["ifindex"]
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .expect("ifindex");
        TestLink {
            lab: lab.clone(),
            name,
            peer,
            ifindex,
            deleted: false,
        }
    }

    /// The daemon's object path for this link.
    pub fn path(&self) -> String {
        link_path(self.ifindex)
    }

    /// Deletes the pair now (both ends go).
    pub fn delete(&mut self) {
        self.lab.run(&["ip", "link", "del", &self.name]);
        self.deleted = true;
    }
}

impl Drop for TestLink {
    fn drop(&mut self) {
        if !self.deleted {
            let out = self.lab.output(&["ip", "link", "del", &self.name]);
            if !out.success() && !std::thread::panicking() {
                eprintln!("cleanup: {}", out.describe());
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// recording hook runs

/// Every `<state>.d` directory a link state can select: networkd's `OperationalState` values
/// and its `AdministrativeState` values (two disjoint lists, so a run's `EVENT` says which
/// property chose it).
pub const OPERATIONAL_STATES: &[&str] = &[
    "missing",
    "off",
    "no-carrier",
    "dormant",
    "degraded-carrier",
    "carrier",
    "degraded",
    "enslaved",
    "routable",
];
/// networkd's `AdministrativeState` values (see [`OPERATIONAL_STATES`]).
pub const ADMINISTRATIVE_STATES: &[&str] = &[
    "pending",
    "initialized",
    "configuring",
    "configured",
    "unmanaged",
    "failed",
    "linger",
];

/// A directory under /tmp (0755, root's), removed on drop and kept when the test fails.
pub struct ScratchDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl ScratchDir {
    /// A new directory `/tmp/<prefix>XXXXXX`.
    pub fn new(prefix: &str) -> ScratchDir {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in("/tmp")
            .expect("create a directory under /tmp");
        let path = dir.path().to_path_buf();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        ScratchDir {
            dir: Some(dir),
            path,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(d) = self.dir.take() {
                let p = d.keep();
                eprintln!("(test failed: {} kept for inspection)", p.display());
            }
        }
    }
}

/// One hook run recorded by [`HookRecorder`].
#[derive(Debug, Clone)]
pub struct RecordedRun {
    /// `<ns>.<pid>`: when the script started (`date +%s%N`) and its PID.
    pub id: String,
    /// When the script started, in ns since the epoch (compare with [`now_ns`]).
    pub ts: u128,
    /// `LINK`, `None` for `manager`.
    pub link: Option<String>,
    /// `EVENT`.
    pub event: String,
    /// The whole environment the script got.
    pub env: BTreeMap<String, String>,
    /// What it read on stdin.
    pub stdin: String,
}

impl RecordedRun {
    /// A variable of its environment.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// The link JSON: `JSON`, or stdin when the daemon left `JSON` out (`JSON_TRUNCATED=1`).
    pub fn json(&self) -> Option<Value> {
        match self.env.get("JSON") {
            Some(j) => serde_json::from_str(j).ok(),
            None => serde_json::from_str(&self.stdin).ok(),
        }
    }

    /// One line for messages: id, link, event and the states that chose it.
    pub fn summary(&self) -> String {
        format!(
            "{} {} {} (STATE={} OperationalState={} AdministrativeState={})",
            self.id,
            self.link.as_deref().unwrap_or("-"),
            self.event,
            self.var("STATE").unwrap_or("-"),
            self.var("OperationalState").unwrap_or("-"),
            self.var("AdministrativeState").unwrap_or("-"),
        )
    }
}

/// Lines of [`RecordedRun::summary`], for messages.
pub fn summarize(runs: &[RecordedRun]) -> String {
    if runs.is_empty() {
        return "(no runs)".into();
    }
    runs.iter()
        .map(|r| format!("    {}", r.summary()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A hook script that records each run, to install in any number of event directories.
///
/// Each run makes `DIR/runs/<ns>.<pid>/` with `env` (`env -0`) and `stdin`, then appends one
/// line `<ns>.<pid> LINK EVENT STATE OperationalState AdministrativeState` to `DIR/runs.log`
/// (`-` for unset); the line is written last, so a run is listed only once it is complete.
/// The runs of one link never overlap (the daemon runs them one at a time, in order), so
/// their start times order them.
pub struct HookRecorder {
    dir: ScratchDir,
    script: String,
}

/// The file name of the recorder in each event directory.
pub const RECORDER_NAME: &str = "50-record";

impl HookRecorder {
    /// A recorder writing under a new `/tmp/nb-hookrec-XXXXXX`.
    pub fn new() -> HookRecorder {
        let dir = ScratchDir::new("nb-hookrec-");
        fs::create_dir(dir.path().join("runs")).unwrap();
        let out = dir.path().display().to_string();
        let script = format!(
            "#!/bin/sh\n\
             # network-broker lab test: record this run (environment, stdin), then one line\n\
             t=$(date +%s%N)\n\
             d={out}/runs/$t.$$\n\
             mkdir \"$d\" || exit 1\n\
             env -0 >\"$d/env\"\n\
             cat >\"$d/stdin\"\n\
             echo \"$t.$$ ${{LINK:--}} ${{EVENT:--}} ${{STATE:--}} ${{OperationalState:--}} ${{AdministrativeState:--}}\" >>{out}/runs.log\n"
        );
        HookRecorder { dir, script }
    }

    /// Its directory (a test may keep other files there, e.g. a `RuntimeDirectory`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The recorder installed as `<event>.d/50-record` for each of `events`.
    pub fn hooks<'a>(&'a self, events: &[&'a str]) -> Vec<Hook<'a>> {
        events
            .iter()
            .map(|event| Hook {
                event,
                name: RECORDER_NAME,
                script: &self.script,
            })
            .collect()
    }

    /// Every completed run so far, in start order.
    pub fn runs(&self) -> Vec<RecordedRun> {
        let log = fs::read_to_string(self.path().join("runs.log")).unwrap_or_default();
        let mut runs: Vec<RecordedRun> = log
            .lines()
            .filter_map(|line| {
                let mut f = line.split(' ');
                let id = f.next()?.to_owned();
                let ts = id.split('.').next()?.parse().ok()?;
                let link = f.next().filter(|l| *l != "-").map(str::to_owned);
                let event = f.next()?.to_owned();
                let d = self.path().join("runs").join(&id);
                let env = fs::read(d.join("env"))
                    .unwrap_or_default()
                    .split(|b| *b == 0)
                    .filter(|kv| !kv.is_empty())
                    .filter_map(|kv| {
                        let kv = String::from_utf8_lossy(kv);
                        kv.split_once('=')
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    })
                    .collect();
                let stdin = fs::read_to_string(d.join("stdin")).unwrap_or_default();
                Some(RecordedRun {
                    id,
                    ts,
                    link,
                    event,
                    env,
                    stdin,
                })
            })
            .collect();
        runs.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
        runs
    }

    /// The completed runs that started after `since` ([`now_ns`]), for link `link` (`None`:
    /// every link and `manager`), in start order.
    pub fn runs_since(&self, since: u128, link: Option<&str>) -> Vec<RecordedRun> {
        self.runs()
            .into_iter()
            .filter(|r| r.ts > since && link.is_none_or(|l| r.link.as_deref() == Some(l)))
            .collect()
    }

    /// Waits until no run has completed for `quiet` (at most 90 s in all); for asserting what
    /// did *not* run, after the test has made sure that anything due was already submitted.
    pub fn settle(&self, quiet: Duration) -> usize {
        wait_settled(
            "hook runs to stop coming",
            quiet,
            Duration::from_secs(90),
            || self.runs().len(),
        )
    }
}

impl Default for HookRecorder {
    fn default() -> Self {
        Self::new()
    }
}

// ------------------------------------------------------------------------------------------
// dhclient in the lab (`netlab.sh dhclient release|stop|start`)

/// The lab's dhclient lease file as processes inside the lab see it (the daemon's
/// `LeaseFiles`); outside it is [`LabInfo::dhclient_leases`].
pub const DHCLIENT_LEASES: &str = "/var/lib/dhcp/dhclient.leases";

impl LabInfo {
    /// The lab's dhclient lease file seen from the host (`$LAB_DIR/run/dhcp/dhclient.leases`).
    pub fn dhclient_leases(&self) -> PathBuf {
        self.dir.join("run/dhcp/dhclient.leases")
    }

    /// The PID in `$LAB_DIR/run/pids/dhclient.pid` (written by `netlab.sh up` and
    /// `netlab.sh dhclient start`, removed by `dhclient release|stop`) when that process is a
    /// live `dhclient`.
    pub fn dhclient_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.dir.join("run/pids/dhclient.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        (exe.file_name() == Some(OsStr::new("dhclient"))).then_some(pid)
    }

    /// Starts the lab's dhclient if it is not running (an earlier test's cleanup failed, or
    /// the lab was brought up with `LAB_DHCLIENT=0`); returns once it is bound.
    pub fn ensure_dhclient(&self) {
        if self.dhclient_pid().is_none() {
            let out = self.netlab(&["dhclient", "start"]);
            if !out.success() {
                panic!("starting the lab's dhclient failed\n{}", out.describe());
            }
        }
    }

    /// Releases labdh0's lease (`netlab.sh dhclient release`: `dhclient -r` inside the lab,
    /// which stops the lab's dhclient, sends a DHCPRELEASE and has dhclient-script remove the
    /// address). The guard starts dhclient again when dropped, so a failing test does not
    /// leave the lab without it; [`DhclientStopped::start`] does it at a chosen moment.
    pub fn release_dhclient(&self) -> DhclientStopped {
        let out = self.netlab(&["dhclient", "release"]);
        if !out.success() {
            panic!("releasing labdh0's lease failed\n{}", out.describe());
        }
        ServiceStopped::new(self, "dhclient", None)
    }

    /// Stops the lab's dhclient without a release (`netlab.sh dhclient stop`: SIGTERM to its
    /// PID only; the lease file and labdh0's address stay). Started again on drop, as
    /// [`LabInfo::release_dhclient`].
    pub fn stop_dhclient(&self) -> DhclientStopped {
        let out = self.netlab(&["dhclient", "stop"]);
        if !out.success() {
            panic!("stopping the lab's dhclient failed\n{}", out.describe());
        }
        ServiceStopped::new(self, "dhclient", None)
    }
}

// ------------------------------------------------------------------------------------------
// systemd-resolved and systemd-hostnamed in the lab (read back with busctl: another client
// than the one under test)

/// systemd-resolved's bus name.
pub const RESOLVE1: &str = "org.freedesktop.resolve1";
/// systemd-hostnamed's bus name (also its interface).
pub const HOSTNAME1: &str = "org.freedesktop.hostname1";

/// A link's servers and (domain, routing-only) pairs as resolved reports them.
pub type LinkDns = (Vec<IpAddr>, Vec<(String, bool)>);

/// What resolved holds for link `ifindex` (labhost's index): `GetLink(i)`, then the link
/// object's `DNS` (`a(iay)`) and `Domains` (`a(sb)`). `Err` when resolved does not know the
/// link (it forgets deleted links) or does not answer.
pub fn resolved_link(lab: &LabInfo, ifindex: u32) -> Result<LinkDns, String> {
    let reply = lab.try_busctl_json(&[
        "call",
        RESOLVE1,
        "/org/freedesktop/resolve1",
        "org.freedesktop.resolve1.Manager",
        "GetLink",
        "i",
        &ifindex.to_string(),
    ])?;
    let path = reply["data"][0]
        .as_str()
        .ok_or_else(|| format!("GetLink reply is not an object path: {reply}"))?
        .to_owned();
    let get = |prop: &str| -> Result<Value, String> {
        Ok(lab.try_busctl_json(&[
            "get-property",
            RESOLVE1,
            &path,
            "org.freedesktop.resolve1.Link",
            prop,
        ])?["data"]
            .clone())
    };
    let dns = get("DNS")?
        .as_array()
        .ok_or("DNS is not an array")?
        .iter()
        .map(|e| {
            let bytes: Vec<u8> = e[1]
                .as_array()
                .ok_or(format!("bad a(iay) entry {e}"))?
                .iter()
                .map(|b| {
                    b.as_u64()
                        .and_then(|b| u8::try_from(b).ok())
                        .ok_or("bad byte")
                })
                .collect::<Result<_, _>>()?;
            match (e[0].as_i64(), bytes.len()) {
                (Some(2), 4) => Ok(IpAddr::from(<[u8; 4]>::try_from(bytes).unwrap())),
                (Some(10), 16) => Ok(IpAddr::from(<[u8; 16]>::try_from(bytes).unwrap())),
                _ => Err(format!("bad a(iay) entry {e}")),
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    let domains = get("Domains")?
        .as_array()
        .ok_or("Domains is not an array")?
        .iter()
        .map(|e| {
            Ok((
                e[0].as_str()
                    .ok_or(format!("bad a(sb) entry {e}"))?
                    .to_owned(),
                e[1].as_bool().ok_or(format!("bad a(sb) entry {e}"))?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((dns, domains))
}

/// Waits until resolved holds exactly `dns` and `domains` (all of them search domains, i.e.
/// routing-only `false`) for `ifindex`.
pub fn wait_resolved(lab: &LabInfo, ifindex: u32, what: &str, dns: &[IpAddr], domains: &[&str]) {
    let want_domains: Vec<(String, bool)> =
        domains.iter().map(|d| (d.to_string(), false)).collect();
    wait_until(what, EVENT_TIMEOUT, || {
        let (got_dns, got_domains) = resolved_link(lab, ifindex)?;
        if got_dns == dns && got_domains == want_domains {
            Ok(())
        } else {
            Err(format!("DNS {got_dns:?}, Domains {got_domains:?}"))
        }
    });
}

/// Addresses from text, for comparing with [`resolved_link`].
pub fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// `RevertLink(ifindex)` from busctl on drop: leave resolved's settings for the link (e.g.
/// labdh0) as the lab made them, whatever the test pushed.
pub struct ResolvedRevertOnDrop<'a> {
    /// The lab.
    pub lab: &'a LabInfo,
    /// The link (labhost's index).
    pub ifindex: u32,
}

impl Drop for ResolvedRevertOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.lab.output(&[
            "busctl",
            "call",
            RESOLVE1,
            "/org/freedesktop/resolve1",
            "org.freedesktop.resolve1.Manager",
            "RevertLink",
            "i",
            &self.ifindex.to_string(),
        ]);
    }
}

/// A string property of hostnamed (`Hostname`, `StaticHostname`, `HostnameSource`, ...).
pub fn hostnamed_property(lab: &LabInfo, prop: &str) -> Result<String, String> {
    let v = lab.try_busctl_json(&[
        "get-property",
        HOSTNAME1,
        "/org/freedesktop/hostname1",
        HOSTNAME1,
        prop,
    ])?;
    v["data"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("{prop} is not a string: {v}"))
}

/// `SetStaticHostname(name, false)` on the lab's hostnamed (`""` removes the static name).
pub fn set_static_hostname(lab: &LabInfo, name: &str) {
    lab.run(&[
        "busctl",
        "call",
        HOSTNAME1,
        "/org/freedesktop/hostname1",
        HOSTNAME1,
        "SetStaticHostname",
        "sb",
        name,
        "false",
    ]);
}

/// Restores the lab's static host name on drop (hostnamed then uses it again).
pub struct StaticHostnameOnDrop<'a> {
    /// The lab.
    pub lab: &'a LabInfo,
    /// The static name to restore (the lab's is `labhost`).
    pub name: String,
}

impl Drop for StaticHostnameOnDrop<'_> {
    fn drop(&mut self) {
        let out = self.lab.output(&[
            "busctl",
            "call",
            HOSTNAME1,
            "/org/freedesktop/hostname1",
            HOSTNAME1,
            "SetStaticHostname",
            "sb",
            &self.name,
            "false",
        ]);
        if !out.success() {
            eprintln!("cleanup: {}", out.describe());
        }
    }
}
