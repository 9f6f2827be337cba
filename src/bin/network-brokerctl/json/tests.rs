//! Unit tests of `json` (src/bin/network-brokerctl/json.rs).

use super::*;

fn sample() -> LinkData {
    let props = json!({
        "Index": 4, "Name": "labdh0", "OperationalState": "routable",
        "CarrierState": "carrier", "AddressState": "routable", "AdministrativeState": "",
        "OnlineState": "", "KernelOperationalState": "up",
        "Addresses": [["192.168.79.10", 24], ["fe80::ff:fe00:7902", 64]],
        "DNS": ["192.168.79.1"], "Domains": ["dh0.lab.test"],
        "Lease": {"ADDRESS": "192.168.79.10", "EXPIRE": "1796305685"},
        "RoutingTable": 0,
    });
    let describe = json!({
        "attrs": {"index": 4, "name": "labdh0", "kind": "veth", "mac": "02:00:00:00:79:02", "mtu": 1500},
        "addresses": [
            {"ip": "192.168.79.10", "prefix_len": 24, "scope": 0, "flags": 0, "label": "labdh0"},
            {"ip": "fe80::ff:fe00:7902", "prefix_len": 64, "scope": 253, "flags": 128, "label": null},
        ],
        "routes": [
            {"dst": null, "dst_len": 0, "gateway": "192.168.79.1", "ipv6": false, "kind": 1, "metric": 2048, "protocol": 16, "scope": 0, "src": null, "table": 254},
            {"dst": "192.168.79.10", "dst_len": 32, "gateway": null, "ipv6": false, "kind": 2, "metric": null, "protocol": 2, "scope": 254, "src": "192.168.79.10", "table": 255},
        ],
    });
    LinkData {
        index: 4,
        name: "labdh0".into(),
        props: Props(props.as_object().cloned().unwrap_or_default()),
        describe,
    }
}

#[test]
fn a_link_has_names_not_numbers() {
    let v = link(&sample(), None);
    assert_eq!(v["Addresses"][0]["Scope"], "global");
    assert_eq!(v["Addresses"][0]["Permanent"], false);
    assert_eq!(v["Addresses"][1]["Scope"], "link");
    assert_eq!(v["Gateways"], json!(["192.168.79.1"]));
    assert_eq!(
        v["Routes"].as_array().map(Vec::len),
        Some(1),
        "local table left out: {v}"
    );
    assert_eq!(v["Routes"][0]["Destination"], "default");
    assert_eq!(v["Routes"][0]["Protocol"], "dhcp");
    assert_eq!(v["Routes"][0]["Table"], "main");
    assert_eq!(v["Lease"]["EXPIRE"], "1796305685");
    assert!(v.get("Routing").is_none(), "no routing status asked for");
}

#[test]
fn status_counts_links_and_derives_the_state_without_networkd() {
    let lo = json!({"Name": "lo", "OperationalState": "carrier", "Addresses": [], "DNS": [], "Domains": [], "Gateways": []});
    let links = vec![lo, link(&sample(), None)];
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
