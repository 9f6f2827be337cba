//! The broker's picture of the kernel: every link with its addresses and routes. Applying a
//! kernel event updates the picture and reports what changed, so the decisions that follow
//! ([`super::decide`]) never have to compare states themselves.
//!
//! Beside this file: `change` (what a change reports) and `replace` (a whole dump replacing
//! the picture).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use crate::event::{KernelEvent, NetworkdEvent};
use crate::model::kernel::TABLE_MAIN;
use crate::model::{
    Address, IfIndex, Lease, LinkAttrs, LinkView, Links, Route, RouteSlot, Rule, Snapshot,
    StateProperty, States,
};

use super::derive::derive;

mod change;
mod replace;

pub use change::{Change, Origin, Transitions};

/// What makes two routes the same route to the kernel, so that a new route on a key replaces
/// the old one: `ip route replace` (and networkd) sends only the new route, with the same
/// slot, and no removal of the old one. The type is part of the key because the kernel keeps
/// routes of different types in one slot side by side (the `local` and `broadcast` routes of
/// an address that is its subnet's broadcast address); routing's plan needs no type, as all
/// its routes are unicast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RouteKey {
    slot: RouteSlot,
    kind: u8,
}

impl RouteKey {
    fn of(route: &Route) -> Self {
        RouteKey {
            slot: route.slot(),
            kind: route.kind,
        }
    }
}

/// The link table.
#[derive(Debug, Default, Clone)]
pub struct State {
    /// Shared with the snapshots, chunk by chunk, until a link changes.
    links: Links,
    /// Every route held in some link's view, by key, to find the route a replacement replaces.
    routes: HashMap<RouteKey, Route>,
    /// States computed from the kernel, per link.
    derived: BTreeMap<IfIndex, States>,
    /// States networkd reported, per link it knows.
    networkd: BTreeMap<IfIndex, States>,
    /// networkd's manager states.
    manager: States,
    /// Every routing policy rule the kernel has.
    rules: BTreeSet<Rule>,
    /// The current dhclient lease per interface name.
    leases: BTreeMap<String, Lease>,
}

impl State {
    /// An immutable copy for readers; cheap (shares every unchanged chunk of links).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            links: self.links.clone(),
            manager: self.manager.clone(),
            routing_tables: BTreeMap::new(),
        }
    }

    /// Every link, by index.
    pub fn links(&self) -> impl Iterator<Item = &Arc<LinkView>> {
        self.links.values()
    }

    /// networkd's manager states.
    pub fn manager(&self) -> &States {
        &self.manager
    }

    /// States computed from the kernel for a link.
    pub fn derived(&self, index: IfIndex) -> Option<&States> {
        self.derived.get(&index)
    }

    /// States networkd reported for a link.
    pub fn networkd(&self, index: IfIndex) -> Option<&States> {
        self.networkd.get(&index)
    }

    /// The link with this index.
    pub fn link(&self, index: IfIndex) -> Option<&Arc<LinkView>> {
        self.links.get(&index)
    }

    /// Number of links known.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether no link is known.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Applies one kernel event and appends what changed to `changes`.
    ///
    /// Events are idempotent upserts and removals, so replaying events that the kernel queued
    /// before a snapshot was taken converges on the kernel's state: the last event about any
    /// address, route or link is what remains.
    pub fn apply(&mut self, event: KernelEvent, changes: &mut Vec<Change>) {
        let first = changes.len();
        self.apply_kernel(event, changes);
        let mut touched: Vec<IfIndex> = changes[first..]
            .iter()
            .filter_map(|change| match change {
                Change::LinkAdded(index)
                | Change::LinkChanged(index)
                | Change::AddressAdded(index, _)
                | Change::AddressRemoved(index, _) => Some(*index),
                _ => None,
            })
            .collect();
        touched.dedup();
        let added: Vec<IfIndex> = changes[first..]
            .iter()
            .filter_map(|change| match change {
                Change::LinkAdded(index) => Some(*index),
                _ => None,
            })
            .collect();
        for index in touched {
            self.refresh_derived(index, changes);
        }
        // networkd can report a link before the kernel's message about it reaches us; its
        // states were no transition of a link then, they are now that the link exists.
        for index in added {
            if let Some(states) = self.networkd.get(&index) {
                let changed = diff_states(&States::new(), states);
                push_states(changes, index, Origin::Networkd, changed);
            }
        }
    }

    /// Applies what networkd reported and appends the transitions to `changes`. Returns
    /// whether a link's view changed without a transition: a link networkd no longer reports
    /// shows its kernel-derived states again.
    pub fn apply_networkd(&mut self, event: NetworkdEvent, changes: &mut Vec<Change>) -> bool {
        let mut views_changed = false;
        match event {
            NetworkdEvent::Snapshot { manager, links } => {
                let transitions = diff_states(&self.manager, &manager);
                self.manager = manager;
                if !transitions.is_empty() {
                    changes.push(Change::ManagerStatesChanged(transitions));
                }
                let gone: Vec<IfIndex> = self
                    .networkd
                    .keys()
                    .filter(|i| !links.contains_key(i))
                    .copied()
                    .collect();
                for index in gone {
                    self.networkd.remove(&index);
                    views_changed |= self.refresh_effective(index);
                }
                for (index, states) in links {
                    let old = self
                        .networkd
                        .insert(index, states.clone())
                        .unwrap_or_default();
                    push_states(changes, index, Origin::Networkd, diff_states(&old, &states));
                    self.refresh_effective(index);
                }
            }
            NetworkdEvent::Vanished => {}
            NetworkdEvent::LinkChanged { index, changed } => {
                let states = self.networkd.entry(index).or_default();
                let transitions = apply_transitions(states, changed);
                push_states(changes, index, Origin::Networkd, transitions);
                self.refresh_effective(index);
            }
            NetworkdEvent::ManagerChanged { changed } => {
                let transitions = apply_transitions(&mut self.manager, changed);
                if !transitions.is_empty() {
                    changes.push(Change::ManagerStatesChanged(transitions));
                }
            }
        }
        views_changed
    }

    /// Replaces the current leases with `leases` and reports which interfaces' leases changed
    /// in content. Returns whether any link's view changed, which a renewal that only moves
    /// the lease's times does without any `Change`.
    pub fn apply_leases(
        &mut self,
        leases: BTreeMap<String, Lease>,
        changes: &mut Vec<Change>,
    ) -> bool {
        let names: BTreeSet<String> = self.leases.keys().chain(leases.keys()).cloned().collect();
        for interface in names {
            let before = self.leases.get(&interface);
            let after = leases.get(&interface);
            let same = match (before, after) {
                (Some(b), Some(a)) => b.same_content(a),
                (None, None) => true,
                _ => false,
            };
            if !same {
                changes.push(Change::LeaseChanged {
                    interface,
                    before: before.cloned().map(Box::new),
                    after: after.cloned().map(Box::new),
                });
            }
        }
        self.leases = leases;
        let indexes: Vec<IfIndex> = self.links.keys().copied().collect();
        let mut views_changed = false;
        for index in indexes {
            views_changed |= self.refresh_effective(index);
        }
        views_changed
    }

    /// The link with this name, if any.
    pub fn link_by_name(&self, name: &str) -> Option<&Arc<LinkView>> {
        self.links.values().find(|view| view.attrs.name == name)
    }

    /// The current dhclient lease of an interface.
    pub fn lease(&self, interface: &str) -> Option<&Lease> {
        self.leases.get(interface)
    }

    /// Every routing policy rule the kernel has.
    pub fn rules(&self) -> &BTreeSet<Rule> {
        &self.rules
    }

    fn refresh_derived(&mut self, index: IfIndex, changes: &mut Vec<Change>) {
        let Some(view) = self.links.get(&index) else {
            return;
        };
        let fresh = derive(view);
        let old = self
            .derived
            .insert(index, fresh.clone())
            .unwrap_or_default();
        push_states(changes, index, Origin::Kernel, diff_states(&old, &fresh));
        self.refresh_effective(index);
    }

    /// Sets what a link shows beyond the kernel's facts: its states (networkd's when it reports
    /// the link, else the kernel's) and the dhclient lease of its name.
    ///
    /// Returns whether the view changed.
    fn refresh_effective(&mut self, index: IfIndex) -> bool {
        let Some(view) = self.links.get_mut(&index) else {
            return false;
        };
        let mut changed = false;
        let lease = self.leases.get(&view.attrs.name);
        if view.lease.as_deref() != lease {
            Arc::make_mut(view).lease = lease.cloned().map(Arc::new);
            changed = true;
        }
        // networkd's value where it has said one, the kernel's for the rest: networkd may
        // report a link with some of its states before the others (a `PropertiesChanged` of
        // one property), and the bus must never show a state as empty meanwhile
        // (docs/dbus-api.md, the value sets).
        let mut effective = self.derived.get(&index).cloned().unwrap_or_default();
        if let Some(reported) = self.networkd.get(&index) {
            effective.extend(reported.iter().map(|(p, v)| (*p, *v)));
        }
        if effective.is_empty() {
            return changed;
        }
        if view.states != effective {
            Arc::make_mut(view).states = effective;
            changed = true;
        }
        changed
    }

    fn apply_kernel(&mut self, event: KernelEvent, changes: &mut Vec<Change>) {
        match event {
            KernelEvent::LinkChanged(attrs) => self.upsert_link(attrs, changes),
            KernelEvent::LinkRemoved { index } => {
                if let Some(view) = self.links.remove(&index) {
                    self.forget_link(index);
                    changes.push(Change::LinkRemoved(view));
                }
            }
            KernelEvent::AddressAdded { index, address } => {
                self.add_address(index, address, changes)
            }
            KernelEvent::AddressRemoved { index, address } => {
                let Some(view) = self.links.get_mut(&index) else {
                    return;
                };
                if let Some(pos) = view.addresses.iter().position(|a| a.same_key(&address)) {
                    let removed = Arc::make_mut(view).addresses.remove(pos);
                    let ip = removed.ip;
                    changes.push(Change::AddressRemoved(index, removed));
                    self.forget_routes_flushed_with(index, ip, changes);
                }
            }
            KernelEvent::RouteAdded(route) => self.add_route(route, changes),
            KernelEvent::RouteRemoved(route) => {
                let key = RouteKey::of(&route);
                if self.routes.get(&key) == Some(&route) {
                    self.routes.remove(&key);
                }
                self.drop_route_from_link(&route, changes);
            }
            KernelEvent::RuleAdded(rule) => {
                if self.rules.insert(rule.clone()) {
                    changes.push(Change::RuleAdded(rule));
                }
            }
            KernelEvent::RuleRemoved(rule) => {
                if self.rules.remove(&rule) {
                    changes.push(Change::RuleRemoved(rule));
                }
            }
            KernelEvent::Snapshot(snapshot) => self.replace(snapshot, changes),
        }
    }

    fn upsert_link(&mut self, attrs: LinkAttrs, changes: &mut Vec<Change>) {
        let index = attrs.index;
        match self.links.get_mut(&index) {
            None => {
                self.links.insert(index, Arc::new(LinkView::new(attrs)));
                changes.push(Change::LinkAdded(index));
            }
            Some(view) if view.attrs != attrs => {
                let old_name = view.attrs.name.clone();
                let renamed = old_name != attrs.name;
                let went_down = view.attrs.is_up() && !attrs.is_up();
                let view = Arc::make_mut(view);
                view.attrs = attrs;
                changes.push(Change::LinkChanged(index));
                if renamed {
                    changes.push(Change::LinkRenamed {
                        index,
                        old: old_name,
                    });
                }
                // Taking a link down flushes its IPv4 routes without any RTM_DELROUTE
                // (fib_sync_down_dev does not notify); IPv6 announces its removals.
                if went_down {
                    let before = view.routes.len();
                    view.routes.retain(|route| route.ipv6);
                    if view.routes.len() != before {
                        self.routes.retain(|_, r| r.ipv6 || r.oif != Some(index));
                        changes.push(Change::RoutesChanged(index));
                    }
                }
            }
            Some(_) => {}
        }
    }

    /// Forgets the IPv4 routes the kernel removes with an address (`fib_del_ifaddr` and
    /// `fib_inetaddr_event` in net/ipv4/fib_frontend.c), which it does not always announce:
    ///
    /// - once no link has the address any more, the main table's routes that had it as their
    ///   preferred source (`src`), through any link (announced by recent kernels, not by
    ///   older ones);
    /// - when the link has lost its last IPv4 address, every IPv4 route through it, in every
    ///   table (`fib_disable_ip`: never announced). Among them the link's default route in
    ///   the main table: a picture that kept it would give policy routing a gateway the link
    ///   no longer has.
    ///
    /// IPv6 announces its removals.
    fn forget_routes_flushed_with(
        &mut self,
        index: IfIndex,
        ip: IpAddr,
        changes: &mut Vec<Change>,
    ) {
        if ip.is_ipv6() {
            return;
        }
        let has_ipv4 = |view: &LinkView| view.addresses.iter().any(|a| a.ip.is_ipv4());
        let last = self.links.get(&index).is_some_and(|view| !has_ipv4(view));
        let still_local = self
            .links
            .values()
            .any(|view| view.addresses.iter().any(|a| a.ip == ip));
        let flushed = |route: &Route| {
            !route.ipv6
                && ((last && route.oif == Some(index))
                    || (!still_local && route.table == TABLE_MAIN && route.src == Some(ip)))
        };
        self.routes.retain(|_, route| !flushed(route));
        // Found first, changed after: only the links that lose a route stop sharing their
        // view (and its chunk) with the published snapshot.
        let losing: Vec<IfIndex> = self
            .links
            .values()
            .filter(|view| view.routes.iter().any(flushed))
            .map(|view| view.attrs.index)
            .collect();
        for index in losing {
            if let Some(view) = self.links.get_mut(&index) {
                Arc::make_mut(view).routes.retain(|route| !flushed(route));
                changes.push(Change::RoutesChanged(index));
            }
        }
    }

    fn forget_link(&mut self, index: IfIndex) {
        self.routes.retain(|_, route| route.oif != Some(index));
        self.derived.remove(&index);
        self.networkd.remove(&index);
    }

    fn add_route(&mut self, route: Route, changes: &mut Vec<Change>) {
        let Some(index) = route.oif else { return };
        if !self.links.contains_key(&index) {
            return;
        }
        let key = RouteKey::of(&route);
        match self.routes.insert(key, route.clone()) {
            Some(old) if old == route => return,
            Some(replaced) => self.drop_route_from_link(&replaced, changes),
            None => {}
        }
        if let Some(view) = self.links.get_mut(&index) {
            if Arc::make_mut(view).routes.insert(route) {
                changes.push(Change::RoutesChanged(index));
            }
        }
    }

    fn drop_route_from_link(&mut self, route: &Route, changes: &mut Vec<Change>) {
        let Some(index) = route.oif else { return };
        let Some(view) = self.links.get_mut(&index) else {
            return;
        };
        if view.routes.contains(route) {
            Arc::make_mut(view).routes.remove(route);
            changes.push(Change::RoutesChanged(index));
        }
    }

    fn add_address(&mut self, index: IfIndex, address: Address, changes: &mut Vec<Change>) {
        let Some(view) = self.links.get_mut(&index) else {
            return;
        };
        match view.addresses.iter().position(|a| a.same_key(&address)) {
            Some(pos) if view.addresses[pos] == address => {}
            // Same address with new attributes (e.g. tentative → valid): an update, not a new
            // address, so it does not count as added; but it can make the link routable.
            Some(pos) => {
                Arc::make_mut(view).addresses[pos] = address;
                self.refresh_derived(index, changes);
            }
            None => {
                Arc::make_mut(view).addresses.push(address.clone());
                changes.push(Change::AddressAdded(index, address));
            }
        }
    }
}

/// Reports a link's transitions, if there are any.
fn push_states(changes: &mut Vec<Change>, index: IfIndex, origin: Origin, changed: Transitions) {
    if !changed.is_empty() {
        changes.push(Change::StatesChanged {
            index,
            origin,
            changed,
        });
    }
}

/// The properties whose values differ, in [`StateProperty::ALL`] order (operational state
/// before administrative state, the order networkd itself settles them).
fn diff_states(old: &States, new: &States) -> Transitions {
    StateProperty::ALL
        .into_iter()
        .filter_map(|property| {
            let value = *new.get(&property)?;
            (old.get(&property) != Some(&value)).then_some((property, value))
        })
        .collect()
}

/// Applies `changed` in order and returns the real transitions among them, in order.
fn apply_transitions(states: &mut States, changed: Transitions) -> Transitions {
    changed
        .into_iter()
        .filter(|(property, value)| states.insert(*property, value) != Some(*value))
        .collect()
}

#[cfg(test)]
mod tests;
