//! Unit tests of the link document (src/link_json/).

use std::sync::Arc;

use serde_json::{json, Value};

use super::names::{protocol_name, route_type_name, scope_name, table_name};
use super::LinkDocument;
use crate::model::link_name::escape;
use crate::model::{Lease, LinkView, Route, StateProperty};

fn sample() -> LinkView {
    crate::model::fixtures::eth0_view()
}

fn value(doc: &LinkDocument<'_>) -> Value {
    serde_json::from_str(&doc.to_json()).unwrap()
}

#[test]
fn the_document_has_the_original_names_and_every_key() {
    let view = sample();
    assert_eq!(
        value(&LinkDocument::new(&view, 1003)),
        json!({
            "Index": 3, "Name": "eth0", "OperationalState": "up",
            "States": {"OperationalState": "", "CarrierState": "", "AddressState": "",
                       "IPv4AddressState": "", "IPv6AddressState": "",
                       "AdministrativeState": "", "OnlineState": ""},
            "KernelOperationalState": "up", "Kind": "veth",
            "HardwareAddress": "02:00:00:00:00:01", "MTU": 1500,
            "Flags": ["up", "broadcast", "running", "multicast", "lower_up"],
            "Address": [{"IP": "192.0.2.1", "Mask": 24, "Label": "eth0", "Family": "ipv4",
                         "Scope": "global", "Flags": ["permanent"], "Permanent": true}],
            "Routes": [{"Dst": {"IP": "", "Mask": 0}, "Src": "192.0.2.1", "Gw": "192.0.2.254",
                        "Table": 254, "TableName": "main", "Family": "ipv4", "Protocol": "dhcp",
                        "Scope": "global", "Type": "unicast", "Metric": 1024}],
            "Gateways": ["192.0.2.254"], "DNS": [], "Domains": [], "Lease": {},
            "RoutingTable": 1003,
        })
    );
}

#[test]
fn the_original_keys_come_first_in_the_text() {
    let view = sample();
    let text = LinkDocument::new(&view, 0).to_json();
    assert!(
        text.starts_with(r#"{"Index":3,"Name":"eth0","OperationalState":"up","States":{"#),
        "{text}"
    );
}

#[test]
fn kernel_numbers_are_names_and_unnamed_ones_numbers_as_text() {
    assert_eq!(scope_name(253), "link");
    assert_eq!(scope_name(254), "host");
    assert_eq!(scope_name(7), "7");
    assert_eq!(protocol_name(16), "dhcp");
    assert_eq!(protocol_name(2), "kernel");
    assert_eq!(protocol_name(78), "network-broker");
    assert_eq!(protocol_name(250), "250");
    assert_eq!(route_type_name(2), "local");
    assert_eq!(route_type_name(200), "200");
    assert_eq!(table_name(255), "local");
    assert_eq!(table_name(1003), "1003");

    let mut view = sample();
    view.addresses[0].ip = "2001:db8::1".parse().unwrap();
    view.addresses[0].scope = 253;
    view.addresses[0].flags = 0x01 | 0x40;
    view.attrs.flags = 0x8 | 0x1;
    let v = value(&LinkDocument::new(&view, 0));
    assert_eq!(v["Flags"], json!(["up", "loopback"]));
    let a = &v["Address"][0];
    assert_eq!(a["Scope"], "link");
    assert_eq!(a["Family"], "ipv6");
    assert_eq!(a["Flags"], json!(["temporary", "tentative"]));
    assert_eq!(a["Permanent"], false);
    view.addresses[0].ip = "192.0.2.9".parse().unwrap();
    let v = value(&LinkDocument::new(&view, 0));
    assert_eq!(v["Address"][0]["Flags"], json!(["secondary", "tentative"]));
}

#[test]
fn absent_values_are_empty_not_missing() {
    let mut view = sample();
    view.attrs.kind = None;
    view.attrs.mac = None;
    view.attrs.mtu = None;
    view.addresses[0].label = None;
    view.routes = [Route {
        dst: Some("2001:db8::".parse().unwrap()),
        dst_len: 64,
        src: None,
        gateway: None,
        oif: Some(3),
        table: 1003,
        protocol: 250,
        scope: 253,
        kind: 1,
        metric: None,
        ipv6: true,
    }]
    .into();
    let v = value(&LinkDocument::new(&view, 0));
    assert_eq!(v["Kind"], "");
    assert_eq!(v["HardwareAddress"], "");
    assert_eq!(v["MTU"], 0);
    assert_eq!(v["Address"][0]["Label"], "");
    let r = &v["Routes"][0];
    assert_eq!(r["Dst"], json!({"IP": "2001:db8::", "Mask": 64}));
    assert_eq!(
        (&r["Src"], &r["Gw"], &r["Metric"]),
        (&json!(""), &json!(""), &json!(0))
    );
    assert_eq!(r["TableName"], "1003");
    assert_eq!(r["Protocol"], "250");
    assert_eq!(v["Gateways"], json!([]), "no default route, no gateway");
    assert_eq!(v["Lease"], json!({}));
    assert_eq!(v["States"]["OnlineState"], "");
}

#[test]
fn an_unprintable_name_is_escaped_text() {
    let mut view = sample();
    view.attrs.name = escape(b"e\xff\x01\\");
    let text = LinkDocument::new(&view, 0).to_json();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["Name"], r"e\xff\x01\x5c");
    assert!(text.is_ascii(), "{text}");
}

#[test]
fn states_lease_and_event_state() {
    let mut view = sample();
    view.states.insert(StateProperty::Operational, "degraded");
    view.states.insert(StateProperty::Online, "partial");
    let lease = Lease {
        interface: "eth0".into(),
        address: Some("192.0.2.1".parse().unwrap()),
        prefix_len: Some(24),
        routers: vec!["192.0.2.254".parse().unwrap()],
        dns: vec!["192.0.2.53".parse().unwrap()],
        domain_name: Some("lab.test".into()),
        domain_search: vec!["lab.test".into(), "search.test".into()],
        host_name: None,
        mtu: None,
        renew: Some(100),
        rebind: None,
        expire: Some(200),
        options: Default::default(),
    };
    view.lease = Some(Arc::new(lease.clone()));
    let v = value(&LinkDocument::new(&view, 0));
    assert_eq!(v["OperationalState"], "degraded");
    assert_eq!(v["States"]["OnlineState"], "partial");
    assert_eq!(v["DNS"], json!(["192.0.2.53"]));
    assert_eq!(v["Domains"], json!(["lab.test", "search.test"]));
    assert_eq!(v["Lease"]["ADDRESS"], "192.0.2.1");
    assert_eq!(v["Lease"]["EXPIRE"], "200");

    let mut other = lease;
    other.dns = vec!["198.51.100.53".parse().unwrap()];
    let v = value(&LinkDocument::for_event(
        &view,
        0,
        Some("routable"),
        Some(&other),
    ));
    assert_eq!(v["OperationalState"], "routable");
    assert_eq!(v["States"]["OperationalState"], "degraded");
    assert_eq!(v["DNS"], json!(["198.51.100.53"]), "the event's lease");
}
