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
use crate::model::kernel::{IFA_F_SECONDARY, KIND_UNICAST, SCOPE_LINK, SCOPE_UNIVERSE, TABLE_MAIN};
use crate::model::{Address, IfIndex, LinkView, Route, RouteSlot, Rule, Snapshot};
use crate::netlink::rule::ACTION_TO_TABLE;

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
        let slot = missing[i].slot();
        match stale.iter().position(|s| s.slot() == slot) {
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

/// What makes a route ours-and-as-wanted: its kernel slot (metric as the kernel stores it)
/// and everything else we set. The slot comes first, so keys sort by slot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteKey {
    slot: RouteSlot,
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
            slot: route.slot(),
            gateway: route.gateway,
            oif: route.oif,
            src: route.src,
            scope: route.scope,
            kind: route.kind,
            protocol: route.protocol,
        }
    }
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
mod tests;
