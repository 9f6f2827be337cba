//! Unit tests of `routing` (src/bin/network-brokerctl/routing.rs).

use super::*;
use serde_json::json;

#[test]
fn entries_are_ok_missing_or_stale_per_table() {
    let rule = json!({"src": ["192.0.2.10", 32], "dst": null, "table": 100, "priority": 1000, "protocol": 4});
    let route = json!({"dst": null, "dst_len": 0, "gateway": "192.0.2.1", "oif": 3, "table": 100, "src": null, "protocol": 4});
    let stale = json!({"dst": "198.51.100.0", "dst_len": 24, "gateway": null, "oif": 3, "table": 100, "src": null, "protocol": 4});
    let status = json!({
        "desired": {"rules": [rule], "routes": [route]},
        "actual": {"rules": [rule], "routes": [stale]},
        "tables": {"3": ["eth1", 100]},
    });
    let entries = entries(&status);
    let states: Vec<_> = entries.iter().map(|e| (e.state, e.line.as_str())).collect();
    assert!(
        states.contains(&(
            "ok",
            "rule from 192.0.2.10/32 lookup 100 pref 1000 proto static"
        )),
        "{states:?}"
    );
    assert!(
        states.contains(&(
            "missing",
            "route default via 192.0.2.1 dev-index 3 table 100 proto static"
        )),
        "{states:?}"
    );
    assert!(
        states.contains(&(
            "stale",
            "route 198.51.100.0/24 dev-index 3 table 100 proto static"
        )),
        "{states:?}"
    );
    assert_eq!(table_state(&status, 100), (1, 1, 1));
    assert_eq!(table_state(&status, 200), (0, 0, 0));
    assert_eq!(
        tables(&status),
        vec![("3".to_string(), "eth1".to_string(), 100)]
    );
}
