//! Lab tests of hostile input reaching the real daemon: a configuration file that is not a
//! file, lease files that point elsewhere, link names that are not UTF-8, oversized bus
//! arguments. Each drives the daemon inside the lab (`tests/lab/netlab.sh up`); without the
//! lab they SKIP, and under `CI=true` they fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
        match log.lines().find(|l| l.contains("; keeping the old one")) {
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

/// A veth pair whose first end is called with raw bytes, deleted on drop.
struct RawNamedLink<'l> {
    lab: &'l Lab,
    name: &'static [u8],
}

impl RawNamedLink<'_> {
    fn arg(&self) -> &'static std::ffi::OsStr {
        std::os::unix::ffi::OsStrExt::from_bytes(self.name)
    }
}

impl Drop for RawNamedLink<'_> {
    fn drop(&mut self) {
        let _ = self
            .lab
            .cmd(&[
                std::ffi::OsStr::new("ip"),
                "link".as_ref(),
                "del".as_ref(),
                self.arg(),
            ])
            .status();
    }
}

/// A link whose name is not UTF-8 used to be invisible: its messages failed to decode
/// ("failed to decode packet") and were dropped, with those of its addresses. Now it is
/// followed like any other, under its escaped name (`\xff\xfeA`), with its addresses, and
/// the raw bytes never reach the log.
#[test]
fn a_link_whose_name_is_not_utf8_is_listed_escaped_with_its_addresses() {
    let Some(lab) = Lab::require() else { return };
    let mut broker = Broker::start(&lab, YAML, &[]);
    let peer = format!("{}nu8", lab.ns_prefix());
    let link = RawNamedLink {
        lab: &lab,
        name: b"\xff\xfeA",
    };
    let os = std::ffi::OsStr::new;
    let added = output_of(lab.cmd(&[
        os("ip"),
        os("link"),
        os("add"),
        link.arg(),
        os("type"),
        os("veth"),
        os("peer"),
        os("name"),
        os(&peer),
    ]));
    assert!(added.success(), "{}", added.describe());
    for args in [
        [
            os("ip"),
            os("addr"),
            os("add"),
            os("192.0.2.91/24"),
            os("dev"),
            link.arg(),
        ],
        [
            os("ip"),
            os("link"),
            os("set"),
            os("dev"),
            link.arg(),
            os("up"),
        ],
    ] {
        let out = output_of(lab.cmd(&args));
        assert!(out.success(), "{}", out.describe());
    }

    let ifindex = wait_until(
        "the link to be listed under its escaped name",
        EVENT_TIMEOUT,
        || {
            let links = lab.try_list_links()?;
            links
                .iter()
                .find(|(_, name, _)| name == "\\xff\\xfeA")
                .map(|(index, _, _)| *index)
                .ok_or_else(|| format!("{links:?}"))
        },
    );
    wait_until("its address to be published", EVENT_TIMEOUT, || {
        let addresses = lab.try_link_addresses(ifindex)?;
        if addresses.contains(&("192.0.2.91".parse().unwrap(), 24)) {
            Ok(())
        } else {
            Err(format!("{addresses:?}"))
        }
    });
    let name = lab.get_property(&link_path(ifindex), LINK_IFACE, "Name");
    assert_eq!(name, "\\xff\\xfeA");

    drop(link);
    wait_until("the link to be gone", EVENT_TIMEOUT, || {
        let links = lab.try_list_links()?;
        if links.iter().any(|(index, _, _)| *index == ifindex) {
            Err(format!("{links:?}"))
        } else {
            Ok(())
        }
    });
    broker.stop();
    let log = fs::read(broker.log_path()).unwrap();
    assert!(
        !log.windows(2).any(|w| w == b"\xff\xfe"),
        "the raw name reached the log"
    );
    assert!(
        !String::from_utf8_lossy(&log).contains("failed to decode packet"),
        "a message was dropped"
    );
}
