//! Unit tests of `monitor` (src/bin/network-brokerctl/monitor.rs).

use super::*;

fn event(signal: &str, index: Option<i32>, name: Option<&str>, fields: Value) -> Event {
    Event {
        time_us: 1_796_299_263_123_000,
        signal: signal.into(),
        path: "/org/freedesktop/NetworkBroker1/link/_33".into(),
        index,
        name: name.map(str::to_string),
        sequence: Some(7),
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
}

#[test]
fn events_from_the_history_read_like_live_ones_with_their_number() {
    let args = [json!(3), json!("192.0.2.10"), json!(24)];
    let e = decode_event("AddressAdded", &args, 41, 1_796_299_263_123_000).expect("decoded");
    assert_eq!(e.sequence, Some(41));
    assert_eq!(e.index, Some(3));
    assert_eq!(e.path, MANAGER_PATH);
    assert_eq!(event_json(&e)["Sequence"], 41);
    assert_eq!(event_json(&e)["IP"], "192.0.2.10");
    let args = [json!(3), json!({"OperationalState": "routable"})];
    let e =
        decode_event("LinkPropertiesChanged", &args, 42, 1_796_299_263_123_000).expect("decoded");
    assert_eq!(e.signal, "PropertiesChanged");
    assert_eq!(e.path, "/org/freedesktop/NetworkBroker1/link/_33");
    let mut names = HashMap::from([(3, "eth1".to_string())]);
    let mut e = e;
    learn_names(&mut names, &mut e);
    assert_eq!(
        text_lines(&e),
        "12:01:03.123 eth1 OperationalState: routable\n"
    );
    assert_eq!(
        decode_event("AddressAdded", &[json!(3)], 1, 0),
        None,
        "too few arguments"
    );
}

#[test]
fn live_events_the_history_reply_covered_are_skipped() {
    let held = |n: u64| (n, 0, "RoutesModified".to_string(), Vec::new());
    // Complete: everything up to the last returned, or up to N when nothing came after it.
    assert_eq!(resume_point(5, true, &[held(6), held(7)]), 7);
    assert_eq!(resume_point(5, true, &[]), 5);
    // Incomplete: N may be another run's; only what was returned is covered.
    assert_eq!(resume_point(900, false, &[held(3), held(4)]), 4);
    assert_eq!(resume_point(900, false, &[]), 0);
}
