//! Unit tests of `monitor` (src/bin/network-brokerctl/monitor.rs).

use super::*;

fn event(signal: &str, index: Option<i32>, name: Option<&str>, fields: Value) -> Event {
    Event {
        time_us: 1_796_299_263_123_000,
        signal: signal.into(),
        path: "/org/freedesktop/NetworkBroker1/link/_33".into(),
        index,
        name: name.map(str::to_string),
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

#[test]
fn a_property_change_is_a_line_per_property_with_time_and_name() {
    let e = event(
        "PropertiesChanged",
        Some(3),
        Some("eth1"),
        json!({"Interface": "org.freedesktop.NetworkBroker1.Link",
               "Changed": {"OperationalState": "routable", "Addresses": [["192.168.78.2", 24]]},
               "Invalidated": []}),
    );
    assert_eq!(
        text_lines(&e),
        "12:01:03.123 eth1 Addresses: 192.168.78.2/24\n12:01:03.123 eth1 OperationalState: routable\n"
    );
}

#[test]
fn json_events_carry_real_values() {
    let e = event(
        "PropertiesChanged",
        Some(3),
        Some("eth1"),
        json!({"Changed": {"KernelOperationalState": "down", "Addresses": [["192.168.78.2", 24]]}}),
    );
    let v = event_json(&e);
    assert_eq!(v["Changed"]["KernelOperationalState"], "down");
    assert_eq!(v["Changed"]["Addresses"], json!([["192.168.78.2", 24]]));
    assert_eq!(v["Name"], "eth1");
    assert_eq!(v["Timestamp"], 1_796_299_263_123_000u64);
}

#[test]
fn names_are_learned_and_followed_through_renames() {
    let mut names = HashMap::from([(3, "eth1".to_string())]);
    let mut e = event("RoutesModified", Some(3), None, json!({}));
    learn_names(&mut names, &mut e);
    assert_eq!(e.name.as_deref(), Some("eth1"));
    let mut renamed = event(
        "PropertiesChanged",
        Some(3),
        None,
        json!({"Changed": {"Name": "wan"}}),
    );
    learn_names(&mut names, &mut renamed);
    assert_eq!(names.get(&3).map(String::as_str), Some("wan"));
    let manager = event(
        "PropertiesChanged",
        None,
        None,
        json!({"Changed": {"OnlineState": ""}}),
    );
    assert_eq!(text_lines(&manager), "12:01:03.123 - OnlineState: (none)\n");
}

#[test]
fn signals_read_as_words() {
    let e = event(
        "AddressAdded",
        Some(3),
        Some("eth1"),
        json!({"IP": "192.0.2.10", "PrefixLength": 24}),
    );
    assert_eq!(
        text_lines(&e),
        "12:01:03.123 eth1 AddressAdded: 192.0.2.10/24\n"
    );
    let e = event(
        "HooksCompleted",
        Some(3),
        Some("eth1"),
        json!({"Event": "routable", "Results": [{"Script": "/etc/x/50-a", "Status": 1, "Error": "exit status 1"}], "Coalesced": 0}),
    );
    assert_eq!(
        text_lines(&e),
        "12:01:03.123 eth1 HooksCompleted: routable /etc/x/50-a exited 1 (exit status 1)\n"
    );
    assert_eq!(
        path_index("/org/freedesktop/NetworkBroker1/link/_312"),
        Some(12)
    );
    assert_eq!(path_index("/org/freedesktop/NetworkBroker1"), None);
}
