//! Lab integration tests of reloading: a reload (SIGHUP or `Reload()`) applies every
//! key docs/configuration.md lists as reloadable, and a restart-only key changed by a reload
//! keeps its running value and is named in the log, the `Reload()` reply and
//! `network-brokerctl reload`'s output. Each test drives the real daemon inside the lab
//! (`tests/lab/netlab.sh up`; without the lab they SKIP, under `CI=true` they fail) and reads
//! the effect where it lands: the hook recorder, the daemon's log, the kernel's rules, and
//! systemd-resolved's own properties.
//!
//! The keys whose effect is pure are also unit-tested in `src/config/reload.rs` (which keys a
//! reload lets through) and in `src/source/lease/tests.rs` (the lease source re-targeted).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

/// How long the daemon gets to reach a state. A safety net: the tests wait for conditions.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long no run must come before a test asserts that none did: well past the broker's
/// `routes-modified` debounce (250 ms quiet, 2 s at most).
const QUIET: Duration = Duration::from_secs(4);
/// What the daemon logs once the broker has put a reloaded configuration in force.
const APPLIED: &str = "configuration reloaded from";
/// Our routing protocol (the default `RoutingPolicyProtocol`).
const PROTOCOL: &str = "78";

/// How a test asks for a reload.
#[derive(Debug, Clone, Copy)]
enum Via {
    Sighup,
    Bus,
}

/// Writes `yaml` as the daemon's file, asks for a reload and waits until the broker applied
/// it. Returns the `Reload()` reply's lines (empty for SIGHUP).
fn reload(lab: &LabInfo, broker: &Broker, yaml: &str, via: Via) -> Vec<String> {
    let before = broker.log().matches(APPLIED).count();
    fs::write(broker.config.path().join("network-broker.yaml"), yaml).unwrap();
    let lines = match via {
        Via::Sighup => {
            lab.run(&["kill", "-HUP", &broker.pid.to_string()]);
            Vec::new()
        }
        Via::Bus => reload_reply(lab),
    };
    wait_until("the reload to be applied", TIMEOUT, || {
        let log = broker.log();
        if log.matches(APPLIED).count() > before {
            Ok(())
        } else {
            Err(format!("log so far:\n{log}"))
        }
    });
    lines
}

/// `Reload()` through busctl: the lines of its `as` reply.
fn reload_reply(lab: &LabInfo) -> Vec<String> {
    let reply = lab.busctl_json(&["call", BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reload"]);
    assert_eq!(reply["type"], "as", "Reload() returns as: {reply}");
    reply["data"][0]
        .as_array()
        .unwrap_or_else(|| panic!("Reload() reply: {reply}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// `RunHooks(event, link)`: per script its path, exit status and error text.
fn run_hooks(lab: &LabInfo, event: &str, ifindex: u32) -> Vec<(String, u64, String)> {
    let reply = lab.busctl_json(&[
        "--timeout=30",
        "call",
        BUS_NAME,
        MANAGER_PATH,
        MANAGER_IFACE,
        "RunHooks",
        "si",
        event,
        &ifindex.to_string(),
    ]);
    reply["data"][0]
        .as_array()
        .unwrap_or_else(|| panic!("RunHooks reply: {reply}"))
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_u64().unwrap(),
                r[2].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The run of `script` in a `RunHooks` reply.
fn result_of<'a>(results: &'a [(String, u64, String)], script: &str) -> &'a (String, u64, String) {
    results
        .iter()
        .find(|(path, ..)| path.ends_with(script))
        .unwrap_or_else(|| panic!("{script} not in {results:?}"))
}

/// The recorder's runs for `link` and `event` that started after `since`.
fn runs_of(rec: &HookRecorder, since: u128, link: &str, event: &str) -> Vec<RecordedRun> {
    rec.runs_since(since, Some(link))
        .into_iter()
        .filter(|r| r.event == event)
        .collect()
}

/// Our rules (protocol 78) that look up `table`, as `ip rule` lists them.
fn rules_for(lab: &LabInfo, table: u32) -> Vec<String> {
    lab.run(&["ip", "-4", "rule", "show", "protocol", PROTOCOL])
        .lines()
        .filter(|l| l.contains(&format!("lookup {table}")))
        .map(str::to_owned)
        .collect()
}

/// Deletes every rule and route of our protocol when dropped: a daemon keeps its own on stop
/// by default, and a failing test must not leave any behind.
struct FlushOurs(LabInfo);

impl Drop for FlushOurs {
    fn drop(&mut self) {
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

/// `HookTimeoutSec`, `EmitJSON`, `Links` and `LogLevel`, changed by one SIGHUP: the next hook
/// runs with the new timeout and without `JSON`, a link that was not selected now runs
/// `routes-modified.d`, and the debug lines start.
#[test]
fn hook_settings_links_and_log_level_apply_on_reload() {
    let Some(lab) = Lab::require() else { return };
    let info = lab.info();
    let link = TestLink::veth(&info);
    let rec = HookRecorder::new();
    let mut hooks = rec.hooks(&["routable", "routes-modified"]);
    // Runs 3 s: within a 60 s timeout, killed by a 1 s one.
    hooks.push(Hook {
        event: "routable",
        name: "60-slow",
        script: "#!/bin/sh\nexec sleep 3\n",
    });
    let before = "System:\n  Generator: netlink\n  LogLevel: info\n  HookTimeoutSec: 60\n\
         Network:\n  Links: nbr-none0\n  EmitJSON: true\n";
    let mut broker = Broker::start(&info, before, &hooks);

    let since = now_ns();
    let results = run_hooks(&info, "routable", link.ifindex);
    assert_eq!(
        result_of(&results, "60-slow").1,
        0,
        "with HookTimeoutSec 60 the slow hook completes: {results:?}"
    );
    let runs = runs_of(&rec, since, &link.name, "routable");
    assert_eq!(runs.len(), 1, "{}", summarize(&runs));
    assert!(runs[0].var("JSON").is_some(), "EmitJSON: true passes JSON");

    // Not in Links: its routes change, no routes-modified.d.
    let since = now_ns();
    lab.run(&["ip", "addr", "add", "10.213.0.2/24", "dev", &link.name]);
    std::thread::sleep(QUIET);
    let runs = runs_of(&rec, since, &link.name, "routes-modified");
    assert!(runs.is_empty(), "not selected yet: {}", summarize(&runs));
    let debug_lines = broker.log().matches(" DEBUG ").count();

    let after = format!(
        "System:\n  Generator: netlink\n  LogLevel: debug\n  HookTimeoutSec: 1\n\
         Network:\n  Links: {}\n  EmitJSON: false\n",
        link.name
    );
    reload(&info, &broker, &after, Via::Sighup);

    // Links: now selected.
    let since = now_ns();
    lab.run(&["ip", "addr", "add", "10.213.1.2/24", "dev", &link.name]);
    wait_until(
        "routes-modified.d for the newly selected link",
        TIMEOUT,
        || {
            let runs = runs_of(&rec, since, &link.name, "routes-modified");
            if runs.is_empty() {
                Err("no run yet".into())
            } else {
                Ok(())
            }
        },
    );
    // LogLevel: debug lines appear.
    assert!(
        broker.log().matches(" DEBUG ").count() > debug_lines,
        "LogLevel: debug after the reload:\n{}",
        broker.log()
    );
    // HookTimeoutSec and EmitJSON.
    let since = now_ns();
    let results = run_hooks(&info, "routable", link.ifindex);
    let slow = result_of(&results, "60-slow");
    assert!(
        slow.2.contains("timed out after 1 s"),
        "HookTimeoutSec: 1 kills the slow hook: {results:?}"
    );
    let runs = runs_of(&rec, since, &link.name, "routable");
    assert_eq!(runs.len(), 1, "{}", summarize(&runs));
    assert!(
        runs[0].var("JSON").is_none(),
        "EmitJSON: false passes no JSON: {:?}",
        runs[0].env
    );
    assert!(broker.stop().success(), "{}", broker.log());
}

/// `RoutingPolicyRules` and `RemoveRoutingOnStop`, changed by `Reload()`: the link gets its
/// rules at once, and the stop removes them although the daemon started with
/// `RemoveRoutingOnStop: false` (it used to stop with the start-up settings).
#[test]
fn routing_keys_apply_on_reload_and_at_stop() {
    let Some(lab) = Lab::require() else { return };
    let info = lab.info();
    let _flush = FlushOurs(info.clone());
    let link = TestLink::veth(&info);
    lab.run(&["ip", "addr", "add", "10.214.0.2/24", "dev", &link.name]);
    let table = 1000 + link.ifindex;
    let start = "System:\n  Generator: netlink\nNetwork:\n  RemoveRoutingOnStop: false\n";
    let mut broker = Broker::start(&info, start, &[]);
    assert!(rules_for(&info, table).is_empty(), "no link listed yet");

    let listed = format!(
        "System:\n  Generator: netlink\nNetwork:\n  RoutingPolicyRules: {}\n  \
         RemoveRoutingOnStop: false\n",
        link.name
    );
    let kept = reload(&info, &broker, &listed, Via::Bus);
    assert!(kept.is_empty(), "every change applies: {kept:?}");
    wait_until("the newly listed link's rules", TIMEOUT, || {
        let rules = rules_for(&info, table);
        if rules.iter().any(|r| r.contains("from 10.214.0.2")) {
            Ok(())
        } else {
            Err(format!("rules for table {table}: {rules:?}"))
        }
    });

    let remove = listed.replace("RemoveRoutingOnStop: false", "RemoveRoutingOnStop: true");
    reload(&info, &broker, &remove, Via::Bus);
    assert!(broker.stop().success(), "{}", broker.log());
    let rules = rules_for(&info, table);
    assert!(
        rules.is_empty(),
        "RemoveRoutingOnStop: true, set by the reload, removes the rules at stop: {rules:?}\n{}",
        broker.log()
    );
}

/// A lease block for `link`, expiring in an hour, with `dns`, search domain `domain` and the
/// host name [`LEASE_HOST`].
fn lease_block(link: &str, address: &str, dns: &str, domain: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "lease {{\n  interface \"{link}\";\n  fixed-address {address};\n  \
         option subnet-mask 255.255.255.0;\n  option domain-name-servers {dns};\n  \
         option domain-name \"{domain}\";\n  option host-name \"{LEASE_HOST}\";\n  \
         renew epoch {}; # local time\n  \
         expire epoch {}; # local time\n}}\n",
        now + 1_800,
        now + 3_600
    )
}

/// The host name in the tests' leases. The lab keeps its static host name (`labhost`), so
/// hostnamed accepts the transient one without using it.
const LEASE_HOST: &str = "nbreload-host";
/// What the daemon logs when it pushed a transient host name.
const HOST_PUSHED: &str = "transient host name set to";

/// `UseDNS`/`UseDomain`/`UseHostname` and `LeaseFiles`, changed by reloads: a lease read while
/// pushes were off is pushed once they are on, what is turned off is reverted (and stays off
/// for later leases); a new `LeaseFiles` follows the new file at once (its lease pushed), and
/// a list without it forgets it (the push reverted, as for a lost lease).
#[test]
fn lease_files_and_pushes_apply_on_reload() {
    let Some(lab) = Lab::require() else { return };
    let info = lab.info();
    let link = TestLink::veth(&info);
    let _revert = ResolvedRevertOnDrop {
        lab: &info,
        ifindex: link.ifindex,
    };
    let dir = ScratchDir::new("nb-reload-leases-");
    let first: PathBuf = dir.path().join("first.leases");
    let second: PathBuf = dir.path().join("second.leases");
    fs::write(
        &first,
        lease_block(&link.name, "10.215.0.2", "10.215.0.53", "first.lab.test"),
    )
    .unwrap();
    fs::write(
        &second,
        lease_block(&link.name, "10.215.0.2", "10.215.0.54", "second.lab.test"),
    )
    .unwrap();
    let first_file = first.display().to_string();
    let yaml = |dns: bool, push: bool, files: &str| {
        format!(
            "System:\n  Generator: dhclient\n  RuntimeDirectory: {}\n\
             Network:\n  UseDNS: {dns}\n  UseDomain: {push}\n  UseHostname: {push}\n  \
             LeaseFiles: {files}\n",
            dir.path().join("runtime").display()
        )
    };
    let mut broker = Broker::start(&info, &yaml(false, false, &first_file), &[]);
    wait_until("the daemon to read the first lease", TIMEOUT, || {
        let log = broker.log();
        if log.contains("leases: following") {
            Ok(())
        } else {
            Err(log)
        }
    });
    std::thread::sleep(QUIET);
    wait_resolved(&info, link.ifindex, "nothing pushed yet", &[], &[]);
    assert!(!broker.log().contains(HOST_PUSHED), "{}", broker.log());

    // UseDNS/UseDomain/UseHostname on: the lease held is pushed, without waiting for a change.
    reload(&info, &broker, &yaml(true, true, &first_file), Via::Sighup);
    wait_resolved(
        &info,
        link.ifindex,
        "UseDNS/UseDomain set by the reload",
        &ips(&["10.215.0.53"]),
        &["first.lab.test"],
    );
    wait_until("UseHostname set by the reload", TIMEOUT, || {
        let log = broker.log();
        if log.contains(&format!("{HOST_PUSHED} {LEASE_HOST}")) {
            Ok(())
        } else {
            Err(log)
        }
    });
    // UseDNS off: the servers go, the search domain stays.
    reload(&info, &broker, &yaml(false, true, &first_file), Via::Bus);
    wait_resolved(
        &info,
        link.ifindex,
        "UseDNS turned off by the reload",
        &[],
        &["first.lab.test"],
    );
    // ... and every later lease follows the new settings.
    fs::write(
        &first,
        lease_block(&link.name, "10.215.0.2", "10.215.0.55", "later.lab.test"),
    )
    .unwrap();
    wait_resolved(
        &info,
        link.ifindex,
        "a changed lease with UseDNS off",
        &[],
        &["later.lab.test"],
    );

    // LeaseFiles: the second file instead of the first.
    reload(
        &info,
        &broker,
        &yaml(true, true, &second.display().to_string()),
        Via::Bus,
    );
    wait_resolved(
        &info,
        link.ifindex,
        "the lease of the newly listed file",
        &ips(&["10.215.0.54"]),
        &["second.lab.test"],
    );
    // LeaseFiles: no file; the lease is gone and its push reverted.
    reload(&info, &broker, &yaml(true, true, "\"\""), Via::Bus);
    wait_resolved(
        &info,
        link.ifindex,
        "the dropped file's push reverted",
        &[],
        &[],
    );
    assert!(broker.stop().success(), "{}", broker.log());
}

/// A restart-only key changed by a reload keeps its running value and is named in the log,
/// the `Reload()` reply and `network-brokerctl reload`'s output; SIGHUP logs it too.
#[test]
fn a_restart_only_key_changed_by_a_reload_is_reported() {
    let Some(lab) = Lab::require() else { return };
    let info = lab.info();
    let mut broker = Broker::start(&info, "System:\n  Generator: netlink\n", &[]);
    let line = "System.Generator changed from netlink to dhclient: takes effect after a restart";

    let kept = reload(&info, &broker, "System:\n  Generator: dhclient\n", Via::Bus);
    assert_eq!(kept, vec![line.to_owned()], "the Reload() reply");
    assert!(
        broker
            .log()
            .contains(&format!("{line}; keeping netlink until then")),
        "the log:\n{}",
        broker.log()
    );
    assert_eq!(
        info.get_property(MANAGER_PATH, MANAGER_IFACE, "Generator"),
        Value::from("netlink"),
        "the running generator stays"
    );

    let before = broker.log().matches(line).count();
    let out = info.output(&[brokerctl_bin(), "reload"]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout.trim(), line, "network-brokerctl reload's output");
    reload(
        &info,
        &broker,
        "System:\n  Generator: dhclient\n",
        Via::Sighup,
    );
    assert!(
        broker.log().matches(line).count() >= before + 2,
        "brokerctl's and SIGHUP's reloads are logged too:\n{}",
        broker.log()
    );

    // Back to the running value: nothing to report.
    let kept = reload(&info, &broker, "System:\n  Generator: netlink\n", Via::Bus);
    assert!(kept.is_empty(), "{kept:?}");
    assert!(broker.stop().success(), "{}", broker.log());
}
