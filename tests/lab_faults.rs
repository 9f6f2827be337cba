//! The fault suite: the lab's peers fail under the daemon (the system bus is killed and comes
//! back, networkd and resolved restart, the kernel's event stream overruns, a hook hangs, a
//! reload is invalid, an unprivileged user floods the bus) and the daemon either stops with a
//! failure status and a clear message (the bus) or ends with its view equal to the kernel's,
//! with no hook run lost or doubled. Without the lab they SKIP, under `CI=true` they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a daemon may take to notice that the bus is gone (a liveness bound, not a
/// performance figure: it notices within milliseconds).
const BUS_LOSS_NOTICED: Duration = Duration::from_secs(20);

/// What the daemon logs when the bus goes away.
const BUS_LOST: &str = "lost the connection to the system bus";

/// Brings the lab's bus back (with networkd, resolved and polkitd on it) when the test ends,
/// however it ends, so that later tests find a whole lab.
struct BusBack<'a>(&'a Lab);

impl Drop for BusBack<'_> {
    fn drop(&mut self) {
        let out = self.0.netlab(&["bus", "start"]);
        if !out.success() && !out.stderr.contains("already running") {
            eprintln!("netlab.sh bus start failed: {}", out.describe());
        }
    }
}

/// Kills the lab's dbus-daemon under a running daemon: it must stop with a failure status and
/// say why (so that `Restart=on-failure` brings it back), and a new start owns the name on the
/// new bus. With `Generator: netlink` it used to carry on silently, nameless for good.
fn bus_loss_ends_the_daemon(generator: &str) {
    let Some(lab) = Lab::require() else { return };
    let info = lab.info();
    let yaml = format!("System:\n  LogLevel: info\n  Generator: {generator}\n");
    let mut broker = Broker::start(&info, &yaml, &[]);
    {
        let _back = BusBack(&lab);
        lab.netlab(&["bus", "stop"]).ok();
        let status = poll_until(BUS_LOSS_NOTICED, || broker.try_wait());
        let log = broker.log();
        let Some(status) = status else {
            panic!(
                "the daemon (PID {}) is still running {BUS_LOSS_NOTICED:?} after the bus died \
                 ({generator}); its log:\n{log}",
                broker.pid
            );
        };
        assert!(
            !status.success(),
            "the daemon exited successfully after losing the bus: {status}\n{log}"
        );
        assert_eq!(
            status.code(),
            Some(1),
            "exit status after losing the bus\n{log}"
        );
        assert!(
            log.contains(BUS_LOST),
            "no '{BUS_LOST}' in the daemon's log:\n{log}"
        );
    }
    // The bus is back: what `Restart=` does, a fresh start, owns the name again.
    broker.restart();
    assert_eq!(lab.name_owner_pid(BUS_NAME), Some(broker.pid));
    broker.stop();
}

#[test]
fn bus_loss_ends_the_daemon_with_netlink() {
    bus_loss_ends_the_daemon("netlink");
}

#[test]
fn bus_loss_ends_the_daemon_with_networkd() {
    bus_loss_ends_the_daemon("systemd-networkd");
}

/// A burst of 10,100 address additions and 10,000 removals on one link, in one `ip -batch`,
/// while the daemon is stopped: far more notifications than the socket's buffer holds, so the
/// kernel reports an overrun and the source resyncs. Afterwards the bus shows exactly the kernel's addresses (the
/// 100 that stay), and the resync is logged with its cause and how long it took.
#[test]
fn netlink_overrun_resyncs_to_the_kernel() {
    let Some(lab) = Lab::require() else { return };
    let info = lab.info();
    let broker = Broker::start(
        &info,
        "System:\n  LogLevel: info\n  Generator: netlink\n",
        &[],
    );
    let link = TestLink::veth_down(&info);
    wait_until("the test link on the bus", EVENT_TIMEOUT, || {
        lab.try_link_addresses(link.ifindex).map(|_| ())
    });
    let address = |i: usize| format!("10.{}.{}.{}/32", 100 + i / 65536, (i / 256) % 256, i % 256);
    let mut batch = String::new();
    for i in 0..10_100 {
        batch.push_str(&format!("address add {} dev {}\n", address(i), link.name));
    }
    for i in 0..10_000 {
        batch.push_str(&format!("address del {} dev {}\n", address(i), link.name));
    }
    // The daemon stopped (SIGSTOP) while the burst runs, so its socket's buffer surely
    // overflows: a real overrun whatever the build's speed, not a race it may win.
    let pid = rustix::process::Pid::from_raw(i32::try_from(broker.pid).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    lab.ip_batch(&batch);
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    let burst_done = std::time::Instant::now();
    let kernel = lab.kernel_addresses(&link.name);
    assert_eq!(kernel.len(), 100, "the kernel's addresses after the burst");
    wait_until(
        "the bus view of the link to equal the kernel's",
        Duration::from_secs(60),
        || {
            let bus = lab.try_link_addresses(link.ifindex)?;
            if bus == kernel {
                Ok(())
            } else {
                Err(diff_summary(&bus, &kernel))
            }
        },
    );
    let log = broker.log();
    let resyncs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("kernel resync after"))
        .collect();
    eprintln!(
        "bus view equal to the kernel {} ms after the burst; resyncs: {resyncs:#?}",
        burst_done.elapsed().as_millis()
    );
    assert!(
        log.contains("kernel notifications were lost"),
        "the burst lost nothing: it does not test a resync\n{log}"
    );
    assert!(
        resyncs
            .iter()
            .any(|l| l.contains(" links, ") && l.contains(" addresses in ") && l.contains(" ms")),
        "no 'kernel resync after …: N links, M addresses in T ms' in the log"
    );
    drop(link);
    drop(broker);
}

// ------------------------------------------------------------------------------------------
// faults under load

/// A hook in every operational-state directory appending `LINK EVENT` to one file: what ran,
/// for which link, in which order (one link's hooks run one at a time, in order).
struct HookLog {
    dir: ScratchDir,
    script: String,
}

impl HookLog {
    fn new() -> HookLog {
        let dir = ScratchDir::new("nb-faults-");
        let script = format!(
            "#!/bin/sh\necho \"$LINK $EVENT\" >>{}/runs.log\n",
            dir.path().display()
        );
        HookLog { dir, script }
    }

    fn hooks(&self) -> Vec<Hook<'_>> {
        OPERATIONAL_STATES
            .iter()
            .map(|event| Hook {
                event,
                name: "10-log",
                script: &self.script,
            })
            .collect()
    }

    /// Each link's hook runs, in order.
    fn runs(&self) -> BTreeMap<String, Vec<String>> {
        let text = std::fs::read_to_string(self.dir.path().join("runs.log")).unwrap_or_default();
        let mut runs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            if let Some((link, event)) = line.split_once(' ') {
                runs.entry(link.to_string())
                    .or_default()
                    .push(event.to_string());
            }
        }
        runs
    }
}

/// Load while a fault happens: rounds of 20 veth pairs (both ends in the lab machine) made,
/// brought up, half of them set down, and the previous round's deleted. The last round's
/// links stay, so their final states can be compared.
fn churn(lab: LabInfo, prefix: String, rounds: usize) -> Churn {
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    let thread = std::thread::spawn(move || {
        let name = |r: usize, i: usize| format!("{prefix}r{r}n{i}");
        for r in 0..rounds {
            let mut batch = String::new();
            for i in 0..20 {
                let n = name(r, i);
                writeln!(batch, "link add {n} type veth peer name {n}p").unwrap();
                writeln!(batch, "link set {n} up").unwrap();
                writeln!(batch, "link set {n}p up").unwrap();
            }
            lab.ip_batch(&batch);
            // Pacing, not waiting for anything: each half of a round reaches the daemon as a
            // burst of its own, with links that live for a while in between.
            std::thread::sleep(Duration::from_millis(300));
            let mut batch = String::new();
            for i in (0..20).step_by(2) {
                writeln!(batch, "link set {} down", name(r, i)).unwrap();
            }
            if r > 0 {
                for i in 0..20 {
                    writeln!(batch, "link del {}", name(r - 1, i)).unwrap();
                }
            }
            lab.ip_batch(&batch);
            std::thread::sleep(Duration::from_millis(300));
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    Churn { thread, done }
}

/// The thread of [`churn`] and the rounds it has finished.
struct Churn {
    thread: std::thread::JoinHandle<()>,
    done: Arc<AtomicUsize>,
}

impl Churn {
    /// Waits until `rounds` rounds are finished, so that a fault hits the daemon amid the load
    /// (links made, set down and deleted before it, more of them after it).
    fn wait_rounds(&self, rounds: usize) {
        wait_until("the load to be under way", Duration::from_secs(60), || {
            let done = self.done.load(Ordering::Relaxed);
            if done >= rounds {
                Ok(())
            } else if self.thread.is_finished() {
                panic!("the load thread ended after {done} rounds");
            } else {
                Err(format!("{done} of {rounds} rounds done"))
            }
        });
    }

    fn join(self) -> std::thread::Result<()> {
        self.thread.join()
    }
}

/// The test links of `prefix` the lab machine has now: name → ifindex.
fn kernel_links(lab: &Lab) -> BTreeMap<String, u32> {
    let text = lab.run(&["ip", "-j", "link", "show"]);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            Some((
                l["ifname"].as_str()?.to_string(),
                u32::try_from(l["ifindex"].as_u64()?).ok()?,
            ))
        })
        .collect()
}

/// Whether the daemon's view equals the kernel's (every link, and the test links' addresses),
/// networkd's (the lab's networkd links' states, with `networkd`), and whether each remaining
/// test link's last hook run is for the state the daemon shows. `Err` says what differs.
fn consistent(lab: &Lab, hooks: &HookLog, prefix: &str, networkd: bool) -> Result<(), String> {
    let kernel = kernel_links(lab);
    let ours: BTreeMap<String, u32> = lab
        .try_list_links()?
        .into_iter()
        .map(|(index, name, _)| (name, index))
        .collect();
    if kernel != ours {
        let only_kernel: Vec<_> = kernel.keys().filter(|k| !ours.contains_key(*k)).collect();
        let only_ours: Vec<_> = ours.keys().filter(|k| !kernel.contains_key(*k)).collect();
        return Err(format!(
            "links differ: only in the kernel {only_kernel:?}, only on the bus {only_ours:?}"
        ));
    }
    let runs = hooks.runs();
    for (name, index) in kernel.iter().filter(|(n, _)| n.starts_with(prefix)) {
        let bus = lab.try_link_addresses(*index)?;
        let want = lab.kernel_addresses(name);
        if bus != want {
            return Err(format!("{name}: {}", diff_summary(&bus, &want)));
        }
        let state = lab.try_get_property(&link_path(*index), LINK_IFACE, "OperationalState")?;
        let last = runs.get(name).and_then(|r| r.last());
        if last.map(String::as_str) != state.as_str() {
            return Err(format!(
                "{name}: the daemon shows OperationalState {state}, the last hook run was {last:?}"
            ));
        }
    }
    if networkd {
        for name in ["labnd0", "labnd1"] {
            let index = kernel[name];
            let theirs = lab.try_networkd_property(
                &networkd_link_path(index),
                NETWORKD_LINK_IFACE,
                "OperationalState",
            )?;
            let shown = lab.try_get_property(&link_path(index), LINK_IFACE, "OperationalState")?;
            if theirs != shown {
                return Err(format!(
                    "{name}: networkd says {theirs}, the daemon shows {shown}"
                ));
            }
        }
    }
    Ok(())
}

/// Waits until [`consistent`] holds, then checks that no hook ran twice in a row for the same
/// state of a link (a doubled run: hooks run on transitions only).
fn assert_consistent(lab: &Lab, hooks: &HookLog, prefix: &str, networkd: bool) {
    wait_until(
        "the daemon's view to equal the kernel's and networkd's, hooks done",
        Duration::from_secs(30),
        || consistent(lab, hooks, prefix, networkd),
    );
    let doubled: Vec<String> = hooks
        .runs()
        .into_iter()
        .filter(|(link, _)| link.starts_with(prefix))
        .filter(|(_, runs)| runs.windows(2).any(|w| w[0] == w[1]))
        .map(|(link, runs)| format!("{link}: {runs:?}"))
        .take(10)
        .collect();
    assert!(doubled.is_empty(), "hooks run twice in a row: {doubled:#?}");
}

fn prefix(tag: &str) -> String {
    format!("fs{tag}{}x", std::process::id() % 100)
}

/// Deletes the test links of a prefix when the test ends, however it ends.
struct Cleanup<'a>(&'a Lab, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let batch: String = kernel_links(self.0)
            .keys()
            .filter(|n| n.starts_with(&self.1) && !n.ends_with('p'))
            .map(|n| format!("link del {n}\n"))
            .collect();
        if !batch.is_empty() {
            let _ = output_with_input(self.0.cmd(&["ip", "-force", "-batch", "-"]), &batch);
        }
    }
}

const ROUNDS: usize = 6;

/// networkd restarted while links come and go, `Generator: systemd-networkd`.
#[test]
fn networkd_restarted_under_load() {
    let Some(lab) = Lab::require() else { return };
    let hooks = HookLog::new();
    let _broker = Broker::start(
        &lab.info(),
        "System:\n  Generator: systemd-networkd\n",
        &hooks.hooks(),
    );
    let p = prefix("n");
    let _cleanup = Cleanup(&lab, p.clone());
    let load = churn(lab.info(), p.clone(), ROUNDS);
    load.wait_rounds(2);
    lab.netlab(&["networkd", "restart"]).ok();
    load.join().unwrap();
    assert_consistent(&lab, &hooks, &p, true);
}

/// resolved restarted while links come and go.
#[test]
fn resolved_restarted_under_load() {
    let Some(lab) = Lab::require() else { return };
    let hooks = HookLog::new();
    let _broker = Broker::start(
        &lab.info(),
        "System:\n  Generator: netlink\n",
        &hooks.hooks(),
    );
    let p = prefix("r");
    let _cleanup = Cleanup(&lab, p.clone());
    let load = churn(lab.info(), p.clone(), ROUNDS);
    load.wait_rounds(2);
    lab.netlab(&["restart-resolved"]).ok();
    load.join().unwrap();
    assert_consistent(&lab, &hooks, &p, false);
}

/// The bus killed and started again while links come and go: the daemon stops with status 1,
/// a new start (what `Restart=` does) catches up with the kernel and runs each link's current
/// state once, not again what the first run already ran.
#[test]
fn bus_restarted_under_load() {
    let Some(lab) = Lab::require() else { return };
    let hooks = HookLog::new();
    let mut broker = Broker::start(
        &lab.info(),
        "System:\n  Generator: netlink\n",
        &hooks.hooks(),
    );
    let p = prefix("b");
    let _cleanup = Cleanup(&lab, p.clone());
    let load = churn(lab.info(), p.clone(), ROUNDS);
    load.wait_rounds(2);
    {
        let _back = BusBack(&lab);
        lab.netlab(&["bus", "stop"]).ok();
        let status = poll_until(BUS_LOSS_NOTICED, || broker.try_wait());
        assert_eq!(status.and_then(|s| s.code()), Some(1), "{}", broker.log());
    }
    load.join().unwrap();
    broker.restart();
    assert_consistent(&lab, &hooks, &p, false);
}

/// A hook that hangs for one link (killed at `HookTimeoutSec`) while links come and go: the
/// other links' hooks go on, and that link's later hooks still run.
#[test]
fn hung_hook_under_load() {
    let Some(lab) = Lab::require() else { return };
    let hooks = HookLog::new();
    let p = prefix("h");
    let hang = format!("#!/bin/sh\ncase \"$LINK\" in {p}r*n1) exec sleep 1000;; esac\n");
    let mut all = hooks.hooks();
    all.extend(OPERATIONAL_STATES.iter().map(|event| Hook {
        event,
        name: "05-hang",
        script: &hang,
    }));
    let broker = Broker::start(
        &lab.info(),
        "System:\n  Generator: netlink\n  HookTimeoutSec: 1\n",
        &all,
    );
    let _cleanup = Cleanup(&lab, p.clone());
    let load = churn(lab.info(), p.clone(), ROUNDS);
    load.join().unwrap();
    assert_consistent(&lab, &hooks, &p, false);
    assert!(broker.log().contains("05-hang"), "{}", broker.log());
}

/// An invalid configuration sent by SIGHUP and by `Reload()` while links come and go: both
/// are rejected, the daemon keeps going with the old one.
#[test]
fn invalid_reload_under_load() {
    let Some(lab) = Lab::require() else { return };
    let hooks = HookLog::new();
    let mut broker = Broker::start(
        &lab.info(),
        "System:\n  Generator: netlink\n",
        &hooks.hooks(),
    );
    let p = prefix("i");
    let _cleanup = Cleanup(&lab, p.clone());
    let load = churn(lab.info(), p.clone(), ROUNDS);
    load.wait_rounds(1);
    let yaml = broker.config.path().join("network-broker.yaml");
    std::fs::write(&yaml, "System:\n  Generator: [netlink\n").unwrap();
    lab.run(&["kill", "-HUP", &broker.pid.to_string()]);
    let reload = lab.try_busctl_json(&["call", BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reload"]);
    assert!(reload.is_err(), "Reload() of an invalid file succeeded");
    load.join().unwrap();
    assert!(broker.try_wait().is_none(), "{}", broker.log());
    assert_consistent(&lab, &hooks, &p, false);
    assert!(
        broker.log().matches("; keeping the old one").count() >= 2,
        "{}",
        broker.log()
    );
}

/// uid 65534 floods the daemon with calls, privileged (denied) and not, while links come
/// and go: the daemon's view and hooks are unaffected, root is still answered.
#[test]
fn unprivileged_flood_under_load() {
    let Some(lab) = Lab::require() else { return };
    let hooks = HookLog::new();
    let mut broker = Broker::start(
        &lab.info(),
        "System:\n  Generator: netlink\n",
        &hooks.hooks(),
    );
    let p = prefix("u");
    let _cleanup = Cleanup(&lab, p.clone());
    let load = churn(lab.info(), p.clone(), ROUNDS);
    let flood = format!(
        "for i in $(seq 60); do \
           busctl call {BUS_NAME} {MANAGER_PATH} {MANAGER_IFACE} ListLinks >/dev/null; \
           busctl call {BUS_NAME} {MANAGER_PATH} {MANAGER_IFACE} Describe >/dev/null; \
           busctl call {BUS_NAME} {MANAGER_PATH} {MANAGER_IFACE} Reload 2>/dev/null; \
           busctl call {BUS_NAME} {MANAGER_PATH} {MANAGER_IFACE} RunHooks si routable 1 2>/dev/null; \
         done; true"
    );
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let mut c = lab.cmd(&[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
                &flood,
            ]);
            c.stdout(std::process::Stdio::null());
            c.spawn().unwrap()
        })
        .collect();
    for mut f in flooders {
        f.wait().unwrap();
    }
    load.join().unwrap();
    assert!(broker.try_wait().is_none(), "{}", broker.log());
    assert_consistent(&lab, &hooks, &p, false);
    // Root is still answered.
    let reload = lab.output(&[
        "busctl",
        "call",
        BUS_NAME,
        MANAGER_PATH,
        MANAGER_IFACE,
        "Reload",
    ]);
    assert!(reload.success(), "root's Reload(): {}", reload.describe());
    assert!(
        hooks.runs().get("lo").is_none_or(|r| r.len() <= 1),
        "uid 65534 ran hooks: {:?}",
        hooks.runs().get("lo")
    );
}
