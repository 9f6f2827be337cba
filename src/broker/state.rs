//! The broker's picture of the kernel: every link with its addresses and routes. Applying a
//! kernel event updates the picture and reports what changed, so the decisions that follow
//! ([`super::decide`]) never have to compare states themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use crate::event::{KernelEvent, KernelSnapshot, NetworkdEvent};
use crate::model::{
    Address, IfIndex, Lease, LinkAttrs, LinkView, Route, Rule, Snapshot, StateProperty, States,
};

use super::derive::derive;

/// Where a link's states came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Computed from the kernel's view ([`super::derive`]).
    Kernel,
    /// Reported by systemd-networkd.
    Networkd,
}

/// A state transition list: property and new value, in the order they happened.
pub type Transitions = Vec<(StateProperty, &'static str)>;

/// One thing that changed in the broker's picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A link the broker did not know appeared.
    LinkAdded(IfIndex),
    /// A known link's attributes changed (flags, state, MTU…); a rename is reported as
    /// [`Change::LinkRenamed`] as well.
    LinkChanged(IfIndex),
    /// A known link got a new name.
    LinkRenamed {
        /// The link.
        index: IfIndex,
        /// Its previous name.
        old: String,
    },
    /// A link disappeared; carries its last view.
    LinkRemoved(Arc<LinkView>),
    /// An address appeared on a link.
    AddressAdded(IfIndex, Address),
    /// An address disappeared from a link.
    AddressRemoved(IfIndex, Address),
    /// The set of routes leaving through a link changed.
    RoutesChanged(IfIndex),
    /// Some of a link's states changed, as computed from the kernel or as networkd reported.
    StatesChanged {
        /// The link.
        index: IfIndex,
        /// Who says so.
        origin: Origin,
        /// What changed, in order.
        changed: Transitions,
    },
    /// networkd's manager states changed.
    ManagerStatesChanged(Transitions),
    /// A routing policy rule appeared.
    RuleAdded(Rule),
    /// A routing policy rule disappeared.
    RuleRemoved(Rule),
    /// The current dhclient lease of an interface changed in content (a renewal that only
    /// moves its times is not a change), appeared or went away.
    LeaseChanged {
        /// The interface name the lease file names.
        interface: String,
        /// The lease before, if any.
        before: Option<Box<Lease>>,
        /// The lease now, if any.
        after: Option<Box<Lease>>,
    },
}

/// What makes two routes the same route to the kernel: `ip route replace` (and networkd)
/// sends only the new route, with the same key, and no removal of the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RouteKey {
    ipv6: bool,
    table: u32,
    dst: Option<IpAddr>,
    dst_len: u8,
    metric: Option<u32>,
    kind: u8,
}

impl RouteKey {
    fn of(route: &Route) -> Self {
        RouteKey {
            ipv6: route.ipv6,
            table: route.table,
            dst: route.dst,
            dst_len: route.dst_len,
            metric: route.metric,
            kind: route.kind,
        }
    }
}

/// `RT_TABLE_MAIN`.
const RT_TABLE_MAIN: u32 = 254;

/// The link table.
#[derive(Debug, Default, Clone)]
pub struct State {
    links: BTreeMap<IfIndex, Arc<LinkView>>,
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
    /// An immutable copy for readers; cheap (shares every unchanged link).
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
        let effective = match self.networkd.get(&index) {
            Some(states) => states,
            None => match self.derived.get(&index) {
                Some(states) => states,
                None => return changed,
            },
        };
        if &view.states != effective {
            Arc::make_mut(view).states = effective.clone();
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
                    || (!still_local && route.table == RT_TABLE_MAIN && route.src == Some(ip)))
        };
        self.routes.retain(|_, route| !flushed(route));
        for view in self.links.values_mut() {
            if view.routes.iter().any(flushed) {
                Arc::make_mut(view).routes.retain(|route| !flushed(route));
                changes.push(Change::RoutesChanged(view.attrs.index));
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

    /// Replaces the whole table with a fresh dump, reporting the difference as the individual
    /// changes that would have produced it.
    fn replace(&mut self, snapshot: KernelSnapshot, changes: &mut Vec<Change>) {
        let rules: BTreeSet<Rule> = snapshot.rules.into_iter().collect();
        for gone in self.rules.difference(&rules) {
            changes.push(Change::RuleRemoved(gone.clone()));
        }
        for new in rules.difference(&self.rules) {
            changes.push(Change::RuleAdded(new.clone()));
        }
        self.rules = rules;

        let mut fresh: BTreeMap<IfIndex, LinkView> = snapshot
            .links
            .into_iter()
            .map(|attrs| (attrs.index, LinkView::new(attrs)))
            .collect();
        for (index, address) in snapshot.addresses {
            if let Some(view) = fresh.get_mut(&index) {
                if !view.addresses.iter().any(|a| a.same_key(&address)) {
                    view.addresses.push(address);
                }
            }
        }
        self.routes.clear();
        for route in snapshot.routes {
            if let Some(view) = route.oif.and_then(|index| fresh.get_mut(&index)) {
                self.routes.insert(RouteKey::of(&route), route.clone());
                view.routes.insert(route);
            }
        }

        let gone: Vec<IfIndex> = self
            .links
            .keys()
            .filter(|index| !fresh.contains_key(index))
            .copied()
            .collect();
        for index in gone {
            if let Some(view) = self.links.remove(&index) {
                self.derived.remove(&index);
                self.networkd.remove(&index);
                changes.push(Change::LinkRemoved(view));
            }
        }

        for (index, mut new) in fresh {
            if let Some(old) = self.links.get(&index) {
                // States are not part of a kernel dump; keep them so an unchanged link compares
                // equal and is shared, and refresh them below for the links that changed.
                new.states = old.states.clone();
                new.lease = old.lease.clone();
            }
            let Some(old) = self.links.get(&index) else {
                changes.push(Change::LinkAdded(index));
                for address in &new.addresses {
                    changes.push(Change::AddressAdded(index, address.clone()));
                }
                if !new.routes.is_empty() {
                    changes.push(Change::RoutesChanged(index));
                }
                self.links.insert(index, Arc::new(new));
                continue;
            };
            if **old == new {
                continue;
            }
            if old.attrs != new.attrs {
                changes.push(Change::LinkChanged(index));
                if old.attrs.name != new.attrs.name {
                    changes.push(Change::LinkRenamed {
                        index,
                        old: old.attrs.name.clone(),
                    });
                }
            }
            for address in &old.addresses {
                if !new.addresses.iter().any(|a| a.same_key(address)) {
                    changes.push(Change::AddressRemoved(index, address.clone()));
                }
            }
            for address in &new.addresses {
                if !old.addresses.iter().any(|a| a.same_key(address)) {
                    changes.push(Change::AddressAdded(index, address.clone()));
                }
            }
            if old.routes != new.routes {
                changes.push(Change::RoutesChanged(index));
            }
            self.links.insert(index, Arc::new(new));
            // An address whose flags changed meanwhile (tentative → valid) is no addition
            // but can change the states.
            self.refresh_derived(index, changes);
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
        .filter(|(property, value)| states.insert(*property, *value) != Some(*value))
        .collect()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::model::fixtures::{address as addr, link, route};

    fn apply(state: &mut State, event: KernelEvent) -> Vec<Change> {
        let mut changes = Vec::new();
        state.apply(event, &mut changes);
        changes
    }

    #[test]
    fn new_link_then_same_attrs_reports_once() {
        let mut state = State::default();
        let changes = apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        assert_eq!(changes[0], Change::LinkAdded(3));
        // A new link also gets its first computed states: a down link is "off".
        assert!(matches!(
            &changes[1],
            Change::StatesChanged { index: 3, origin: Origin::Kernel, changed }
                if changed[0] == (StateProperty::Operational, "off")
        ));
        assert!(apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0"))).is_empty());
    }

    #[test]
    fn rename_reports_old_name() {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        let changes = apply(&mut state, KernelEvent::LinkChanged(link(3, "wan0")));
        assert_eq!(
            changes,
            vec![
                Change::LinkChanged(3),
                Change::LinkRenamed {
                    index: 3,
                    old: "eth0".into()
                }
            ]
        );
        assert_eq!(state.link(3).unwrap().attrs.name, "wan0");
    }

    /// IPv6 addresses start tentative (duplicate address detection); the kernel announces
    /// the end of it as RTM_NEWADDR with new flags. That is no new address, but the link is
    /// routable from then on, directly or in a resync's dump (found by the model-based tests:
    /// the link stayed "carrier" and routable.d never ran).
    #[test]
    fn an_address_that_finishes_dad_makes_the_link_routable() {
        let operational = |changes: &[Change]| {
            changes.iter().find_map(|change| match change {
                Change::StatesChanged { changed, .. } => changed
                    .iter()
                    .find(|(p, _)| *p == StateProperty::Operational)
                    .map(|(_, v)| *v),
                _ => None,
            })
        };
        let mut up = link(3, "eth0");
        up.flags = crate::model::link::IFF_UP | crate::model::link::IFF_LOWER_UP;
        up.oper_state = crate::model::KernelOperState::Up;
        let mut tentative = addr("2001:db8::1", 64);
        tentative.flags = 0x40;
        let mut ready = tentative.clone();
        ready.flags = 0;
        for resync in [false, true] {
            let mut state = State::default();
            apply(&mut state, KernelEvent::LinkChanged(up.clone()));
            let changes = apply(
                &mut state,
                KernelEvent::AddressAdded {
                    index: 3,
                    address: tentative.clone(),
                },
            );
            assert_eq!(operational(&changes), None, "a tentative address counts");
            let changes = if resync {
                let dump = KernelSnapshot {
                    links: vec![up.clone()],
                    addresses: vec![(3, ready.clone())],
                    routes: Vec::new(),
                    rules: Vec::new(),
                };
                apply(&mut state, KernelEvent::Snapshot(dump))
            } else {
                let address = ready.clone();
                apply(&mut state, KernelEvent::AddressAdded { index: 3, address })
            };
            assert_eq!(operational(&changes), Some("routable"), "resync: {resync}");
            assert!(!changes
                .iter()
                .any(|c| matches!(c, Change::AddressAdded(..))));
        }
    }

    #[test]
    fn address_attribute_update_is_not_an_addition() {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        let a = addr("192.0.2.1", 24);
        let changes = apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 3,
                address: a.clone(),
            },
        );
        assert_eq!(changes, vec![Change::AddressAdded(3, a.clone())]);
        let mut tentative = a.clone();
        tentative.flags = 0x40;
        assert!(apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 3,
                address: tentative
            }
        )
        .is_empty());
        assert_eq!(state.link(3).unwrap().addresses[0].flags, 0x40);
        let changes = apply(
            &mut state,
            KernelEvent::AddressRemoved {
                index: 3,
                address: a,
            },
        );
        assert_eq!(changes.len(), 1);
        assert!(state.link(3).unwrap().addresses.is_empty());
    }

    #[test]
    fn events_for_unknown_links_are_dropped() {
        let mut state = State::default();
        assert!(apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 9,
                address: addr("192.0.2.1", 24)
            }
        )
        .is_empty());
        assert!(apply(&mut state, KernelEvent::RouteAdded(route(9, "10.0.0.0", 8))).is_empty());
        assert!(apply(&mut state, KernelEvent::LinkRemoved { index: 9 }).is_empty());
    }

    #[test]
    fn routes_are_counted_once() {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        let r = route(3, "10.0.0.0", 8);
        assert_eq!(
            apply(&mut state, KernelEvent::RouteAdded(r.clone())),
            vec![Change::RoutesChanged(3)]
        );
        assert!(apply(&mut state, KernelEvent::RouteAdded(r.clone())).is_empty());
        assert_eq!(
            apply(&mut state, KernelEvent::RouteRemoved(r.clone())),
            vec![Change::RoutesChanged(3)]
        );
        assert!(apply(&mut state, KernelEvent::RouteRemoved(r)).is_empty());
    }

    #[test]
    fn a_replaced_route_leaves_no_stale_copy() {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        apply(&mut state, KernelEvent::LinkChanged(link(4, "eth1")));
        let mut via_eth0 = route(3, "10.0.0.0", 8);
        via_eth0.gateway = Some("192.0.2.1".parse().unwrap());
        apply(&mut state, KernelEvent::RouteAdded(via_eth0.clone()));
        // `ip route replace 10.0.0.0/8 via 198.51.100.1 dev eth1`: one RTM_NEWROUTE, same key.
        let mut via_eth1 = via_eth0.clone();
        via_eth1.oif = Some(4);
        via_eth1.gateway = Some("198.51.100.1".parse().unwrap());
        let changes = apply(&mut state, KernelEvent::RouteAdded(via_eth1.clone()));
        assert_eq!(
            changes,
            vec![Change::RoutesChanged(3), Change::RoutesChanged(4)]
        );
        assert!(state.link(3).unwrap().routes.is_empty());
        assert_eq!(state.link(4).unwrap().routes.len(), 1);
        apply(&mut state, KernelEvent::RouteRemoved(via_eth1));
        assert!(state.link(4).unwrap().routes.is_empty());
    }

    #[test]
    fn taking_a_link_down_drops_its_ipv4_routes() {
        let mut state = State::default();
        let mut up = link(3, "eth0");
        up.flags = crate::model::link::IFF_UP;
        apply(&mut state, KernelEvent::LinkChanged(up.clone()));
        apply(
            &mut state,
            KernelEvent::RouteAdded(route(3, "192.0.2.0", 24)),
        );
        let mut v6 = route(3, "2001:db8::", 64);
        v6.ipv6 = true;
        apply(&mut state, KernelEvent::RouteAdded(v6.clone()));
        let changes = apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        assert!(changes.contains(&Change::RoutesChanged(3)));
        let routes: Vec<_> = state.link(3).unwrap().routes.iter().cloned().collect();
        assert_eq!(routes, vec![v6]);
        // The same route coming back after the link is up again counts as new.
        apply(&mut state, KernelEvent::LinkChanged(up));
        assert_eq!(
            apply(
                &mut state,
                KernelEvent::RouteAdded(route(3, "192.0.2.0", 24))
            ),
            vec![Change::RoutesChanged(3)]
        );
    }

    /// An up link 3 with `addresses`, and routes through it.
    fn link_with(addresses: &[(&str, u8)], routes: &[Route]) -> State {
        let mut state = State::default();
        let mut up = link(3, "eth0");
        up.flags = crate::model::link::IFF_UP;
        apply(&mut state, KernelEvent::LinkChanged(up));
        for (ip, len) in addresses {
            apply(
                &mut state,
                KernelEvent::AddressAdded {
                    index: 3,
                    address: addr(ip, *len),
                },
            );
        }
        for r in routes {
            apply(&mut state, KernelEvent::RouteAdded(r.clone()));
        }
        state
    }

    fn remove_address(state: &mut State, ip: &str, len: u8) -> Vec<Change> {
        apply(
            state,
            KernelEvent::AddressRemoved {
                index: 3,
                address: addr(ip, len),
            },
        )
    }

    fn default_via(gateway: &str, table: u32) -> Route {
        let mut r = route(3, "0.0.0.0", 0);
        r.dst = None;
        r.gateway = Some(gateway.parse().unwrap());
        r.scope = 0;
        r.table = table;
        r
    }

    #[test]
    fn losing_the_last_ipv4_address_drops_every_ipv4_route_through_the_link() {
        // The kernel flushes them without a word (fib_disable_ip); found by the lab test of
        // policy routing: the table got a default route from the stale main-table one.
        let main_default = default_via("192.0.2.1", 254);
        let ours = default_via("192.0.2.1", 1003);
        let mut v6 = route(3, "2001:db8::", 64);
        v6.ipv6 = true;
        let mut state = link_with(
            &[("192.0.2.2", 24), ("192.0.2.3", 24), ("2001:db8::2", 64)],
            &[main_default.clone(), ours, v6.clone()],
        );
        // One of two IPv4 addresses: the routes stay (none names it as its source).
        let changes = remove_address(&mut state, "192.0.2.3", 24);
        assert!(!changes.contains(&Change::RoutesChanged(3)), "{changes:?}");
        assert_eq!(state.link(3).unwrap().routes.len(), 3);
        // The last one: every IPv4 route through the link goes, in every table; IPv6 stays.
        let changes = remove_address(&mut state, "192.0.2.2", 24);
        assert!(changes.contains(&Change::RoutesChanged(3)), "{changes:?}");
        let routes: Vec<_> = state.link(3).unwrap().routes.iter().cloned().collect();
        assert_eq!(routes, vec![v6]);
        // The default route added again is a new route, not a known one.
        apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 3,
                address: addr("192.0.2.2", 24),
            },
        );
        assert_eq!(
            apply(&mut state, KernelEvent::RouteAdded(main_default)),
            vec![Change::RoutesChanged(3)]
        );
    }

    #[test]
    fn an_address_that_goes_takes_the_main_routes_it_was_the_source_of() {
        let mut with_src = default_via("192.0.2.1", 254);
        with_src.src = Some("192.0.2.2".parse().unwrap());
        let mut other_table = with_src.clone();
        other_table.table = 1003;
        let mut other_src = route(3, "198.51.100.0", 24);
        other_src.src = Some("198.51.100.2".parse().unwrap());
        let mut state = link_with(
            &[("192.0.2.2", 24), ("198.51.100.2", 24)],
            &[with_src, other_table.clone(), other_src.clone()],
        );
        let changes = remove_address(&mut state, "192.0.2.2", 24);
        assert!(changes.contains(&Change::RoutesChanged(3)), "{changes:?}");
        let mut routes: Vec<_> = state.link(3).unwrap().routes.iter().cloned().collect();
        routes.sort();
        let mut want = vec![other_table, other_src];
        want.sort();
        assert_eq!(routes, want, "only the main table's, only that source's");

        // The same address still on another link: nothing is flushed.
        let mut with_src = default_via("192.0.2.1", 254);
        with_src.src = Some("192.0.2.2".parse().unwrap());
        let mut state = link_with(
            &[("192.0.2.2", 24), ("198.51.100.2", 24)],
            std::slice::from_ref(&with_src),
        );
        apply(&mut state, KernelEvent::LinkChanged(link(4, "eth1")));
        apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 4,
                address: addr("192.0.2.2", 32),
            },
        );
        remove_address(&mut state, "192.0.2.2", 24);
        assert_eq!(
            state.link(3).unwrap().routes.iter().collect::<Vec<_>>(),
            vec![&with_src]
        );
    }

    fn networkd(event: NetworkdEvent, state: &mut State) -> Vec<Change> {
        let mut changes = Vec::new();
        state.apply_networkd(event, &mut changes);
        changes
    }

    #[test]
    fn networkd_transitions_are_reported_once_and_in_order() {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        let changes = networkd(
            NetworkdEvent::LinkChanged {
                index: 3,
                changed: vec![
                    (StateProperty::Administrative, "configuring"),
                    (StateProperty::Operational, "routable"),
                ],
            },
            &mut state,
        );
        assert_eq!(
            changes,
            vec![Change::StatesChanged {
                index: 3,
                origin: Origin::Networkd,
                changed: vec![
                    (StateProperty::Administrative, "configuring"),
                    (StateProperty::Operational, "routable"),
                ],
            }]
        );
        // networkd repeats unchanged values next to the changed ones: only the change counts.
        let changes = networkd(
            NetworkdEvent::LinkChanged {
                index: 3,
                changed: vec![
                    (StateProperty::Operational, "routable"),
                    (StateProperty::Administrative, "configured"),
                ],
            },
            &mut state,
        );
        assert!(
            matches!(&changes[..], [Change::StatesChanged { changed, .. }]
            if changed == &vec![(StateProperty::Administrative, "configured")])
        );
        // The link now shows networkd's states rather than the kernel's.
        let view = state.link(3).unwrap();
        assert_eq!(view.states[&StateProperty::Operational], "routable");
        assert_eq!(view.states[&StateProperty::Administrative], "configured");
    }

    #[test]
    fn a_networkd_restart_reports_only_what_changed_meanwhile() {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        let states = |op: &'static str| {
            States::from([
                (StateProperty::Operational, op),
                (StateProperty::Administrative, "configured"),
            ])
        };
        let snapshot = |op| NetworkdEvent::Snapshot {
            manager: States::from([(StateProperty::Operational, op)]),
            links: BTreeMap::from([(3, states(op))]),
        };
        assert_eq!(networkd(snapshot("routable"), &mut state).len(), 2);
        networkd(NetworkdEvent::Vanished, &mut state);
        assert!(networkd(snapshot("routable"), &mut state).is_empty());
        let changes = networkd(snapshot("degraded"), &mut state);
        assert_eq!(
            changes,
            vec![
                Change::ManagerStatesChanged(vec![(StateProperty::Operational, "degraded")]),
                Change::StatesChanged {
                    index: 3,
                    origin: Origin::Networkd,
                    changed: vec![(StateProperty::Operational, "degraded")],
                },
            ]
        );
        // A link networkd no longer reports falls back to the kernel's view.
        networkd(
            NetworkdEvent::Snapshot {
                manager: States::new(),
                links: BTreeMap::new(),
            },
            &mut state,
        );
        assert_eq!(
            state.link(3).unwrap().states[&StateProperty::Operational],
            "off"
        );
    }

    #[test]
    fn snapshot_reports_the_difference() {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(link(2, "gone0")));
        apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 3,
                address: addr("192.0.2.1", 24),
            },
        );
        apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 3,
                address: addr("192.0.2.2", 24),
            },
        );

        let snapshot = KernelSnapshot {
            links: vec![link(3, "eth0"), link(4, "new0")],
            addresses: vec![(3, addr("192.0.2.2", 24)), (3, addr("2001:db8::1", 64))],
            routes: vec![route(3, "192.0.2.0", 24)],
            rules: Vec::new(),
        };
        let changes = apply(&mut state, KernelEvent::Snapshot(snapshot));
        assert!(matches!(&changes[0], Change::LinkRemoved(v) if v.attrs.index == 2));
        assert!(changes.contains(&Change::AddressRemoved(3, addr("192.0.2.1", 24))));
        assert!(changes.contains(&Change::AddressAdded(3, addr("2001:db8::1", 64))));
        assert!(!changes.contains(&Change::AddressAdded(3, addr("192.0.2.2", 24))));
        assert!(changes.contains(&Change::RoutesChanged(3)));
        assert!(changes.contains(&Change::LinkAdded(4)));
        assert_eq!(state.len(), 2);
        let eth0 = state.link(3).unwrap();
        assert_eq!(eth0.addresses.len(), 2);
        assert_eq!(eth0.routes.len(), 1);
    }

    #[test]
    fn unchanged_links_are_shared_between_snapshots() {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
        apply(&mut state, KernelEvent::LinkChanged(link(4, "eth1")));
        let before = state.snapshot();
        apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 4,
                address: addr("192.0.2.9", 24),
            },
        );
        let after = state.snapshot();
        assert!(Arc::ptr_eq(&before.links[&3], &after.links[&3]));
        assert!(!Arc::ptr_eq(&before.links[&4], &after.links[&4]));
        assert!(before.links[&4].addresses.is_empty());
    }
}
