//! Lab integration tests of the daemon following the real systemd-networkd in the lab
//! (`tests/lab/netlab.sh up`; without the lab they SKIP, under `CI=true` they fail).
//!
//! The lab's networkd manages `labnd0` (DHCP client of dnsmasq in labpeer: 192.168.77.10,
//! host name labclient-nd0, DNS 192.168.77.1 192.168.77.53) and `labnd1` (static
//! 192.168.78.2/24); `labdh0` is unmanaged. Each test starts its own daemon with its own
//! config dir, `RuntimeDirectory` and [`HookRecorder`] hooks in every `<state>.d`, and asserts
//! on the recorded runs: which directories ran, how often, in which order, with which
//! environment.
//!
//! Ground truth is networkd itself: a bus monitor records the `PropertiesChanged` signals
//! networkd (its unique name) sends during the test, and [`networkd_transitions`] turns them
//! into the transitions the daemon must run (hooks.md: each real transition of
//! `OperationalState` or `AdministrativeState` runs its directory exactly once, in the order
//! networkd reported them, with the link's states at that moment).
//!
//! Pitfall (found writing these tests): setting `labnd1p` up again within a few milliseconds of
//! the carrier loss makes networkd 252 fail labnd1 now and then ("Could not set route: Nexthop
//! has invalid gateway", `AdministrativeState=failed`, about 1 in 10). The tests wait until
//! networkd has finished with the carrier loss (`OperationalState=no-carrier` *and*
//! `AddressState=off`, its second signal) before bringing the peer up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// networkd DHCP client of dnsmasq.
const ND0: &str = "labnd0";
/// networkd static 192.168.78.2/24.
const ND1: &str = "labnd1";
/// labnd1's peer end, in labpeer.
const ND1_PEER: &str = "labnd1p";
/// labnd1's static address.
const ND1_ADDRESS: &str = "192.168.78.2";

/// How long one hook run, a networkd reaction or a daemon's catching up may take. Generous:
/// it is a safety net, the tests wait for conditions.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long no new run must come before a test asserts on what did *not* run. Only used after
/// the test has shown that whatever could have run was already submitted (see each use).
const QUIET: Duration = Duration::from_secs(3);

/// The state properties networkd publishes on a link, as hooks get them.
const LINK_STATE_PROPS: [&str; 7] = [
    "OperationalState",
    "CarrierState",
    "AddressState",
    "IPv4AddressState",
    "IPv6AddressState",
    "AdministrativeState",
    "OnlineState",
];
/// The ones the daemon's Link object publishes (docs/dbus-api.md).
const BUS_LINK_STATE_PROPS: [&str; 5] = [
    "OperationalState",
    "CarrierState",
    "AddressState",
    "AdministrativeState",
    "OnlineState",
];
/// The manager's (docs/dbus-api.md).
const BUS_MANAGER_STATE_PROPS: [&str; 4] = [
    "OperationalState",
    "CarrierState",
    "AddressState",
    "OnlineState",
];

/// networkd's `PropertiesChanged` (and anyone's with networkd's paths: the sender is checked
/// when reading them).
const NETWORKD_SIGNALS: &str = "type='signal',interface='org.freedesktop.DBus.Properties',\
     member='PropertiesChanged',path_namespace='/org/freedesktop/network1'";
/// The daemon's `HooksCompleted`.
const HOOKS_COMPLETED: &str =
    "type='signal',interface='org.freedesktop.NetworkBroker1.Manager',member='HooksCompleted'";

/// Every `<state>.d` (both lists), so that any state the daemon dispatches is recorded.
fn state_events() -> Vec<&'static str> {
    OPERATIONAL_STATES
        .iter()
        .chain(ADMINISTRATIVE_STATES)
        .copied()
        .collect()
}

/// [`state_events`] and `manager`.
fn all_events() -> Vec<&'static str> {
    let mut e = state_events();
    e.push("manager");
    e
}

/// The daemon's configuration: networkd generator (the default), debug log, JSON, its own
/// `RuntimeDirectory` (other tests' daemons must not share the dispatched-states memory).
fn yaml(runtime: &Path, startup_triggers: bool) -> String {
    format!(
        "System:\n  LogLevel: debug\n  StartupTriggers: {startup_triggers}\n  RuntimeDirectory: {}\n\
         Network:\n  EmitJSON: true\n",
        runtime.display()
    )
}

fn runtime_dir(rec: &HookRecorder) -> PathBuf {
    rec.path().join("runtime")
}

// ------------------------------------------------------------------------------------------
// networkd and the daemon's view of it

/// networkd's own states of link `idx` (every property it has).
fn networkd_link_states(lab: &LabInfo, idx: u32) -> Result<BTreeMap<String, String>, String> {
    let path = networkd_link_path(idx);
    let mut states = BTreeMap::new();
    for prop in LINK_STATE_PROPS {
        let v = lab.try_networkd_property(&path, NETWORKD_LINK_IFACE, prop)?;
        let v = v
            .as_str()
            .ok_or_else(|| format!("networkd's {prop} of link {idx} is not a string: {v}"))?;
        states.insert(prop.to_owned(), v.to_owned());
    }
    Ok(states)
}

/// Waits until networkd reports link `idx` with all of `want` (property, value).
fn wait_networkd_link(lab: &LabInfo, idx: u32, name: &str, want: &[(&str, &str)]) {
    let shown: Vec<String> = want.iter().map(|(p, v)| format!("{p}={v}")).collect();
    wait_until(
        &format!("networkd to report {name} with {}", shown.join(" ")),
        Duration::from_secs(60),
        || {
            let states = networkd_link_states(lab, idx)?;
            if want
                .iter()
                .all(|(p, v)| states.get(*p).map(String::as_str) == Some(*v))
            {
                Ok(())
            } else {
                Err(format!(
                    "networkd says {states:?}{}",
                    if states.get("AdministrativeState").map(String::as_str) == Some("failed") {
                        " (failed: see the fast-toggle pitfall at the top of this file; \
                         `netlab.sh exec networkctl reconfigure LINK` repairs it)"
                    } else {
                        ""
                    }
                ))
            }
        },
    );
}

/// The lab at rest, as `netlab.sh up` leaves it: labnd0 and labnd1 routable and configured.
/// Every test starts (and the ones that disturb networkd end) here.
fn wait_networkd_steady(lab: &LabInfo) {
    for name in [ND0, ND1] {
        let idx = lab.ifindex(name);
        wait_networkd_link(
            lab,
            idx,
            name,
            &[
                ("OperationalState", "routable"),
                ("AdministrativeState", "configured"),
            ],
        );
    }
}

/// Where the daemon's Link object `idx` differs from networkd's own states, `Err` describing
/// it; `Ok` with networkd's states when they agree and networkd has an `AdministrativeState`.
fn daemon_vs_networkd_link(lab: &LabInfo, idx: u32) -> Result<BTreeMap<String, String>, String> {
    let theirs = networkd_link_states(lab, idx)?;
    let mut diffs = Vec::new();
    for prop in BUS_LINK_STATE_PROPS {
        let ours = lab.try_get_property(&link_path(idx), LINK_IFACE, prop)?;
        let want = theirs.get(prop).map(String::as_str).unwrap_or("");
        if ours.as_str() != Some(want) {
            diffs.push(format!("{prop}: daemon {ours}, networkd {want:?}"));
        }
    }
    if diffs.is_empty() {
        Ok(theirs)
    } else {
        Err(diffs.join("; "))
    }
}

/// The same for the manager object.
fn daemon_vs_networkd_manager(lab: &LabInfo) -> Result<(), String> {
    let mut diffs = Vec::new();
    for prop in BUS_MANAGER_STATE_PROPS {
        let ours = lab.try_get_property(MANAGER_PATH, MANAGER_IFACE, prop)?;
        let theirs = lab.try_networkd_property(NETWORKD_PATH, NETWORKD_MANAGER_IFACE, prop)?;
        if ours != theirs {
            diffs.push(format!("{prop}: daemon {ours}, networkd {theirs}"));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// Waits until the daemon's Link object `name` shows networkd's states: proof that the daemon
/// has networkd's report (its `AdministrativeState` can only come from networkd).
fn wait_daemon_follows(lab: &LabInfo, idx: u32, name: &str) -> BTreeMap<String, String> {
    wait_until(
        &format!(
            "the daemon's Link {name} (ifindex {idx}) to show networkd's states. \
             AdministrativeState comes only from networkd over D-Bus: it stays \"\" until the \
             daemon follows networkd (src/source/networkd.rs)"
        ),
        HOOK_TIMEOUT,
        || daemon_vs_networkd_link(lab, idx),
    )
}

/// One `PropertiesChanged` networkd sent about a link: what it changed, in signal order, and
/// the link's states after it.
#[derive(Debug, Clone)]
struct NetworkdSignal {
    changed: Vec<(String, String)>,
    after: BTreeMap<String, String>,
}

/// networkd's signals about link `idx` seen by `mon` after `mark`: only those whose sender is
/// `owner` (networkd's unique name), folded over `start` (the link's states at the mark).
fn networkd_signals(
    mon: &Monitor,
    mark: usize,
    owner: &str,
    idx: u32,
    start: &BTreeMap<String, String>,
) -> Vec<NetworkdSignal> {
    let path = networkd_link_path(idx);
    let mut states = start.clone();
    let mut out = Vec::new();
    for m in mon.messages_after(mark).into_iter() {
        if !is_signal(&m, &path, PROPERTIES_IFACE, "PropertiesChanged")
            || m["sender"] != owner
            || m["payload"]["data"][0] != NETWORKD_LINK_IFACE
        {
            continue;
        }
        let mut changed = Vec::new();
        for prop in LINK_STATE_PROPS {
            match changed_property(&m, NETWORKD_LINK_IFACE, prop) {
                Some(Some(v)) => {
                    let v = v.as_str().unwrap_or_default().to_owned();
                    states.insert(prop.to_owned(), v.clone());
                    changed.push((prop.to_owned(), v));
                }
                Some(None) => panic!(
                    "networkd invalidated {prop} without a value; networkd 252 always sends \
                     values, these tests rely on it: {m}"
                ),
                None => {}
            }
        }
        if !changed.is_empty() {
            out.push(NetworkdSignal {
                changed,
                after: states.clone(),
            });
        }
    }
    out
}

/// The transitions the daemon must run from `signals`, one group per signal (the directory
/// names of the real `OperationalState`/`AdministrativeState` transitions it carried, each
/// with the link's states after the signal). busctl's JSON does not keep the order of the
/// properties inside one signal, so within a group the order is open (networkd 252 sends the
/// two properties in separate signals anyway).
fn networkd_transitions(
    start: &BTreeMap<String, String>,
    signals: &[NetworkdSignal],
) -> Vec<Vec<(String, BTreeMap<String, String>)>> {
    let mut op = start.get("OperationalState").cloned().unwrap_or_default();
    let mut admin = start
        .get("AdministrativeState")
        .cloned()
        .unwrap_or_default();
    let mut groups = Vec::new();
    for s in signals {
        let mut group = Vec::new();
        for (prop, value) in &s.changed {
            let last = match prop.as_str() {
                "OperationalState" => &mut op,
                "AdministrativeState" => &mut admin,
                _ => continue,
            };
            if last != value {
                *last = value.clone();
                group.push((value.clone(), s.after.clone()));
            }
        }
        if !group.is_empty() {
            groups.push(group);
        }
    }
    groups
}

fn show_groups(groups: &[Vec<(String, BTreeMap<String, String>)>]) -> String {
    groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|(e, _)| e.as_str())
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts that `runs` (one link's, in order) are exactly the transitions networkd reported,
/// in its order, each with the link's states at that transition in its environment.
fn assert_runs_follow_networkd(
    runs: &[RecordedRun],
    groups: &[Vec<(String, BTreeMap<String, String>)>],
    signals: &[NetworkdSignal],
) {
    let context = || {
        format!(
            "networkd's transitions: {}\nits signals:\n{}\nthe daemon's runs:\n{}",
            show_groups(groups),
            signals
                .iter()
                .map(|s| format!("    {:?}", s.changed))
                .collect::<Vec<_>>()
                .join("\n"),
            summarize(runs)
        )
    };
    let want: usize = groups.iter().map(Vec::len).sum();
    assert_eq!(
        runs.len(),
        want,
        "each real transition must run its directory exactly once, nothing else\n{}",
        context()
    );
    let mut i = 0;
    for group in groups {
        let slice = &runs[i..i + group.len()];
        let mut got: Vec<&str> = slice.iter().map(|r| r.event.as_str()).collect();
        let mut exp: Vec<&str> = group.iter().map(|(e, _)| e.as_str()).collect();
        got.sort_unstable();
        exp.sort_unstable();
        assert_eq!(
            got,
            exp,
            "runs {i}..{} must be networkd's transitions in networkd's order\n{}",
            i + group.len(),
            context()
        );
        for run in slice {
            let (_, after) = group.iter().find(|(e, _)| *e == run.event).unwrap();
            assert_eq!(
                run.var("STATE"),
                Some(run.event.as_str()),
                "{}",
                run.summary()
            );
            for prop in LINK_STATE_PROPS {
                let want = after.get(prop).map(String::as_str).unwrap_or("");
                if want.is_empty() {
                    continue; // networkd has no opinion (OnlineState ""): not asserted
                }
                assert_eq!(
                    run.var(prop),
                    Some(want),
                    "{}: {prop} must be the link's value at the transition ({want}), as networkd \
                     reported it\n{}",
                    run.summary(),
                    context()
                );
            }
        }
        i += group.len();
    }
}

// ------------------------------------------------------------------------------------------
// hook runs and signals

/// Waits for a completed `event` run of link `link` that started after `since`.
fn wait_for_run(rec: &HookRecorder, since: u128, link: &str, event: &str) -> RecordedRun {
    wait_until(
        &format!("{event}.d to run for {link}"),
        HOOK_TIMEOUT,
        || {
            let runs = rec.runs_since(since, Some(link));
            runs.iter()
                .find(|r| r.event == event)
                .cloned()
                .ok_or_else(|| format!("runs for {link} since the mark:\n{}", summarize(&runs)))
        },
    )
}

/// The `HooksCompleted` signals seen after `mark` for link `idx`: (event, [(path, status,
/// error)]).
fn hooks_completed(mon: &Monitor, mark: usize, idx: u32) -> Vec<(String, Vec<Value>)> {
    mon.messages_after(mark)
        .into_iter()
        .filter(|m| is_signal(m, MANAGER_PATH, MANAGER_IFACE, "HooksCompleted"))
        .filter(|m| m["payload"]["data"][1].as_u64() == Some(u64::from(idx)))
        .map(|m| {
            let d = &m["payload"]["data"];
            (
                d[0].as_str().unwrap_or_default().to_owned(),
                d[2].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// Waits until `HooksCompleted` was seen once for every run in `runs` (all of link `idx`),
/// each naming the recorder script of its directory, status 0 and no error text.
fn assert_hooks_completed(
    mon: &Monitor,
    mark: usize,
    idx: u32,
    config: &Path,
    runs: &[RecordedRun],
) {
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for r in runs {
        *want.entry(r.event.clone()).or_default() += 1;
    }
    wait_until(
        &format!("one HooksCompleted(event, {idx}, ...) per hook run"),
        HOOK_TIMEOUT,
        || {
            let seen = hooks_completed(mon, mark, idx);
            let mut got: BTreeMap<String, usize> = BTreeMap::new();
            for (event, results) in &seen {
                *got.entry(event.clone()).or_default() += 1;
                let path = config.join(format!("{event}.d/{RECORDER_NAME}"));
                let expected = Value::from(vec![Value::from(vec![
                    Value::from(path.display().to_string()),
                    Value::from(0),
                    Value::from(""),
                ])]);
                if Value::from(results.clone()) != expected {
                    return Err(format!(
                        "HooksCompleted({event}, {idx}) results {results:?}, expected {expected}"
                    ));
                }
            }
            if got == want {
                Ok(())
            } else {
                Err(format!("seen {got:?}, runs {want:?}"))
            }
        },
    );
}

/// The environment every link hook run gets (hooks.md), for `link`/`idx` with `state`.
fn assert_link_env(run: &RecordedRun, link: &str, idx: u32, state: &str) {
    let s = run.summary();
    assert_eq!(run.var("EVENT"), Some(state), "EVENT: {s}");
    assert_eq!(run.var("STATE"), Some(state), "STATE: {s}");
    assert_eq!(run.var("LINK"), Some(link), "LINK: {s}");
    assert_eq!(run.var("IFACE"), Some(link), "IFACE: {s}");
    let index = idx.to_string();
    assert_eq!(run.var("LINKINDEX"), Some(index.as_str()), "LINKINDEX: {s}");
    assert!(run.var("PATH").is_some_and(|p| !p.is_empty()), "PATH: {s}");
    assert!(
        !run.env.contains_key(LEAK_CANARY),
        "{LEAK_CANARY} leaked from the daemon's environment: {s}"
    );
    let json = run
        .json()
        .unwrap_or_else(|| panic!("no JSON (EmitJSON: true) in {s}: {:?}", run.env));
    assert_eq!(json["Index"], Value::from(idx), "JSON.Index: {json}");
    assert_eq!(json["Name"], Value::from(link), "JSON.Name: {json}");
    for prop in ["OperationalState", "CarrierState", "AddressState"] {
        let v = run
            .var(prop)
            .unwrap_or_else(|| panic!("{prop} missing: {s}"));
        assert_eq!(
            json["States"][prop],
            Value::from(v),
            "JSON.States.{prop} must equal the environment's: {json}"
        );
    }
}

/// The addresses listed in `IP_ADDRS`.
fn ip_addrs(run: &RecordedRun) -> BTreeSet<String> {
    run.var("IP_ADDRS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Carrier loss on labnd1 and back, the safe way (see the pitfall at the top): down, wait for
/// the `no-carrier.d` run after `since` and for networkd to have finished with the loss, up,
/// wait for `routable.d` and `configured.d` and for networkd to be at rest again.
fn toggle_nd1(lab: &LabInfo, rec: &HookRecorder, since: u128) {
    let idx = lab.ifindex(ND1);
    let mut peer = lab.peer_link_down(ND1_PEER);
    wait_for_run(rec, since, ND1, "no-carrier");
    wait_networkd_link(
        lab,
        idx,
        ND1,
        &[("OperationalState", "no-carrier"), ("AddressState", "off")],
    );
    peer.up();
    wait_for_run(rec, since, ND1, "routable");
    wait_for_run(rec, since, ND1, "configured");
    wait_networkd_link(
        lab,
        idx,
        ND1,
        &[
            ("OperationalState", "routable"),
            ("AdministrativeState", "configured"),
        ],
    );
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

// ------------------------------------------------------------------------------------------
// the tests

/// Toggling the peer end of a veth runs `no-carrier.d`, then the directories of the
/// states networkd goes through, each real transition exactly once, in networkd's order, with
/// the documented environment, and a `HooksCompleted` per run.
#[test]
fn carrier_toggle_runs_each_networkd_transition_once_in_order_with_the_documented_environment() {
    let Some(lab) = Lab::require() else { return };
    wait_networkd_steady(&lab);
    let rec = HookRecorder::new();
    let broker = Broker::start(
        &lab,
        &yaml(&runtime_dir(&rec), false),
        &rec.hooks(&state_events()),
    );
    let idx = lab.ifindex(ND1);
    let start = wait_daemon_follows(&lab, idx, ND1);
    let owner = lab
        .name_owner(NETWORKD_NAME)
        .expect("networkd's unique name");
    let mon = Monitor::start(&lab, &[NETWORKD_SIGNALS, HOOKS_COMPLETED]);
    let mark = mon.mark();
    let since = now_ns();

    toggle_nd1(&lab, &rec, since);
    rec.settle(QUIET);
    mon.sync();

    let runs = rec.runs_since(since, Some(ND1));
    let signals = networkd_signals(&mon, mark, &owner, idx, &start);
    let groups = networkd_transitions(&start, &signals);
    eprintln!(
        "networkd reported for {ND1}: {}\nthe daemon ran: {}",
        show_groups(&groups),
        runs.iter()
            .map(|r| r.event.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_runs_follow_networkd(&runs, &groups, &signals);

    // The expected shape: no-carrier first, routable and configured exactly once afterwards,
    // no directory twice in a row.
    let events: Vec<&str> = runs.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events.first(), Some(&"no-carrier"), "{events:?}");
    for e in ["no-carrier", "routable", "configured"] {
        assert_eq!(
            events.iter().filter(|x| **x == e).count(),
            1,
            "{e}.d must run exactly once: {events:?}"
        );
    }
    assert!(
        events.windows(2).all(|w| w[0] != w[1]),
        "a directory ran twice in a row: {events:?}"
    );
    // networkd 252 reported exactly this, in this order, in every toggle observed while
    // writing this test (by hand with `busctl monitor`, and in every run of this test since):
    // carrier before configuring, routable before configured.
    assert_eq!(
        events,
        [
            "no-carrier",
            "carrier",
            "configuring",
            "routable",
            "configured"
        ],
        "the runs follow networkd's signals (checked above), but networkd's order is not the \
         one networkd 252 showed in the lab: did the lab's networkd change?"
    );

    // The documented environment of the routable.d run.
    let routable = runs.iter().find(|r| r.event == "routable").unwrap();
    assert_link_env(routable, ND1, idx, "routable");
    assert_eq!(routable.var("OperationalState"), Some("routable"));
    assert_eq!(routable.var("CarrierState"), Some("carrier"));
    assert_eq!(routable.var("AddressState"), Some("routable"));
    let admin = routable
        .var("AdministrativeState")
        .unwrap_or_else(|| panic!("AdministrativeState missing: {:?}", routable.env));
    assert!(
        ADMINISTRATIVE_STATES.contains(&admin),
        "AdministrativeState={admin}"
    );
    assert!(
        ip_addrs(routable).contains(ND1_ADDRESS),
        "IP_ADDRS must list {ND1_ADDRESS}: {:?}",
        routable.var("IP_ADDRS")
    );
    assert_eq!(routable.var("ADDR"), Some(ND1_ADDRESS));
    assert_eq!(
        routable.var("DHCP_LEASE"),
        None,
        "labnd1 is static: networkd holds no lease for it"
    );
    let json = routable.json().unwrap();
    assert_eq!(json["OperationalState"], "routable", "{json}");
    assert_eq!(json["States"]["AdministrativeState"], admin, "{json}");
    let no_carrier = &runs[0];
    assert_link_env(no_carrier, ND1, idx, "no-carrier");
    assert_eq!(no_carrier.var("CarrierState"), Some("no-carrier"));
    let configured = runs.iter().find(|r| r.event == "configured").unwrap();
    assert_link_env(configured, ND1, idx, "configured");
    assert_eq!(configured.var("AdministrativeState"), Some("configured"));
    assert_eq!(configured.var("OperationalState"), Some("routable"));

    assert_hooks_completed(&mon, mark, idx, broker.config.path(), &runs);
    drop(broker);
}

/// `DHCP_LEASE` holds the lease dnsmasq handed out to labnd0, one `KEY=VALUE` per line,
/// and the JSON's `Networkd` part has it key by key with networkd's DNS servers. labnd0 is
/// routable before the daemon starts, so the runs come from the startup triggers.
#[test]
fn dhcp_lease_is_the_one_dnsmasq_handed_out() {
    let Some(lab) = Lab::require() else { return };
    wait_networkd_steady(&lab);
    let rec = HookRecorder::new();
    let since = now_ns();
    let _broker = Broker::start(
        &lab,
        &yaml(&runtime_dir(&rec), true),
        &rec.hooks(&state_events()),
    );
    let idx = lab.ifindex(ND0);
    wait_daemon_follows(&lab, idx, ND0);
    let routable = wait_for_run(&rec, since, ND0, "routable");
    let configured = wait_for_run(&rec, since, ND0, "configured");

    let lease = routable.var("DHCP_LEASE").unwrap_or_else(|| {
        panic!(
            "DHCP_LEASE missing from labnd0's routable.d run: {:?}",
            routable.env
        )
    });
    let lines: Vec<&str> = lease.lines().collect();
    for want in [
        "ADDRESS=192.168.77.10",
        "ROUTER=192.168.77.1",
        "DNS=192.168.77.1 192.168.77.53",
        "HOSTNAME=labclient-nd0",
        "DOMAINNAME=nd0.lab.test",
    ] {
        assert!(
            lines.contains(&want),
            "DHCP_LEASE must have the line {want:?} (one KEY=VALUE per line): {lease:?}"
        );
    }
    assert!(
        lines.iter().all(|l| !l.starts_with('#') && l.contains('=')),
        "DHCP_LEASE must hold only KEY=VALUE lines: {lease:?}"
    );
    // exactly networkd's lease file, without its comment
    let file = lab.run(&["cat", &format!("/run/systemd/netif/leases/{idx}")]);
    let from_file: Vec<&str> = file
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        lease,
        from_file.join("\n"),
        "DHCP_LEASE must be networkd's /run/systemd/netif/leases/{idx}"
    );
    // ... which is the lease dnsmasq handed out (its lease file: expiry MAC IP name client-id)
    let dnsmasq = fs::read_to_string(lab.dir.join("run/dhcp/dnsmasq.leases")).unwrap();
    assert!(
        dnsmasq.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"02:00:00:00:77:02") && f.get(2) == Some(&"192.168.77.10")
        }),
        "dnsmasq's leases must show 192.168.77.10 for labnd0's MAC:\n{dnsmasq}"
    );

    for run in [&routable, &configured] {
        assert_eq!(
            run.var("DHCP_LEASE"),
            Some(lease),
            "every labnd0 hook gets the lease: {}",
            run.summary()
        );
        let json = run.json().expect("JSON");
        let nd = &json["Networkd"];
        assert_eq!(nd["Lease"]["ADDRESS"], "192.168.77.10", "{json}");
        assert_eq!(nd["Lease"]["ROUTER"], "192.168.77.1", "{json}");
        assert!(
            nd["DNS"]
                .as_array()
                .is_some_and(|a| a.iter().any(|d| d == "192.168.77.1")),
            "JSON.Networkd.DNS must contain 192.168.77.1: {json}"
        );
    }
    assert_link_env(&routable, ND0, idx, "routable");
    assert!(
        ip_addrs(&routable).contains("192.168.77.10"),
        "{:?}",
        routable.var("IP_ADDRS")
    );
}

/// Restarting networkd mid-test loses nothing. While networkd is away labnd1 loses
/// carrier; networkd's fresh report after its restart runs `no-carrier.d`, the daemon's
/// properties follow networkd again, and the way back runs `routable.d` and `configured.d`
/// exactly once.
#[test]
fn restarting_networkd_mid_test_loses_no_transition() {
    let Some(lab) = Lab::require() else { return };
    wait_networkd_steady(&lab);
    let rec = HookRecorder::new();
    let mut broker = Broker::start(
        &lab,
        &yaml(&runtime_dir(&rec), false),
        &rec.hooks(&state_events()),
    );
    let idx = lab.ifindex(ND1);
    wait_daemon_follows(&lab, idx, ND1);
    let old_owner = lab.name_owner(NETWORKD_NAME).unwrap();
    // the unmanaged links, whose states a networkd restart does not change
    let unmanaged: Vec<(&str, u32)> = ["lo", "labdh0"]
        .into_iter()
        .map(|n| (n, lab.ifindex(n)))
        .collect();
    let states_before: Vec<_> = unmanaged
        .iter()
        .map(|(_, i)| networkd_link_states(&lab, *i).unwrap())
        .collect();
    let whole = Monitor::start(&lab, &[NETWORKD_SIGNALS]);
    let since = now_ns();

    let mut networkd = lab.stop_networkd();
    let mut peer = lab.peer_link_down(ND1_PEER);
    wait_until(
        "the kernel to report labnd1 without carrier",
        HOOK_TIMEOUT,
        || match lab.kernel_operstate(ND1).as_str() {
            "lowerlayerdown" | "down" => Ok(()),
            other => Err(other.to_owned()),
        },
    );
    networkd.start();
    let owner = lab.name_owner(NETWORKD_NAME).unwrap();
    assert_ne!(owner, old_owner, "a new networkd has a new unique name");

    // networkd's fresh report carries the transition that happened while it was away
    wait_for_run(&rec, since, ND1, "no-carrier");
    let following = wait_until(
        "the daemon's Link labnd1 to show the restarted networkd's states",
        HOOK_TIMEOUT,
        || {
            let theirs = daemon_vs_networkd_link(&lab, idx)?;
            match theirs.get("OperationalState").map(String::as_str) {
                Some("no-carrier") => Ok(theirs),
                other => Err(format!("networkd says OperationalState {other:?}")),
            }
        },
    );
    wait_until(
        "the daemon's Manager states to equal the restarted networkd's",
        HOOK_TIMEOUT,
        || daemon_vs_networkd_manager(&lab),
    );
    let away = rec.runs_since(since, Some(ND1));
    let away_events: Vec<&str> = away.iter().map(|r| r.event.as_str()).collect();
    eprintln!(
        "after the restart networkd says {following:?}; the daemon ran: {}",
        away_events.join(" ")
    );
    assert_eq!(
        away_events.first(),
        Some(&"no-carrier"),
        "the snapshot's OperationalState transition comes first:\n{}",
        summarize(&away)
    );
    let op_runs: Vec<&str> = away_events
        .iter()
        .copied()
        .filter(|e| OPERATIONAL_STATES.contains(e))
        .collect();
    assert_eq!(
        op_runs,
        ["no-carrier"],
        "while labnd1 has no carrier, exactly one OperationalState run:\n{}",
        summarize(&away)
    );
    assert!(
        away_events.windows(2).all(|w| w[0] != w[1]),
        "a directory ran twice in a row:\n{}",
        summarize(&away)
    );
    assert_link_env(&away[0], ND1, idx, "no-carrier");
    assert_eq!(away[0].var("CarrierState"), Some("no-carrier"));

    // Back up, against the restarted networkd's signals. (No carrier-loss handling is in
    // flight here, unlike in `toggle_nd1`: networkd started without carrier and waits for it;
    // 252 reports AddressState=routable and AdministrativeState=configuring meanwhile.)
    let start = daemon_vs_networkd_link(&lab, idx).unwrap();
    let mon = Monitor::start(&lab, &[NETWORKD_SIGNALS]);
    let mark = mon.mark();
    let back = now_ns();
    peer.up();
    wait_for_run(&rec, back, ND1, "routable");
    wait_for_run(&rec, back, ND1, "configured");
    wait_networkd_link(
        &lab,
        idx,
        ND1,
        &[
            ("OperationalState", "routable"),
            ("AdministrativeState", "configured"),
        ],
    );
    rec.settle(QUIET);
    mon.sync();
    let runs = rec.runs_since(back, Some(ND1));
    let signals = networkd_signals(&mon, mark, &owner, idx, &start);
    let groups = networkd_transitions(&start, &signals);
    assert_runs_follow_networkd(&runs, &groups, &signals);
    for e in ["routable", "configured"] {
        assert_eq!(
            runs.iter().filter(|r| r.event == e).count(),
            1,
            "{e}.d exactly once after the restart:\n{}",
            summarize(&runs)
        );
    }
    wait_until(
        "the daemon's Link labnd1 to equal networkd's again",
        HOOK_TIMEOUT,
        || daemon_vs_networkd_link(&lab, idx).map(|_| ()),
    );
    wait_until(
        "the daemon's Manager to equal networkd's again",
        HOOK_TIMEOUT,
        || daemon_vs_networkd_manager(&lab),
    );

    // ... and duplicates nothing: networkd's fresh report is compared with what the daemon
    // had, not replayed. lo and labdh0 keep their states across the restart (networkd sent
    // nothing about them, and reports the same states after it): no hook ran for them.
    whole.sync();
    let changed_links: BTreeSet<String> = whole
        .messages_after(0)
        .iter()
        .filter_map(|m| m["path"].as_str().map(str::to_owned))
        .collect();
    for ((name, i), before) in unmanaged.iter().zip(&states_before) {
        let after = networkd_link_states(&lab, *i).unwrap();
        if changed_links.contains(&networkd_link_path(*i)) || &after != before {
            eprintln!("{name}: networkd reported changes across its restart; not checked");
            continue;
        }
        let runs = rec.runs_since(since, Some(name));
        assert!(
            runs.is_empty(),
            "{name}'s states did not change across networkd's restart, yet hooks ran:\n{}",
            summarize(&runs)
        );
    }
    assert_alive(&lab, &mut broker);
}

/// A signal forged by another bus connection runs nothing. Forged `PropertiesChanged`
/// (broadcast and sent straight to the daemon, with `busctl emit` and from a python client that
/// also forges a `NameOwnerChanged` naming itself networkd's owner) about labnd0, labnd1 and
/// the manager, with values networkd is not about to report; then a genuine carrier toggle of
/// labnd1 proves the daemon is alive and has processed everything sent before it.
#[test]
fn forged_networkd_signals_run_nothing() {
    let Some(lab) = Lab::require() else { return };
    wait_networkd_steady(&lab);
    let rec = HookRecorder::new();
    let mut broker = Broker::start(
        &lab,
        &yaml(&runtime_dir(&rec), false),
        &rec.hooks(&all_events()),
    );
    let idx0 = lab.ifindex(ND0);
    let idx1 = lab.ifindex(ND1);
    wait_daemon_follows(&lab, idx0, ND0);
    let start = wait_daemon_follows(&lab, idx1, ND1);
    wait_until(
        "the daemon's Manager to equal networkd's",
        HOOK_TIMEOUT,
        || daemon_vs_networkd_manager(&lab),
    );
    let owner = lab.name_owner(NETWORKD_NAME).unwrap();
    let mon = Monitor::start(&lab, &[NETWORKD_SIGNALS]);
    let mark = mon.mark();
    let since_forge = now_ns();

    // the forged signal, broadcast and unicast to the daemon
    let nd0_path = networkd_link_path(idx0);
    for dest in [None, Some(format!("--destination={BUS_NAME}"))] {
        let mut args = vec!["busctl".to_owned(), "emit".to_owned()];
        args.extend(dest);
        args.extend(
            [
                nd0_path.as_str(),
                PROPERTIES_IFACE,
                "PropertiesChanged",
                "sa{sv}as",
                NETWORKD_LINK_IFACE,
                "1",
                "OperationalState",
                "s",
                "no-carrier",
                "0",
            ]
            .map(str::to_owned),
        );
        lab.run(&args);
    }
    // one connection forging the owner change and then speaking as "networkd"
    let forger = lab.run(&[
        "/usr/bin/python3".to_owned(),
        "-c".to_owned(),
        FORGER.to_owned(),
        format!("{nd0_path}|OperationalState|no-carrier"),
        format!("{nd0_path}|AdministrativeState|failed"),
        format!("{}|OperationalState|dormant", networkd_link_path(idx1)),
        format!("{NETWORKD_PATH}|OperationalState|off"),
    ]);
    let forger = forger.trim().to_owned();
    // every forged signal went through the bus (2 from busctl, 4 x 2 from the forger)
    mon.sync();
    let forged = mon
        .messages_after(mark)
        .into_iter()
        .filter(|m| m["member"] == "PropertiesChanged" && m["sender"] != owner.as_str())
        .count();
    assert!(
        forged >= 10,
        "the monitor saw {forged} forged PropertiesChanged, 10 were sent (forger {forger})"
    );

    // A genuine transition after them: the daemon receives its signals after the forged ones
    // (the bus routed those first), so once it runs, the forged ones were processed.
    let since_toggle = now_ns();
    toggle_nd1(&lab, &rec, since_forge);
    rec.settle(QUIET);
    mon.sync();

    let all = rec.runs_since(since_forge, None);
    let nd0_runs: Vec<RecordedRun> = all
        .iter()
        .filter(|r| r.link.as_deref() == Some(ND0))
        .cloned()
        .collect();
    assert!(
        nd0_runs.is_empty(),
        "forged signals about labnd0 ran hooks:\n{}",
        summarize(&nd0_runs)
    );
    let bad: Vec<RecordedRun> = all
        .iter()
        .filter(|r| {
            ["off", "dormant", "failed"].contains(&r.event.as_str())
                || (r.event == "manager" && r.var("OperationalState") == Some("off"))
        })
        .cloned()
        .collect();
    assert!(
        bad.is_empty(),
        "forged values reached hooks:\n{}",
        summarize(&bad)
    );
    let nd1_runs = rec.runs_since(since_forge, Some(ND1));
    assert!(
        nd1_runs.first().is_some_and(|r| r.ts > since_toggle),
        "labnd1's first run since the forgery must be the genuine one, after the toggle:\n{}",
        summarize(&nd1_runs)
    );
    let signals = networkd_signals(&mon, mark, &owner, idx1, &start);
    let groups = networkd_transitions(&start, &signals);
    assert_runs_follow_networkd(&nd1_runs, &groups, &signals);
    // the daemon's view is networkd's, not the forger's
    daemon_vs_networkd_link(&lab, idx0).unwrap_or_else(|e| panic!("labnd0: {e}"));
    daemon_vs_networkd_link(&lab, idx1).unwrap_or_else(|e| panic!("labnd1: {e}"));
    daemon_vs_networkd_manager(&lab).unwrap_or_else(|e| panic!("manager: {e}"));
    assert_alive(&lab, &mut broker);
}

/// Sends forged signals from one connection: a `NameOwnerChanged` saying it now owns
/// `org.freedesktop.network1`, then one `PropertiesChanged` per argument `PATH|PROPERTY|VALUE`;
/// each both broadcast and addressed to the daemon. Prints its unique name.
const FORGER: &str = r#"
import sys, dbus, dbus.lowlevel
bus = dbus.SystemBus()
me = bus.get_unique_name()
networkd = bus.get_name_owner('org.freedesktop.network1')
broker = bus.get_name_owner('org.freedesktop.NetworkBroker1')
signals = [('/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameOwnerChanged', 'sss',
            ['org.freedesktop.network1', networkd, me])]
for arg in sys.argv[1:]:
    path, prop, value = arg.split('|')
    iface = 'org.freedesktop.network1.' + ('Manager' if path == '/org/freedesktop/network1' else 'Link')
    body = [iface, dbus.Dictionary({prop: dbus.String(value, variant_level=1)}, signature='sv'),
            dbus.Array([], signature='s')]
    signals.append((path, 'org.freedesktop.DBus.Properties', 'PropertiesChanged', 'sa{sv}as', body))
for path, iface, member, sig, body in signals:
    for dest in (None, broker):
        m = dbus.lowlevel.SignalMessage(path, iface, member)
        if dest:
            m.set_destination(dest)
        m.append(*body, signature=sig)
        bus.send_message(m)
bus.flush()
print(me)
"#;

/// A stand-in for networkd (python3-dbus): owns `org.freedesktop.network1`, answers the
/// manager's `GetAll` and `ListLinks` and each listed link's `GetAll` from a JSON file (argv[1]:
/// `{"log": PATH, "manager": {..}, "links": [{"index": N, "name": S, "states": {..}}]}`), logs
/// every call, and on `org.netlab.FakeNetworkd.Emit(s path, a(ss) changed)` (at
/// `/org/netlab/FakeNetworkd`) emits `PropertiesChanged` for that object with those values, in
/// that order, as the name's owner.
const FAKE_NETWORKD: &str = r#"
import json, sys, dbus, dbus.lowlevel, dbus.service, dbus.mainloop.glib
from gi.repository import GLib
cfg = json.load(open(sys.argv[1]))
def log(line):
    with open(cfg['log'], 'a') as f:
        f.write(line + '\n')
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.SystemBus()
NET = 'org.freedesktop.network1'
ROOT = '/org/freedesktop/network1'
PROPS = 'org.freedesktop.DBus.Properties'
def link_path(i):
    return ROOT + '/link/_3%d' % i
def variants(pairs):
    return dbus.Dictionary([(k, dbus.String(v, variant_level=1)) for k, v in pairs], signature='sv')

class Manager(dbus.service.Object):
    @dbus.service.method(NET + '.Manager', in_signature='', out_signature='a(iso)')
    def ListLinks(self):
        log('ListLinks')
        return dbus.Array([dbus.Struct((dbus.Int32(l['index']), l['name'], dbus.ObjectPath(link_path(l['index']))))
                           for l in cfg['links']], signature='(iso)')
    @dbus.service.method(PROPS, in_signature='s', out_signature='a{sv}')
    def GetAll(self, iface):
        log('GetAll %s %s' % (ROOT, iface))
        return variants(cfg['manager'].items() if iface == NET + '.Manager' else [])

class Link(dbus.service.Object):
    def __init__(self, conn, path, states):
        dbus.service.Object.__init__(self, conn, path)
        self.path, self.states = path, states
    @dbus.service.method(PROPS, in_signature='s', out_signature='a{sv}')
    def GetAll(self, iface):
        log('GetAll %s %s' % (self.path, iface))
        return variants(self.states.items() if iface == NET + '.Link' else [])

class Control(dbus.service.Object):
    @dbus.service.method('org.netlab.FakeNetworkd', in_signature='sa(ss)', out_signature='')
    def Emit(self, path, changed):
        iface = NET + ('.Manager' if path == ROOT else '.Link')
        m = dbus.lowlevel.SignalMessage(path, PROPS, 'PropertiesChanged')
        m.append(iface, variants(changed), dbus.Array([], signature='s'), signature='sa{sv}as')
        bus.send_message(m)
        log('emitted %s %s' % (path, ' '.join('%s=%s' % (k, v) for k, v in changed)))

Manager(bus, ROOT)
links = [Link(bus, link_path(l['index']), l['states']) for l in cfg['links']]
Control(bus, '/org/netlab/FakeNetworkd')
name = dbus.service.BusName(NET, bus, do_not_queue=True)
log('owner %s' % bus.get_unique_name())
GLib.MainLoop().run()
"#;

/// Makes `path` an executable hook that appends a line to `marker` when it runs.
fn write_canary(path: &Path, marker: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::set_permissions(path.parent().unwrap(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        path,
        format!(
            "#!/bin/sh\necho \"$0 EVENT=$EVENT STATE=$STATE\" >>{}\n",
            marker.display()
        ),
    )
    .unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every path under `dir` (relative), except those starting with one of `skip`.
fn tree(dir: &Path, skip: &[&Path]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap().map_while(Result::ok) {
            let p = e.path();
            if skip.iter().any(|s| p.starts_with(s)) {
                continue;
            }
            if p.is_dir() && !p.is_symlink() {
                todo.push(p.clone());
            }
            out.insert(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out
}

/// A state value like `../x` runs nothing. With the real networkd stopped, a stand-in owns
/// its name (so its signals pass the sender check) and reports `../x` and
/// `routable/../../tmp`, in its `GetAll` answer and in signals. Canary hooks wait where those
/// values would lead (`DIR/../x.d`, `DIR/routable/../../tmp.d`). Then a valid value from the
/// same stand-in (`dormant`) proves its signals do reach the hooks.
#[test]
fn state_values_off_networkds_lists_run_nothing_and_touch_nothing() {
    let Some(lab) = Lab::require() else { return };
    wait_networkd_steady(&lab);
    let rec = HookRecorder::new();
    let scratch = ScratchDir::new("nb-dotdot-");
    let top = scratch.path();
    let marker = top.join("CANARY-RAN");
    let config = ConfigDir::new_in(
        top,
        &yaml(&runtime_dir(&rec), false),
        &rec.hooks(&all_events()),
    );
    // where `../x` and `routable/../../tmp` would lead from the config dir
    write_canary(&top.join("x.d/50-canary"), &marker);
    write_canary(&top.join("tmp.d/50-canary"), &marker);
    fs::create_dir(config.path().join("routable")).unwrap(); // so that routable/../.. resolves
    assert!(config.path().join("../x.d/50-canary").exists());
    assert!(config
        .path()
        .join("routable/../../tmp.d/50-canary")
        .exists());
    let config_path = config.path().to_path_buf();
    let fake_dir = top.join("fake");
    fs::create_dir(&fake_dir).unwrap();

    let mut broker = Broker::start_with_config(&lab, config);
    let idx = lab.ifindex(ND1);
    wait_daemon_follows(&lab, idx, ND1);
    let before = tree(top, &[&config_path, &fake_dir]);

    let mut networkd = lab.stop_networkd();
    let script = fake_dir.join("fake-networkd.py");
    fs::write(&script, FAKE_NETWORKD).unwrap();
    let fake_log = fake_dir.join("calls.log");
    let cfg = fake_dir.join("fake.json");
    fs::write(
        &cfg,
        serde_json::json!({
            "log": fake_log,
            "manager": {},
            "links": [{"index": idx, "name": ND1, "states": {
                "OperationalState": "../x",
                "AdministrativeState": "routable/../../tmp",
                "CarrierState": "carrier",
            }}],
        })
        .to_string(),
    )
    .unwrap();
    let mut fake = lab.spawn_logged(
        &[
            Path::new("/usr/bin/python3"),
            script.as_path(),
            cfg.as_path(),
        ],
        &fake_dir.join("output.log"),
    );
    wait_until(
        "the stand-in networkd to own org.freedesktop.network1",
        HOOK_TIMEOUT,
        || {
            if let Some(st) = fake.try_wait() {
                return Err(format!("it exited ({st}): {}", fake.log()));
            }
            match lab.name_owner_pid(NETWORKD_NAME) {
                Some(p) if p == fake.pid => Ok(()),
                other => Err(format!("owner PID {other:?}")),
            }
        },
    );
    let link_get_all = format!("GetAll {} {NETWORKD_LINK_IFACE}", networkd_link_path(idx));
    wait_until(
        "the daemon to read the new owner's states (Manager GetAll, ListLinks, Link GetAll): \
         the networkd source reads them whenever org.freedesktop.network1 gets an owner",
        HOOK_TIMEOUT,
        || {
            let calls = fs::read_to_string(&fake_log).unwrap_or_default();
            if calls.contains("ListLinks") && calls.contains(&link_get_all) {
                Ok(())
            } else {
                Err(format!("calls so far:\n{calls}"))
            }
        },
    );

    let since = now_ns();
    let emit = |path: &str, prop: &str, value: &str| {
        lab.run(&[
            "busctl",
            "call",
            NETWORKD_NAME,
            "/org/netlab/FakeNetworkd",
            "org.netlab.FakeNetworkd",
            "Emit",
            "sa(ss)",
            path,
            "1",
            prop,
            value,
        ]);
    };
    let link = networkd_link_path(idx);
    for value in ["../x", "routable/../../tmp"] {
        emit(&link, "OperationalState", value);
        emit(&link, "AdministrativeState", value);
        emit(NETWORKD_PATH, "OperationalState", value);
    }
    // the control: a valid value from the same sender, after the bad ones
    emit(&link, "OperationalState", "dormant");
    let control = wait_for_run(&rec, since, ND1, "dormant");
    rec.settle(QUIET);

    let after_bad = rec.runs_since(since, None);
    assert_eq!(
        after_bad.len(),
        1,
        "only the control (dormant.d) may run: the runs of one link keep their order, so a run \
         caused by the bad values would come before it\n{}",
        summarize(&after_bad)
    );
    assert_eq!(control.var("STATE"), Some("dormant"));
    assert_eq!(control.var("OperationalState"), Some("dormant"));
    let valid: Vec<&str> = state_events();
    let odd: Vec<RecordedRun> = rec
        .runs()
        .into_iter()
        .filter(|r| {
            !(r.event == "manager" || valid.contains(&r.event.as_str()))
                || LINK_STATE_PROPS.iter().any(|p| {
                    r.var(p)
                        .is_some_and(|v| v.contains('/') || v.contains(".."))
                })
        })
        .collect();
    assert!(
        odd.is_empty(),
        "a value off networkd's lists reached a hook:\n{}",
        summarize(&odd)
    );
    assert!(
        !marker.exists(),
        "a canary outside the config dir ran:\n{}",
        fs::read_to_string(&marker).unwrap_or_default()
    );
    assert_eq!(
        tree(top, &[&config_path, &fake_dir]),
        before,
        "nothing outside the config dir may appear or go"
    );
    assert_alive(&lab, &mut broker);
    let log = broker.log();
    for value in ["../x", "routable/../../tmp"] {
        assert!(
            log.contains(value),
            "the daemon's log must mention the dropped value {value:?}:\n{log}"
        );
    }

    // back to the real networkd for the next tests
    let status = broker.stop();
    assert!(status.success(), "exit status on SIGTERM: {status}");
    fake.kill();
    wait_until(
        "the stand-in's name to be released",
        HOOK_TIMEOUT,
        || match lab.name_owner_pid(NETWORKD_NAME) {
            None => Ok(()),
            Some(p) => Err(format!("owned by PID {p}")),
        },
    );
    networkd.start();
    wait_networkd_steady(&lab);
}

/// The startup triggers run once, and not again after a daemon restart. The first daemon
/// (a fresh `RuntimeDirectory`) runs `routable.d` and `configured.d` once for labnd0 and
/// labnd1; a second one with the same `RuntimeDirectory` runs nothing for the unchanged
/// states, while a genuine transition still runs.
#[test]
fn startup_triggers_run_once_and_not_again_after_a_daemon_restart() {
    let Some(lab) = Lab::require() else { return };
    wait_networkd_steady(&lab);
    let rec = HookRecorder::new();
    let runtime = runtime_dir(&rec);
    let config = yaml(&runtime, true);
    let hooks = rec.hooks(&state_events());
    let first_start = now_ns();
    let mut first = Broker::start(&lab, &config, &hooks);
    let idx0 = lab.ifindex(ND0);
    let idx1 = lab.ifindex(ND1);
    wait_daemon_follows(&lab, idx1, ND1);
    for link in [ND0, ND1] {
        wait_for_run(&rec, first_start, link, "routable");
        wait_for_run(&rec, first_start, link, "configured");
    }
    // the startup triggers were submitted together, at networkd's first report
    rec.settle(QUIET);
    let runs = rec.runs_since(first_start, None);
    eprintln!("startup triggers ran:\n{}", summarize(&runs));
    let mut per: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in &runs {
        *per.entry((r.link.clone().unwrap_or_default(), r.event.clone()))
            .or_default() += 1;
    }
    assert!(
        per.values().all(|n| *n == 1),
        "each link's current states run once: {per:?}"
    );
    for link in [ND0, ND1] {
        let mine: BTreeSet<&str> = runs
            .iter()
            .filter(|r| r.link.as_deref() == Some(link))
            .map(|r| r.event.as_str())
            .collect();
        assert_eq!(
            mine,
            BTreeSet::from(["routable", "configured"]),
            "{link}'s startup triggers"
        );
    }
    let r1 = runs
        .iter()
        .find(|r| r.link.as_deref() == Some(ND1) && r.event == "routable")
        .unwrap();
    assert_link_env(r1, ND1, idx1, "routable");
    assert_eq!(r1.var("AdministrativeState"), Some("configured"));
    let memory = wait_until(
        "the dispatched states to be saved in RuntimeDirectory/dispatched",
        HOOK_TIMEOUT,
        || {
            let text = fs::read_to_string(runtime.join("dispatched")).map_err(|e| e.to_string())?;
            let want = [
                format!("{idx1} OperationalState routable"),
                format!("{idx1} AdministrativeState configured"),
                format!("{idx0} OperationalState routable"),
                format!("{idx0} AdministrativeState configured"),
            ];
            if want.iter().all(|w| text.lines().any(|l| l == w)) {
                Ok(text)
            } else {
                Err(text)
            }
        },
    );
    let status = first.stop();
    assert!(status.success(), "exit status on SIGTERM: {status}");

    // the same RuntimeDirectory: nothing to run for states already dispatched this boot
    let second_start = now_ns();
    let mut second = Broker::start(&lab, &config, &hooks);
    let start = wait_daemon_follows(&lab, idx1, ND1);
    let owner = lab.name_owner(NETWORKD_NAME).unwrap();
    let mon = Monitor::start(&lab, &[NETWORKD_SIGNALS]);
    let mark = mon.mark();
    // A genuine transition of labnd1: a startup trigger of labnd1 would have been submitted at
    // networkd's first report, before it, and the runs of one link keep their order; those of
    // the other links were submitted at the same moment and run in parallel (settle below).
    toggle_nd1(&lab, &rec, second_start);
    rec.settle(QUIET);
    mon.sync();
    let again = rec.runs_since(second_start, None);
    let others: Vec<RecordedRun> = again
        .iter()
        .filter(|r| r.link.as_deref() != Some(ND1))
        .cloned()
        .collect();
    assert!(
        others.is_empty(),
        "the restarted daemon ran startup triggers again (dispatched memory:\n{memory}):\n{}",
        summarize(&others)
    );
    let nd1 = rec.runs_since(second_start, Some(ND1));
    let signals = networkd_signals(&mon, mark, &owner, idx1, &start);
    let groups = networkd_transitions(&start, &signals);
    assert_runs_follow_networkd(&nd1, &groups, &signals);
    assert_alive(&lab, &mut second);
}

/// `Generator: netlink` gives the same transitions on a link networkd does not manage,
/// computed from the kernel: carrier (and degraded, once the kernel's IPv6 link-local address
/// is ready, if that comes first), routable with an address, no-carrier when the peer goes;
/// the same environment, without networkd's `AdministrativeState`.
#[test]
fn generator_netlink_gives_the_same_transitions_on_an_unmanaged_link() {
    let Some(lab) = Lab::require() else { return };
    let rec = HookRecorder::new();
    let link = TestLink::veth_down(&lab); // both ends in labhost: distinct ifindexes
    let (name, idx) = (link.name.clone(), link.ifindex);
    let config = format!(
        "System:\n  LogLevel: debug\n  Generator: netlink\n  StartupTriggers: false\n  \
         RuntimeDirectory: {}\nNetwork:\n  Links: {name}\n  EmitJSON: true\n",
        runtime_dir(&rec).display()
    );
    let broker = Broker::start(&lab, &config, &rec.hooks(&all_events()));
    assert_eq!(
        lab.get_property(MANAGER_PATH, MANAGER_IFACE, "Generator"),
        "netlink"
    );
    wait_until(
        &format!("the daemon to publish {name} as off"),
        HOOK_TIMEOUT,
        || {
            let v = lab.try_get_property(&link.path(), LINK_IFACE, "OperationalState")?;
            if v == "off" {
                Ok(())
            } else {
                Err(format!("{v}"))
            }
        },
    );
    let mon = Monitor::start(&lab, &[HOOKS_COMPLETED]);
    let mark = mon.mark();

    let since = now_ns();
    lab.ip_batch(&format!("link set {} up\nlink set {name} up\n", link.peer));
    wait_until(
        &format!("carrier.d or degraded.d to run for {name}"),
        HOOK_TIMEOUT,
        || {
            let runs = rec.runs_since(since, Some(&name));
            if runs
                .iter()
                .any(|r| r.event == "carrier" || r.event == "degraded")
            {
                Ok(())
            } else {
                Err(summarize(&runs))
            }
        },
    );
    lab.run(&["ip", "addr", "add", "192.0.2.77/24", "dev", &name, "nodad"]);
    let routable = wait_for_run(&rec, since, &name, "routable");
    rec.settle(QUIET);
    let runs = rec.runs_since(since, Some(&name));
    let events: Vec<&str> = runs.iter().map(|r| r.event.as_str()).collect();
    eprintln!("{name} up, then an address: {}", events.join(" "));
    assert_eq!(
        events.last(),
        Some(&"routable"),
        "routable last:\n{}",
        summarize(&runs)
    );
    assert_eq!(
        events.iter().filter(|e| **e == "routable").count(),
        1,
        "{events:?}"
    );
    let before: &[&str] = &events[..events.len() - 1];
    assert!(
        before
            .iter()
            .all(|e| ["no-carrier", "carrier", "degraded"].contains(e)),
        "on the way up only no-carrier, carrier, degraded: {events:?}"
    );
    assert!(
        before.iter().any(|e| *e == "carrier" || *e == "degraded"),
        "carrier.d or degraded.d before routable.d: {events:?}"
    );
    for e in ["no-carrier", "carrier", "degraded"] {
        assert!(
            before.iter().filter(|x| **x == e).count() <= 1,
            "{e}.d ran more than once: {events:?}"
        );
    }
    assert!(
        events.windows(2).all(|w| w[0] != w[1]),
        "a directory ran twice in a row: {events:?}"
    );

    assert_link_env(&routable, &name, idx, "routable");
    assert_eq!(routable.var("OperationalState"), Some("routable"));
    assert_eq!(routable.var("CarrierState"), Some("carrier"));
    assert_eq!(routable.var("AddressState"), Some("routable"));
    assert_eq!(routable.var("IPv4AddressState"), Some("routable"));
    assert_eq!(
        routable.var("AdministrativeState"),
        None,
        "AdministrativeState is networkd's only; with Generator: netlink the states are the \
         kernel's: {:?}",
        routable.env
    );
    assert!(
        ip_addrs(&routable).contains("192.0.2.77"),
        "{:?}",
        routable.var("IP_ADDRS")
    );
    assert_eq!(routable.var("ADDR"), Some("192.0.2.77"));

    // the peer goes: no-carrier, once
    let down = now_ns();
    lab.run(&["ip", "link", "set", &link.peer, "down"]);
    let no_carrier = wait_for_run(&rec, down, &name, "no-carrier");
    rec.settle(QUIET);
    let after: Vec<RecordedRun> = rec.runs_since(down, Some(&name));
    assert_eq!(
        after.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
        ["no-carrier"],
        "{}",
        summarize(&after)
    );
    assert_link_env(&no_carrier, &name, idx, "no-carrier");
    assert_eq!(no_carrier.var("CarrierState"), Some("no-carrier"));

    // Links: only this link ran anything
    let strays: Vec<RecordedRun> = rec
        .runs()
        .into_iter()
        .filter(|r| r.link.as_deref() != Some(name.as_str()))
        .collect();
    assert!(
        strays.is_empty(),
        "Links: {name} selects only {name}:\n{}",
        summarize(&strays)
    );
    let all_mine = rec.runs_since(since, Some(&name));
    assert_hooks_completed(&mon, mark, idx, broker.config.path(), &all_mine);
    drop(broker);
    drop(link);
}
