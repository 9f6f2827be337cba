//! Lab tests of the push actor (`network_broker::push`): DNS servers and search domains reach
//! the real systemd-resolved, the host name reaches the real systemd-hostnamed as the transient
//! name, and a restarted resolved gets the settings back without any new request.
//!
//! The actor runs in this test process, on the host side of the lab bus
//! (`$LAB_DIR/run/bus/system_bus_socket`). resolved reads interface indexes in *its* network
//! namespace (labhost), so the tests use labhost's indexes. The test runs as root with
//! `CAP_NET_ADMIN`/`CAP_SYS_ADMIN`, which resolved and hostnamed accept without polkit. What the
//! daemons hold is read back with `busctl` inside the lab: another client than the one under
//! test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use network_broker::push;

/// Every log line of the actor (debug and up) since the test binary started. The tests look
/// only at what comes after their own mark.
fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("network_broker=debug")
            .with_ansi(false)
            .with_writer({
                let buf = LogWriter(buf.clone());
                move || buf.clone()
            })
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

/// Appends to the shared log buffer.
#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_mark() -> usize {
    log_buffer().lock().unwrap().len()
}

fn log_since(mark: usize) -> String {
    let buf = log_buffer().lock().unwrap();
    String::from_utf8_lossy(&buf[mark.min(buf.len())..]).into_owned()
}

/// Lines logged since `mark` at `level` that contain every one of `words`.
fn log_lines(mark: usize, level: &str, words: &[&str]) -> Vec<String> {
    log_since(mark)
        .lines()
        .filter(|l| l.contains(&format!(" {level} ")) && words.iter().all(|w| l.contains(w)))
        .map(String::from)
        .collect()
}

/// The actor on its own runtime, connected to the lab bus from the host side. Dropping it
/// stops the actor (the runtime goes with it).
struct Pusher {
    rt: tokio::runtime::Runtime,
    handle: push::Handle,
    mark: usize,
}

impl Pusher {
    fn start(lab: &Lab) -> Pusher {
        let mark = log_mark();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let socket = lab.dir.join("run/bus/system_bus_socket");
        let handle = rt.block_on(async {
            let conn = zbus::connection::Builder::address(
                format!("unix:path={}", socket.display()).as_str(),
            )
            .build()
            .await
            .unwrap_or_else(|e| {
                panic!("cannot connect to the lab bus at {}: {e}", socket.display())
            });
            push::spawn(conn)
        });
        Pusher { rt, handle, mark }
    }

    /// Waits until the actor has made every call it can make now.
    fn settled(&self) {
        self.rt
            .block_on(async { tokio::time::timeout(EVENT_TIMEOUT, self.handle.settled()).await })
            .unwrap_or_else(|_| {
                panic!(
                    "push actor not settled after {EVENT_TIMEOUT:?}; log:\n{}",
                    log_since(self.mark)
                )
            });
    }

    fn log(&self) -> String {
        log_since(self.mark)
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "--- push actor log:\n{}",
                log_since(self.mark)
            );
        }
    }
}

fn ifindex_of(lab: &Lab, name: &str) -> u32 {
    lab.kernel_link(name)["ifindex"]
        .as_u64()
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or_else(|| panic!("no ifindex for {name}"))
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `tests/lab/netlab.sh ARGS` for the lab under test (same LAB_DIR and namespace prefix).
fn netlab(lab: &Lab, args: &[&str]) {
    lab.netlab(args).ok();
}

/// The PID of the process owning `name` on the lab bus.
fn owner_pid(lab: &Lab, name: &str) -> Option<u32> {
    lab.name_owner_pid(name)
}

#[test]
fn lab_push_dns_and_search_domains_then_revert() {
    let Some(lab) = Lab::require() else { return };
    let dh0 = ifindex_of(&lab, "labdh0");
    let _cleanup = ResolvedRevertOnDrop {
        lab: &lab,
        ifindex: dh0,
    };
    let pusher = Pusher::start(&lab);
    let servers = ips(&["192.168.79.1", "192.168.79.53"]);
    pusher.handle.set_link(
        dh0,
        "labdh0".into(),
        Some(servers.clone()),
        Some(strings(&["dh0.lab.test", "search.lab.test"])),
    );
    wait_resolved(
        &lab,
        dh0,
        "resolved to hold labdh0's servers and search domains",
        &servers,
        &["dh0.lab.test", "search.lab.test"],
    );

    pusher.handle.revert_link(dh0);
    wait_resolved(&lab, dh0, "resolved to drop labdh0's settings", &[], &[]);
    pusher.settled();
    assert!(
        pusher
            .log()
            .contains("dropped the link's DNS settings (RevertLink)"),
        "no log of the revert:\n{}",
        pusher.log()
    );
}

#[test]
fn lab_push_invalid_values_are_dropped_by_name() {
    let Some(lab) = Lab::require() else { return };
    let dh0 = ifindex_of(&lab, "labdh0");
    let _cleanup = ResolvedRevertOnDrop {
        lab: &lab,
        ifindex: dh0,
    };
    let pusher = Pusher::start(&lab);
    pusher.handle.set_link(
        dh0,
        "labdh0".into(),
        Some(ips(&["0.0.0.0", "192.168.79.1", "224.0.0.1"])),
        Some(strings(&["dh0.lab.test", "bad domain", "search.lab.test."])),
    );
    wait_resolved(
        &lab,
        dh0,
        "resolved to hold the valid values only",
        &ips(&["192.168.79.1"]),
        &["dh0.lab.test", "search.lab.test"],
    );
    for value in ["0.0.0.0", "224.0.0.1", "bad domain"] {
        assert_eq!(
            log_lines(pusher.mark, "WARN", &[value]).len(),
            1,
            "one warning naming {value:?}:\n{}",
            pusher.log()
        );
    }
}

#[test]
fn lab_push_on_networkd_managed_link_is_explained_once() {
    let Some(lab) = Lab::require() else { return };
    let nd0 = ifindex_of(&lab, "labnd0");
    let before = resolved_link(&lab, nd0).unwrap();
    let pusher = Pusher::start(&lab);
    pusher.handle.set_link(
        nd0,
        "labnd0".into(),
        Some(ips(&["192.0.2.1"])),
        Some(strings(&["evil.test"])),
    );
    pusher.settled();
    // different settings again: refused again, but explained only once
    pusher.handle.set_link(
        nd0,
        "labnd0".into(),
        Some(ips(&["192.0.2.2"])),
        Some(strings(&["evil2.test"])),
    );
    pusher.settled();
    let explained = log_lines(pusher.mark, "INFO", &["networkd manages it", "labnd0"]);
    assert_eq!(
        explained.len(),
        1,
        "one info line explaining the refusal:\n{}",
        pusher.log()
    );
    assert!(
        explained[0].contains("is managed"),
        "resolved's own words are in the line: {}",
        explained[0]
    );
    assert!(
        log_lines(pusher.mark, "WARN", &["labnd0"]).is_empty(),
        "a managed link is not a warning:\n{}",
        pusher.log()
    );
    assert_eq!(
        resolved_link(&lab, nd0).unwrap(),
        before,
        "networkd's DNS settings of labnd0 are untouched"
    );
}

#[test]
fn lab_push_hostname_is_transient_and_dropped_with_the_lease() {
    let Some(lab) = Lab::require() else { return };
    let static_name = hostnamed_property(&lab, "StaticHostname").unwrap();
    assert!(!static_name.is_empty(), "the lab sets a static host name");
    let etc_hostname = lab.dir.join("run/etc-upper/hostname");
    let file_before = std::fs::read_to_string(&etc_hostname).ok();
    let _restore = StaticHostnameOnDrop {
        lab: &lab,
        name: static_name.clone(),
    };
    let pusher = Pusher::start(&lab);

    // With a static name, hostnamed keeps it: the transient name is accepted but not used,
    // and the static name is never touched.
    pusher.handle.set_hostname(Some("labclient-dh0".into()));
    pusher.settled();
    assert_eq!(
        log_lines(
            pusher.mark,
            "INFO",
            &["transient host name set", "labclient-dh0"]
        )
        .len(),
        1,
        "{}",
        pusher.log()
    );
    assert_eq!(
        hostnamed_property(&lab, "StaticHostname").unwrap(),
        static_name
    );
    assert_eq!(hostnamed_property(&lab, "Hostname").unwrap(), static_name);
    assert_eq!(std::fs::read_to_string(&etc_hostname).ok(), file_before);
    pusher.handle.set_hostname(None);
    pusher.settled();

    // Without a static name the transient name is the host name.
    set_static_hostname(&lab, "");
    let mark = log_mark();
    pusher.handle.set_hostname(Some("labclient-dh0".into()));
    wait_until(
        "hostnamed's Hostname to be the transient labclient-dh0",
        EVENT_TIMEOUT,
        || {
            let name = hostnamed_property(&lab, "Hostname")?;
            let source = hostnamed_property(&lab, "HostnameSource")?;
            if name == "labclient-dh0" && source == "transient" {
                Ok(())
            } else {
                Err(format!("Hostname {name:?}, HostnameSource {source:?}"))
            }
        },
    );
    assert_eq!(lab.run(&["hostname"]).trim(), "labclient-dh0");
    assert_eq!(
        hostnamed_property(&lab, "StaticHostname").unwrap(),
        "",
        "the static host name stays unset"
    );

    // An invalid name is skipped with a warning naming it; the current name stays.
    pusher.handle.set_hostname(Some("bad_host name".into()));
    pusher.settled();
    assert_eq!(
        log_lines(mark, "WARN", &["bad_host name"]).len(),
        1,
        "{}",
        log_since(mark)
    );
    assert_eq!(
        hostnamed_property(&lab, "Hostname").unwrap(),
        "labclient-dh0"
    );

    // Lease lost: the transient name goes, hostnamed falls back to its default.
    pusher.handle.set_hostname(None);
    wait_until(
        "hostnamed to drop the transient name",
        EVENT_TIMEOUT,
        || {
            let name = hostnamed_property(&lab, "Hostname")?;
            let source = hostnamed_property(&lab, "HostnameSource")?;
            if name != "labclient-dh0" && source != "transient" {
                Ok(())
            } else {
                Err(format!("Hostname {name:?}, HostnameSource {source:?}"))
            }
        },
    );
}

#[test]
fn lab_push_reapplied_when_resolved_restarts_or_starts_late() {
    let Some(lab) = Lab::require() else { return };
    let dh0 = ifindex_of(&lab, "labdh0");
    let _cleanup = ResolvedRevertOnDrop {
        lab: &lab,
        ifindex: dh0,
    };
    let pusher = Pusher::start(&lab);
    let servers = ips(&["192.168.79.1", "192.168.79.53"]);
    let domains = ["dh0.lab.test", "search.lab.test"];
    pusher.handle.set_link(
        dh0,
        "labdh0".into(),
        Some(servers.clone()),
        Some(strings(&domains)),
    );
    wait_resolved(&lab, dh0, "the first push", &servers, &domains);
    pusher.settled();

    // Restart resolved with its saved per-link state deleted: only the actor can bring the
    // settings back, and the test makes no new request.
    let old_pid = owner_pid(&lab, RESOLVE1);
    netlab(&lab, &["restart-resolved", "--forget"]);
    assert_ne!(owner_pid(&lab, RESOLVE1), old_pid, "resolved restarted");
    wait_resolved(
        &lab,
        dh0,
        "the actor to apply labdh0's settings to the new resolved",
        &servers,
        &domains,
    );
    assert!(
        pusher.log().contains("appeared on the bus, applying"),
        "{}",
        pusher.log()
    );

    // resolved gone: a new lease waits, and is applied when resolved starts.
    let pid = owner_pid(&lab, RESOLVE1).expect("resolved runs");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    wait_until(
        "resolved to leave the bus",
        EVENT_TIMEOUT,
        || match owner_pid(&lab, RESOLVE1) {
            None => Ok(()),
            Some(p) => Err(format!("still owned by PID {p}")),
        },
    );
    wait_until("the actor to notice", EVENT_TIMEOUT, || {
        if pusher.log().contains("left the bus") {
            Ok(())
        } else {
            Err("no 'left the bus' line yet".into())
        }
    });
    let later = ips(&["192.168.79.1"]);
    pusher
        .handle
        .set_link(dh0, "labdh0".into(), Some(later.clone()), None);
    pusher.settled(); // held, not sent: settled does not wait for resolved
    assert!(
        pusher.log().contains("not on the bus; DNS settings wait"),
        "{}",
        pusher.log()
    );
    netlab(&lab, &["restart-resolved", "--forget"]);
    wait_resolved(
        &lab,
        dh0,
        "the held servers (and the domains from before) once resolved is back",
        &later,
        &domains,
    );
}
