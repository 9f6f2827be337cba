//! Lab integration test of least privilege, proven: the daemon started as
//! its own user `network-broker` (uid 989 in the lab: `netlab.sh` adds it to the lab's
//! /etc/passwd overlay, as packaging's sysusers.d does) with `CAP_NET_ADMIN` and nothing else
//! (`setpriv`: bounding, inheritable and ambient set reduced to it, no supplementary groups),
//! as the packaged unit runs it.  With the project's polkit rule installed
//! (`polkit/rules.d/50-network-broker.rules`, put into the lab's /etc/polkit-1/rules.d by
//! `netlab.sh`), that daemon still
//! 1. manages policy routing (its rule for labdh0's lease address, protocol 78),
//! 2. pushes labdh0's DNS servers and search domains to the lab's systemd-resolved,
//! 3. sets the transient host name through systemd-hostnamed,
//! 4. checks its callers with polkit (root may `Reload`, uid 65534 is denied).
//!
//! Ground truth is read independently of the daemon: `ip -j rule`, resolved's and hostnamed's
//! own properties (`busctl` as root).  Without the lab the test SKIPs, under `CI=true` it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// The lab's dhclient link and the address dnsmasq leases it.
const DH0: &str = "labdh0";
const DH0_ADDR: &str = "192.168.79.10";
/// `RouteTableBase`, `RoutingPolicyPriority` and `RoutingPolicyProtocol` (defaults).
const TABLE_BASE: u32 = 1000;
const FROM_PRIORITY: u64 = 20000;
const PROTOCOL: &str = "78";
/// The daemon's user in the lab.
const NB_UID: u32 = 989;
/// `CAP_NET_ADMIN` (12) alone, as /proc/PID/status prints a capability set.
const CAP_NET_ADMIN_ONLY: &str = "0000000000001000";
const NOBODY: &str = "65534";
const ERR_ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";

/// The daemon's command inside the lab, in front of its own: uid/gid 989, no groups, only
/// `CAP_NET_ADMIN` (ambient, so it survives the exec of a non-setuid binary; bounding, so
/// nothing else can ever be gained).
const SETPRIV: [&str; 7] = [
    "setpriv",
    "--reuid=989",
    "--regid=989",
    "--clear-groups",
    "--inh-caps=-all,+net_admin",
    "--ambient-caps=-all,+net_admin",
    "--bounding-set=-all,+net_admin",
];

/// A line of /proc/PID/status (`Uid`, `CapEff`, ...), its value trimmed.
fn status_field(pid: u32, field: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

/// Flushes the rules and routes of protocol 78 now and on drop: a daemon keeps its own when it
/// stops (`RemoveRoutingOnStop: false`), and nothing else in the lab uses that protocol.
struct FlushOurRouting<'a>(&'a LabInfo);

impl FlushOurRouting<'_> {
    fn flush(&self) {
        for family in ["-4", "-6"] {
            let _ = self
                .0
                .output(&["ip", family, "rule", "flush", "protocol", PROTOCOL]);
            let _ = self.0.output(&[
                "ip", family, "route", "flush", "table", "all", "proto", PROTOCOL,
            ]);
        }
    }
}

impl Drop for FlushOurRouting<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `dbus-send` to the daemon's manager as `uid` (`None`: root); `Err(stderr)` on an error reply.
fn manager_call(lab: &LabInfo, uid: Option<&str>, method: &str) -> Result<String, String> {
    let mut args: Vec<String> = Vec::new();
    if let Some(uid) = uid {
        args.extend([
            "setpriv".into(),
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".into(),
        ]);
    }
    args.extend([
        "dbus-send".into(),
        "--system".into(),
        "--print-reply".into(),
        "--reply-timeout=20000".into(),
        format!("--dest={BUS_NAME}"),
        MANAGER_PATH.into(),
        format!("{MANAGER_IFACE}.{method}"),
    ]);
    let out = lab.output(&args);
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(out.stderr)
    }
}

#[test]
fn unprivileged_daemon_with_only_cap_net_admin_routes_pushes_dns_sets_hostname_checks_callers() {
    let Some(lab) = Lab::require() else { return };
    lab.ensure_dhclient();
    let idx = lab.ifindex(DH0);
    let table = TABLE_BASE + idx;

    // the lab is as the test needs it: the user, the rule, a lease file 989 can read
    let passwd = lab.run(&["getent", "passwd", "network-broker"]);
    assert_eq!(
        passwd.split(':').nth(2),
        Some(NB_UID.to_string().as_str()),
        "{passwd}"
    );
    let rule = lab.run(&["cat", "/etc/polkit-1/rules.d/50-network-broker.rules"]);
    assert!(
        rule.contains("org.freedesktop.hostname1.set-hostname"),
        "the project's polkit rule is installed in the lab: {rule}"
    );
    let mut readable = vec!["setpriv", "--reuid=989", "--regid=989", "--clear-groups"];
    readable.extend(["cat", DHCLIENT_LEASES]);
    let leases = lab.output(&readable);
    assert!(
        leases.success() && leases.stdout.contains(DH0_ADDR),
        "the lease file must be readable by uid 989: {}",
        leases.describe()
    );

    let flush = FlushOurRouting(&lab);
    flush.flush();
    let _revert = ResolvedRevertOnDrop {
        lab: &lab,
        ifindex: idx,
    };
    wait_resolved(&lab, idx, "resolved to start empty", &[], &[]);
    let static_name = hostnamed_property(&lab, "StaticHostname").unwrap();
    let _restore = StaticHostnameOnDrop {
        lab: &lab,
        name: static_name,
    };
    set_static_hostname(&lab, "");

    // its RuntimeDirectory belongs to it, as systemd's RuntimeDirectory= would make it
    let scratch = ScratchDir::new("nb-unpriv-");
    let runtime = scratch.path().join("runtime");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&runtime, Some(NB_UID), Some(NB_UID)).unwrap();
    let yaml = format!(
        "System:\n  Generator: dhclient\n  LogLevel: debug\n  RuntimeDirectory: {}\n\
         Network:\n  Links: {DH0}\n  UseDNS: true\n  UseDomain: true\n  UseHostname: true\n  \
         RoutingPolicyRules: {DH0}\n",
        runtime.display()
    );
    let broker = Broker::start_wrapped(&lab, ConfigDir::new(&yaml, &[]), &SETPRIV);

    // uid 989 and CAP_NET_ADMIN, nothing more
    let pid = broker.pid;
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        std::path::Path::new(broker_bin())
    );
    assert_eq!(status_field(pid, "Uid"), "989\t989\t989\t989");
    assert_eq!(status_field(pid, "Gid"), "989\t989\t989\t989");
    assert_eq!(status_field(pid, "Groups"), "");
    assert_eq!(status_field(pid, "CapEff"), CAP_NET_ADMIN_ONLY);
    assert_eq!(status_field(pid, "CapPrm"), CAP_NET_ADMIN_ONLY);
    assert_eq!(status_field(pid, "CapBnd"), CAP_NET_ADMIN_ONLY);

    // 1. policy routing: the rule for the lease's address, made by this daemon (protocol 78)
    wait_until(
        &format!("`from {DH0_ADDR} lookup {table}` with protocol {PROTOCOL}"),
        EVENT_TIMEOUT,
        || {
            let text = lab.run(&["ip", "-j", "-4", "rule", "show"]);
            let rules: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
            rules
                .as_array()
                .unwrap()
                .iter()
                .find(|r| {
                    r["src"] == DH0_ADDR
                        && r["table"].as_str() == Some(table.to_string().as_str())
                        && r["priority"] == FROM_PRIORITY
                        && matches!(r["protocol"].as_str(), Some("78" | "network-broker"))
                })
                .map(|_| ())
                .ok_or_else(|| format!("ip -j rule: {text}\n--- daemon log:\n{}", broker.log()))
        },
    );

    // 2. resolved took SetLinkDNS/SetLinkDomains from this unprivileged caller
    wait_resolved(
        &lab,
        idx,
        "resolved to hold labdh0's servers and search domains from the unprivileged daemon",
        &ips(&["192.168.79.1", "192.168.79.53"]),
        &["dh0.lab.test", "search.lab.test"],
    );

    // 3. hostnamed took SetHostname (the project's polkit rule): the transient name is used
    wait_until(
        "hostnamed's Hostname to be the transient labclient-dh0",
        EVENT_TIMEOUT,
        || {
            let name = hostnamed_property(&lab, "Hostname")?;
            let source = hostnamed_property(&lab, "HostnameSource")?;
            if name == "labclient-dh0" && source == "transient" {
                Ok(())
            } else {
                Err(format!(
                    "Hostname {name:?}, HostnameSource {source:?}\n--- daemon log:\n{}",
                    broker.log()
                ))
            }
        },
    );
    let log = broker.log();
    assert!(
        log.lines()
            .any(|l| l.contains("transient host name set") && l.contains("labclient-dh0")),
        "{log}"
    );
    // no push was refused (the daemon's warning for a denied call says "refused"), and no
    // authorization error reached the log
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| {
            (l.contains("push:") && l.contains("refused"))
                || l.contains("AccessDenied")
                || l.contains("InteractiveAuthorizationRequired")
        })
        .collect();
    assert!(refusals.is_empty(), "refused calls: {refusals:#?}\n{log}");

    // 4. it checks its callers with polkit: root may Reload, uid 65534 is denied
    manager_call(&lab, None, "Reload").expect("root may Reload() the unprivileged daemon");
    let denied = manager_call(&lab, Some(NOBODY), "Reload")
        .expect_err("uid 65534 must not Reload() the daemon");
    assert!(denied.contains(ERR_ACCESS_DENIED), "{denied}");
    assert_eq!(status_field(pid, "CapEff"), CAP_NET_ADMIN_ONLY);
}
