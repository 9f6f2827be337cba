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
