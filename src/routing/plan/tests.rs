//! Unit tests of `crate::routing::plan`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::*;
use crate::model::fixtures;
use crate::model::kernel::IPV6_DEFAULT_METRIC;
use crate::model::link::{IFF_LOWER_UP, IFF_UP};

const P: u32 = 20000;
const PROTO: u8 = 78;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn settings(links: &[&str]) -> Settings {
    Settings {
        links: links.iter().map(|l| l.to_string()).collect(),
        ..Settings::default()
    }
}

/// An up link with addresses (`"10.99.0.2/24"`) and routes.
fn view(index: IfIndex, name: &str, addresses: &[&str], routes: &[Route]) -> LinkView {
    let mut attrs = fixtures::link(index, name);
    attrs.flags = IFF_UP | IFF_LOWER_UP;
    let mut view = LinkView::new(attrs);
    for a in addresses {
        let (addr, len) = a.split_once('/').unwrap();
        let mut address = fixtures::address(addr, len.parse().unwrap());
        if address.ip.is_ipv6() && is_link_local(address.ip) {
            address.scope = SCOPE_LINK;
        }
        view.addresses.push(address);
    }
    view.routes.extend(routes.iter().cloned());
    view
}

fn snapshot(views: Vec<LinkView>) -> Snapshot {
    Snapshot {
        links: views
            .into_iter()
            .map(|v| (v.attrs.index, Arc::new(v)))
            .collect(),
        ..Snapshot::default()
    }
}

fn main_default(oif: IfIndex, gw: &str, metric: Option<u32>) -> Route {
    let gw = ip(gw);
    Route {
        dst: None,
        dst_len: 0,
        src: None,
        gateway: Some(gw),
        oif: Some(oif),
        table: TABLE_MAIN,
        protocol: 16,
        scope: 0,
        kind: KIND_UNICAST,
        metric,
        ipv6: gw.is_ipv6(),
    }
}

fn from_rule(addr: &str, table: u32) -> Rule {
    let a = ip(addr);
    Rule {
        ipv6: a.is_ipv6(),
        priority: Some(P),
        src: Some((a, host_len(a))),
        dst: None,
        table,
        protocol: PROTO,
        action: ACTION_TO_TABLE,
    }
}

fn to_rule(addr: &str, table: u32) -> Rule {
    let a = ip(addr);
    Rule {
        priority: Some(P + 1),
        src: None,
        dst: Some((a, host_len(a))),
        ..from_rule(addr, table)
    }
}

fn subnet(dst: &str, len: u8, src: Option<&str>, oif: IfIndex, table: u32) -> Route {
    let d = ip(dst);
    Route {
        dst: Some(d),
        dst_len: len,
        src: src.map(ip),
        gateway: None,
        oif: Some(oif),
        table,
        protocol: PROTO,
        scope: if d.is_ipv6() { 0 } else { 253 },
        kind: KIND_UNICAST,
        metric: None,
        ipv6: d.is_ipv6(),
    }
}

fn default_via(gw: &str, oif: IfIndex, table: u32) -> Route {
    let g = ip(gw);
    Route {
        dst: None,
        dst_len: 0,
        src: None,
        gateway: Some(g),
        oif: Some(oif),
        table,
        protocol: PROTO,
        scope: 0,
        kind: KIND_UNICAST,
        metric: None,
        ipv6: g.is_ipv6(),
    }
}

/// The lab of tests/routing_netns.rs: two links in one subnet, each with a default route of its own in
/// main (h0's preferred), only h1 covered.
fn two_links() -> Snapshot {
    snapshot(vec![
        view(
            2,
            "h0",
            &["10.99.0.2/24", "fe80::2/64"],
            &[main_default(2, "10.99.0.1", Some(100))],
        ),
        view(
            3,
            "h1",
            &["10.99.0.3/24", "fe80::3/64"],
            &[main_default(3, "10.99.0.1", Some(200))],
        ),
    ])
}

#[test]
fn a_covered_link_gets_a_table_with_subnet_and_default_routes_and_two_rules_per_address() {
    let d = desired(&two_links(), &settings(&["h1"]));
    assert_eq!(
        d.rules,
        BTreeSet::from([from_rule("10.99.0.3", 1003), to_rule("10.99.0.3", 1003)])
    );
    assert_eq!(
        d.routes,
        BTreeSet::from([
            subnet("10.99.0.0", 24, Some("10.99.0.3"), 3, 1003),
            default_via("10.99.0.1", 3, 1003),
        ])
    );
}

#[test]
fn links_not_listed_get_nothing_and_names_match_exactly() {
    assert!(desired(&two_links(), &settings(&[])).is_empty());
    assert!(desired(&two_links(), &settings(&["h", "h10", "H1"])).is_empty());
}

#[test]
fn both_links_get_their_own_tables_with_their_own_gateways() {
    let d = desired(&two_links(), &settings(&["h0", "h1"]));
    assert_eq!(d.tables(), BTreeSet::from([1002, 1003]));
    assert!(d.routes.contains(&default_via("10.99.0.1", 2, 1002)));
    assert!(d.routes.contains(&default_via("10.99.0.1", 3, 1003)));
    assert_eq!(d.rules.len(), 4);
}

#[test]
fn the_gateway_comes_only_from_the_links_own_routes() {
    // h1 has no default route of its own; h0's must not be borrowed.
    let snap = snapshot(vec![
        view(
            2,
            "h0",
            &["10.99.0.2/24"],
            &[main_default(2, "10.99.0.1", None)],
        ),
        view(3, "h1", &["10.99.0.3/24"], &[]),
    ]);
    let d = desired(&snap, &settings(&["h1"]));
    assert_eq!(
        d.routes,
        BTreeSet::from([subnet("10.99.0.0", 24, Some("10.99.0.3"), 3, 1003)])
    );
    assert_eq!(d.rules.len(), 2, "rules do not depend on a gateway");

    // A default route in another table, or of another type, is not the link's gateway.
    let mut other_table = main_default(3, "10.99.0.9", None);
    other_table.table = 100;
    let mut blackhole = main_default(3, "10.99.0.8", None);
    blackhole.kind = 6;
    let snap = snapshot(vec![view(
        3,
        "h1",
        &["10.99.0.3/24"],
        &[other_table, blackhole],
    )]);
    assert_eq!(desired(&snap, &settings(&["h1"])).routes.len(), 1);
}

#[test]
fn the_lowest_metric_default_route_wins() {
    let snap = snapshot(vec![view(
        3,
        "h1",
        &["10.99.0.3/24"],
        &[
            main_default(3, "10.99.0.1", Some(300)),
            main_default(3, "10.99.0.254", Some(50)),
        ],
    )]);
    let d = desired(&snap, &settings(&["h1"]));
    assert!(d.routes.contains(&default_via("10.99.0.254", 3, 1003)));
    assert_eq!(d.routes.len(), 2);
}

#[test]
fn a_lease_router_is_used_when_main_has_no_default_route_for_the_link() {
    let snap = snapshot(vec![view(3, "h1", &["10.99.0.3/24"], &[])]);
    let mut s = settings(&["h1"]);
    s.lease_routers.insert(
        3,
        vec![ip("2001:db8::1"), ip("192.0.2.1"), ip("10.99.0.254")],
    );
    let d = desired(&snap, &s);
    // The IPv6 router has no IPv6 address to serve; 192.0.2.1 is off-link.
    assert!(d.routes.contains(&default_via("10.99.0.254", 3, 1003)));
    assert_eq!(d.routes.len(), 2);

    // Main's own default route wins over the lease.
    let snap = snapshot(vec![view(
        3,
        "h1",
        &["10.99.0.3/24"],
        &[main_default(3, "10.99.0.1", None)],
    )]);
    assert!(desired(&snap, &s)
        .routes
        .contains(&default_via("10.99.0.1", 3, 1003)));
    // Another link's lease router is never used.
    s.lease_routers = BTreeMap::from([(2, vec![ip("10.99.0.254")])]);
    let snap = snapshot(vec![view(3, "h1", &["10.99.0.3/24"], &[])]);
    assert_eq!(desired(&snap, &s).routes.len(), 1);
}

#[test]
fn ipv6_with_a_link_local_gateway() {
    let snap = snapshot(vec![view(
        3,
        "h1",
        &["2001:db8:99::3/64", "fe80::3/64"],
        &[main_default(3, "fe80::1", Some(1024))],
    )]);
    let d = desired(&snap, &settings(&["h1"]));
    assert_eq!(
        d.rules,
        BTreeSet::from([
            from_rule("2001:db8:99::3", 1003),
            to_rule("2001:db8:99::3", 1003)
        ])
    );
    assert_eq!(
        d.routes,
        BTreeSet::from([
            subnet("2001:db8:99::", 64, None, 3, 1003),
            default_via("fe80::1", 3, 1003),
        ])
    );
}

#[test]
fn link_local_and_host_scoped_addresses_are_skipped() {
    let mut v = view(
        3,
        "h1",
        &["169.254.7.7/16", "fe80::3/64", "127.0.0.2/8"],
        &[main_default(3, "10.99.0.1", None)],
    );
    // As the kernel reports them: 127/8 is host-scoped.
    v.addresses[2].scope = 254;
    let d = desired(&snapshot(vec![v]), &settings(&["h1"]));
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn host_addresses_get_rules_and_a_default_route_but_no_subnet_route() {
    let snap = snapshot(vec![view(
        3,
        "h1",
        &["10.99.0.3/32", "2001:db8::3/128"],
        &[
            main_default(3, "10.99.0.1", None),
            main_default(3, "fe80::1", None),
        ],
    )]);
    let d = desired(&snap, &settings(&["h1"]));
    assert_eq!(d.rules.len(), 4);
    assert_eq!(
        d.routes,
        BTreeSet::from([
            default_via("10.99.0.1", 3, 1003),
            default_via("fe80::1", 3, 1003)
        ])
    );
}

#[test]
fn priorities_are_fixed_by_the_settings() {
    let mut s = settings(&["h1"]);
    s.priority = 123;
    for r in desired(&two_links(), &s).rules {
        let want = if r.src.is_some() { 123 } else { 124 };
        assert_eq!(r.priority, Some(want), "{r:?}");
        assert_eq!((r.protocol, r.action), (PROTO, ACTION_TO_TABLE));
    }
}

#[test]
fn secondary_addresses_share_the_primarys_subnet_route() {
    let mut v = view(
        3,
        "h1",
        &["10.99.0.4/24", "10.99.0.3/24"],
        &[main_default(3, "10.99.0.1", None)],
    );
    v.addresses[0].flags = IFA_F_SECONDARY;
    let d = desired(&snapshot(vec![v]), &settings(&["h1"]));
    assert_eq!(d.rules.len(), 4);
    let subnets: Vec<_> = d.routes.iter().filter(|r| r.dst.is_some()).collect();
    assert_eq!(
        subnets,
        [&subnet("10.99.0.0", 24, Some("10.99.0.3"), 3, 1003)]
    );
}

#[test]
fn a_down_link_keeps_its_rules_but_has_no_routes() {
    let mut v = view(
        3,
        "h1",
        &["10.99.0.3/24"],
        &[main_default(3, "10.99.0.1", None)],
    );
    v.attrs.flags = 0;
    let d = desired(&snapshot(vec![v]), &settings(&["h1"]));
    assert_eq!(d.rules.len(), 2);
    assert!(d.routes.is_empty());
}

#[test]
fn the_same_address_on_two_links_gets_rules_only_for_the_lower_ifindex() {
    let snap = snapshot(vec![
        view(5, "b", &["10.99.0.3/24"], &[]),
        view(4, "a", &["10.99.0.3/24"], &[]),
    ]);
    let d = desired(&snap, &settings(&["a", "b"]));
    assert_eq!(
        d.rules,
        BTreeSet::from([from_rule("10.99.0.3", 1004), to_rule("10.99.0.3", 1004)])
    );
    // Each link still has its own subnet route in its own table.
    assert_eq!(d.tables(), BTreeSet::from([1004, 1005]));
}

#[test]
fn network_addresses() {
    assert_eq!(network(ip("10.99.0.77"), 24), ip("10.99.0.0"));
    assert_eq!(network(ip("10.99.0.77"), 0), ip("0.0.0.0"));
    assert_eq!(network(ip("10.99.0.77"), 32), ip("10.99.0.77"));
    assert_eq!(network(ip("10.99.0.77"), 31), ip("10.99.0.76"));
    assert_eq!(network(ip("2001:db8:99::3"), 64), ip("2001:db8:99::"));
    assert_eq!(network(ip("2001:db8:99::3"), 128), ip("2001:db8:99::3"));
    assert_eq!(network(ip("2001:db8:99::3"), 0), ip("::"));
}

// ---- diff ----

#[test]
fn nothing_to_do_when_the_kernel_matches_even_with_filled_in_metrics() {
    let snap = snapshot(vec![view(
        3,
        "h1",
        &["10.99.0.3/24", "2001:db8:99::3/64"],
        &[
            main_default(3, "10.99.0.1", None),
            main_default(3, "fe80::1", Some(1024)),
        ],
    )]);
    let d = desired(&snap, &settings(&["h1"]));
    // The kernel dumps IPv6 routes with metric 1024.
    let mut actual = d.clone();
    actual.routes = d
        .routes
        .iter()
        .map(|r| Route {
            metric: r.ipv6.then_some(IPV6_DEFAULT_METRIC),
            ..r.clone()
        })
        .collect();
    assert!(diff(&d, &actual).is_empty(), "{:?}", diff(&d, &actual));
    assert!(diff(&d, &d).is_empty());
}

#[test]
fn from_nothing_everything_is_added() {
    let d = desired(&two_links(), &settings(&["h1"]));
    let plan = diff(&d, &Desired::default());
    assert_eq!(plan.add_rules.len(), 2);
    assert_eq!(plan.add_routes.len(), 2);
    assert!(plan.remove_rules.is_empty() && plan.remove_routes.is_empty());
    assert!(plan.replace_routes.is_empty());
}

#[test]
fn removing_an_address_removes_exactly_its_rules() {
    let before = snapshot(vec![view(
        3,
        "h1",
        &["10.99.0.3/24", "10.99.0.4/24"],
        &[main_default(3, "10.99.0.1", None)],
    )]);
    let after = snapshot(vec![view(
        3,
        "h1",
        &["10.99.0.3/24"],
        &[main_default(3, "10.99.0.1", None)],
    )]);
    let s = settings(&["h1"]);
    let plan = diff(&desired(&after, &s), &desired(&before, &s));
    assert_eq!(
        plan.remove_rules,
        [from_rule("10.99.0.4", 1003), to_rule("10.99.0.4", 1003)]
    );
    assert!(plan.add_rules.is_empty() && plan.add_routes.is_empty());
    assert!(plan.remove_routes.is_empty(), "the subnet route stays");
}

#[test]
fn removing_the_last_address_removes_the_tables_routes() {
    let s = settings(&["h1"]);
    let before = desired(&two_links(), &s);
    let after = snapshot(vec![view(
        3,
        "h1",
        &["fe80::3/64"],
        &[main_default(3, "10.99.0.1", None)],
    )]);
    let plan = diff(&desired(&after, &s), &before);
    assert_eq!(plan.remove_routes.len(), 2);
    assert_eq!(plan.remove_rules.len(), 2);
    assert!(plan.add_routes.is_empty() && plan.add_rules.is_empty());
}

#[test]
fn a_recreated_link_gets_a_new_table_and_the_old_one_is_swept() {
    let s = settings(&["h1"]);
    let before = desired(&two_links(), &s);
    let recreated = snapshot(vec![view(
        9,
        "h1",
        &["10.99.0.3/24"],
        &[main_default(9, "10.99.0.1", None)],
    )]);
    let now = desired(&recreated, &s);
    let plan = diff(&now, &before);
    assert!(plan.add_rules.iter().all(|r| r.table == 1009));
    assert!(plan.add_routes.iter().all(|r| r.table == 1009));
    assert!(plan.remove_rules.iter().all(|r| r.table == 1003));
    assert_eq!(plan.remove_rules.len(), 2);
    // The kernel flushed the old link's routes with the link; any left are swept.
    assert_eq!(plan.remove_routes.len(), 2);
    assert!(plan.remove_routes.iter().all(|r| r.table == 1003));
}

#[test]
fn stale_rules_of_ours_are_removed() {
    let s = settings(&["h1"]);
    let d = desired(&two_links(), &s);
    // Left over from a previous run: a link that is no longer listed, an old priority.
    let mut old_priority = from_rule("10.99.0.3", 1003);
    old_priority.priority = Some(30000);
    let stale = [from_rule("10.99.0.2", 1002), old_priority.clone()];
    let mut actual = d.clone();
    actual.rules.extend(stale.iter().cloned());
    let plan = diff(&d, &actual);
    assert_eq!(
        plan.remove_rules.iter().collect::<BTreeSet<_>>(),
        stale.iter().collect::<BTreeSet<_>>()
    );
    assert!(plan.add_rules.is_empty());
}

#[test]
fn a_new_gateway_replaces_the_default_route_in_place() {
    let s = settings(&["h1"]);
    let d = desired(&two_links(), &s);
    let mut actual = d.clone();
    actual.routes.remove(&default_via("10.99.0.1", 3, 1003));
    actual.routes.insert(default_via("10.99.0.254", 3, 1003));
    let plan = diff(&d, &actual);
    assert_eq!(
        plan.replace_routes,
        [Replacement {
            old: default_via("10.99.0.254", 3, 1003),
            new: default_via("10.99.0.1", 3, 1003),
        }]
    );
    assert!(plan.add_routes.is_empty() && plan.remove_routes.is_empty());
}

#[test]
fn a_route_of_ours_at_another_metric_is_replaced_by_add_and_remove() {
    let s = settings(&["h1"]);
    let d = desired(&two_links(), &s);
    let mut odd = default_via("10.99.0.1", 3, 1003);
    odd.metric = Some(7);
    let mut actual = d.clone();
    actual.routes.remove(&default_via("10.99.0.1", 3, 1003));
    actual.routes.insert(odd.clone());
    let plan = diff(&d, &actual);
    assert_eq!(plan.add_routes, [default_via("10.99.0.1", 3, 1003)]);
    assert_eq!(plan.remove_routes, [odd]);
}

#[test]
fn duplicate_rules_are_listed_once_per_extra_copy() {
    let r = from_rule("10.99.0.3", 1003);
    let other = to_rule("10.99.0.3", 1003);
    assert_eq!(
        duplicates(&[r.clone(), other.clone(), r.clone(), r.clone()]),
        [r.clone(), r]
    );
    assert!(duplicates(&[other]).is_empty());
}
