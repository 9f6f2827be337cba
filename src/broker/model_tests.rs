//! Model-based trace tests of the broker core. Random sequences of kernel, networkd and lease
//! events are fed to a real [`Broker`] in batches, as its run loop takes them, with a
//! recording hook runner ([`hooks::runner::Recorder`]: nothing is spawned). After every batch
//! the broker is checked against a small reference model that knows only the rules, not the
//! broker's bookkeeping:
//!
//! - the hooks requested are exactly the model's, in order: one run per real transition of a
//!   link's operational or administrative state (from the kernel or networkd, as `Generator`
//!   says), the startup triggers once, `manager.d` per change of networkd's manager states,
//!   `routable.d` per lease that changed in content (`Generator: dhclient`); nothing for an
//!   event that changes nothing;
//! - the published snapshot equals the model's picture, and nothing is published for a batch
//!   that changed nothing;
//! - the memory of dispatched states equals the model's, and a restarted broker given it runs
//!   exactly the startup triggers the model expects.
//!
//! The case count and seed are fixed ([`CASES`], [`SEED`]) so every run checks the same
//! traces; `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override them (docs/testing.md says how to
//! replay a failure). Routes are IPv6 routes, one set per link: `routes-modified.d` runs once
//! per batch that changed a link's routes (the harness lets the debounce expire after each
//! batch); the kernel's silent IPv4 flushes are tested on their own (`state`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

use super::derive::derive;
use super::*;
use crate::config::Generator;
use crate::event::KernelSnapshot;
use crate::hooks::runner::Recorder;
use crate::model::link::{IFF_LOWER_UP, IFF_UP};
use crate::model::{Address, KernelOperState, LinkView, States};

/// Cases per run unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 2000;
/// The seed unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x6e62_2d6d_6f64_656c;

const INDEXES: [IfIndex; 3] = [2, 3, 4];
const NAMES: [&str; 3] = ["eth0", "eth1", "wan0"];
const OPER: [&str; 5] = ["off", "no-carrier", "carrier", "degraded", "routable"];
const ADMIN: [&str; 4] = ["pending", "configuring", "configured", "failed"];
const ONLINE: [&str; 3] = ["offline", "partial", "online"];

fn proptest_config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    // The minimal failing trace is printed; no regression files in the source tree.
    config.failure_persistence = None;
    config
}

/// One generated event (indexes into the tables above).
#[derive(Debug, Clone)]
enum Op {
    /// The kernel reports a link (new or changed): index, name, up, carrier.
    Link(usize, usize, bool, bool),
    /// The kernel removes a link.
    Remove(usize),
    /// An address appears on a link, or its flags change: link, which address, whether it
    /// is still tentative (duplicate address detection running).
    AddAddress(usize, usize, bool),
    /// An address goes.
    DelAddress(usize, usize),
    /// A route through a link appears: link, which route.
    AddRoute(usize, usize),
    /// It goes.
    DelRoute(usize, usize),
    /// These kernel events are lost (an overrun) and a fresh dump follows.
    Resync(Vec<Op>),
    /// networkd reports a link's states: link, operational, administrative.
    Networkd(usize, Option<usize>, Option<usize>),
    /// networkd's full report: per link both states, and its online state.
    NetworkdSnapshot(Vec<(usize, usize, usize)>, usize),
    /// networkd's manager online state changes.
    Manager(usize),
    /// The lease files now say: per name, none or (content variant, times variant).
    Leases(Vec<Option<(bool, bool)>>),
    /// The daemon restarts with the memory it saved.
    Restart,
}

fn kernel_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..3usize, any::<bool>(), any::<bool>())
            .prop_map(|(i, n, up, carrier)| Op::Link(i, n, up, carrier)),
        1 => (0..3usize).prop_map(Op::Remove),
        3 => (0..3usize, 0..3usize, any::<bool>()).prop_map(|(i, a, t)| Op::AddAddress(i, a, t)),
        2 => (0..3usize, 0..3usize).prop_map(|(i, a)| Op::DelAddress(i, a)),
        2 => (0..3usize, 0..2usize).prop_map(|(i, r)| Op::AddRoute(i, r)),
        1 => (0..3usize, 0..2usize).prop_map(|(i, r)| Op::DelRoute(i, r)),
    ]
}

fn networkd_snapshot() -> impl Strategy<Value = Op> {
    (
        prop::collection::vec((0..3usize, 0..OPER.len(), 0..ADMIN.len()), 0..4),
        0..ONLINE.len(),
    )
        .prop_map(|(links, online)| Op::NetworkdSnapshot(links, online))
}

fn leases() -> impl Strategy<Value = Op> {
    prop::collection::vec(prop::option::of((any::<bool>(), any::<bool>())), 3).prop_map(Op::Leases)
}

fn op(generator: Generator) -> BoxedStrategy<Op> {
    let resync = prop::collection::vec(kernel_op(), 0..6).prop_map(Op::Resync);
    match generator {
        Generator::Netlink => prop_oneof![
            10 => kernel_op(),
            1 => resync,
            1 => Just(Op::Restart),
        ]
        .boxed(),
        Generator::SystemdNetworkd => prop_oneof![
            6 => kernel_op(),
            1 => resync,
            6 => (0..3usize, prop::option::of(0..OPER.len()), prop::option::of(0..ADMIN.len()))
                .prop_filter("networkd reports something", |(_, o, a)| o.is_some() || a.is_some())
                .prop_map(|(i, o, a)| Op::Networkd(i, o, a)),
            1 => networkd_snapshot(),
            1 => (0..ONLINE.len()).prop_map(Op::Manager),
            1 => Just(Op::Restart),
        ]
        .boxed(),
        Generator::Dhclient => prop_oneof![
            6 => kernel_op(),
            1 => resync,
            4 => leases(),
            1 => Just(Op::Restart),
        ]
        .boxed(),
    }
}

/// A whole case: the configuration, how the sources start, and the batches that follow.
#[derive(Debug, Clone)]
struct Case {
    generator: Generator,
    startup_triggers: bool,
    /// `Links: eth0` instead of every link.
    only_eth0: bool,
    /// Kernel events before the first dump (the dump shows their result).
    initial: Vec<Op>,
    /// networkd's first report (`Generator: systemd-networkd`), or the first leases.
    first_report: Op,
    /// Whether that report arrives before the kernel's first dump.
    report_first: bool,
    batches: Vec<Vec<Op>>,
}

fn case() -> impl Strategy<Value = Case> {
    let generator = prop_oneof![
        Just(Generator::Netlink),
        Just(Generator::SystemdNetworkd),
        Just(Generator::Dhclient),
    ];
    generator.prop_flat_map(|generator| {
        let first = match generator {
            Generator::Dhclient => leases().boxed(),
            _ => networkd_snapshot().boxed(),
        };
        (
            (any::<bool>(), any::<bool>()),
            prop::collection::vec(kernel_op(), 0..6),
            first,
            any::<bool>(),
            prop::collection::vec(prop::collection::vec(op(generator), 1..4), 0..12),
        )
            .prop_map(
                move |(
                    (startup_triggers, only_eth0),
                    initial,
                    first_report,
                    report_first,
                    batches,
                )| Case {
                    generator,
                    startup_triggers,
                    only_eth0,
                    initial,
                    first_report,
                    report_first,
                    batches,
                },
            )
    })
}

/// A hook run as the model expects it: event, link, lease.
type Run = (String, Option<IfIndex>, Option<Lease>);

fn address(index: IfIndex, which: usize, tentative: bool) -> Address {
    let (ip, prefix_len, scope) = match which {
        0 => (format!("192.0.2.{index}"), 24, 0),
        1 => (
            format!("fe80::{index}"),
            64,
            crate::model::kernel::SCOPE_LINK,
        ),
        _ => (format!("2001:db8::{index}"), 64, 0),
    };
    Address {
        ip: ip.parse().unwrap(),
        prefix_len,
        label: None,
        scope,
        // IFA_F_TENTATIVE
        flags: if tentative { 0x40 } else { 0 },
    }
}

/// An IPv6 route through the link (unique to it, so no other link's route is replaced).
fn route(index: IfIndex, which: usize) -> crate::model::Route {
    let mut route =
        crate::model::fixtures::route(index, &format!("2001:db8:{index}:{which}::"), 64);
    route.ipv6 = true;
    route.metric = Some(256);
    route
}

fn lease(name: &str, content: bool, times: bool) -> Lease {
    let expire = if times { 4_000_000_600 } else { 4_000_000_000 };
    Lease {
        interface: name.into(),
        address: Some(
            if content { "192.0.2.20" } else { "192.0.2.10" }
                .parse()
                .unwrap(),
        ),
        prefix_len: Some(24),
        routers: vec!["192.0.2.254".parse().unwrap()],
        dns: Vec::new(),
        domain_name: None,
        domain_search: Vec::new(),
        host_name: None,
        mtu: None,
        renew: Some(expire - 1800),
        rebind: Some(expire - 450),
        expire: Some(expire),
        options: Default::default(),
    }
}

fn value(property: StateProperty, table: &[&str], at: usize) -> &'static str {
    property.validate(table[at]).unwrap()
}

/// The reference model: the facts as the sources state them, and the rules.
#[derive(Debug, Clone)]
struct Model {
    generator: Generator,
    startup_triggers: bool,
    only_eth0: bool,
    /// The kernel's links: attributes and addresses in the order they came.
    kernel: BTreeMap<IfIndex, (crate::model::LinkAttrs, Vec<Address>)>,
    routes: BTreeMap<IfIndex, crate::model::RouteSet>,
    /// Links whose routes changed since the broker's debounce last fired.
    routes_dirty: std::collections::BTreeSet<IfIndex>,
    networkd: BTreeMap<IfIndex, States>,
    manager: States,
    leases: BTreeMap<String, Lease>,
    /// What the running broker has seen since it started.
    kernel_seen: bool,
    networkd_seen: bool,
    startup_done: bool,
    dispatched: BTreeMap<(IfIndex, StateProperty), &'static str>,
}

/// What the broker should show and act on, per link.
#[derive(Debug, Clone, PartialEq)]
struct Visible {
    links: BTreeMap<IfIndex, LinkView>,
    manager: States,
    /// The states that run hooks, per link the broker knows (not published as such).
    driving: BTreeMap<IfIndex, States>,
}

impl Model {
    fn new(case: &Case) -> Self {
        Model {
            generator: case.generator,
            startup_triggers: case.startup_triggers,
            only_eth0: case.only_eth0,
            kernel: BTreeMap::new(),
            routes: BTreeMap::new(),
            routes_dirty: Default::default(),
            networkd: BTreeMap::new(),
            manager: States::new(),
            leases: BTreeMap::new(),
            kernel_seen: false,
            networkd_seen: false,
            startup_done: false,
            dispatched: BTreeMap::new(),
        }
    }

    fn view(&self, index: IfIndex) -> Option<LinkView> {
        let (attrs, addresses) = self.kernel.get(&index)?;
        let mut view = LinkView::new(attrs.clone());
        view.addresses = addresses.clone();
        view.routes = self.routes.get(&index).cloned().unwrap_or_default();
        // networkd's states over the kernel's: a state networkd has not reported yet is
        // the kernel's.
        let mut states = derive(&view);
        states.extend(self.networkd.get(&index).into_iter().flatten());
        view.states = states;
        view.lease = self.leases.get(&attrs.name).cloned().map(Arc::new);
        Some(view)
    }

    fn visible(&self) -> Visible {
        let links = if self.kernel_seen {
            self.kernel
                .keys()
                .filter_map(|index| Some((*index, self.view(*index)?)))
                .collect()
        } else {
            BTreeMap::new()
        };
        let manager = if self.networkd_seen {
            self.manager.clone()
        } else {
            States::new()
        };
        let driving = self.driving(&links);
        Visible {
            links,
            manager,
            driving,
        }
    }

    /// The states that run hooks, of the links the broker knows.
    fn driving(&self, links: &BTreeMap<IfIndex, LinkView>) -> BTreeMap<IfIndex, States> {
        links
            .iter()
            .filter_map(|(index, view)| {
                let states = match self.generator {
                    Generator::Netlink => derive(view),
                    Generator::SystemdNetworkd => self.networkd.get(index)?.clone(),
                    Generator::Dhclient => return None,
                };
                let states = states
                    .into_iter()
                    .filter(|(p, _)| p.selects_hooks())
                    .collect();
                Some((*index, states))
            })
            .collect()
    }

    /// Applies a kernel op to the facts; `false` when the kernel could not have sent it (a
    /// name another link has). `seen`: the broker gets this event (not lost in an overrun).
    fn apply_kernel(&mut self, op: &Op, seen: bool) -> bool {
        match *op {
            Op::Link(i, n, up, carrier) => {
                let index = INDEXES[i];
                let name = NAMES[n];
                if self
                    .kernel
                    .iter()
                    .any(|(other, (attrs, _))| *other != index && attrs.name == name)
                {
                    return false;
                }
                let mut attrs = crate::model::fixtures::link(index, name);
                attrs.flags = if up { IFF_UP } else { 0 } | if carrier { IFF_LOWER_UP } else { 0 };
                attrs.oper_state = if up && carrier {
                    KernelOperState::Up
                } else {
                    KernelOperState::Down
                };
                match self.kernel.get_mut(&index) {
                    Some(link) => link.0 = attrs,
                    None => {
                        self.kernel.insert(index, (attrs, Vec::new()));
                    }
                }
            }
            Op::Remove(i) => {
                let index = INDEXES[i];
                self.routes.remove(&index);
                if self.kernel.remove(&index).is_some() && self.kernel_seen && seen {
                    // The broker forgets a removed link's networkd states and memory.
                    self.networkd.remove(&index);
                    self.dispatched.retain(|(at, _), _| *at != index);
                }
            }
            Op::AddAddress(i, a, tentative) => {
                if let Some((_, addresses)) = self.kernel.get_mut(&INDEXES[i]) {
                    let address = address(INDEXES[i], a, tentative);
                    match addresses.iter_mut().find(|x| x.same_key(&address)) {
                        Some(known) => *known = address,
                        None => addresses.push(address),
                    }
                }
            }
            Op::DelAddress(i, a) => {
                if let Some((_, addresses)) = self.kernel.get_mut(&INDEXES[i]) {
                    let address = address(INDEXES[i], a, false);
                    addresses.retain(|x| !x.same_key(&address));
                }
            }
            Op::AddRoute(i, r) => {
                if self.kernel.contains_key(&INDEXES[i]) {
                    let set = self.routes.entry(INDEXES[i]).or_default();
                    set.insert(route(INDEXES[i], r));
                }
            }
            Op::DelRoute(i, r) => {
                if let Some(set) = self.routes.get_mut(&INDEXES[i]) {
                    set.remove(&route(INDEXES[i], r));
                }
            }
            _ => unreachable!("not a kernel op: {op:?}"),
        }
        true
    }

    /// `routes-modified.d` for the selected links whose routes changed in the batch, as the
    /// debounce fires them once the batch is over, and the links announced on the bus (all
    /// of them).
    fn settle(&mut self) -> (Vec<Run>, Vec<IfIndex>) {
        let visible = self.visible();
        let dirty = std::mem::take(&mut self.routes_dirty);
        let runs = dirty
            .iter()
            .filter(|index| self.selected(&visible, **index))
            .map(|index| ("routes-modified".to_string(), Some(*index), None))
            .collect();
        (runs, dirty.into_iter().collect())
    }

    fn dump(&self) -> KernelSnapshot {
        KernelSnapshot {
            links: self
                .kernel
                .values()
                .map(|(attrs, _)| attrs.clone())
                .collect(),
            addresses: self
                .kernel
                .iter()
                .flat_map(|(index, (_, addresses))| addresses.iter().map(|a| (*index, a.clone())))
                .collect(),
            routes: self.routes.values().flatten().cloned().collect(),
            rules: Vec::new(),
        }
    }

    fn networkd_report(&self) -> NetworkdEvent {
        NetworkdEvent::Snapshot {
            manager: self.manager.clone(),
            links: self.networkd.clone(),
        }
    }

    fn lease_event(&self) -> Event {
        Event::Leases(self.leases.clone())
    }

    /// Applies one op to the facts and returns the event the broker gets for it (none for an
    /// op the sources could not have produced), and whether it is a source's first report.
    fn event_for(&mut self, op: &Op) -> Option<(Event, bool)> {
        match op {
            Op::Link(..)
            | Op::Remove(_)
            | Op::AddAddress(..)
            | Op::DelAddress(..)
            | Op::AddRoute(..)
            | Op::DelRoute(..) => {
                if !self.apply_kernel(op, true) {
                    return None;
                }
                let event = match *op {
                    Op::Link(i, ..) => {
                        let index = INDEXES[i];
                        KernelEvent::LinkChanged(self.kernel[&index].0.clone())
                    }
                    Op::Remove(i) => KernelEvent::LinkRemoved { index: INDEXES[i] },
                    Op::AddAddress(i, a, tentative) => KernelEvent::AddressAdded {
                        index: INDEXES[i],
                        address: address(INDEXES[i], a, tentative),
                    },
                    Op::DelAddress(i, a) => KernelEvent::AddressRemoved {
                        index: INDEXES[i],
                        address: address(INDEXES[i], a, false),
                    },
                    Op::AddRoute(i, r) => KernelEvent::RouteAdded(route(INDEXES[i], r)),
                    Op::DelRoute(i, r) => KernelEvent::RouteRemoved(route(INDEXES[i], r)),
                    _ => unreachable!(),
                };
                Some((event.into(), false))
            }
            Op::Resync(lost) => {
                let known: Vec<IfIndex> = self.kernel.keys().copied().collect();
                for op in lost {
                    self.apply_kernel(op, false);
                }
                let gone: Vec<IfIndex> = known
                    .into_iter()
                    .filter(|i| !self.kernel.contains_key(i))
                    .collect();
                let initial = !self.kernel_seen;
                if !initial {
                    // Links the dump no longer has are forgotten with their networkd states.
                    for index in gone {
                        self.networkd.remove(&index);
                    }
                    let known = &self.kernel;
                    self.dispatched.retain(|(at, _), _| known.contains_key(at));
                }
                Some((KernelEvent::Snapshot(self.dump()).into(), initial))
            }
            Op::Networkd(i, oper, admin) => {
                let index = INDEXES[*i];
                let mut changed = Vec::new();
                if let Some(o) = oper {
                    changed.push((
                        StateProperty::Operational,
                        value(StateProperty::Operational, &OPER, *o),
                    ));
                }
                if let Some(a) = admin {
                    changed.push((
                        StateProperty::Administrative,
                        value(StateProperty::Administrative, &ADMIN, *a),
                    ));
                }
                let states = self.networkd.entry(index).or_default();
                for (property, value) in &changed {
                    states.insert(*property, value);
                }
                Some((NetworkdEvent::LinkChanged { index, changed }.into(), false))
            }
            Op::NetworkdSnapshot(links, online) => {
                self.manager = States::from([(
                    StateProperty::Online,
                    value(StateProperty::Online, &ONLINE, *online),
                )]);
                self.networkd = links
                    .iter()
                    .map(|(i, o, a)| {
                        let states = States::from([
                            (
                                StateProperty::Operational,
                                value(StateProperty::Operational, &OPER, *o),
                            ),
                            (
                                StateProperty::Administrative,
                                value(StateProperty::Administrative, &ADMIN, *a),
                            ),
                        ]);
                        (INDEXES[*i], states)
                    })
                    .collect();
                let initial = !self.networkd_seen;
                Some((self.networkd_report().into(), initial))
            }
            Op::Manager(online) => {
                let changed = vec![(
                    StateProperty::Online,
                    value(StateProperty::Online, &ONLINE, *online),
                )];
                self.manager.insert(changed[0].0, changed[0].1);
                Some((NetworkdEvent::ManagerChanged { changed }.into(), false))
            }
            Op::Leases(list) => {
                self.leases = list
                    .iter()
                    .zip(NAMES)
                    .filter_map(|(l, name)| {
                        let (content, times) = (*l)?;
                        Some((name.to_string(), lease(name, content, times)))
                    })
                    .collect();
                Some((self.lease_event(), false))
            }
            Op::Restart => unreachable!("handled by the harness"),
        }
    }

    /// Whether `Links` selects the link (its name now) for hooks.
    fn selected(&self, visible: &Visible, index: IfIndex) -> bool {
        visible
            .links
            .get(&index)
            .is_some_and(|view| !self.only_eth0 || view.attrs.name == "eth0")
    }

    /// The hooks a source's event runs, from what the broker knew before and after it.
    fn expect(&mut self, before: &Visible, initial: bool) -> Vec<Run> {
        let after = self.visible();
        let mut runs = Vec::new();
        if !initial {
            for (index, view) in &after.links {
                let was = before.links.get(index).map(|v| &v.routes);
                if was.map_or(!view.routes.is_empty(), |was| *was != view.routes) {
                    self.routes_dirty.insert(*index);
                }
            }
        }
        // A link that went away takes its pending burst with it.
        let gone: Vec<IfIndex> = self
            .routes_dirty
            .iter()
            .filter(|i| !after.links.contains_key(i))
            .copied()
            .collect();
        for index in gone {
            self.routes_dirty.remove(&index);
        }
        if self.generator == Generator::SystemdNetworkd
            && !initial
            && before.manager != after.manager
        {
            runs.push(("manager".to_string(), None, None));
        }
        if self.startup_done && !initial {
            let (old, new) = (&before.driving, &after.driving);
            for (index, states) in new {
                if !self.selected(&after, *index) {
                    continue;
                }
                for property in [StateProperty::Operational, StateProperty::Administrative] {
                    let Some(value) = states.get(&property) else {
                        continue;
                    };
                    let was = old.get(index).and_then(|s| s.get(&property));
                    if was != Some(value) {
                        runs.push((value.to_string(), Some(*index), None));
                        self.dispatched.insert((*index, property), value);
                    }
                }
            }
        }
        let ready = self.kernel_seen
            && match self.generator {
                Generator::Netlink => true,
                Generator::SystemdNetworkd => self.networkd_seen,
                Generator::Dhclient => false,
            };
        if initial && ready && !self.startup_done {
            self.startup_done = true;
            for (index, states) in after.driving.clone() {
                if !self.selected(&after, index) {
                    continue;
                }
                for property in [StateProperty::Operational, StateProperty::Administrative] {
                    let Some(value) = states.get(&property) else {
                        continue;
                    };
                    if self.dispatched.get(&(index, property)) == Some(value) {
                        continue;
                    }
                    if self.startup_triggers {
                        runs.push((value.to_string(), Some(index), None));
                    }
                    self.dispatched.insert((index, property), value);
                }
            }
        }
        if self.generator == Generator::Dhclient {
            for (index, view) in &after.links {
                let Some(lease) = view.lease.as_deref() else {
                    continue;
                };
                if !self.selected(&after, *index) {
                    continue;
                }
                let was = before.links.get(index).and_then(|v| v.lease.as_deref());
                if !was.is_some_and(|was| was.same_content(lease)) {
                    runs.push(("routable".to_string(), Some(*index), Some(lease.clone())));
                }
            }
        }
        runs
    }
}

/// The broker under test with its recorder and published snapshots.
struct Subject {
    broker: Broker,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    recorder: Recorder,
    notices: tokio::sync::mpsc::UnboundedReceiver<command::Notice>,
}

fn config_of(case: &Case) -> Config {
    let mut config = Config::defaults(Path::new("/nonexistent"));
    config.system.generator = case.generator;
    config.system.startup_triggers = case.startup_triggers;
    if case.only_eth0 {
        config.network.links = Some(vec!["eth0".into()]);
    }
    config
}

fn start(config: &Config, memory: Dispatched) -> Subject {
    let (hooks, recorder) = hooks::Handle::recording();
    let effects = Effects {
        hooks,
        routing: routing::detached(),
        push: None,
    };
    let (outputs, readers) = Outputs::new(memory);
    let broker = Broker::new(config.clone(), effects, outputs);
    Subject {
        broker,
        snapshots: readers.snapshots,
        recorder,
        notices: readers.notices,
    }
}

impl Subject {
    /// One batch as [`Broker::run`] takes it: every event, one publish, then the hooks'
    /// completions. Returns the hooks requested and the links announced `RoutesModified`.
    fn batch(&mut self, events: Vec<Event>) -> (Vec<Run>, Vec<IfIndex>) {
        let mut changed = false;
        for event in events {
            changed |= self.broker.handle(event);
        }
        self.broker.publish(changed);
        // The burst is over: every pending `routes-modified.d` is due.
        self.broker.fire_due(Instant::now() + ROUTES_MAX_DELAY * 10);
        let runs = self
            .recorder
            .take()
            .into_iter()
            .map(|r| (r.event.to_string(), r.link.map(|l| l.attrs.index), r.lease))
            .collect();
        self.broker.collect_finished();
        let mut announced = Vec::new();
        // The stream also carries the link and address notices (the bus's discrete
        // signals); this model checks only the settled route bursts.
        while let Ok(notice) = self.notices.try_recv() {
            if let command::Notice::RoutesModified(index) = notice {
                announced.push(index);
            }
        }
        announced.sort_unstable();
        (runs, announced)
    }

    fn published(&mut self) -> Visible {
        let snapshot = self.snapshots.borrow_and_update().clone();
        Visible {
            links: snapshot
                .links
                .iter()
                .map(|(index, view)| (*index, LinkView::clone(view)))
                .collect(),
            manager: snapshot.manager.clone(),
            driving: BTreeMap::new(),
        }
    }

    fn memory(&self) -> BTreeMap<(IfIndex, StateProperty), &'static str> {
        // Through the file format, as a restarted daemon reads it.
        let saved = Dispatched::parse(&self.broker.outputs.dispatched.borrow().render());
        let mut map = BTreeMap::new();
        for index in INDEXES {
            for property in [StateProperty::Operational, StateProperty::Administrative] {
                for value in property.allowed_values() {
                    if saved.contains(index, property, value) {
                        map.insert((index, property), *value);
                    }
                }
            }
        }
        map
    }
}

/// Runs one case; `Err` says where broker and model first disagree.
fn check(case: &Case) -> Result<(), TestCaseError> {
    let config = config_of(case);
    let mut model = Model::new(case);
    let mut subject = start(&config, Dispatched::default());

    // The sources' first reports, in the generated order.
    let mut first = Vec::new();
    for op in &case.initial {
        model.apply_kernel(op, false);
    }
    let dump = Op::Resync(Vec::new());
    let report = case.first_report.clone();
    let order = if case.report_first {
        [report, dump]
    } else {
        [dump, report]
    };
    let mut batches: Vec<Vec<Op>> = Vec::new();
    for op in order {
        if matches!(op, Op::Leases(_) | Op::NetworkdSnapshot(..))
            && case.generator == Generator::Netlink
        {
            continue;
        }
        first.push(op);
    }
    batches.push(first);
    batches.extend(case.batches.iter().cloned());

    for (number, batch) in batches.iter().enumerate() {
        let before = model.visible();
        let mut events = Vec::new();
        let mut expected = Vec::new();
        let mut touched = false;
        for op in batch {
            if let Op::Restart = op {
                // Whatever is left of this batch is the broker's last; a new one starts from
                // the memory it saved and the sources' first reports.
                let (runs, announced) = subject.batch(std::mem::take(&mut events));
                let (settled, dirty) = model.settle();
                expected.extend(settled);
                prop_assert_eq!(announced, dirty, "RoutesModified before the restart");
                prop_assert_eq!(
                    per_link(&runs),
                    per_link(&expected),
                    "batch {} before the restart",
                    number
                );
                expected.clear();
                let memory =
                    Dispatched::parse(&subject.broker.outputs.dispatched.borrow().render());
                subject = start(&config, memory);
                model.kernel_seen = false;
                model.networkd_seen = false;
                model.startup_done = false;
                let mut restart = vec![Op::Resync(Vec::new())];
                match case.generator {
                    Generator::SystemdNetworkd => restart.push(Op::NetworkdSnapshot(Vec::new(), 0)),
                    Generator::Dhclient => restart.insert(0, Op::Leases(Vec::new())),
                    Generator::Netlink => {}
                }
                for op in restart {
                    let step_before = model.visible();
                    let (event, initial) = match op {
                        // The same facts again, not new ones.
                        Op::NetworkdSnapshot(..) => (model.networkd_report().into(), true),
                        Op::Leases(_) => (model.lease_event(), false),
                        op => model.event_for(&op).unwrap(),
                    };
                    mark_seen(&mut model, &event);
                    expected.extend(model.expect(&step_before, initial));
                    events.push(event);
                }
                touched = true;
                continue;
            }
            let step_before = model.visible();
            let Some((event, initial)) = model.event_for(op) else {
                continue;
            };
            mark_seen(&mut model, &event);
            expected.extend(model.expect(&step_before, initial));
            let now = model.visible();
            touched |= now.links != step_before.links || now.manager != step_before.manager;
            events.push(event);
        }
        let (runs, announced) = subject.batch(events);
        let (settled, dirty) = model.settle();
        expected.extend(settled);
        prop_assert_eq!(announced, dirty, "RoutesModified of batch {}", number);
        prop_assert_eq!(
            per_link(&runs),
            per_link(&expected),
            "hooks of batch {}",
            number
        );
        let published_anything = subject.snapshots.has_changed().unwrap_or(false);
        let published = subject.published();
        let visible = model.visible();
        prop_assert_eq!(
            &published.links,
            &visible.links,
            "links after batch {}",
            number
        );
        prop_assert_eq!(
            &published.manager,
            &visible.manager,
            "manager after batch {}",
            number
        );
        prop_assert!(
            touched || !published_anything || before != visible,
            "batch {} changed nothing but a snapshot was published",
            number
        );
        prop_assert_eq!(
            subject.memory(),
            model.dispatched.clone(),
            "memory after batch {}",
            number
        );
    }
    Ok(())
}

/// Runs per link (`None`: `manager`), in order: the order that is promised. Different links
/// run in parallel, so their relative order is not.
fn per_link(runs: &[Run]) -> BTreeMap<Option<IfIndex>, Vec<Run>> {
    let mut map: BTreeMap<Option<IfIndex>, Vec<Run>> = BTreeMap::new();
    for run in runs {
        map.entry(run.1).or_default().push(run.clone());
    }
    map
}

/// Notes a source's first report in the model's view of the broker.
fn mark_seen(model: &mut Model, event: &Event) {
    match event {
        Event::Kernel(KernelEvent::Snapshot(_)) => model.kernel_seen = true,
        Event::Networkd(NetworkdEvent::Snapshot { .. }) => model.networkd_seen = true,
        _ => {}
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn the_broker_follows_the_model(case in case()) {
        check(&case)?;
    }
}
