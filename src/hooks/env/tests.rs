//! Unit tests of `crate::hooks::env`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::model::{Address, KernelOperState};

/// `eth0`, index 3, with one IPv4 address and a default route via a gateway.
pub(crate) fn sample_link() -> LinkView {
    crate::model::fixtures::eth0_view()
}

pub(crate) fn settings(dir: PathBuf, emit_json: bool) -> Settings {
    Settings {
        dir,
        timeout: Duration::from_secs(5),
        emit_json,
        enforce_ownership: true,
        networkd_state_dir: PathBuf::from("/nonexistent"),
        backlog: 16,
        vendor_dir: None,
        executor: crate::hooks::Executor::InProcess,
    }
}

fn request(link: Option<LinkView>, vars: &[(&str, &str)]) -> Request {
    Request {
        event: "routable".into(),
        link: link.map(Arc::new),
        vars: vars
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        lease: None,
        routing_table: 0,
    }
}

#[test]
fn env_contains_contract_variables_for_a_link() {
    let req = request(Some(sample_link()), &[("OperationalState", "routable")]);
    let env = build(&req, &settings("/etc/network-broker".into(), true), None);
    let names: Vec<&str> = env.vars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "ADDR",
            "EVENT",
            "IFACE",
            "IP6_ADDRS",
            "IP_ADDRS",
            "JSON",
            "LINK",
            "LINKINDEX",
            "OperationalState",
            "PATH"
        ]
    );
    assert_eq!(env.get("EVENT"), Some("routable"));
    // networkd-dispatcher's names for the same facts.
    assert_eq!(env.get("IFACE"), Some("eth0"));
    assert_eq!(env.get("ADDR"), Some("192.0.2.1"));
    assert_eq!(env.get("IP_ADDRS"), Some("192.0.2.1"));
    assert_eq!(env.get("IP6_ADDRS"), Some(""));
    assert_eq!(env.get("LINK"), Some("eth0"));
    assert_eq!(env.get("LINKINDEX"), Some("3"));
    assert_eq!(env.get("OperationalState"), Some("routable"));
    assert_eq!(env.get("PATH"), Some(PATH));
    let json = env.get("JSON").unwrap();
    assert_eq!(env.stdin.as_deref(), Some(format!("{json}\n").as_str()));
    assert!(env.rejected.is_empty());
}

#[test]
fn env_never_copies_the_daemon_environment() {
    // Edition 2021: set_var is safe; the name is unique to this test.
    std::env::set_var("NETWORK_BROKER_ENV_LEAK_MARKER", "leaked");
    let env = build(
        &request(Some(sample_link()), &[]),
        &settings("/x".into(), true),
        None,
    );
    assert!(env.get("NETWORK_BROKER_ENV_LEAK_MARKER").is_none());
    assert!(env.vars.iter().all(|(_, v)| v != "leaked"));
    assert!(env.get("HOME").is_none());
}

#[test]
fn a_dhclient_lease_gives_the_lease_variables() {
    let lease = crate::model::Lease {
        interface: "eth0".into(),
        address: Some("192.0.2.1".parse().unwrap()),
        prefix_len: Some(24),
        routers: vec!["192.0.2.254".parse().unwrap()],
        dns: vec!["192.0.2.53".parse().unwrap(), "192.0.2.54".parse().unwrap()],
        domain_name: Some("example.test".into()),
        domain_search: vec!["example.test".into(), "search.test".into()],
        host_name: None,
        mtu: None,
        renew: None,
        rebind: None,
        expire: Some(1_800_000_000),
        options: Default::default(),
    };
    let mut req = request(Some(sample_link()), &[]);
    req.lease = Some(lease);
    let env = build(&req, &settings("/x".into(), true), None);
    assert_eq!(env.get("DNS"), Some("192.0.2.53 192.0.2.54"));
    assert_eq!(env.get("DOMAIN"), Some("example.test"));
    assert_eq!(env.get("DOMAINSEARCH"), Some("example.test search.test"));
    assert_eq!(
        env.get("DHCP_LEASE"),
        Some(
            "INTERFACE=eth0\nADDRESS=192.0.2.1\nNETMASK=255.255.255.0\nROUTER=192.0.2.254\n\
             DNS=192.0.2.53 192.0.2.54\nDOMAINNAME=example.test\n\
             DOMAIN_SEARCH_LIST=example.test search.test\nEXPIRE=1800000000"
        )
    );
    let json: serde_json::Value = serde_json::from_str(env.get("JSON").unwrap()).unwrap();
    assert_eq!(json["Lease"]["ROUTER"], "192.0.2.254");
}

#[test]
fn env_for_manager_event_has_no_link_and_no_json() {
    let req = Request {
        event: "manager".into(),
        link: None,
        vars: vec![("OperationalState".into(), "degraded".into())],
        lease: None,
        routing_table: 0,
    };
    let env = build(&req, &settings("/x".into(), true), None);
    let names: Vec<&str> = env.vars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["EVENT", "OperationalState", "PATH"]);
    assert_eq!(env.stdin, None);
}

#[test]
fn env_without_emit_json_has_no_json_and_no_stdin() {
    let env = build(
        &request(Some(sample_link()), &[]),
        &settings("/x".into(), false),
        None,
    );
    assert!(env.get("JSON").is_none());
    assert!(env.get("JSON_TRUNCATED").is_none());
    assert_eq!(env.stdin, None);
}

#[test]
fn env_rejects_bad_reserved_and_unsafe_names() {
    let req = request(
        Some(sample_link()),
        &[
            ("LINK", "evil"),
            ("PATH", "/tmp"),
            ("JSON", "{}"),
            ("EVENT", "x"),
            ("1abc", "x"),
            ("a-b", "x"),
            ("", "x"),
            ("A=B", "x"),
            ("LD_PRELOAD", "/tmp/x.so"),
            ("BASH_ENV", "/tmp/x"),
            ("Nul", "a\0b"),
            ("_ok", "1"),
            ("AddressState", "routable"),
            ("AddressState", "degraded"),
        ],
    );
    let env = build(&req, &settings("/x".into(), false), None);
    assert_eq!(env.get("LINK"), Some("eth0"));
    assert_eq!(env.get("PATH"), Some(PATH));
    assert_eq!(env.get("EVENT"), Some("routable"));
    assert_eq!(env.get("_ok"), Some("1"));
    // Later duplicates replace earlier ones.
    assert_eq!(env.get("AddressState"), Some("degraded"));
    let rejected: Vec<(&str, Rejection)> = env
        .rejected
        .iter()
        .map(|r| (r.name.as_str(), r.reason))
        .collect();
    assert_eq!(
        rejected,
        [
            ("LINK", Rejection::Reserved),
            ("PATH", Rejection::Reserved),
            ("JSON", Rejection::Reserved),
            ("EVENT", Rejection::Reserved),
            ("1abc", Rejection::InvalidName),
            ("a-b", Rejection::InvalidName),
            ("", Rejection::InvalidName),
            ("A=B", Rejection::InvalidName),
            ("LD_PRELOAD", Rejection::Unsafe),
            ("BASH_ENV", Rejection::Unsafe),
            ("Nul", Rejection::NulInValue),
        ]
    );
}

#[test]
fn json_keeps_the_original_field_names() {
    let json = json_for(&sample_link(), Some("routable"));
    assert_eq!(
        json,
        concat!(
            r#"{"Index":3,"Name":"eth0","OperationalState":"routable","#,
            r#""States":{"AddressState":"","AdministrativeState":"","CarrierState":"","#,
            r#""IPv4AddressState":"","IPv6AddressState":"","OnlineState":"","#,
            r#""OperationalState":""},"KernelOperationalState":"up","Kind":"veth","#,
            r#""HardwareAddress":"02:00:00:00:00:01","MTU":1500,"#,
            r#""Flags":["up","broadcast","running","multicast","lower_up"],"#,
            r#""Address":[{"IP":"192.0.2.1","Mask":24,"Label":"eth0","Family":"ipv4","#,
            r#""Scope":"global","Flags":["permanent"],"Permanent":true}],"#,
            r#""Routes":[{"Dst":{"IP":"","Mask":0},"Src":"192.0.2.1","Gw":"192.0.2.254","#,
            r#""Table":254,"TableName":"main","Family":"ipv4","Protocol":"dhcp","#,
            r#""Scope":"global","Type":"unicast","Metric":1024}],"#,
            r#""Gateways":["192.0.2.254"],"DNS":[],"Domains":[],"Lease":{},"RoutingTable":0}"#
        )
    );
}

#[test]
fn json_is_the_link_document_with_the_requests_table() {
    let mut req = request(Some(sample_link()), &[("OperationalState", "routable")]);
    req.routing_table = 1003;
    let env = build(&req, &settings("/x".into(), true), None);
    let json: serde_json::Value = serde_json::from_str(env.get("JSON").unwrap()).unwrap();
    let view = sample_link();
    let document = crate::link_json::LinkDocument::for_event(&view, 1003, Some("routable"), None);
    let expected: serde_json::Value = serde_json::from_str(&document.to_json()).unwrap();
    assert_eq!(json, expected);
    assert!(json.get("Networkd").is_none(), "networkd keeps no files");
}

#[test]
fn json_uses_kernel_state_without_networkd_state() {
    let mut link = sample_link();
    link.attrs.oper_state = KernelOperState::LowerLayerDown;
    let value: serde_json::Value = serde_json::from_str(&json_for(&link, None)).unwrap();
    assert_eq!(value["OperationalState"], "lowerlayerdown");
    assert_eq!(value["KernelOperationalState"], "lowerlayerdown");

    let env = build(
        &request(Some(link), &[("OperationalState", "degraded")]),
        &settings("/x".into(), true),
        None,
    );
    let value: serde_json::Value = serde_json::from_str(env.get("JSON").unwrap()).unwrap();
    assert_eq!(value["OperationalState"], "degraded");
}

/// A link with enough routes that its JSON passes `size` bytes.
pub(crate) fn big_link(size: usize) -> LinkView {
    let mut link = sample_link();
    let template = link.routes.iter().next().cloned().unwrap();
    let mut i: u32 = 0;
    while json_for(&link, None).len() <= size {
        for _ in 0..256 {
            let mut route = template.clone();
            route.dst = Some(IpAddr::V4((0x0a00_0000 + i).into()));
            route.dst_len = 32;
            link.routes.insert(route);
            i += 1;
        }
    }
    link
}

#[test]
fn env_moves_large_json_to_stdin_only() {
    let link = big_link(MAX_ARG_STRLEN);
    let env = build(
        &request(Some(link.clone()), &[]),
        &settings("/x".into(), true),
        None,
    );
    assert!(env.get("JSON").is_none());
    assert_eq!(env.get("JSON_TRUNCATED"), Some("1"));
    let stdin = env.stdin.as_deref().unwrap();
    assert!(stdin.len() > MAX_ARG_STRLEN);
    assert_eq!(stdin, format!("{}\n", json_for(&link, None)));
}

#[test]
fn json_limit_is_exact() {
    let limit = MAX_ARG_STRLEN - "JSON=".len() - 1;
    assert!(fits_env("JSON", &"x".repeat(limit)));
    assert!(!fits_env("JSON", &"x".repeat(limit + 1)));
}

/// A link with `n` global addresses, half IPv4 and half IPv6.
pub(crate) fn many_addresses_link(n: u32) -> LinkView {
    let mut link = sample_link();
    link.addresses = (0..n)
        .map(|i| Address {
            ip: if i % 2 == 0 {
                IpAddr::V4((0x0a00_0000 + i).into())
            } else {
                IpAddr::V6((0x2001_0db8_u128 << 96 | u128::from(i)).into())
            },
            prefix_len: 24,
            label: None,
            scope: 0,
            flags: 0x80,
        })
        .collect();
    link
}

/// Every variable within its cap, and the whole within what `execve` accepts.
fn assert_within_limits(env: &HookEnv) {
    let size = env_size(env.vars.iter().map(|(n, v)| (n, v)));
    assert!(size <= ENV_BUDGET, "environment takes {size} bytes");
    for (name, value) in &env.vars {
        assert!(
            name == "JSON" || value.len() <= MAX_VAR_LEN,
            "{name} is {} bytes",
            value.len()
        );
        assert!(fits_env(name, value), "{name}");
    }
}

#[test]
fn env_caps_the_address_lists_of_12000_addresses_and_keeps_all_in_the_json() {
    let link = many_addresses_link(12_000);
    let env = build(
        &request(Some(link), &[("OperationalState", "routable")]),
        &settings("/x".into(), true),
        None,
    );
    assert_within_limits(&env);
    for (name, parse) in [
        (
            "IP_ADDRS",
            (|w: &str| w.parse::<std::net::Ipv4Addr>().is_ok()) as fn(&str) -> bool,
        ),
        ("IP6_ADDRS", |w: &str| {
            w.parse::<std::net::Ipv6Addr>().is_ok()
        }),
    ] {
        let value = env.get(name).unwrap();
        assert!(value.len() > MAX_VAR_LEN / 2, "{name} cut too short");
        // Whole addresses only.
        assert!(value.split(' ').all(parse), "{name} ends mid-address");
        assert_eq!(env.get(&format!("{name}_TRUNCATED")), Some("1"));
    }
    assert_eq!(env.get("ADDR"), Some("10.0.0.0"));
    assert!(env.get("ADDR_TRUNCATED").is_none());
    assert!(env.get("JSON").is_none());
    assert_eq!(env.get("JSON_TRUNCATED"), Some("1"));
    let json: serde_json::Value = serde_json::from_str(env.stdin.as_deref().unwrap()).unwrap();
    assert_eq!(json["Address"].as_array().unwrap().len(), 12_000);
}

#[test]
fn env_without_large_values_has_no_markers() {
    let env = build(
        &request(Some(sample_link()), &[]),
        &settings("/x".into(), true),
        None,
    );
    assert!(env.vars.iter().all(|(n, _)| !n.ends_with(TRUNCATED_SUFFIX)));
    assert!(env.get("JSON").is_some());
}

#[test]
fn env_caps_lease_variables_at_whole_lines_and_names() {
    let mut req = request(Some(sample_link()), &[]);
    req.lease = Some(crate::model::Lease {
        interface: "eth0".into(),
        address: Some("192.0.2.1".parse().unwrap()),
        prefix_len: Some(24),
        routers: vec![],
        dns: (0..3000u32)
            .map(|i| IpAddr::V4((0x0a00_0000 + i).into()))
            .collect(),
        domain_name: Some("d".repeat(3 * MAX_VAR_LEN)),
        domain_search: (0..3000).map(|i| format!("s{i}.example.test")).collect(),
        host_name: None,
        mtu: None,
        renew: None,
        rebind: None,
        expire: Some(1_800_000_000),
        options: Default::default(),
    });
    let env = build(&req, &settings("/x".into(), true), None);
    assert_within_limits(&env);
    for name in ["DHCP_LEASE", "DNS", "DOMAIN", "DOMAINSEARCH"] {
        assert_eq!(env.get(&format!("{name}_TRUNCATED")), Some("1"), "{name}");
    }
    // Lines of KEY=VALUE, the last one whole (INTERFACE and ADDRESS come first).
    let lease = env.get("DHCP_LEASE").unwrap();
    assert!(
        lease.starts_with("INTERFACE=eth0\nADDRESS=192.0.2.1\n"),
        "{lease:.80}"
    );
    assert!(lease.lines().all(|l| l.contains('=')));
    assert!(env
        .get("DOMAINSEARCH")
        .unwrap()
        .split(' ')
        .all(|w| w.ends_with(".example.test")));
    // A value without separators is cut at the limit.
    assert_eq!(env.get("DOMAIN").unwrap().len(), MAX_VAR_LEN);
    let json: serde_json::Value = serde_json::from_str(env.stdin.as_deref().unwrap()).unwrap();
    assert_eq!(
        json["Lease"]["DOMAINNAME"].as_str().unwrap().len(),
        3 * MAX_VAR_LEN
    );
}

#[test]
fn env_keeps_the_total_under_the_limit_whatever_the_request_carries() {
    let big = "v ".repeat(MAX_VAR_LEN);
    let names: Vec<String> = (0..20).map(|i| format!("Var{i}")).collect();
    let vars: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), big.as_str())).collect();
    let env = build(
        &request(Some(many_addresses_link(12_000)), &vars),
        &settings("/x".into(), true),
        None,
    );
    assert_within_limits(&env);
    for name in &names {
        assert_eq!(env.get(&format!("{name}_TRUNCATED")), Some("1"), "{name}");
    }
    assert_eq!(env.get("LINK"), Some("eth0"));
    assert_eq!(env.get("PATH"), Some(PATH));
}

#[test]
fn env_refuses_request_names_of_markers() {
    let env = build(
        &request(
            Some(sample_link()),
            &[("IP_ADDRS_TRUNCATED", "0"), ("X_TRUNCATED", "1")],
        ),
        &settings("/x".into(), false),
        None,
    );
    assert!(env.get("IP_ADDRS_TRUNCATED").is_none());
    assert!(env.get("X_TRUNCATED").is_none());
    assert!(env.rejected.iter().all(|r| r.reason == Rejection::Reserved));
    assert_eq!(env.rejected.len(), 2);
}

#[test]
fn truncate_value_keeps_whole_items_and_characters() {
    let cut = |value: &str, max: usize| {
        let mut value = value.to_owned();
        truncate_value(&mut value, max);
        value
    };
    assert_eq!(cut("aa bb cc", 8), "aa bb cc");
    assert_eq!(cut("aa bb cc", 7), "aa bb");
    assert_eq!(cut("aa bb cc", 5), "aa bb");
    assert_eq!(cut("aa bb cc", 4), "aa");
    assert_eq!(cut("A=1 2\nB=3 4\n", 9), "A=1 2");
    assert_eq!(cut("abcdef", 4), "abcd");
    // 'é' is two bytes: never split.
    assert_eq!(cut("ééé", 3), "é");
}
