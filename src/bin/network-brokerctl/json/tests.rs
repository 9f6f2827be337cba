//! Unit tests of `json` (src/bin/network-brokerctl/json.rs).

use super::*;

/// A link document as the daemon sends it (docs/json.md), shortened.
fn sample() -> Value {
    json!({
        "Index": 4, "Name": "labdh0", "OperationalState": "routable",
        "States": {"OperationalState": "routable", "CarrierState": "carrier"},
        "KernelOperationalState": "up", "Kind": "veth", "Flags": ["up"],
        "Address": [
            {"IP": "192.168.79.10", "Mask": 24, "Scope": "global", "Permanent": false},
            {"IP": "fe80::ff:fe00:7902", "Mask": 64, "Scope": "link", "Permanent": true},
        ],
        "Gateways": ["192.168.79.1"], "DNS": ["192.168.79.1"], "Domains": ["dh0.lab.test"],
        "Lease": {"ADDRESS": "192.168.79.10"}, "RoutingTable": 1004,
    })
}

#[test]
fn a_link_is_the_daemons_document_plus_routing_when_asked() {
    assert_eq!(link(sample(), None), sample(), "nothing added or changed");
    let status = json!({"ready": true, "desired": [], "actual": [], "pending": []});
    let v = link(sample(), Some(&status));
    let mut expected = sample();
    expected["Routing"] = json!({"InPlace": false, "Ok": 0, "Missing": 0, "Stale": 0});
    assert_eq!(v, expected);
    let mut no_table = sample();
    no_table["RoutingTable"] = json!(0);
    assert_eq!(link(no_table, Some(&status))["Routing"], Value::Null);
}

#[test]
fn status_counts_links_and_derives_the_state_without_networkd() {
    let lo = json!({"Name": "lo", "OperationalState": "carrier", "Flags": ["up", "loopback"],
                    "Address": [], "DNS": [], "Domains": [], "Gateways": []});
    let links = vec![lo, sample()];
    let manager = Props(
        json!({"Version": "0.1.0", "Generator": "dhclient", "OperationalState": ""})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let v = status(&manager, &links);
    assert_eq!(v["OperationalState"], "routable");
    assert_eq!(v["OperationalStateFrom"], "links");
    assert_eq!(v["Links"]["Total"], 2);
    assert_eq!(v["Links"]["ByOperationalState"]["carrier"], 1);
    assert_eq!(
        v["DNS"],
        json!([{"Link": "labdh0", "Server": "192.168.79.1"}])
    );
    assert_eq!(
        v["Addresses"],
        json!([{"Link": "labdh0", "IP": "192.168.79.10", "PrefixLength": 24}])
    );
}

#[test]
fn render_short_is_one_line_and_pretty_is_indented() {
    let v = json!({"A": [1, 2]});
    assert_eq!(render(&v, Mode::Short), "{\"A\":[1,2]}\n");
    assert!(render(&v, Mode::Pretty).contains("\n  \"A\""));
}
