//! Lab tests of hostile input reaching the real daemon: a configuration file that is not a
//! file, lease files that point elsewhere, link names that are not UTF-8, oversized bus
//! arguments. Each drives the daemon inside the lab (`tests/lab/netlab.sh up`); without the
//! lab they SKIP, and under `CI=true` they fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::fs;
use std::time::{Duration, Instant};

/// The daemon follows the kernel alone.
const YAML: &str = "System:\n  LogLevel: debug\n  Generator: netlink\n";

fn signal(broker: &Broker, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(broker.pid).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

/// A FIFO in place of the configuration file used to wedge the daemon: the reload blocked in
/// `open`, and neither `Reload()` nor SIGTERM was served again (only SIGKILL stopped it).
/// Now the reload refuses the FIFO at once, `Reload()` says why, and SIGTERM stops the daemon.
#[test]
fn a_fifo_as_configuration_is_refused_and_sigterm_still_stops_the_daemon() {
    let Some(lab) = Lab::require() else { return };
    let mut broker = Broker::start(&lab, YAML, &[]);
    let file = broker.config.path().join("network-broker.yaml");
    fs::remove_file(&file).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &file,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();

    signal(&broker, rustix::process::Signal::HUP);
    let rejected = wait_until("the daemon to refuse the FIFO", EVENT_TIMEOUT, || {
        let log = broker.log();
        match log.lines().find(|l| l.contains("configuration rejected")) {
            Some(line) => Ok(line.to_owned()),
            None => Err(log),
        }
    });
    assert!(
        rejected.contains("not a regular file (a FIFO)"),
        "the rejection says what the file is: {rejected}"
    );

    // The bus method is served too, and answers with the reason.
    let reply = lab.output(&[
        "busctl",
        "--timeout=10",
        "call",
        BUS_NAME,
        MANAGER_PATH,
        MANAGER_IFACE,
        "Reload",
    ]);
    assert!(!reply.success(), "Reload() of a FIFO must fail");
    assert!(
        reply.stderr.contains("not a regular file"),
        "Reload() says why: {}",
        reply.describe()
    );

    // SIGHUP once more, then SIGTERM right behind it: the daemon stops (`stop` panics if it
    // is still running after 20 s; the figure is printed for the record).
    signal(&broker, rustix::process::Signal::HUP);
    let sent = Instant::now();
    let status = broker.stop();
    eprintln!(
        "SIGTERM after SIGHUP with a FIFO: exited in {:?}",
        sent.elapsed()
    );
    assert!(status.success(), "a clean stop: {status:?}");
    assert!(sent.elapsed() < Duration::from_secs(20));
}
