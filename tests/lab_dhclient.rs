//! Lab integration tests with the real dhclient: the daemon with
//! `Generator: dhclient` following the lab's lease file, running `routable.d` for a new or
//! changed lease and pushing its DNS servers, search domains and host name to the lab's real
//! systemd-resolved and systemd-hostnamed (`tests/lab/netlab.sh up`; without the lab they
//! SKIP, under `CI=true` they fail).
//!
//! The lab's dhclient runs on `labdh0` (unmanaged by networkd) against dnsmasq in labpeer and
//! gets 192.168.79.10/24, router 192.168.79.1, DNS 192.168.79.1 192.168.79.53, domain
//! dh0.lab.test, search list dh0.lab.test search.lab.test and host name labclient-dh0. Its
//! lease file is `/var/lib/dhcp/dhclient.leases` inside the lab (`$LAB_DIR/run/dhcp/...`
//! outside). Ground truth is read independently of the daemon: the lease file itself (parsed
//! here, not with the daemon's parser), and resolved's and hostnamed's own properties over
//! the bus (`busctl`).
//!
//! What dhclient 4.4.3 (Debian 12) really does, found writing these tests:
//! * `dhclient -r` (release) does **not** remove the lease from the file: it rewrites the file
//!   with the released lease last and its `renew`, `rebind` and `expire` set to the moment of
//!   the release. So the released lease has expired, and the daemon drops it.
//! * `dhclient -x` and SIGTERM stop it without a release: the lease stays in the file as it
//!   was (`-x` also removes the address), so it stays current until it expires
//!   (docs/leases.md, "Limitation").
//!
//! Each test starts its own daemon with its own config dir, `RuntimeDirectory` and hook
//! recorder, and leaves the lab as it found it: dhclient running and bound, resolved's
//! settings for the link reverted, the static host name `labhost` set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lab's dhclient link.
const DH0: &str = "labdh0";

/// How long one hook run, a push or the daemon's reading of a file may take. Generous: it is
/// a safety net, the tests wait for conditions.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long no new run must come before a test asserts on what did *not* run: longer than
/// the lease source's debounce (250 ms quiet, 2 s at most) and its retry (1 s). Only used
/// after the test has shown that the daemon already read what could have run something.
const QUIET: Duration = Duration::from_secs(3);

/// The daemon's `LeaseChanged` signals and every `PropertiesChanged` of its link objects.
const LEASE_SIGNALS: &str =
    "type='signal',interface='org.freedesktop.NetworkBroker1.Manager',member='LeaseChanged'";
const LINK_PROPERTIES: &str = "type='signal',interface='org.freedesktop.DBus.Properties',\
     member='PropertiesChanged',path_namespace='/org/freedesktop/NetworkBroker1'";

/// The daemon's configuration for these tests: `Generator: dhclient`, debug log, its own
/// `RuntimeDirectory`, only `links`, DNS and domains pushed, the host name as asked.
fn yaml(runtime: &Path, links: &str, lease_files: &str, use_hostname: bool) -> String {
    format!(
        "System:\n  Generator: dhclient\n  LogLevel: debug\n  RuntimeDirectory: {}\n\
         Network:\n  Links: {links}\n  EmitJSON: true\n  UseDNS: true\n  UseDomain: true\n  \
         UseHostname: {use_hostname}\n  LeaseFiles: {lease_files}\n",
        runtime.display()
    )
}

fn runtime_dir(rec: &HookRecorder) -> PathBuf {
    rec.path().join("runtime")
}

// ------------------------------------------------------------------------------------------
// dhclient's lease file, read here without the daemon's parser

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// dhclient's time `W YYYY/MM/DD HH:MM:SS` (UTC, its default `db-time-format`) for `t`.
fn dhclient_time(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday
    format!(
        "{weekday} {y}/{m:02}/{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix time of dhclient's `W YYYY/MM/DD HH:MM:SS`.
fn parse_dhclient_time(text: &str) -> i64 {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [_weekday, date, time] = fields[..] else {
        panic!("not a dhclient time: {text:?}")
    };
    let num = |s: &str| -> i64 { s.parse().unwrap_or_else(|_| panic!("bad time {text:?}")) };
    let d: Vec<i64> = date.split('/').map(num).collect();
    let t: Vec<i64> = time.split(':').map(num).collect();
    days_from_civil(d[0], d[1], d[2]) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

fn unix_now() -> i64 {
    i64::try_from(now_ns() / 1_000_000_000).unwrap()
}

/// The `lease { ... }` blocks of a dhclient lease file, as text (each with its braces).
fn lease_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("lease {") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.trim() == "}" {
                blocks.push(current.take().unwrap());
            }
        }
    }
    blocks
}

/// The value of statement `key` in a block (`option routers`, `expire`, ...), without `;`.
fn statement<'a>(block: &'a str, key: &str) -> Option<&'a str> {
    block.lines().find_map(|l| {
        l.trim()
            .strip_prefix(key)
            .filter(|rest| rest.starts_with(' '))
            .map(|rest| rest.trim().trim_end_matches(';'))
    })
}

/// The last block of interface `iface` in the lab's dhclient lease file.
fn last_block(lab: &LabInfo, iface: &str) -> String {
    let path = lab.dhclient_leases();
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lease_blocks(&text)
        .into_iter()
        .rfind(|b| statement(b, "interface") == Some(&format!("\"{iface}\"")))
        .unwrap_or_else(|| panic!("no lease of {iface} in {}:\n{text}", path.display()))
}

/// `block` with `renew`, `rebind` and `expire` moved by `seconds`: dhclient's renewal of the
/// same lease.
fn shift_times(block: &str, seconds: i64) -> String {
    block
        .lines()
        .map(|line| {
            let trimmed = line.trim();
            for key in ["renew", "rebind", "expire"] {
                if let Some(rest) = trimmed.strip_prefix(key).filter(|r| r.starts_with(' ')) {
                    let t = parse_dhclient_time(rest.trim().trim_end_matches(';'));
                    return format!("  {key} {};\n", dhclient_time(t + seconds));
                }
            }
            format!("{line}\n")
        })
        .collect()
}

/// `block` with option `name` set to `value` (the option's line replaced).
fn with_option(block: &str, name: &str, value: &str) -> String {
    let prefix = format!("option {name} ");
    assert!(block.contains(&prefix), "no option {name} in {block}");
    block
        .lines()
        .map(|line| {
            if line.trim().starts_with(&prefix) {
                format!("  option {name} {value};\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

/// A lease of `iface` as dhclient writes it, bound now for an hour.
fn lease_block(iface: &str, address: &str, router: &str, dns: &[&str], domain: &str) -> String {
    let now = unix_now();
    format!(
        "lease {{\n  interface \"{iface}\";\n  fixed-address {address};\n  \
         option subnet-mask 255.255.255.0;\n  option routers {router};\n  \
         option dhcp-lease-time 3600;\n  option dhcp-message-type 5;\n  \
         option domain-name-servers {};\n  option dhcp-server-identifier {router};\n  \
         option domain-search \"{domain}.\";\n  option domain-name \"{domain}\";\n  \
         renew {};\n  rebind {};\n  expire {};\n}}\n",
        dns.join(","),
        dhclient_time(now + 1800),
        dhclient_time(now + 3150),
        dhclient_time(now + 3600),
    )
}

fn append(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes()).unwrap();
}

// ------------------------------------------------------------------------------------------
// the daemon's side

/// Waits for a completed `routable.d` run of `link` that started after `since` and whose
/// `DHCP_LEASE` has the line `want`.
fn wait_for_lease_run(rec: &HookRecorder, since: u128, link: &str, want: &str) -> RecordedRun {
    wait_until(
        &format!("routable.d to run for {link} with {want} in DHCP_LEASE"),
        HOOK_TIMEOUT,
        || {
            let runs = rec.runs_since(since, Some(link));
            runs.iter()
                .find(|r| {
                    r.event == "routable"
                        && r.var("DHCP_LEASE")
                            .is_some_and(|l| l.lines().any(|l| l == want))
                })
                .cloned()
                .ok_or_else(|| format!("runs for {link} since the mark:\n{}", summarize(&runs)))
        },
    )
}

/// `DHCP_LEASE` as a map (one `KEY=VALUE` per line, hooks.md).
fn dhcp_lease(run: &RecordedRun) -> BTreeMap<String, String> {
    let text = run
        .var("DHCP_LEASE")
        .unwrap_or_else(|| panic!("no DHCP_LEASE in {}: {:?}", run.summary(), run.env));
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("DHCP_LEASE line {l:?} is not KEY=VALUE: {text:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The daemon's `Lease` property of link `ifindex` (`a{ss}`).
fn bus_lease(lab: &LabInfo, ifindex: u32) -> Result<BTreeMap<String, String>, String> {
    let v = lab.try_get_property(&link_path(ifindex), LINK_IFACE, "Lease")?;
    v.as_object()
        .ok_or_else(|| format!("Lease is not a{{ss}}: {v}"))?
        .iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_owned()))
                .ok_or_else(|| format!("Lease value of {k} is not a string: {v}"))
        })
        .collect()
}

/// Waits until the daemon's `Lease` of `ifindex` has `key` = `value`.
fn wait_bus_lease(lab: &LabInfo, ifindex: u32, key: &str, value: &str) {
    wait_until(
        &format!("the daemon's Lease of link {ifindex} to have {key}={value}"),
        HOOK_TIMEOUT,
        || {
            let lease = bus_lease(lab, ifindex)?;
            if lease.get(key).map(String::as_str) == Some(value) {
                Ok(())
            } else {
                Err(format!("Lease {lease:?}"))
            }
        },
    );
}

/// The daemon's `LeaseChanged(i, s, a{ss})` signals after `mark` for `ifindex`: the lease.
fn lease_changed(mon: &Monitor, mark: usize, ifindex: u32) -> Vec<Value> {
    mon.messages_after(mark)
        .into_iter()
        .filter(|m| is_signal(m, MANAGER_PATH, MANAGER_IFACE, "LeaseChanged"))
        .filter(|m| m["payload"]["data"][0].as_u64() == Some(u64::from(ifindex)))
        .map(|m| m["payload"]["data"][2].clone())
        .collect()
}

/// The daemon's log since byte `mark`.
fn log_since(broker: &Broker, mark: usize) -> String {
    let log = broker.log();
    log.get(mark.min(log.len())..)
        .unwrap_or_default()
        .to_owned()
}

/// Waits for a line of the daemon's log after `mark` that contains every one of `words`.
fn wait_log(broker: &Broker, mark: usize, what: &str, words: &[&str]) -> String {
    wait_until(what, HOOK_TIMEOUT, || {
        let log = log_since(broker, mark);
        log.lines()
            .find(|l| words.iter().all(|w| l.contains(w)))
            .map(str::to_owned)
            .ok_or_else(|| format!("no such line; the log since the mark:\n{log}"))
    })
}

fn assert_alive(lab: &LabInfo, broker: &mut Broker) {
    assert_eq!(
        broker.try_wait(),
        None,
        "the daemon exited\n{}",
        broker.log()
    );
    assert_eq!(
        lab.name_owner_pid(BUS_NAME),
        Some(broker.pid),
        "the daemon must still own {BUS_NAME}"
    );
    lab.try_list_links()
        .unwrap_or_else(|e| panic!("the daemon must still answer ListLinks: {e}"));
}

/// labdh0's settings as the lab's dhclient gets them from dnsmasq.
fn dh0_dns() -> Vec<std::net::IpAddr> {
    ips(&["192.168.79.1", "192.168.79.53"])
}
const DH0_DOMAINS: [&str; 2] = ["dh0.lab.test", "search.lab.test"];

// ------------------------------------------------------------------------------------------
// the tests

/// The lease dnsmasq handed out, already in the file when the daemon starts, runs
/// `routable.d` once for labdh0 with the documented variables (hooks.md: `DHCP_LEASE` one
/// `KEY=VALUE` per line with networkd's key names, `DNS`, `DOMAIN`, `DOMAINSEARCH`, the JSON's
/// `Lease`), and labdh0's bus object shows `Lease`, `DNS` and `Domains`. Leases are not
/// startup triggers: the lease set the daemon starts with is a change like any other
/// (docs/leases.md, hooks.md), so a restarted daemon runs `routable.d` again, whatever its
/// `RuntimeDirectory` remembers.
#[test]
fn lease_in_the_file_at_start_runs_routable_once_with_the_documented_variables() {
    let Some(lab) = Lab::require() else { return };
    lab.ensure_dhclient();
    let idx = lab.ifindex(DH0);
    let _revert = ResolvedRevertOnDrop {
        lab: &lab,
        ifindex: idx,
    };

    // ground truth: the lease dhclient wrote, read here
    let block = last_block(&lab, DH0);
    assert_eq!(
        statement(&block, "fixed-address"),
        Some("192.168.79.10"),
        "{block}"
    );
    let expire = parse_dhclient_time(statement(&block, "expire").expect("expire"));
    assert!(
        expire > unix_now(),
        "the lab's lease must be current:\n{block}"
    );

    let rec = HookRecorder::new();
    let config = yaml(&runtime_dir(&rec), DH0, DHCLIENT_LEASES, true);
    let since = now_ns();
    let broker = Broker::start(&lab, &config, &rec.hooks(&["routable"]));
    let run = wait_for_lease_run(&rec, since, DH0, "ADDRESS=192.168.79.10");

    let s = run.summary();
    assert_eq!(run.var("EVENT"), Some("routable"), "{s}");
    assert_eq!(run.var("STATE"), Some("routable"), "{s}");
    assert_eq!(run.var("LINK"), Some(DH0), "{s}");
    assert_eq!(run.var("IFACE"), Some(DH0), "{s}");
    assert_eq!(run.var("LINKINDEX"), Some(idx.to_string().as_str()), "{s}");
    assert!(
        !run.env.contains_key(LEAK_CANARY),
        "{LEAK_CANARY} leaked: {s}"
    );
    let lease = dhcp_lease(&run);
    let expire_text = expire.to_string();
    for (key, want) in [
        ("INTERFACE", DH0),
        ("ADDRESS", "192.168.79.10"),
        ("NETMASK", "255.255.255.0"),
        ("ROUTER", "192.168.79.1"),
        ("DNS", "192.168.79.1 192.168.79.53"),
        ("DOMAINNAME", "dh0.lab.test"),
        ("DOMAIN_SEARCH_LIST", "dh0.lab.test search.lab.test"),
        ("HOSTNAME", "labclient-dh0"),
        ("EXPIRE", expire_text.as_str()),
    ] {
        assert_eq!(
            lease.get(key).map(String::as_str),
            Some(want),
            "DHCP_LEASE {key}: {lease:?}"
        );
    }
    assert_eq!(run.var("DNS"), Some("192.168.79.1 192.168.79.53"), "{s}");
    assert_eq!(run.var("DOMAIN"), Some("dh0.lab.test"), "{s}");
    assert_eq!(
        run.var("DOMAINSEARCH"),
        Some("dh0.lab.test search.lab.test"),
        "{s}"
    );
    assert!(
        run.var("IP_ADDRS")
            .is_some_and(|a| a.split(' ').any(|a| a == "192.168.79.10")),
        "IP_ADDRS: {:?}",
        run.var("IP_ADDRS")
    );
    let json = run.json().unwrap_or_else(|| panic!("no JSON: {s}"));
    assert_eq!(json["Name"], DH0, "{json}");
    assert_eq!(json["Index"], Value::from(idx), "{json}");
    assert_eq!(json["Lease"]["ADDRESS"], "192.168.79.10", "{json}");
    assert_eq!(json["Lease"]["ROUTER"], "192.168.79.1", "{json}");
    assert_eq!(json["Lease"]["DNS"], "192.168.79.1 192.168.79.53", "{json}");
    let stdin: Value = serde_json::from_str(&run.stdin).expect("JSON on stdin");
    assert_eq!(stdin, json, "stdin and JSON hold the same document");

    // the bus
    wait_bus_lease(&lab, idx, "ADDRESS", "192.168.79.10");
    let bus = bus_lease(&lab, idx).unwrap();
    let as_map: BTreeMap<String, String> = lease.clone();
    assert_eq!(bus, as_map, "the bus Lease is DHCP_LEASE key by key");
    assert_eq!(
        lab.get_property(&link_path(idx), LINK_IFACE, "DNS"),
        Value::from(vec!["192.168.79.1", "192.168.79.53"])
    );
    assert_eq!(
        lab.get_property(&link_path(idx), LINK_IFACE, "Domains"),
        Value::from(DH0_DOMAINS.to_vec())
    );

    // once: nothing else came for the lease set the daemon started with
    rec.settle(QUIET);
    let runs = rec.runs_since(since, None);
    assert_eq!(runs.len(), 1, "exactly one run:\n{}", summarize(&runs));

    // not a startup trigger: a restarted daemon, with the same RuntimeDirectory (its memory
    // of the state hooks this boot dispatched), runs routable.d for the same lease again
    drop(broker);
    let restart = now_ns();
    let _broker = Broker::start(&lab, &config, &rec.hooks(&["routable"]));
    wait_for_lease_run(&rec, restart, DH0, "ADDRESS=192.168.79.10");
    rec.settle(QUIET);
    let runs = rec.runs_since(restart, None);
    assert_eq!(
        runs.len(),
        1,
        "one run after the restart:\n{}",
        summarize(&runs)
    );
}

/// Resolved reports the pushed servers and search domains for labdh0 (`GetLink`, the
/// link's `DNS` and `Domains`, every domain a search domain: routing-only `false`), and
/// hostnamed reports the lease's host name as the transient one, but only while no static
/// name is set: with the lab's static `labhost` the push succeeds and the host name stays
/// `labhost`; with the static name removed (and restored afterwards) it is `labclient-dh0`.
#[test]
fn lease_is_pushed_to_resolved_and_hostnamed() {
    let Some(lab) = Lab::require() else { return };
    lab.ensure_dhclient();
    let idx = lab.ifindex(DH0);
    let _revert = ResolvedRevertOnDrop {
        lab: &lab,
        ifindex: idx,
    };
    let static_name = hostnamed_property(&lab, "StaticHostname").unwrap();
    assert_eq!(static_name, "labhost", "the lab sets a static host name");
    let _restore = StaticHostnameOnDrop {
        lab: &lab,
        name: static_name.clone(),
    };
    let rec = HookRecorder::new();
    let config = yaml(&runtime_dir(&rec), DH0, DHCLIENT_LEASES, true);

    // with the static name: hostnamed accepts the transient name and keeps using the static
    {
        let broker = Broker::start(&lab, &config, &rec.hooks(&["routable"]));
        wait_resolved(
            &lab,
            idx,
            "resolved to hold labdh0's servers and search domains",
            &dh0_dns(),
            &DH0_DOMAINS,
        );
        wait_log(
            &broker,
            0,
            "the daemon to set the transient host name",
            &["transient host name set", "labclient-dh0"],
        );
        assert_eq!(hostnamed_property(&lab, "Hostname").unwrap(), "labhost");
        assert_eq!(
            hostnamed_property(&lab, "HostnameSource").unwrap(),
            "static"
        );
        assert_eq!(
            hostnamed_property(&lab, "StaticHostname").unwrap(),
            "labhost"
        );
    }

    // without it: a fresh daemon's push is the host name
    revert_resolved_link(&lab, idx).ok();
    wait_resolved(&lab, idx, "resolved to forget labdh0's settings", &[], &[]);
    set_static_hostname(&lab, "");
    let _broker = Broker::start(&lab, &config, &rec.hooks(&["routable"]));
    wait_resolved(
        &lab,
        idx,
        "the second daemon to push labdh0's servers and search domains again",
        &dh0_dns(),
        &DH0_DOMAINS,
    );
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
        "the daemon never sets the static host name"
    );
    let resolvectl = lab.run(&[
        lab.dir
            .join("cache/resolved/usr/bin/resolvectl")
            .to_str()
            .unwrap(),
        "status",
        "--no-pager",
        DH0,
    ]);
    assert!(
        resolvectl.contains("DNS Domain: dh0.lab.test search.lab.test"),
        "resolvectl shows search domains (no `~`):\n{resolvectl}"
    );
}

/// `dhclient -r` releases labdh0's lease. dhclient 4.4.3 keeps the block in its file but
/// writes it with `expire` at the moment of the release, so the lease is gone: the daemon
/// reverts resolved (`RevertLink`), drops the transient host name it set, empties the bus
/// `Lease`, signals `LeaseChanged` with an empty lease, and runs no hook. Starting dhclient
/// again (back to the lab's state) is the liveness proof: one `routable.d` run, the settings
/// pushed again.
#[test]
fn released_lease_reverts_resolved_and_hostnamed() {
    let Some(lab) = Lab::require() else { return };
    lab.ensure_dhclient();
    let idx = lab.ifindex(DH0);
    let _revert = ResolvedRevertOnDrop {
        lab: &lab,
        ifindex: idx,
    };
    let static_name = hostnamed_property(&lab, "StaticHostname").unwrap();
    let _restore = StaticHostnameOnDrop {
        lab: &lab,
        name: static_name,
    };
    set_static_hostname(&lab, "");
    let mon = Monitor::start(&lab, &[LEASE_SIGNALS]);
    let rec = HookRecorder::new();
    let since = now_ns();
    let broker = Broker::start(
        &lab,
        &yaml(&runtime_dir(&rec), DH0, DHCLIENT_LEASES, true),
        &rec.hooks(&["routable"]),
    );
    wait_for_lease_run(&rec, since, DH0, "ADDRESS=192.168.79.10");
    wait_resolved(
        &lab,
        idx,
        "the push of labdh0's lease",
        &dh0_dns(),
        &DH0_DOMAINS,
    );
    wait_until("the transient host name", EVENT_TIMEOUT, || {
        let name = hostnamed_property(&lab, "Hostname")?;
        (name == "labclient-dh0").then_some(()).ok_or(name)
    });

    let released = now_ns();
    let mark = mon.mark();
    let log_mark = broker.log().len();
    let mut dhclient = lab.release_dhclient();
    // what dhclient really did to its file
    let block = last_block(&lab, DH0);
    let expire = parse_dhclient_time(statement(&block, "expire").expect("expire"));
    assert!(
        expire <= unix_now(),
        "dhclient -r writes the released lease with expire = the release (dhclient 4.4.3):\n{block}"
    );
    assert!(
        !lab.kernel_addresses(DH0)
            .iter()
            .any(|(a, _)| a.to_string() == "192.168.79.10"),
        "dhclient-script removed the address"
    );

    wait_resolved(&lab, idx, "resolved to drop labdh0's settings", &[], &[]);
    wait_log(
        &broker,
        log_mark,
        "the daemon to log the revert",
        &["resolved dropped the link's DNS settings (RevertLink)", DH0],
    );
    wait_until(
        "the transient host name to be dropped",
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
    wait_until("the daemon's Lease to be empty", EVENT_TIMEOUT, || {
        let lease = bus_lease(&lab, idx)?;
        lease.is_empty().then_some(()).ok_or(format!("{lease:?}"))
    });
    assert_eq!(
        lab.get_property(&link_path(idx), LINK_IFACE, "DNS"),
        Value::from(Vec::<String>::new())
    );
    assert_eq!(
        lab.get_property(&link_path(idx), LINK_IFACE, "Domains"),
        Value::from(Vec::<String>::new())
    );
    mon.wait_for_after(
        mark,
        "LeaseChanged with an empty lease",
        EVENT_TIMEOUT,
        |m| {
            is_signal(m, MANAGER_PATH, MANAGER_IFACE, "LeaseChanged")
                && m["payload"]["data"][0].as_u64() == Some(u64::from(idx))
                && m["payload"]["data"][1] == DH0
                && m["payload"]["data"][2]
                    .as_object()
                    .is_some_and(|o| o.is_empty())
        },
    );

    // back to the lab's state: dhclient binds again, which is a new lease for the daemon
    let rebound = now_ns();
    dhclient.start();
    wait_for_lease_run(&rec, rebound, DH0, "ADDRESS=192.168.79.10");
    wait_resolved(
        &lab,
        idx,
        "the new lease pushed again",
        &dh0_dns(),
        &DH0_DOMAINS,
    );
    rec.settle(QUIET);
    let during_release: Vec<RecordedRun> = rec
        .runs_since(released, None)
        .into_iter()
        .filter(|r| r.ts < rebound)
        .collect();
    assert!(
        during_release.is_empty(),
        "a lost lease runs no hook:\n{}",
        summarize(&during_release)
    );
    let after = rec.runs_since(rebound, None);
    assert_eq!(
        after.len(),
        1,
        "one run for the new lease:\n{}",
        summarize(&after)
    );
    let changed = lease_changed(&mon, mark, idx);
    assert_eq!(
        changed.len(),
        2,
        "LeaseChanged: lost, then bound: {changed:?}"
    );
    assert_eq!(changed[1]["ADDRESS"], "192.168.79.10", "{changed:?}");
}

/// A renewal with identical content runs nothing. Appended as dhclient appends it (the
/// current block with only `renew`, `rebind` and `expire` moved; dhclient is stopped meanwhile
/// so that its own renewals cannot interfere): the daemon takes the new expiry (bus `Lease`),
/// signals no `LeaseChanged` and runs no hook. A block with another router and DNS server
/// then runs `routable.d` exactly once with the new values, and resolved gets the new server.
#[test]
fn renewal_with_identical_content_runs_nothing_but_a_changed_lease_runs_once() {
    let Some(lab) = Lab::require() else { return };
    lab.ensure_dhclient();
    let idx = lab.ifindex(DH0);
    let _revert = ResolvedRevertOnDrop {
        lab: &lab,
        ifindex: idx,
    };
    // dhclient started again on drop: it re-binds and writes dnsmasq's lease last again
    let _dhclient = lab.stop_dhclient();
    let mon = Monitor::start(&lab, &[LEASE_SIGNALS, LINK_PROPERTIES]);
    let rec = HookRecorder::new();
    let since = now_ns();
    let broker = Broker::start(
        &lab,
        &yaml(&runtime_dir(&rec), DH0, DHCLIENT_LEASES, false),
        &rec.hooks(&["routable"]),
    );
    wait_for_lease_run(&rec, since, DH0, "ADDRESS=192.168.79.10");
    wait_resolved(
        &lab,
        idx,
        "the push of labdh0's lease",
        &dh0_dns(),
        &DH0_DOMAINS,
    );
    rec.settle(QUIET);
    assert_eq!(rec.runs_since(since, None).len(), 1);

    // the renewal
    let current = last_block(&lab, DH0);
    let renewed = shift_times(&current, 120);
    let new_expire = parse_dhclient_time(statement(&renewed, "expire").unwrap()).to_string();
    let renewal = now_ns();
    let mark = mon.mark();
    append(&lab.dhclient_leases(), &renewed);
    wait_bus_lease(&lab, idx, "EXPIRE", &new_expire);
    mon.wait_for_after(
        mark,
        "PropertiesChanged(Lease) of labdh0 for the renewal",
        EVENT_TIMEOUT,
        |m| {
            m["path"] == link_path(idx).as_str()
                && changed_property(m, LINK_IFACE, "Lease").is_some()
        },
    );
    rec.settle(QUIET);
    let runs = rec.runs_since(renewal, None);
    assert!(
        runs.is_empty(),
        "a renewal runs nothing:\n{}",
        summarize(&runs)
    );
    assert!(
        lease_changed(&mon, mark, idx).is_empty(),
        "a renewal is no LeaseChanged"
    );

    // liveness: a changed lease runs once, with the new values
    let changed = with_option(
        &with_option(&shift_times(&current, 240), "routers", "192.168.79.254"),
        "domain-name-servers",
        "192.168.79.53",
    );
    let change = now_ns();
    append(&lab.dhclient_leases(), &changed);
    let run = wait_for_lease_run(&rec, change, DH0, "ROUTER=192.168.79.254");
    let lease = dhcp_lease(&run);
    assert_eq!(lease.get("DNS").map(String::as_str), Some("192.168.79.53"));
    assert_eq!(
        lease.get("ADDRESS").map(String::as_str),
        Some("192.168.79.10")
    );
    assert_eq!(run.var("DNS"), Some("192.168.79.53"));
    wait_resolved(
        &lab,
        idx,
        "resolved to get the new server",
        &ips(&["192.168.79.53"]),
        &DH0_DOMAINS,
    );
    rec.settle(QUIET);
    let runs = rec.runs_since(renewal, None);
    assert_eq!(
        runs.len(),
        1,
        "the changed lease ran once and the renewal before it nothing:\n{}",
        summarize(&runs)
    );
    let signals = lease_changed(&mon, mark, idx);
    assert_eq!(signals.len(), 1, "one LeaseChanged: {signals:?}");
    assert_eq!(signals[0]["ROUTER"], "192.168.79.254", "{signals:?}");
    drop(broker);
}

/// A half-written or garbage lease file keeps the old lease and the daemon running. On a
/// lease file of the test's own (`dhclient.<link>.leases`) for a veth of its own: a complete
/// lease runs `routable.d` and is pushed; half a block appended runs nothing, keeps the bus
/// `Lease` and resolved's settings, and is warned about with the file and the line once the
/// file failed twice; completing the block runs once with the new lease; garbage over the
/// whole file runs nothing, keeps the lease, warns with the file and line, and a valid file
/// after it runs once again.
#[test]
fn half_written_or_garbage_lease_file_keeps_the_old_lease_and_the_daemon_running() {
    let Some(lab) = Lab::require() else { return };
    let link = TestLink::veth(&lab);
    let dir = ScratchDir::new("nb-leases-");
    let file = dir.path().join(format!("dhclient.{}.leases", link.name));
    let path = file.display().to_string();
    let rec = HookRecorder::new();
    let mut broker = Broker::start(
        &lab,
        &yaml(&runtime_dir(&rec), &link.name, &path, false),
        &rec.hooks(&["routable"]),
    );
    let n = link.name.as_str();

    // a complete lease
    let since = now_ns();
    let first = lease_block(n, "192.0.2.10", "192.0.2.1", &["192.0.2.53"], "t1.lab.test");
    fs::write(&file, &first).unwrap();
    wait_for_lease_run(&rec, since, n, "ADDRESS=192.0.2.10");
    wait_resolved(
        &lab,
        link.ifindex,
        "resolved to hold the first lease's settings",
        &ips(&["192.0.2.53"]),
        &["t1.lab.test"],
    );

    // half a block: dhclient caught mid-write
    let second = lease_block(n, "192.0.2.11", "192.0.2.2", &["192.0.2.54"], "t2.lab.test");
    let cut = second.find("option domain-name-servers").unwrap() + "option domain-na".len();
    let half_start_line = first.lines().count() + 1;
    let half = now_ns();
    let log_mark = broker.log().len();
    append(&file, &second[..cut]);
    let warning = wait_log(
        &broker,
        log_mark,
        "a warning about the half-written file (after its second failed read)",
        &["WARN", &path, &format!("line {half_start_line}:")],
    );
    assert!(
        warning.contains("keeping its 1 earlier lease(s)"),
        "the warning says the old lease stays: {warning}"
    );
    assert_alive(&lab, &mut broker);
    let runs = rec.runs_since(half, None);
    assert!(
        runs.is_empty(),
        "half a block runs nothing:\n{}",
        summarize(&runs)
    );
    let lease = bus_lease(&lab, link.ifindex).unwrap();
    assert_eq!(
        lease.get("ADDRESS").map(String::as_str),
        Some("192.0.2.10"),
        "{lease:?}"
    );
    assert_eq!(
        resolved_link(&lab, link.ifindex).unwrap(),
        (
            ips(&["192.0.2.53"]),
            vec![("t1.lab.test".to_owned(), false)]
        ),
        "resolved keeps the old lease's settings"
    );

    // the rest of the block
    append(&file, &second[cut..]);
    wait_for_lease_run(&rec, half, n, "ADDRESS=192.0.2.11");
    wait_resolved(
        &lab,
        link.ifindex,
        "resolved to hold the completed lease's settings",
        &ips(&["192.0.2.54"]),
        &["t2.lab.test"],
    );
    wait_log(
        &broker,
        log_mark,
        "the daemon to log that the file parses again",
        &[&format!("leases: {path} parses again")],
    );
    rec.settle(QUIET);
    let runs = rec.runs_since(half, None);
    assert_eq!(
        runs.len(),
        1,
        "one run, for the completed block:\n{}",
        summarize(&runs)
    );

    // garbage over the whole file
    let garbage = now_ns();
    let log_mark = broker.log().len();
    fs::write(&file, "# a careless edit\nthis is { not a lease file\n").unwrap();
    let warning = wait_log(
        &broker,
        log_mark,
        "a warning about the garbage",
        &["WARN", &path, "line 2, column"],
    );
    assert!(
        warning.contains("keeping its 2 earlier lease(s)"),
        "{warning}"
    );
    assert_alive(&lab, &mut broker);
    assert!(
        rec.runs_since(garbage, None).is_empty(),
        "garbage runs nothing"
    );
    let lease = bus_lease(&lab, link.ifindex).unwrap();
    assert_eq!(
        lease.get("ADDRESS").map(String::as_str),
        Some("192.0.2.11"),
        "{lease:?}"
    );
    assert_eq!(
        resolved_link(&lab, link.ifindex).unwrap(),
        (
            ips(&["192.0.2.54"]),
            vec![("t2.lab.test".to_owned(), false)]
        ),
    );

    // liveness: a valid file again
    let third = lease_block(n, "192.0.2.12", "192.0.2.3", &["192.0.2.55"], "t3.lab.test");
    fs::write(&file, &third).unwrap();
    wait_for_lease_run(&rec, garbage, n, "ADDRESS=192.0.2.12");
    wait_resolved(
        &lab,
        link.ifindex,
        "resolved to hold the third lease's settings",
        &ips(&["192.0.2.55"]),
        &["t3.lab.test"],
    );
    rec.settle(QUIET);
    let runs = rec.runs_since(garbage, None);
    assert_eq!(
        runs.len(),
        1,
        "garbage ran nothing, the valid file once:\n{}",
        summarize(&runs)
    );
    assert_alive(&lab, &mut broker);
}

/// `Links` selects the links a lease acts on, and deleting a link takes its settings out
/// of resolved. Two veths of the test's own with a lease each in one file, only the first
/// selected: it runs `routable.d` and gets its servers in resolved; the other gets neither.
/// Deleting the first link leaves resolved with nothing for it, drops its bus object, logs no
/// warning, and the daemon runs on.
#[test]
fn links_filter_and_deleting_the_link_revert_resolved() {
    let Some(lab) = Lab::require() else { return };
    let mut chosen = TestLink::veth(&lab);
    let other = TestLink::veth(&lab);
    let dir = ScratchDir::new("nb-leases-");
    let file = dir.path().join("dhclient.leases");
    let rec = HookRecorder::new();
    let mut broker = Broker::start(
        &lab,
        &yaml(
            &runtime_dir(&rec),
            &chosen.name,
            &file.display().to_string(),
            false,
        ),
        &rec.hooks(&["routable"]),
    );
    let since = now_ns();
    let text = lease_block(
        &other.name,
        "192.0.2.20",
        "192.0.2.1",
        &["192.0.2.63"],
        "o.lab.test",
    ) + &lease_block(
        &chosen.name,
        "192.0.2.10",
        "192.0.2.1",
        &["192.0.2.53"],
        "c.lab.test",
    );
    fs::write(&file, text).unwrap();
    wait_for_lease_run(&rec, since, &chosen.name, "ADDRESS=192.0.2.10");
    wait_resolved(
        &lab,
        chosen.ifindex,
        "resolved to hold the chosen link's settings",
        &ips(&["192.0.2.53"]),
        &["c.lab.test"],
    );
    // both leases came in the same read and the same decision: by now the other's would be
    // submitted too
    rec.settle(QUIET);
    let runs = rec.runs_since(since, None);
    assert_eq!(
        runs.len(),
        1,
        "only the selected link runs:\n{}",
        summarize(&runs)
    );
    assert_eq!(
        resolved_link(&lab, other.ifindex).unwrap(),
        (vec![], vec![]),
        "nothing pushed for a link outside Links"
    );
    // the daemon still shows the other link's lease: Links selects what runs, not what is seen
    wait_bus_lease(&lab, other.ifindex, "ADDRESS", "192.0.2.20");

    let log_mark = broker.log().len();
    let path = chosen.path();
    chosen.delete();
    wait_until(
        "resolved to forget the deleted link",
        EVENT_TIMEOUT,
        || match resolved_link(&lab, chosen.ifindex) {
            Err(e) => Ok(e),
            Ok((dns, domains)) if dns.is_empty() && domains.is_empty() => Ok(String::new()),
            Ok(held) => Err(format!("resolved still holds {held:?}")),
        },
    );
    wait_until("the link's bus object to go", EVENT_TIMEOUT, || {
        match lab.try_get_property(&path, LINK_IFACE, "Name") {
            Err(_) => Ok(()),
            Ok(v) => Err(format!("still there: {v}")),
        }
    });
    assert_alive(&lab, &mut broker);
    let log = log_since(&broker, log_mark);
    assert!(
        !log.lines().any(|l| l.contains("WARN")),
        "a deleted link's revert is no warning:\n{log}"
    );
    drop(other);
}
