//! The fault suite: the lab's peers fail under the daemon (the system bus is killed and comes
//! back, networkd and resolved restart, the kernel's event stream overruns, a hook hangs, a
//! reload is invalid, an unprivileged user floods the bus) and the daemon either stops with a
//! failure status and a clear message (the bus) or ends with its view equal to the kernel's,
//! with no hook run lost or doubled. Without the lab they SKIP, under `CI=true` they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
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
        let status = wait_until_some(BUS_LOSS_NOTICED, || broker.try_wait());
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

/// A burst of 10,100 address additions and 10,000 removals on one link, in one `ip -batch`:
/// far more notifications than the socket's buffer and the broker's queue hold, so some are
/// lost and the source resyncs. Afterwards the bus shows exactly the kernel's addresses (the
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
    lab.ip_batch(&batch);
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

/// Polls `f` every 100 ms until it gives `Some`, or `timeout` passes (`None`).
fn wait_until_some<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
