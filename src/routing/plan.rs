//! What policy routing should look like, and what to change to get there. Pure: no I/O, no
//! clock, no logging, so every decision is unit-tested with plain values.
//!
//! [`desired`] turns the broker's [`Snapshot`] and the [`Settings`] into the rules and routes
//! we want; [`diff`] compares them with what the kernel has with our protocol and yields a
//! [`Plan`]. Nothing without our protocol ever enters a plan: the caller passes only owned
//! objects as "actual", so a foreign rule or route can be neither removed nor replaced.
//!
//! # What is desired, per covered link (table `T = base + ifindex`)
//!
//! For each *usable* address `A/len` of the link: not link-local (`169.254/16`, `fe80::/10`),
//! not link- or host-scoped (loopback):
//!
//! - rules `from A lookup T` at the `from` priority and `to A lookup T` at the next one, IPv4
//!   and IPv6 alike. If two covered links carry the same address, the lower ifindex gets the
//!   rules: two rules with one selector and one priority would make the result depend on
//!   insertion order;
//! - while the link is up (the kernel refuses routes through a down link and flushes them when
//!   it goes down): the subnet route `network(A/len) dev LINK table T`, for IPv4 with
//!   `scope link src A`, unless `len` is 0 or a host prefix (/32, /128: there is no subnet).
//!   Two IPv4 addresses in one subnet share one route, whose `src` is the primary address
//!   (the kernel allows one route per destination and metric). IPv6 routes carry no `src`:
//!   the kernel refuses a preferred source that is still tentative (DAD), and IPv6 source
//!   selection does not need it;
//! - while the link is up and has a usable address of the family: a default route through the
//!   link's **own** gateway, never another link's: the gateway of the main table's default
//!   route whose output interface is this link (lowest metric first; an IPv6 one is usually
//!   link-local `fe80::…`, which is why every route names the link), else the first lease
//!   router of the family ([`Settings::lease_routers`]) that is on one of the link's subnets
//!   (or link-local). A main-table default route without a gateway (`default dev ppp0`)
//!   becomes the same in the table.
//!
//! # Comparing with the kernel
//!
//! The kernel fills in what a request leaves out: an IPv6 route without a metric is dumped
//! with metric 1024. [`diff`] therefore compares routes on a key with the metric normalised
//! to the kernel's default, and removes the *dumped* route (with the kernel's attributes), so
//! the delete names exactly what exists. Rules carry nothing the kernel fills in and are
//! compared whole. A route of ours that only differs in its next hop (a new gateway) is
//! *replaced*, not added and removed: the kernel has one slot per table, destination and
//! metric, so an add would be refused while the old one is there.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::Settings;
use crate::model::address::SCOPE_LINK;
use crate::model::{Address, IfIndex, LinkView, Route, Rule, Snapshot};
use crate::netlink::rule::ACTION_TO_TABLE;

/// `RT_TABLE_MAIN`.
pub const TABLE_MAIN: u32 = 254;
/// `RTN_UNICAST`.
pub const KIND_UNICAST: u8 = 1;
/// `RT_SCOPE_UNIVERSE`.
pub const SCOPE_UNIVERSE: u8 = 0;
/// The metric the kernel gives an IPv6 route added without one.
pub const IPV6_DEFAULT_METRIC: u32 = 1024;
/// `IFA_F_SECONDARY`: an IPv4 address that is not the first of its subnet on the link.
const IFA_F_SECONDARY: u32 = 0x80;

/// A set of rules and routes: what we want, or what the kernel has with our protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Desired {
    /// Rules.
    pub rules: BTreeSet<Rule>,
    /// Routes.
    pub routes: BTreeSet<Route>,
}

impl Desired {
    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.routes.is_empty()
    }

    /// Every table a rule or route of the set names.
    pub fn tables(&self) -> BTreeSet<u32> {
        self.rules
            .iter()
            .map(|r| r.table)
            .chain(self.routes.iter().map(|r| r.table))
            .collect()
    }
}

/// A route of ours that takes the place of another of ours (same table, destination and
/// metric, different next hop or attributes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replacement {
    /// The route the kernel has now.
    pub old: Route,
    /// The route that replaces it.
    pub new: Route,
}

/// The difference between desired and actual, in the order [`super::apply`] carries it out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Routes to add.
    pub add_routes: Vec<Route>,
    /// Routes of ours to replace in place.
    pub replace_routes: Vec<Replacement>,
    /// Rules to add.
    pub add_rules: Vec<Rule>,
    /// Rules of ours to remove (a rule may appear twice: the kernel holds duplicates).
    pub remove_rules: Vec<Rule>,
    /// Routes of ours to remove, as the kernel reported them.
    pub remove_routes: Vec<Route>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.add_routes.is_empty()
            && self.replace_routes.is_empty()
            && self.add_rules.is_empty()
            && self.remove_rules.is_empty()
            && self.remove_routes.is_empty()
    }
}

/// The rules and routes `settings` call for, given the links in `snapshot` (see the module
/// documentation for what and why).
pub fn desired(snapshot: &Snapshot, settings: &Settings) -> Desired {
    let mut out = Desired::default();
    // Rule selectors already given to a link with a lower ifindex (the map iterates in
    // ascending order), so that one address never gets two competing rules.
    let mut claimed: BTreeSet<(bool, IpAddr)> = BTreeSet::new();
    for view in snapshot.links.values() {
        if !settings.covers(&view.attrs.name) {
            continue;
        }
        let Some(table) = settings.table_for(view.attrs.index) else {
            continue;
        };
        let link = LinkPlan {
            view,
            table,
            settings,
        };
        for ipv6 in [false, true] {
            let addresses = link.usable_addresses(ipv6);
            if addresses.is_empty() {
                continue;
            }
            for a in &addresses {
                if claimed.insert((ipv6, a.ip)) {
                    out.rules.extend(link.rules_for(a));
                }
            }
            if view.attrs.is_up() {
                out.routes.extend(link.routes(ipv6, &addresses));
            }
        }
    }
    out
}

/// The differences between `desired` and `actual_owned` (the kernel's rules and routes that
/// carry our protocol, and nothing else).
pub fn diff(desired: &Desired, actual_owned: &Desired) -> Plan {
    let mut plan = Plan {
        add_rules: desired
            .rules
            .difference(&actual_owned.rules)
            .cloned()
            .collect(),
        remove_rules: actual_owned
            .rules
            .difference(&desired.rules)
            .cloned()
            .collect(),
        ..Plan::default()
    };

    let wanted: BTreeMap<RouteKey, &Route> = desired
        .routes
        .iter()
        .map(|r| (RouteKey::of(r), r))
        .collect();
    let mut have: BTreeMap<RouteKey, &Route> = BTreeMap::new();
    let mut stale: Vec<&Route> = Vec::new();
    for route in &actual_owned.routes {
        // Two dumped routes on one key (the same route at two metrics that normalise alike
        // cannot happen, but a key collision must not keep a duplicate): keep the first.
        let key = RouteKey::of(route);
        if wanted.contains_key(&key) && !have.contains_key(&key) {
            have.insert(key, route);
        } else {
            stale.push(route);
        }
    }
    let mut missing: Vec<&Route> = wanted
        .iter()
        .filter(|(key, _)| !have.contains_key(key))
        .map(|(_, route)| *route)
        .collect();

    // A missing route whose kernel slot is held by a stale route of ours replaces it.
    let mut i = 0;
    while i < missing.len() {
        let slot = Slot::of(missing[i]);
        match stale.iter().position(|s| Slot::of(s) == slot) {
            Some(j) => {
                let old = stale.remove(j).clone();
                let new = missing.remove(i).clone();
                plan.replace_routes.push(Replacement { old, new });
            }
            None => i += 1,
        }
    }
    plan.add_routes = missing.into_iter().cloned().collect();
    plan.remove_routes = stale.into_iter().cloned().collect();
    plan
}

/// Extra copies of identical rules in a dump: the kernel keeps duplicates that were added
/// without `NLM_F_EXCL` (by an older version, or by hand). Deleting a rule removes one copy,
/// so deleting each extra copy once leaves exactly one.
pub fn duplicates(rules: &[Rule]) -> Vec<Rule> {
    let mut seen: BTreeSet<&Rule> = BTreeSet::new();
    rules.iter().filter(|r| !seen.insert(r)).cloned().collect()
}

/// What makes a route ours-and-as-wanted: everything we set, with the metric as the kernel
/// stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteKey {
    ipv6: bool,
    table: u32,
    dst: Option<IpAddr>,
    dst_len: u8,
    metric: u32,
    gateway: Option<IpAddr>,
    oif: Option<IfIndex>,
    src: Option<IpAddr>,
    scope: u8,
    kind: u8,
    protocol: u8,
}

impl RouteKey {
    /// The key of `route`.
    pub fn of(route: &Route) -> Self {
        RouteKey {
            ipv6: route.ipv6,
            table: route.table,
            dst: route.dst,
            dst_len: route.dst_len,
            metric: effective_metric(route),
            gateway: route.gateway,
            oif: route.oif,
            src: route.src,
            scope: route.scope,
            kind: route.kind,
            protocol: route.protocol,
        }
    }
}

/// The kernel's identity of a route: one route per table, destination and metric (with the
/// type-of-service, which we never set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    ipv6: bool,
    table: u32,
    dst: Option<IpAddr>,
    dst_len: u8,
    metric: u32,
}

impl Slot {
    fn of(route: &Route) -> Self {
        Slot {
            ipv6: route.ipv6,
            table: route.table,
            dst: route.dst,
            dst_len: route.dst_len,
            metric: effective_metric(route),
        }
    }
}

/// The metric as the kernel stores it: IPv6 routes without one get 1024, IPv4 routes 0.
fn effective_metric(route: &Route) -> u32 {
    route
        .metric
        .unwrap_or(if route.ipv6 { IPV6_DEFAULT_METRIC } else { 0 })
}

/// One covered link being planned.
struct LinkPlan<'a> {
    view: &'a LinkView,
    table: u32,
    settings: &'a Settings,
}

impl LinkPlan<'_> {
    fn index(&self) -> IfIndex {
        self.view.attrs.index
    }

    /// The link's usable addresses of one family, primaries before IPv4 secondaries (so a
    /// shared subnet route takes the primary as its source), otherwise in kernel order.
    fn usable_addresses(&self, ipv6: bool) -> Vec<&Address> {
        let mut list: Vec<&Address> = self
            .view
            .addresses
            .iter()
            .filter(|a| a.ip.is_ipv6() == ipv6 && usable(a))
            .collect();
        list.sort_by_key(|a| a.flags & IFA_F_SECONDARY != 0);
        list
    }

    fn rules_for(&self, address: &Address) -> [Rule; 2] {
        let host = (address.ip, host_len(address.ip));
        let rule = |priority, src, dst| Rule {
            ipv6: address.ip.is_ipv6(),
            priority: Some(priority),
            src,
            dst,
            table: self.table,
            protocol: self.settings.protocol,
            action: ACTION_TO_TABLE,
        };
        [
            rule(self.settings.from_priority(), Some(host), None),
            rule(self.settings.to_priority(), None, Some(host)),
        ]
    }

    /// Subnet routes and the default route of one family. `addresses` is not empty.
    fn routes(&self, ipv6: bool, addresses: &[&Address]) -> Vec<Route> {
        let mut by_slot: BTreeMap<(Option<IpAddr>, u8), Route> = BTreeMap::new();
        // The default route first: a (nonsensical) /0 address must not take its slot.
        if let Some(default) = self.default_route(ipv6, addresses) {
            by_slot.insert((None, 0), default);
        }
        for a in addresses {
            if a.prefix_len == 0 || a.prefix_len >= host_len(a.ip) {
                continue;
            }
            let dst = network(a.ip, a.prefix_len);
            by_slot
                .entry((Some(dst), a.prefix_len))
                .or_insert_with(|| Route {
                    dst: Some(dst),
                    dst_len: a.prefix_len,
                    src: (!ipv6).then_some(a.ip),
                    gateway: None,
                    oif: Some(self.index()),
                    table: self.table,
                    protocol: self.settings.protocol,
                    // IPv6 routes have no scope; the kernel reports universe for all of them.
                    scope: if ipv6 { SCOPE_UNIVERSE } else { SCOPE_LINK },
                    kind: KIND_UNICAST,
                    metric: None,
                    ipv6,
                });
        }
        by_slot.into_values().collect()
    }

    fn default_route(&self, ipv6: bool, addresses: &[&Address]) -> Option<Route> {
        let gateway = match self.main_default(ipv6) {
            Some(main) => main.gateway,
            None => Some(self.lease_router(ipv6, addresses)?),
        };
        Some(Route {
            dst: None,
            dst_len: 0,
            src: None,
            gateway,
            oif: Some(self.index()),
            table: self.table,
            protocol: self.settings.protocol,
            // An IPv4 route straight onto the link (no gateway) is link-scoped.
            scope: if gateway.is_none() && !ipv6 {
                SCOPE_LINK
            } else {
                SCOPE_UNIVERSE
            },
            kind: KIND_UNICAST,
            metric: None,
            ipv6,
        })
    }

    /// The main table's default route through this link (lowest metric, then lowest
    /// gateway, so the choice is stable).
    fn main_default(&self, ipv6: bool) -> Option<&Route> {
        self.view
            .routes
            .iter()
            .filter(|r| {
                r.table == TABLE_MAIN
                    && r.ipv6 == ipv6
                    && r.dst_len == 0
                    && r.kind == KIND_UNICAST
                    && r.oif == Some(self.index())
                    && r.protocol != self.settings.protocol
            })
            .min_by_key(|r| (r.metric.unwrap_or(0), r.gateway))
    }

    /// The first lease router of the family that the link can reach directly.
    fn lease_router(&self, ipv6: bool, addresses: &[&Address]) -> Option<IpAddr> {
        let routers = self.settings.lease_routers.get(&self.index())?;
        routers.iter().copied().find(|gw| {
            gw.is_ipv6() == ipv6
                && (is_link_local(*gw)
                    || addresses.iter().any(|a| {
                        a.prefix_len > 0
                            && network(a.ip, a.prefix_len) == network(*gw, a.prefix_len)
                    }))
        })
    }
}

/// Whether an address gets rules and routes: global enough to be a source beyond the link.
fn usable(address: &Address) -> bool {
    let ip = address.ip;
    address.scope < SCOPE_LINK
        && !is_link_local(ip)
        && !ip.is_loopback()
        && !ip.is_unspecified()
        && !ip.is_multicast()
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.is_unicast_link_local(),
    }
}

fn host_len(ip: IpAddr) -> u8 {
    if ip.is_ipv6() {
        128
    } else {
        32
    }
}

/// The network address of `ip/len` (`len` ≤ the address length; longer is treated as a
/// host prefix).
pub fn network(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::fixtures;
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

    /// The lab: two links in one subnet, each with a default route of its own in
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
}
