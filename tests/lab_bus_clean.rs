//! Lab tests of the cleaned bus API (issue 14, point 5) with clients the project did not
//! write, `busctl` and `gdbus`: one `PropertiesChanged` per object per broker batch, every
//! property in its documented set during a burst, no empty node in `GetManagedObjects`, named
//! arguments in the introspection, `PropertyReadOnly` for `Set`, and the hook results as state
//! (`Link.HookResults`, `Manager.FailedHooks`). Without the lab they SKIP, under `CI=true`
//! they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// The daemon follows the kernel alone.
const YAML: &str = "\
System:
  LogLevel: debug
  Generator: netlink
";

/// Every string property of a link with the set docs/dbus-api.md gives for it: networkd's
/// lists (the daemon's own, `network_broker::model::networkd`), `""` where the page allows it,
/// and the kernel's RFC 2863 names.
fn link_sets() -> Vec<(&'static str, Vec<&'static str>)> {
    use network_broker::model::networkd as nd;
    let with_empty = |set: &[&'static str]| [&[""][..], set].concat();
    vec![
        ("OperationalState", nd::OPERATIONAL_STATES.to_vec()),
        ("CarrierState", nd::CARRIER_STATES.to_vec()),
        ("AddressState", nd::ADDRESS_STATES.to_vec()),
        ("AdministrativeState", with_empty(nd::ADMINISTRATIVE_STATES)),
        // networkd's own list has "" (no opinion).
        ("OnlineState", nd::ONLINE_STATES.to_vec()),
        (
            "KernelOperationalState",
            vec![
                "up",
                "down",
                "lowerlayerdown",
                "dormant",
                "testing",
                "notpresent",
                "unknown",
            ],
        ),
    ]
}

/// `Properties.GetAll(iface)` of `path` with busctl: property → value's `data`.
fn try_get_all(lab: &LabInfo, path: &str, iface: &str) -> Result<BTreeMap<String, Value>, String> {
    let v = lab.try_busctl_json(&[
        "call",
        BUS_NAME,
        path,
        PROPERTIES_IFACE,
        "GetAll",
        "s",
        iface,
    ])?;
    Ok(data_of(&v["data"][0]))
}

fn get_all(lab: &LabInfo, path: &str, iface: &str) -> BTreeMap<String, Value> {
    try_get_all(lab, path, iface).unwrap_or_else(|e| panic!("GetAll {path}: {e}"))
}

/// A property map as busctl's JSON gives it (`{name: {type, data}}`) as name → `data`.
fn data_of(props: &Value) -> BTreeMap<String, Value> {
    props
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v["data"].clone()))
        .collect()
}

/// The properties of a `PropertiesChanged` message (busctl monitor's JSON) with their values.
fn changed_of(m: &Value) -> BTreeMap<String, Value> {
    data_of(&m["payload"]["data"][1])
}

/// The values of `props` that are not in their documented sets.
fn outside_sets(what: &str, props: &BTreeMap<String, Value>) -> Vec<String> {
    link_sets()
        .into_iter()
        .filter_map(|(name, set)| {
            let value = props.get(name)?;
            let text = value.as_str().unwrap_or("<not a string>");
            (!set.contains(&text)).then(|| format!("{what}: {name} = {value}"))
        })
        .collect()
}

/// Taking a link down changes its kernel state, carrier, operational and address states and
/// addresses in one batch of kernel events: its object gets one `PropertiesChanged` with all
/// of them, the values equal to what the object reads afterwards.
#[test]
fn one_link_going_down_sends_one_properties_changed_with_every_change() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let link = TestLink::veth_to_peer(&lab);
    lab.run(&["ip", "addr", "add", "192.0.2.7/24", "dev", &link.name]);
    let path = link.path();
    wait_until("the link to be routable", EVENT_TIMEOUT, || {
        let all = lab
            .try_get_property(&path, LINK_IFACE, "OperationalState")
            .map_err(|e| e.to_string())?;
        if all == "routable" {
            Ok(())
        } else {
            Err(format!("OperationalState {all}"))
        }
    });
    let monitor = Monitor::start(
        &lab,
        &[&format!(
            "type='signal',path='{path}',interface='{PROPERTIES_IFACE}'"
        )],
    );
    let before = get_all(&lab, &path, LINK_IFACE);
    let mark = monitor.mark();
    lab.run(&["ip", "link", "set", "dev", &link.name, "down"]);
    wait_until("the object to read down", EVENT_TIMEOUT, || {
        let all = get_all(&lab, &path, LINK_IFACE);
        if all["KernelOperationalState"] == "down"
            && all["OperationalState"] == "off"
            && all["AddressState"] == "off"
        {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    });
    let after = get_all(&lab, &path, LINK_IFACE);
    // Everything the daemon sent before this point has reached the monitor.
    monitor.sync();
    let signals: Vec<Value> = monitor
        .messages_after(mark)
        .into_iter()
        .filter(|m| m["member"] == "PropertiesChanged")
        .collect();
    assert_eq!(
        signals.len(),
        1,
        "one PropertiesChanged for one link going down: {signals:#?}"
    );
    let changed = changed_of(&signals[0]);
    let want: BTreeMap<String, Value> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(
        want.len() >= 4,
        "going down changes several properties: {want:?}"
    );
    assert_eq!(changed, want, "the signal carries every changed property");
}

/// A burst of links created, taken down and deleted: every state property, as
/// `InterfacesAdded`, `PropertiesChanged` and `GetManagedObjects` show it, is in its set.
#[test]
fn every_property_seen_during_a_burst_is_in_its_set() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let monitor = Monitor::start(
        &lab,
        &["type='signal',path_namespace='/org/freedesktop/NetworkBroker1'"],
    );
    let mut bad = Vec::new();
    for round in 0..5 {
        // Half the links come and go within the batch: their objects are made after the
        // snapshot without them is out, so what they read is a gone link's.
        let mut batch = String::new();
        for i in 0..40 {
            let name = format!("nbb{round}x{i}");
            batch.push_str(&format!(
                "link add {name} type veth peer name {name}p\nlink set {name} up\n\
                 address add 198.51.100.{}/32 dev {name}\nlink set {name} down\n",
                i + 1
            ));
            if i % 2 == 0 {
                batch.push_str(&format!("link del {name}\n"));
            }
        }
        lab.ip_batch(&batch);
        // Read everything while the daemon is still catching up.
        let objects = lab.busctl_json(&[
            "call",
            BUS_NAME,
            MANAGER_PATH,
            "org.freedesktop.DBus.ObjectManager",
            "GetManagedObjects",
        ]);
        for (path, interfaces) in objects["data"][0].as_object().unwrap() {
            assert!(
                interfaces[LINK_IFACE].is_object(),
                "{path} without the Link interface: {interfaces}"
            );
            let props = data_of(&interfaces[LINK_IFACE]);
            bad.extend(outside_sets(&format!("GetManagedObjects {path}"), &props));
        }
        let mut deletes = String::new();
        for i in (1..40).step_by(2) {
            deletes.push_str(&format!("link del nbb{round}x{i}\n"));
        }
        lab.ip_batch(&deletes);
    }
    assert_signalled_in_sets(&monitor, bad);
}

/// Asserts that every link property the monitor saw in a `PropertiesChanged` or an
/// `InterfacesAdded`, and every one in `bad` (found by reading), is in its set.
fn assert_signalled_in_sets(monitor: &Monitor, mut bad: Vec<String>) {
    monitor.sync();
    let mut seen = 0;
    for m in monitor.messages() {
        let props = match m["member"].as_str() {
            Some("PropertiesChanged") if m["payload"]["data"][0] == LINK_IFACE => changed_of(&m),
            Some("InterfacesAdded") => data_of(&m["payload"]["data"][1][LINK_IFACE]),
            _ => continue,
        };
        seen += props.len();
        // InterfacesAdded comes from the manager's path and names the object first.
        let object = if m["member"] == "InterfacesAdded" {
            &m["payload"]["data"][0]
        } else {
            &m["path"]
        };
        bad.extend(outside_sets(&format!("{} {object}", m["member"]), &props));
    }
    assert!(seen > 0, "the monitor saw properties");
    assert!(
        bad.is_empty(),
        "values outside their sets:\n{}",
        bad.join("\n")
    );
}

/// The same with networkd reporting the links (it reports unmanaged ones too, one property
/// at a time as they change): a state networkd has not reported yet is the kernel's, never
/// `""`, in every signal and every read.
#[test]
fn with_networkd_every_property_seen_is_in_its_set() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(
        &lab,
        "System:\n  LogLevel: debug\n  Generator: systemd-networkd\n",
        &[],
    );
    let monitor = Monitor::start(
        &lab,
        &["type='signal',path_namespace='/org/freedesktop/NetworkBroker1'"],
    );
    let mut bad = Vec::new();
    for round in 0..3 {
        let names: Vec<String> = (0..8).map(|i| format!("nbn{round}x{i}")).collect();
        let mut batch = String::new();
        for (i, name) in names.iter().enumerate() {
            batch.push_str(&format!(
                "link add {name} type veth peer name {name}p\nlink set {name} up\n\
                 link set {name}p up\naddress add 198.51.100.{}/32 dev {name}\n",
                i + 1
            ));
        }
        lab.ip_batch(&batch);
        for name in &names {
            if let Some(index) = lab
                .try_list_links()
                .unwrap()
                .iter()
                .find(|(_, n, _)| n == name)
                .map(|(i, _, _)| *i)
            {
                // The link may be gone again by now: only what was read counts.
                if let Ok(props) = try_get_all(&lab, &link_path(index), LINK_IFACE) {
                    bad.extend(outside_sets(&format!("GetAll {name}"), &props));
                }
            }
        }
        let deletes: String = names.iter().map(|n| format!("link del {n}\n")).collect();
        lab.ip_batch(&deletes);
    }
    assert_signalled_in_sets(&monitor, bad);
}

/// `GetManagedObjects` (busctl and gdbus) lists link objects only, each with its interface:
/// no `/org/freedesktop/NetworkBroker1/link` node without one.
#[test]
fn managed_objects_have_no_empty_node() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let link = TestLink::veth(&lab);
    wait_until("the link's object", EVENT_TIMEOUT, || {
        lab.try_get_property(&link.path(), LINK_IFACE, "Index")
            .map(|_| ())
    });
    let objects = lab.busctl_json(&[
        "call",
        BUS_NAME,
        MANAGER_PATH,
        "org.freedesktop.DBus.ObjectManager",
        "GetManagedObjects",
    ]);
    let objects = objects["data"][0].as_object().unwrap();
    assert!(objects.contains_key(&link.path()), "{objects:?}");
    assert!(
        !objects.contains_key(&format!("{MANAGER_PATH}/link")),
        "the /link node is no object: {objects:?}"
    );
    for (path, interfaces) in objects {
        let names: Vec<&String> = interfaces.as_object().unwrap().keys().collect();
        assert_eq!(names, vec![LINK_IFACE], "{path}");
    }
    // gdbus, another client's view of the same call
    let out = lab.gdbus_call(
        MANAGER_PATH,
        "org.freedesktop.DBus.ObjectManager.GetManagedObjects",
        &[],
    );
    assert!(
        !out.contains(&format!("objectpath '{MANAGER_PATH}/link': {{}}")),
        "{out}"
    );
    assert!(out.contains(&link.path()), "{out}");
}

/// Every argument of every method and signal of both interfaces is named in the XML the
/// daemon serves on the bus.
#[test]
fn introspection_names_every_argument() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let lo = lab.ifindex("lo");
    for (path, iface) in [
        (MANAGER_PATH.to_string(), MANAGER_IFACE),
        (link_path(lo), LINK_IFACE),
    ] {
        let intro = lab.introspect(&path);
        let interface = intro.interface(iface);
        let mut members = 0;
        for (kind, list) in [
            ("method", &interface.methods),
            ("signal", &interface.signals),
        ] {
            for (name, args) in list {
                members += 1;
                for arg in args {
                    assert!(
                        arg.name.as_deref().is_some_and(|n| !n.is_empty()),
                        "{iface} {kind} {name}: an argument without a name ({arg:?})"
                    );
                }
            }
        }
        assert!(members > 0, "{iface}: {}", intro.xml);
    }
}

/// `busctl set-property` and gdbus's `Properties.Set` of a property are refused with
/// `org.freedesktop.DBus.Error.PropertyReadOnly`, on both interfaces.
#[test]
fn setting_a_property_is_read_only() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let lo = link_path(lab.ifindex("lo"));
    for (path, iface, prop, sig, value) in [
        (MANAGER_PATH, MANAGER_IFACE, "OperationalState", "s", "off"),
        (lo.as_str(), LINK_IFACE, "Name", "s", "x"),
        (lo.as_str(), LINK_IFACE, "RoutingTable", "u", "7"),
    ] {
        let out = lab.output(&[
            "busctl",
            "--timeout=10",
            "set-property",
            BUS_NAME,
            path,
            iface,
            prop,
            sig,
            value,
        ]);
        assert!(
            !out.success(),
            "busctl set-property {prop}: {}",
            out.describe()
        );
        // busctl prints the message; gdbus prints the error's name.
        assert!(
            out.stderr.contains("read-only"),
            "busctl set-property {prop}: {}",
            out.describe()
        );
        let gvalue = if sig == "u" {
            format!("<uint32 {value}>")
        } else {
            format!("<'{value}'>")
        };
        let out = lab.try_gdbus_call(
            path,
            "org.freedesktop.DBus.Properties.Set",
            &[iface, prop, &gvalue],
        );
        assert!(!out.success(), "gdbus Set {prop}: {}", out.describe());
        assert!(
            out.stderr
                .contains("org.freedesktop.DBus.Error.PropertyReadOnly"),
            "gdbus Set {prop}: {}",
            out.describe()
        );
    }
}

/// After `RunHooks` ran a hook that succeeded and one that failed for `lo`, the link's
/// `HookResults` lists both with their status and time, `FailedHooks` the failure with the
/// link's name, each announced by `PropertiesChanged`; and `HooksCompleted` still comes.
#[test]
fn hook_results_are_state_after_a_hook_ran_and_failed() {
    let Some(lab) = Lab::require() else { return };
    let hooks = OK_AND_FAILING_HOOKS;
    let _broker = Broker::start(&lab, YAML, &hooks);
    let lo = lab.ifindex("lo");
    let path = link_path(lo);
    assert_eq!(
        lab.get_property(&path, LINK_IFACE, "HookResults"),
        Value::Array(vec![]),
        "nothing ran yet"
    );
    let monitor = Monitor::start(
        &lab,
        &["type='signal',path_namespace='/org/freedesktop/NetworkBroker1'"],
    );
    let started_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let reply = lab.call(
        MANAGER_PATH,
        MANAGER_IFACE,
        "RunHooks",
        &["si", "nbtest", &lo.to_string()],
    );
    assert_eq!(reply[0].as_array().unwrap().len(), 2, "{reply}");

    let results = monitor.wait_for("HookResults changed", EVENT_TIMEOUT, |m| {
        is_signal(m, &path, PROPERTIES_IFACE, "PropertiesChanged")
            && changed_property(m, LINK_IFACE, "HookResults").is_some()
    });
    let failed = monitor.wait_for("FailedHooks changed", EVENT_TIMEOUT, |m| {
        is_signal(m, MANAGER_PATH, PROPERTIES_IFACE, "PropertiesChanged")
            && changed_property(m, MANAGER_IFACE, "FailedHooks").is_some()
    });
    monitor.wait_for("HooksCompleted", EVENT_TIMEOUT, |m| {
        is_signal(m, MANAGER_PATH, MANAGER_IFACE, "HooksCompleted")
    });

    let runs = lab.get_property(&path, LINK_IFACE, "HookResults");
    assert_eq!(
        changed_property(&results, LINK_IFACE, "HookResults"),
        Some(Some(runs.clone())),
        "the signal carries the value the property reads"
    );
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for (run, (script, status)) in runs.iter().zip([("10-ok", 0), ("20-fail", 3)]) {
        assert_eq!(run[0], "nbtest", "{run}");
        assert!(run[1].as_str().unwrap().ends_with(script), "{run}");
        assert!(run[2].as_u64().unwrap() >= started_us, "time: {run}");
        assert_eq!(run[3], status, "{run}");
        assert_eq!(run[4].as_str().unwrap().is_empty(), status == 0, "{run}");
    }

    let failures = lab.get_property(MANAGER_PATH, MANAGER_IFACE, "FailedHooks");
    assert_eq!(
        changed_property(&failed, MANAGER_IFACE, "FailedHooks"),
        Some(Some(failures.clone()))
    );
    let failures = failures.as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let f = &failures[0];
    assert_eq!(
        (f[0].as_u64(), f[1].as_str()),
        (Some(u64::from(lo)), Some("lo")),
        "{f}"
    );
    assert_eq!(f[2], "nbtest", "{f}");
    assert!(f[3].as_str().unwrap().ends_with("20-fail"), "{f}");
    assert!(f[4].as_u64().unwrap() >= started_us, "{f}");
    assert_eq!(f[5], 3, "{f}");
    assert!(!f[6].as_str().unwrap().is_empty(), "an error text: {f}");
}

/// Deleting a link whose addresses are still on it: the kernel removes them as it takes the
/// link down, so each gets its `AddressRemoved`, before the link's `LinkRemoved`
/// (docs/dbus-api.md). Checked for a link that is up and one already down.
#[test]
fn a_deleted_links_addresses_get_address_removed_before_link_removed() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let monitor = Monitor::start(
        &lab,
        &[&format!(
            "type='signal',path='{MANAGER_PATH}',interface='{MANAGER_IFACE}'"
        )],
    );
    for (address, down) in [("192.0.2.21", false), ("192.0.2.22", true)] {
        let mut link = TestLink::veth_to_peer(&lab);
        lab.run(&[
            "ip",
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            &link.name,
        ]);
        if down {
            lab.run(&["ip", "link", "set", "dev", &link.name, "down"]);
        }
        let index = i64::from(link.ifindex);
        monitor.wait_for("AddressAdded", EVENT_TIMEOUT, |m| {
            m["member"] == "AddressAdded" && m["payload"]["data"][1] == address
        });
        let mark = monitor.mark();
        link.delete();
        monitor.wait_for_after(mark, "LinkRemoved", EVENT_TIMEOUT, |m| {
            m["member"] == "LinkRemoved" && m["payload"]["data"][0] == index
        });
        let after: Vec<Value> = monitor.messages_after(mark);
        let removed = after.iter().position(|m| {
            m["member"] == "AddressRemoved"
                && m["payload"]["data"][0] == index
                && m["payload"]["data"][1] == address
        });
        let gone = after
            .iter()
            .position(|m| m["member"] == "LinkRemoved" && m["payload"]["data"][0] == index);
        assert!(
            matches!((removed, gone), (Some(r), Some(g)) if r < g),
            "AddressRemoved {address} (link down: {down}) before LinkRemoved: {after:#?}"
        );
    }
}
