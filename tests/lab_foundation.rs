//! Lab integration tests of the foundation: the daemon on its bus name, its two
//! interfaces, links and addresses as signals and properties, the routes-modified hook and the
//! 10,000-change burst.  They drive the real daemon inside the lab (`tests/lab/netlab.sh up`);
//! without the lab they SKIP, and under `CI=true` they fail instead.  Run them with
//! `make test` (the lab is brought up and down around them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// The daemon follows the kernel alone (no networkd dependency for these tests).
const YAML: &str = "\
System:
  LogLevel: debug
  Generator: netlink
Network:
  EmitJSON: true
";

#[test]
fn harness_self_check() {
    // Not the daemon: proves the harness reads the lab right, so that a failure in the other
    // tests points at the daemon.
    let Some(lab) = Lab::require() else { return };

    let networkd_pid: u32 = fs::read_to_string(lab.dir.join("run/pids/networkd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        lab.name_owner_pid("org.freedesktop.network1"),
        Some(networkd_pid),
        "owner of org.freedesktop.network1 on the lab bus"
    );
    assert_eq!(lab.name_owner_pid("org.netlab.NoSuchName"), None);

    let xml = Introspection::parse(&lab.run(&[
        "busctl",
        "introspect",
        "--xml-interface",
        "org.freedesktop.network1",
        "/org/freedesktop/network1",
    ]));
    let m = xml.interface("org.freedesktop.network1.Manager");
    assert_eq!(m.method_out("ListLinks").as_deref(), Some("a(iso)"));
    assert_eq!(m.property_type("OperationalState"), Some("s"));

    let mon = Monitor::start(&lab, &["type='signal',sender='org.freedesktop.network1'"]);
    let mut link = TestLink::veth(&lab);
    assert!(
        link.name.len() <= 15,
        "interface name {} too long",
        link.name
    );
    assert_eq!(lab.kernel_operstate(&link.name), "up");
    lab.run(&["ip", "addr", "add", "192.0.2.77/24", "dev", &link.name]);
    let addrs = lab.kernel_addresses(&link.name);
    assert!(
        addrs.contains(&("192.0.2.77".parse().unwrap(), 24)),
        "kernel addresses {addrs:?}"
    );
    link.delete();
    assert!(!lab
        .output(&["ip", "link", "show", "dev", &link.name])
        .success());
    drop(mon);
}

#[test]
fn daemon_owns_its_name_and_a_second_instance_refuses() {
    let Some(lab) = Lab::require() else { return };
    let mut broker = Broker::start(&lab, YAML, &[]);
    assert_eq!(
        lab.name_owner_pid(BUS_NAME),
        Some(broker.pid),
        "{BUS_NAME} must be owned by the daemon we started"
    );
    let version = lab.get_property(MANAGER_PATH, MANAGER_IFACE, "Version");
    assert!(
        version.as_str().is_some_and(|v| !v.is_empty()),
        "Version must be a non-empty string, got {version}"
    );

    // A second daemon on the same bus: a clear error naming the bus name, exit 1.
    let other = ConfigDir::new(YAML, &[]);
    let second = output_within(
        lab.cmd(&[
            std::ffi::OsStr::new(broker_bin()),
            std::ffi::OsStr::new("--config-dir"),
            other.path().as_os_str(),
        ]),
        Duration::from_secs(60),
    )
    .expect("a second network-broker kept running for 60 s while the first owned the name");
    assert_eq!(
        second.status.code(),
        Some(1),
        "second instance must exit 1\n{}",
        second.describe()
    );
    assert!(
        second.stderr.contains(BUS_NAME),
        "second instance's error must name {BUS_NAME}\n{}",
        second.describe()
    );
    assert_eq!(
        lab.name_owner_pid(BUS_NAME),
        Some(broker.pid),
        "the first daemon must keep the name"
    );

    // SIGTERM stops it cleanly and frees the name.
    let status = broker.stop();
    assert!(
        status.success(),
        "exit status on SIGTERM: {status}\n{}",
        broker.log()
    );
    wait_until("the bus name to be released", EVENT_TIMEOUT, || {
        match lab.name_owner_pid(BUS_NAME) {
            None => Ok(()),
            Some(p) => Err(format!("still owned by PID {p}")),
        }
    });
}

#[test]
fn introspection_shows_manager_and_link_interfaces() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);

    let root = lab.introspect(MANAGER_PATH);
    let m = root.interface(MANAGER_IFACE);
    assert_eq!(
        m.property_type("Version"),
        Some("s"),
        "Manager.Version\n{}",
        root.xml
    );
    assert_eq!(
        m.method_out("ListLinks").as_deref(),
        Some("a(iso)"),
        "Manager.ListLinks\n{}",
        root.xml
    );
    assert_eq!(
        m.signal_sig("LinkAdded").as_deref(),
        Some("isot"),
        "Manager.LinkAdded\n{}",
        root.xml
    );
    assert_eq!(
        m.signal_sig("LinkRemoved").as_deref(),
        Some("isot"),
        "Manager.LinkRemoved\n{}",
        root.xml
    );

    // lo is ifindex 1 in every netns: /org/freedesktop/NetworkBroker1/link/_31
    let links = lab.try_list_links().unwrap();
    assert!(
        links.contains(&(1, "lo".to_owned(), link_path(1))),
        "ListLinks must contain (1, lo, {}): {links:?}",
        link_path(1)
    );
    let lo = lab.introspect(&link_path(1));
    let l = lo.interface(LINK_IFACE);
    for (prop, ty) in [
        ("Index", "i"),
        ("Name", "s"),
        ("OperationalState", "s"),
        ("KernelOperationalState", "s"),
        ("CarrierState", "s"),
        ("AddressState", "s"),
        ("AdministrativeState", "s"),
        ("OnlineState", "s"),
        ("Addresses", "a(sy)"),
    ] {
        assert_eq!(l.property_type(prop), Some(ty), "Link.{prop}\n{}", lo.xml);
    }
}

#[test]
fn links_and_addresses_give_signals_and_property_values() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let mon = Monitor::start(
        &lab,
        &["type='signal',path_namespace='/org/freedesktop/NetworkBroker1'"],
    );

    // a new link: LinkAdded(ifindex, name, path), in ListLinks, Index/Name/OperationalState
    let mut link = TestLink::veth(&lab);
    let (idx, name, path) = (link.ifindex, link.name.clone(), link.path());
    let expected = Value::from(vec![
        Value::from(idx),
        Value::from(name.clone()),
        Value::from(path.clone()),
    ]);
    mon.wait_for(
        &format!("LinkAdded({idx}, {name}, {path})"),
        EVENT_TIMEOUT,
        |m| {
            is_signal(m, MANAGER_PATH, MANAGER_IFACE, "LinkAdded")
                // The event's sequence number follows (docs/dbus-api.md).
                && m["payload"]["data"].as_array().map(|d| &d[..d.len().min(3)])
                    == expected.as_array().map(Vec::as_slice)
        },
    );
    wait_until(
        &format!("ListLinks to contain {name}"),
        EVENT_TIMEOUT,
        || {
            let links = lab.try_list_links()?;
            if links.contains(&(idx, name.clone(), path.clone())) {
                Ok(())
            } else {
                Err(format!("{links:?}"))
            }
        },
    );
    assert_eq!(
        lab.get_property(&path, LINK_IFACE, "Index"),
        Value::from(idx)
    );
    assert_eq!(
        lab.get_property(&path, LINK_IFACE, "Name"),
        Value::from(name.clone())
    );
    wait_until(
        "KernelOperationalState to equal the kernel's operstate",
        EVENT_TIMEOUT,
        || {
            let kernel = lab.kernel_operstate(&name);
            let ours = lab.try_get_property(&path, LINK_IFACE, "KernelOperationalState")?;
            if ours.as_str() == Some(kernel.as_str()) {
                Ok(())
            } else {
                Err(format!("daemon {ours}, kernel {kernel:?}"))
            }
        },
    );

    // an IPv4 and an IPv6 address: PropertiesChanged on the link object, then in Addresses
    let v4: (IpAddr, u8) = ("192.0.2.10".parse().unwrap(), 24);
    let v6: (IpAddr, u8) = ("2001:db8:77::10".parse().unwrap(), 64);
    lab.ip_batch(&format!(
        "addr add 192.0.2.10/24 dev {name}\naddr add 2001:db8:77::10/64 dev {name} nodad\n"
    ));
    for want in [v4, v6] {
        mon.wait_for(
            &format!(
                "PropertiesChanged(Addresses) on {path} with {}/{}",
                want.0, want.1
            ),
            EVENT_TIMEOUT,
            |m| {
                m["path"] == path.as_str()
                    && match changed_property(m, LINK_IFACE, "Addresses") {
                        Some(Some(v)) => parse_addresses(&v).is_ok_and(|s| s.contains(&want)),
                        Some(None) => true, // invalidated: the value is read below
                        None => false,
                    }
            },
        );
    }
    wait_until(
        "Addresses to equal the kernel's (with both new addresses)",
        EVENT_TIMEOUT,
        || {
            let ours = lab.try_link_addresses(idx)?;
            let kernel = lab.kernel_addresses(&name);
            if ours.contains(&v4) && ours.contains(&v6) && ours == kernel {
                Ok(())
            } else {
                Err(diff_summary(&ours, &kernel))
            }
        },
    );

    // removing the IPv4 address
    let mark = mon.mark();
    lab.run(&["ip", "addr", "del", "192.0.2.10/24", "dev", &name]);
    mon.wait_for_after(
        mark,
        &format!("PropertiesChanged(Addresses) on {path} without 192.0.2.10/24"),
        EVENT_TIMEOUT,
        |m| {
            m["path"] == path.as_str()
                && match changed_property(m, LINK_IFACE, "Addresses") {
                    Some(Some(v)) => parse_addresses(&v).is_ok_and(|s| !s.contains(&v4)),
                    Some(None) => true,
                    None => false,
                }
        },
    );
    wait_until(
        "Addresses without 192.0.2.10/24, with the IPv6 one",
        EVENT_TIMEOUT,
        || {
            let ours = lab.try_link_addresses(idx)?;
            if !ours.contains(&v4) && ours.contains(&v6) {
                Ok(())
            } else {
                Err(format!("{ours:?}"))
            }
        },
    );

    // deleting the link: LinkRemoved(ifindex, name, path), gone from ListLinks
    link.delete();
    mon.wait_for(
        &format!("LinkRemoved({idx}, {name}, {path})"),
        EVENT_TIMEOUT,
        |m| {
            is_signal(m, MANAGER_PATH, MANAGER_IFACE, "LinkRemoved")
                // The event's sequence number follows (docs/dbus-api.md).
                && m["payload"]["data"].as_array().map(|d| &d[..d.len().min(3)])
                    == expected.as_array().map(Vec::as_slice)
        },
    );
    wait_until(&format!("ListLinks without {name}"), EVENT_TIMEOUT, || {
        let links = lab.try_list_links()?;
        if links.iter().any(|(i, _, _)| *i == idx) {
            Err(format!("{links:?}"))
        } else {
            Ok(())
        }
    });
}

/// One recorded hook run: its environment and stdin.
#[derive(Debug)]
struct HookRun {
    dir: String,
    env: BTreeMap<String, String>,
    stdin: String,
}

impl HookRun {
    /// The link JSON: from `JSON`, or from stdin when the daemon left `JSON` out because it is
    /// too large for one environment string (`JSON_TRUNCATED=1`).
    fn json(&self) -> Option<Value> {
        match self.env.get("JSON") {
            Some(j) => serde_json::from_str(j).ok(),
            None => serde_json::from_str(&self.stdin).ok(),
        }
    }

    /// The destination IPs of the routes in the run's JSON.
    fn route_dsts(&self) -> BTreeSet<String> {
        let json = self.json().unwrap_or(Value::Null);
        json["Routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["Dst"]["IP"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The runs recorded so far that have finished (written their `done` marker), and how many
/// have started.
fn hook_runs(out: &Path) -> (Vec<HookRun>, usize) {
    let mut runs = Vec::new();
    let mut started = 0;
    for e in fs::read_dir(out).unwrap().map_while(Result::ok) {
        let d = e.path();
        started += 1;
        if !d.join("done").exists() {
            continue;
        }
        let env = parse_environ(&fs::read(d.join("env")).unwrap_or_default());
        runs.push(HookRun {
            dir: d.display().to_string(),
            env,
            stdin: fs::read_to_string(d.join("stdin")).unwrap_or_default(),
        });
    }
    (runs, started)
}

#[test]
fn routes_modified_hook_runs_once_per_burst_with_a_clean_environment() {
    let Some(lab) = Lab::require() else { return };
    let out = tempfile::Builder::new()
        .prefix("nb-hookruns-")
        .tempdir_in("/tmp")
        .unwrap();
    let out_dir = out.path().to_path_buf();
    // Records each run in its own directory: the whole environment (NUL-separated), stdin,
    // then a `done` marker.  Absolute paths: the test checks PATH separately.
    let script = format!(
        "#!/bin/sh\n\
         d=$(/usr/bin/mktemp -d {out}/run.XXXXXX) || exit 1\n\
         /usr/bin/env -0 >\"$d/env\"\n\
         /bin/cat >\"$d/stdin\"\n\
         : >\"$d/done\"\n",
        out = out_dir.display()
    );
    let broker = Broker::start(
        &lab,
        YAML,
        &[Hook {
            event: "routes-modified",
            name: "50-record",
            script: &script,
        }],
    );
    let link = TestLink::veth(&lab);
    let (idx, name) = (link.ifindex, link.name.clone());
    wait_until(&format!("the daemon to know {name}"), EVENT_TIMEOUT, || {
        let links = lab.try_list_links()?;
        if links.iter().any(|(i, _, _)| *i == idx) {
            Ok(())
        } else {
            Err(format!("{links:?}"))
        }
    });

    const ROUTES: usize = 50;
    let burst: BTreeSet<String> = (0..ROUTES).map(|i| format!("198.18.{i}.0")).collect();
    let batch: String = burst
        .iter()
        .map(|d| format!("route add {d}/24 dev {name}\n"))
        .collect();
    lab.ip_batch(&batch);

    let ours = |runs: Vec<HookRun>| -> Vec<HookRun> {
        runs.into_iter()
            .filter(|r| r.env.get("LINK") == Some(&name))
            .collect()
    };
    // a run that saw the whole burst (its JSON was taken after the last route went in)
    let run = wait_until(
        &format!("a routes-modified run for {name} whose JSON has all {ROUTES} routes"),
        Duration::from_secs(60),
        || {
            let (runs, started) = hook_runs(&out_dir);
            let total = runs.len();
            let mine = ours(runs);
            let seen: Vec<usize> = mine
                .iter()
                .map(|r| r.route_dsts().intersection(&burst).count())
                .collect();
            match mine.into_iter().find(|r| burst.is_subset(&r.route_dsts())) {
                Some(r) => Ok(r),
                None => Err(format!(
                    "{started} runs started, {total} finished, burst routes seen per run for {name}: {seen:?}"
                )),
            }
        },
    );
    let env = &run.env;
    assert_eq!(
        env.get("EVENT").map(String::as_str),
        Some("routes-modified"),
        "{run:?}"
    );
    assert_eq!(env.get("LINK"), Some(&name), "{run:?}");
    assert_eq!(env.get("LINKINDEX"), Some(&idx.to_string()), "{run:?}");
    assert!(
        env.get("PATH").is_some_and(|p| !p.is_empty()),
        "PATH missing: {run:?}"
    );
    assert!(
        env.contains_key("JSON") || env.get("JSON_TRUNCATED").map(String::as_str) == Some("1"),
        "JSON missing from the hook's environment (EmitJSON: true): {run:?}"
    );
    let json = run.json().expect("the link JSON (EmitJSON: true)");
    assert_eq!(json["Index"], Value::from(idx), "JSON.Index: {json}");
    assert_eq!(json["Name"], Value::from(name.clone()), "JSON.Name: {json}");
    let stdin: Value = serde_json::from_str(&run.stdin)
        .unwrap_or_else(|e| panic!("hook stdin is not the JSON ({e}): {:?}", run.stdin));
    assert_eq!(stdin["Index"], Value::from(idx), "stdin JSON: {stdin}");

    // once per burst: count the runs for this link once they stop coming
    let runs = wait_settled(
        &format!("routes-modified runs for {name} to stop"),
        Duration::from_secs(3),
        Duration::from_secs(90),
        || ours(hook_runs(&out_dir).0).len(),
    );
    eprintln!("routes-modified ran {runs} time(s) for {name} after {ROUTES} routes in one burst");
    assert!(
        (1..ROUTES).contains(&runs),
        "routes-modified ran {runs} times for {ROUTES} routes added in one burst: once per burst, not per route"
    );
    // no run leaks the daemon's environment (it was started with {LEAK_CANARY}=1 and cargo's
    // variables): hooks get a clean environment
    for r in ours(hook_runs(&out_dir).0) {
        assert!(
            !r.env.contains_key(LEAK_CANARY),
            "{LEAK_CANARY} leaked into a hook: {}",
            r.dir
        );
        let leaked: Vec<&String> = r.env.keys().filter(|k| k.starts_with("CARGO")).collect();
        assert!(
            leaked.is_empty(),
            "daemon environment leaked into a hook ({leaked:?}): {}",
            r.dir
        );
        assert_eq!(
            r.env.get("EVENT").map(String::as_str),
            Some("routes-modified"),
            "{}",
            r.dir
        );
    }

    // a later, separate change runs the hook again
    lab.run(&["ip", "route", "add", "198.19.0.0/24", "dev", &name]);
    wait_until(
        "a routes-modified run that sees the later route",
        Duration::from_secs(60),
        || {
            let mine = ours(hook_runs(&out_dir).0);
            if mine.iter().any(|r| r.route_dsts().contains("198.19.0.0")) {
                Ok(())
            } else {
                Err(format!(
                    "{} runs for {name}, none with 198.19.0.0",
                    mine.len()
                ))
            }
        },
    );
    drop(link);
    drop(broker);
}

#[test]
fn ten_thousand_address_changes_end_equal_to_the_kernel() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let link = TestLink::veth(&lab);
    let (idx, name) = (link.ifindex, link.name.clone());
    wait_until(
        &format!("the daemon to publish {name}"),
        EVENT_TIMEOUT,
        || {
            lab.try_get_property(&link.path(), LINK_IFACE, "Index")
                .map(|_| ())
        },
    );

    // 10,000 changes in one `ip -batch`: 5,150 adds (every tenth an IPv6 address) interleaved
    // with 4,850 deletes of the address added 300 steps earlier; 300 remain.
    const ADDS: usize = 5_150;
    const KEEP: usize = 300;
    let addr = |k: usize| -> String {
        if k.is_multiple_of(10) {
            format!("2001:db8:100::{:x}/128", k + 1)
        } else {
            format!("10.100.{}.{}/32", k / 250, k % 250 + 1)
        }
    };
    let mut batch = String::new();
    let mut ops = 0;
    for k in 0..ADDS {
        let nodad = if k.is_multiple_of(10) { " nodad" } else { "" };
        batch.push_str(&format!("addr add {} dev {name}{nodad}\n", addr(k)));
        ops += 1;
        if k >= KEEP {
            batch.push_str(&format!("addr del {} dev {name}\n", addr(k - KEEP)));
            ops += 1;
        }
    }
    assert_eq!(ops, 10_000);
    lab.ip_batch(&batch);
    let kernel = lab.kernel_addresses(&name);
    let burst_left = kernel
        .iter()
        .filter(|(a, _)| {
            a.to_string().starts_with("10.100.") || a.to_string().starts_with("2001:db8:100:")
        })
        .count();
    assert_eq!(
        burst_left, KEEP,
        "the kernel should hold the last {KEEP} burst addresses"
    );

    wait_until(
        &format!("the daemon's Addresses of {name} to equal `ip -j addr show dev {name}`"),
        Duration::from_secs(120),
        || {
            let ours = lab.try_link_addresses(idx)?;
            let kernel = lab.kernel_addresses(&name);
            if ours == kernel {
                Ok(())
            } else {
                Err(diff_summary(&ours, &kernel))
            }
        },
    );
}

/// SIGHUP re-reads the configuration: a valid file takes effect (here: the `Links` filter now
/// selects the test link), an invalid one is rejected with its file and line while the running
/// configuration stays in force.
#[test]
fn sighup_reloads_and_an_invalid_file_keeps_the_running_configuration() {
    let Some(lab) = Lab::require() else { return };
    let out = tempfile::Builder::new()
        .prefix("nb-reload-")
        .tempdir_in("/tmp")
        .unwrap();
    let runs_file = out.path().join("runs");
    let script = format!("#!/bin/sh\necho \"$LINK\" >> {}\n", runs_file.display());
    let broker = Broker::start(
        &lab,
        "System:\n  LogLevel: debug\n  Generator: netlink\nNetwork:\n  Links: nbnone0\n",
        &[Hook {
            event: "routes-modified",
            name: "50-record",
            script: &script,
        }],
    );
    let link = TestLink::veth(&lab);
    let name = link.name.clone();
    let config_file = broker.config.path().join("network-broker.yaml");
    let runs_for = |name: &str| -> usize {
        fs::read_to_string(&runs_file)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == name)
            .count()
    };
    let hangup = || {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &broker.pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -HUP {}", broker.pid);
    };

    fs::write(
        &config_file,
        format!("System:\n  LogLevel: debug\n  Generator: netlink\nNetwork:\n  Links: {name}\n"),
    )
    .unwrap();
    hangup();
    wait_until("the daemon to log the reload", EVENT_TIMEOUT, || {
        if broker.log().contains("configuration reloaded") {
            Ok(())
        } else {
            Err(broker.log())
        }
    });
    lab.ip_batch(&format!("route add 198.18.200.0/24 dev {name}\n"));
    wait_until(
        &format!("routes-modified.d to run for {name} after the reload selected it"),
        EVENT_TIMEOUT,
        || match runs_for(&name) {
            0 => Err("no run yet".to_owned()),
            _ => Ok(()),
        },
    );

    // An unclosed flow list: rejected with file:line, the old configuration keeps running.
    fs::write(&config_file, "Network:\n  Links: [eth0\n").unwrap();
    hangup();
    let rejected = wait_until("the daemon to reject the bad file", EVENT_TIMEOUT, || {
        let log = broker.log();
        match log
            .lines()
            .find(|l| l.contains("configuration ") && l.contains(" rejected: "))
        {
            Some(line) => Ok(line.to_owned()),
            None => Err(log),
        }
    });
    assert!(
        rejected.contains(&format!("{}:", config_file.display())),
        "the rejection names the file and line: {rejected}"
    );
    let before = runs_for(&name);
    lab.ip_batch(&format!("route add 198.18.201.0/24 dev {name}\n"));
    wait_until(
        &format!("routes-modified.d to run for {name} again under the kept configuration"),
        EVENT_TIMEOUT,
        || {
            if runs_for(&name) > before {
                Ok(())
            } else {
                Err(format!("{before} runs so far"))
            }
        },
    );
    let mut broker = broker;
    assert!(broker.try_wait().is_none(), "the daemon must keep running");
}
