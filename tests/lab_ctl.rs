//! Lab integration tests of the client: the real `network-brokerctl` against the
//! real daemon on the lab's bus, as an administrator or a script runs it: a closed pipe, error
//! lines, the daemon stopped, `--json` (docs/json.md), `monitor` lines, the dry run read back
//! by sh(1), and colour only on a terminal without `NO_COLOR`.  Without the lab they SKIP,
//! under `CI=true` they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

/// `Generator: dhclient`, so that labdh0 has a lease and `DHCP_LEASE` is multi-line.
fn yaml(runtime: &std::path::Path) -> String {
    format!(
        "System:\n  Generator: dhclient\n  LogLevel: debug\n  RuntimeDirectory: {}\n\
         Network:\n  EmitJSON: true\n",
        runtime.display()
    )
}

/// The verbs that read, with their arguments.
const QUERIES: &[&[&str]] = &[
    &["status"],
    &["links"],
    &["link", "lo"],
    &["hooks"],
    &["routing"],
    &["run-hooks", "--dry-run", "lo", "routable"],
];

/// Every verb that talks to the daemon.
const VERBS: &[&[&str]] = &[
    &["status"],
    &["links"],
    &["link", "lo"],
    &["monitor"],
    &["reload"],
    &["hooks"],
    &["run-hooks", "lo", "routable"],
    &["run-hooks", "--dry-run", "lo", "routable"],
    &["routing"],
];

fn ctl(args: &[&str]) -> Vec<String> {
    let mut full = vec![brokerctl_bin().to_string()];
    full.extend(args.iter().map(|a| a.to_string()));
    full
}

fn start(lab: &LabInfo) -> (Broker, ScratchDir) {
    lab.ensure_dhclient();
    let runtime = ScratchDir::new("nb-ctl-run");
    let broker = Broker::start(lab, &yaml(runtime.path()), &[]);
    (broker, runtime)
}

/// Asserts that stderr is exactly one line and returns it.
fn one_error_line(out: &CmdOutput) -> String {
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line: {}", out.describe());
    assert!(
        lines[0].starts_with("network-brokerctl: "),
        "{}",
        out.describe()
    );
    lines[0].to_string()
}

#[test]
fn a_closed_pipe_ends_every_query_quietly() {
    let Some(lab) = Lab::require() else { return };
    let (_broker, _runtime) = start(&lab);
    for args in QUERIES {
        // The reader is gone before the client writes (its first write follows a bus call).
        let mut child = lab
            .cmd(&ctl(args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            (status.code(), status.signal()),
            (Some(0), None),
            "{args:?} into a closed pipe: status {status:?}, stderr {stderr:?}"
        );
        assert_eq!(stderr, "", "{args:?} into a closed pipe must print nothing");
    }
    // As a shell runs it: the first line, status 0 under pipefail.
    let out = lab.output(&[
        "bash",
        "-c",
        &format!(
            "set -o pipefail; {ctl} links | head -1",
            ctl = brokerctl_bin()
        ),
    ]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.describe());
    assert!(out.stdout.starts_with("IDX"), "{}", out.describe());
    assert_eq!(out.stderr, "", "{}", out.describe());
}

#[test]
fn errors_are_printed_once_in_one_line_with_their_dbus_name() {
    let Some(lab) = Lab::require() else { return };
    let (_broker, _runtime) = start(&lab);
    let mut nobody = vec![
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        brokerctl_bin(),
    ];
    nobody.push("reload");
    let out = lab.output(&nobody);
    assert_eq!(out.status.code(), Some(4), "{}", out.describe());
    let line = one_error_line(&out);
    let name = "org.freedesktop.DBus.Error.AccessDenied";
    assert_eq!(line.matches(name).count(), 1, "named once: {line}");
    assert_eq!(
        line.matches("not authorized").count(),
        1,
        "said once: {line}"
    );

    for (args, code, name) in [
        (
            &["link", "nonexistent0"][..],
            3,
            "org.freedesktop.NetworkBroker1.Error.NoSuchLink",
        ),
        (
            &["link", "0"][..],
            2,
            "org.freedesktop.NetworkBroker1.Error.InvalidArgument",
        ),
        (
            &["run-hooks", "--dry-run", "lo", "../x"][..],
            2,
            "org.freedesktop.NetworkBroker1.Error.InvalidArgument",
        ),
    ] {
        let out = lab.output(&ctl(args));
        assert_eq!(out.status.code(), Some(code), "{}", out.describe());
        let line = one_error_line(&out);
        assert_eq!(line.matches(name).count(), 1, "{args:?}: {line}");
        assert_eq!(out.stdout, "", "{args:?} prints nothing on stdout");
    }
}

#[test]
fn every_verb_exits_6_in_one_line_when_the_daemon_is_not_running() {
    let Some(lab) = Lab::require() else { return };
    // No activation file: a call must not start a daemon (lab_bus_api's activation test
    // installs one).
    let service = lab
        .dir
        .join("run/services/org.freedesktop.NetworkBroker1.service");
    if service.exists() {
        fs::remove_file(&service).unwrap();
        lab.run(&[
            "busctl",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "ReloadConfig",
        ]);
    }
    let (mut broker, _runtime) = start(&lab);
    broker.stop();
    for args in VERBS {
        let out = lab.output(&ctl(args));
        assert_eq!(out.status.code(), Some(6), "{args:?}: {}", out.describe());
        let line = one_error_line(&out);
        assert!(
            line.starts_with("network-brokerctl: network-broker is not running"),
            "{args:?}: {line}"
        );
        assert_eq!(out.stdout, "", "{args:?}: nothing before the error");
    }
}

/// `ARGS --json=short`, parsed; panics unless it exits 0 with one line of JSON.
fn json_of(lab: &LabInfo, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.push("--json=short");
    let out = lab.output(&ctl(&full));
    assert!(out.success(), "{}", out.describe());
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "short is one line: {}",
        out.describe()
    );
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", out.stdout))
}

fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn json_output_parses_and_has_the_documented_keys() {
    let Some(lab) = Lab::require() else { return };
    let (_broker, _runtime) = start(&lab);
    // docs/json.md, "The link document"
    let link_keys = [
        "Address",
        "DNS",
        "Domains",
        "Flags",
        "Gateways",
        "HardwareAddress",
        "Index",
        "Kind",
        "KernelOperationalState",
        "Lease",
        "MTU",
        "Name",
        "OperationalState",
        "Routes",
        "RoutingTable",
        "States",
    ];
    let mut sorted_link_keys: Vec<String> = link_keys.iter().map(|k| k.to_string()).collect();
    sorted_link_keys.sort();

    let status = json_of(&lab, &["status"]);
    assert_eq!(
        keys(&status),
        [
            "AddressState",
            "Addresses",
            "CarrierState",
            "DNS",
            "Domains",
            "FailedHooks",
            "Gateways",
            "Generator",
            "Links",
            "OnlineState",
            "OperationalState",
            "OperationalStateFrom",
            "Version"
        ]
    );
    assert_eq!(status["Generator"], "dhclient");
    assert_eq!(status["Version"], env!("CARGO_PKG_VERSION"));
    assert!(status["Links"]["Total"].as_u64().unwrap() >= 4, "{status}");

    let links = json_of(&lab, &["links"]);
    let links = links.as_array().unwrap();
    assert!(links.iter().any(|l| l["Name"] == "labdh0"), "{links:?}");
    for link in links {
        assert_eq!(keys(link), sorted_link_keys, "{link}");
    }

    let dh0 = json_of(&lab, &["link", "labdh0"]);
    let mut with_routing = sorted_link_keys.clone();
    with_routing.push("Routing".into());
    with_routing.push("HookResults".into());
    with_routing.sort();
    assert_eq!(keys(&dh0), with_routing, "{dh0}");
    assert_eq!(dh0["Index"], lab.ifindex("labdh0"));
    let address = &dh0["Address"][0];
    assert_eq!(
        keys(address),
        [
            "Family",
            "Flags",
            "IP",
            "Label",
            "Mask",
            "Permanent",
            "Scope"
        ],
        "{dh0}"
    );
    assert!(
        dh0["Address"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["Scope"] == "global" && a["IP"].is_string()),
        "scopes are names: {dh0}"
    );
    let route = &dh0["Routes"][0];
    assert_eq!(
        keys(route),
        [
            "Dst",
            "Family",
            "Gw",
            "Metric",
            "Protocol",
            "Scope",
            "Src",
            "Table",
            "TableName",
            "Type"
        ],
        "{dh0}"
    );
    assert!(route["Protocol"].is_string(), "protocols are names: {dh0}");
    assert!(
        dh0["Lease"]["ADDRESS"].is_string(),
        "labdh0 has a lease: {dh0}"
    );

    let hooks = json_of(&lab, &["hooks"]);
    assert!(hooks.is_array(), "{hooks}");
    let routing = json_of(&lab, &["routing"]);
    assert_eq!(keys(&routing), ["Entries", "Ready", "Tables"]);
    let dry = json_of(&lab, &["run-hooks", "--dry-run", "labdh0", "routable"]);
    assert_eq!(
        keys(&dry),
        ["Environment", "Event", "Input", "Link", "Scripts"]
    );
    assert_eq!(dry["Environment"]["LINK"], "labdh0");

    // pretty is the same value, indented
    let out = lab.output(&ctl(&["status", "--json=pretty"]));
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.lines().count() > 5, "{}", out.stdout);
    let pretty: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(keys(&pretty), keys(&status));
}

/// Reads `log` until `pred` holds for some line.
fn wait_line(what: &str, log: &std::path::Path, pred: impl Fn(&str) -> bool) -> String {
    wait_until(what, EVENT_TIMEOUT, || {
        let text = fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .find(|l| pred(l))
            .map(str::to_string)
            .ok_or_else(|| format!("not yet; output so far:\n{text}"))
    })
}

/// `HH:MM:SS.mmm` at the start of a line.
fn has_time(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 13
        && [0, 1, 3, 4, 6, 7, 9, 10, 11]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
        && b[2] == b':'
        && b[5] == b':'
        && b[8] == b'.'
        && b[12] == b' '
}

#[test]
fn monitor_lines_carry_time_and_link_name_and_json_has_real_values() {
    let Some(lab) = Lab::require() else { return };
    let (_broker, runtime) = start(&lab);
    let text_log = runtime.path().join("monitor.txt");
    let json_log = runtime.path().join("monitor.json");
    let _text = lab.spawn_logged(&ctl(&["monitor"]), &text_log);
    let _json = lab.spawn_logged(&ctl(&["monitor", "--json"]), &json_log);
    // Both are subscribed once a link made and deleted now shows up in both.
    wait_until("both monitors to be subscribed", EVENT_TIMEOUT, || {
        let mut sync = TestLink::veth(&lab);
        sync.delete();
        let seen = |log: &std::path::Path| {
            fs::read_to_string(log)
                .unwrap_or_default()
                .contains("LinkRemoved")
        };
        if seen(&text_log) && seen(&json_log) {
            Ok(())
        } else {
            Err("no LinkRemoved line in both yet".to_string())
        }
    });
    let link = TestLink::veth(&lab);
    lab.run(&["ip", "addr", "add", "198.51.100.7/24", "dev", &link.name]);

    let added = wait_line("monitor's LinkAdded line", &text_log, |l| {
        l.contains(&format!(" {} LinkAdded", link.name))
    });
    assert!(has_time(&added), "{added}");
    let state = wait_line("monitor's OperationalState line", &text_log, |l| {
        l.contains(&format!(" {} OperationalState: ", link.name))
    });
    assert!(has_time(&state), "{state}");
    let address = wait_line("monitor's AddressAdded line", &text_log, |l| {
        l.contains(&format!(" {} AddressAdded: 198.51.100.7/24", link.name))
    });
    assert!(has_time(&address), "{address}");
    let text = fs::read_to_string(&text_log).unwrap();
    assert!(
        !text.contains("/link/_3"),
        "no object paths in text lines:\n{text}"
    );

    wait_line("monitor --json's Addresses change", &json_log, |l| {
        l.contains("\"Addresses\"") && l.contains("198.51.100.7")
    });
    let mut saw_addresses = false;
    for line in fs::read_to_string(&json_log).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["Timestamp"].is_u64(), "{v}");
        assert!(v["Signal"].is_string(), "{v}");
        if v["Name"] != link.name.as_str() {
            continue;
        }
        for (prop, value) in v["Changed"].as_object().into_iter().flatten() {
            if let Some(s) = value.as_str() {
                assert!(
                    !s.starts_with('"') && !s.starts_with('['),
                    "{prop} double-encoded: {v}"
                );
            }
            if prop == "Addresses" && !value.as_array().unwrap().is_empty() {
                assert_eq!(value[0], serde_json::json!(["198.51.100.7", 24]), "{v}");
                saw_addresses = true;
            }
        }
    }
    assert!(saw_addresses, "an Addresses change of {}", link.name);
}

#[test]
fn the_dry_run_environment_round_trips_through_sh() {
    let Some(lab) = Lab::require() else { return };
    let (_broker, _runtime) = start(&lab);
    let args = ["run-hooks", "--dry-run", "labdh0", "routable"];
    let exact = json_of(&lab, &args);
    let env = exact["Environment"].as_object().unwrap();
    assert!(
        env["DHCP_LEASE"].as_str().unwrap().contains('\n'),
        "the lease is multi-line: {exact}"
    );
    let text = lab.run(&ctl(&args));
    // sh reads the NAME=VALUE lines back and prints each value NUL-terminated.
    let names: Vec<&String> = env.keys().collect();
    let script = format!(
        "eval \"$(cat)\"; printf '%s\\0' {}",
        names
            .iter()
            .map(|n| format!("\"${n}\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = output_with_input(lab.cmd(&["sh", "-c", &script]), &text);
    assert!(out.success(), "{}", out.describe());
    let values: Vec<&str> = out.stdout.split('\0').collect();
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            Some(values[i]),
            env[name.as_str()].as_str(),
            "{name} read back by sh"
        );
    }
}

#[test]
fn colour_and_pager_only_on_a_terminal_and_never_colour_with_no_color() {
    let Some(lab) = Lab::require() else { return };
    let (_broker, _runtime) = start(&lab);
    for args in [&["status"][..], &["links"], &["link", "labdh0"]] {
        let out = lab.output(&ctl(args));
        assert!(out.success(), "{}", out.describe());
        assert!(
            !out.stdout.contains('\x1b'),
            "{args:?} piped: {:?}",
            out.stdout
        );
    }
    // script(1) gives the client a terminal; --no-pager keeps less out of it.
    let on_tty = |env: &str| {
        let cmd = format!("{env} {ctl} --no-pager links", ctl = brokerctl_bin());
        lab.output(&["script", "-qec", &cmd, "/dev/null"])
    };
    let coloured = on_tty("env");
    assert!(coloured.success(), "{}", coloured.describe());
    assert!(
        coloured.stdout.contains("\x1b["),
        "colour on a terminal: {:?}",
        coloured.stdout
    );
    let plain = on_tty("env NO_COLOR=1");
    assert!(plain.success(), "{}", plain.describe());
    assert!(plain.stdout.contains("links listed."), "{:?}", plain.stdout);
    assert!(
        !plain.stdout.contains('\x1b'),
        "NO_COLOR: {:?}",
        plain.stdout
    );

    // The pager: for `links` on a terminal (as networkctl), never for `hooks`, nor with
    // --no-pager.
    let paged = |args: &str| {
        let cmd = format!(
            "env NO_COLOR=1 PAGER='sed s/^/paged:/' {ctl} {args}",
            ctl = brokerctl_bin()
        );
        lab.output(&["script", "-qec", &cmd, "/dev/null"])
    };
    let out = paged("links");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("paged:IDX")),
        "{}",
        out.describe()
    );
    let out = paged("links --no-pager");
    assert!(!out.stdout.contains("paged:"), "{}", out.describe());
    let out = paged("hooks");
    assert!(!out.stdout.contains("paged:"), "{}", out.describe());

    let bare = lab.run(&ctl(&["links", "--no-legend"]));
    assert!(!bare.contains("IDX") && !bare.contains("listed."), "{bare}");
    assert!(
        bare.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("labdh0")),
        "{bare}"
    );
}

#[test]
fn the_pages_show_states_addresses_lease_routes_and_dns() {
    let Some(lab) = Lab::require() else { return };
    let (_broker, _runtime) = start(&lab);
    let lease = json_of(&lab, &["link", "labdh0"])["Lease"].clone();
    let address = lease["ADDRESS"].as_str().unwrap().to_string();
    let router = lease["ROUTER"].as_str().unwrap().to_string();

    let page = lab.run(&ctl(&["link", "labdh0"]));
    let index = lab.ifindex("labdh0");
    assert!(page.starts_with(&format!("● {index}: labdh0\n")), "{page}");
    for want in [
        "State: routable".to_string(),
        "Kernel state: up".to_string(),
        format!("Address: {address}/24 (global, dynamic)"),
        format!("Gateway: {router}"),
        format!("DHCP lease: {address}"),
        format!("Routes: default via {router}"),
    ] {
        assert!(page.contains(&want), "{want:?} not on the page:\n{page}");
    }
    for time in ["Renew:", "Rebind:", "Expire:"] {
        let line = page
            .lines()
            .find(|l| l.trim_start().starts_with(time))
            .unwrap_or_else(|| panic!("no {time} line:\n{page}"));
        assert!(line.contains(" UTC (in "), "{line}");
    }

    let status = lab.run(&ctl(&["status"]));
    for want in [
        "Generator: dhclient".to_string(),
        format!("{address}/24 on labdh0"),
        format!(
            "DNS: {} on labdh0",
            lease["DNS"].as_str().unwrap().split(' ').next().unwrap()
        ),
    ] {
        assert!(status.contains(&want), "{want:?} not in status:\n{status}");
    }
}

/// After a hook ran and one failed, `link lo` shows the hooks that last ran for it with their
/// result and time, `status` the failure, in text and in `--json` (docs/json.md `HookResults`,
/// `FailedHooks`).
#[test]
fn the_pages_show_the_hooks_that_ran_and_the_ones_that_failed() {
    let Some(lab) = Lab::require() else { return };
    let hooks = OK_AND_FAILING_HOOKS;
    let _broker = Broker::start(
        &lab,
        "System:\n  Generator: netlink\n  LogLevel: debug\n",
        &hooks,
    );
    let run = lab.output(&ctl(&["run-hooks", "lo", "nbtest"]));
    assert_eq!(
        run.status.code(),
        Some(7),
        "a hook failed: {}",
        run.describe()
    );
    // The state follows the run's reply (the record is written as HooksCompleted is sent).
    wait_until("lo's hook results", EVENT_TIMEOUT, || {
        let v = json_of(&lab, &["link", "lo"]);
        match v["HookResults"].as_array().map(Vec::len) {
            Some(2) => Ok(()),
            _ => Err(v["HookResults"].to_string()),
        }
    });
    let link = json_of(&lab, &["link", "lo"]);
    let runs = link["HookResults"].as_array().unwrap();
    assert_eq!(
        keys(&runs[1]),
        ["Error", "Event", "Script", "Status", "Time"]
    );
    assert_eq!(
        (runs[0]["Status"].as_u64(), runs[1]["Status"].as_u64()),
        (Some(0), Some(3))
    );
    assert!(runs[1]["Time"].as_u64().unwrap() > 0, "{link}");

    let page = lab.run(&ctl(&["link", "lo"]));
    let hook_lines: Vec<&str> = page
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Hooks:"))
        .take(2)
        .collect();
    assert_eq!(hook_lines.len(), 2, "{page}");
    assert!(
        hook_lines[0].contains("nbtest ") && hook_lines[0].contains("10-ok: ok, "),
        "{page}"
    );
    assert!(
        hook_lines[1].contains("20-fail: failed (status 3") && hook_lines[1].contains(" UTC ("),
        "{page}"
    );

    let status = json_of(&lab, &["status"]);
    let failed = status["FailedHooks"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{status}");
    assert_eq!(failed[0]["Link"], "lo");
    assert_eq!(failed[0]["Event"], "nbtest");
    assert_eq!(failed[0]["Status"], 3);
    let page = lab.run(&ctl(&["status"]));
    let line = page
        .lines()
        .find(|l| l.trim_start().starts_with("Failed hooks:"))
        .unwrap_or_else(|| panic!("no Failed hooks row:\n{page}"));
    assert!(
        line.contains("lo nbtest ") && line.contains("20-fail: failed (status 3"),
        "{page}"
    );
}
