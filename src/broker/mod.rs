//! The single owner of the daemon's state, and the loop around it. The broker receives
//! [`Event`]s from the sources, updates its link table ([`state`]), has the pure code decide
//! what to do ([`decide`], [`startup`], [`requests`], [`push_policy`]) and hands the finished
//! effects to the effect actors ([`Effects`]: hooks, policy routing, resolved/hostnamed).
//! What it shows goes to its [`Outputs`]: readers (the bus adapter) get immutable snapshots
//! through a `watch` channel and never wait on the broker; the memory of dispatched states
//! goes to the task that saves it ([`crate::hooks::dispatched_file`]), so the broker does no
//! I/O of its own.
//!
//! It imports no zbus, rtnetlink or notify types.

mod answer;
pub mod command;
pub mod decide;
pub mod derive;
mod in_flight;
mod log;
#[cfg(test)]
mod model_tests;
pub mod push_policy;
pub mod requests;
pub mod startup;
pub mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::config::Config;
use crate::event::{Event, EventReceiver, KernelEvent, NetworkdEvent};
use crate::hooks::{self, Dispatched};
use crate::model::{IfIndex, Lease, Snapshot, StateProperty};
use crate::push;
use crate::routing;
use crate::settings;
use crate::time::sleep_until_opt;

use crate::debounce::Debouncer;
use command::{CommandReceiver, Notice};
use decide::Effect;
use in_flight::{Dispatch, InFlight};
use state::{Change, Origin, State};

/// A link's routes must be quiet this long before `routes-modified.d` runs: adding an address
/// or bringing a link up produces several route messages within a few milliseconds.
pub const ROUTES_QUIET: Duration = Duration::from_millis(250);
/// … but a link whose routes never settle still gets the hook this often.
pub const ROUTES_MAX_DELAY: Duration = Duration::from_secs(2);

/// How many queued events the broker applies before it publishes a snapshot; bounds the
/// latency of the bus view during a long burst.
const MAX_BATCH: usize = 1024;

/// The effect actors the broker hands its decisions to.
pub struct Effects {
    /// The hook runner.
    pub hooks: hooks::Handle,
    /// The policy-routing actor. Always running, even with no link listed: its first pass
    /// sweeps rules and routes of ours that a previous configuration left behind.
    pub routing: routing::Handle,
    /// Pushes lease data to resolved and hostnamed; `None` when no lease source runs.
    pub push: Option<push::Handle>,
}

/// Where the broker's results go; [`Outputs::new`] gives the [`Readers`] of each.
pub struct Outputs {
    snapshots: watch::Sender<Arc<Snapshot>>,
    notices: mpsc::UnboundedSender<Notice>,
    dispatched: watch::Sender<Dispatched>,
}

/// The other ends of the broker's [`Outputs`].
pub struct Readers {
    /// The published picture.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The bus's discrete signals (see [`Notice`]).
    pub notices: mpsc::UnboundedReceiver<Notice>,
    /// Every later version of the memory of dispatched states, for the task that saves it.
    pub dispatched: watch::Receiver<Dispatched>,
}

impl Outputs {
    /// Outputs starting from an empty picture and `dispatched`, what earlier runs of the
    /// daemon dispatched during this boot ([`hooks::dispatched_file::load`]).
    pub fn new(dispatched: Dispatched) -> (Self, Readers) {
        let (snapshots, snapshot_reader) = watch::channel(Arc::new(Snapshot::default()));
        let (notices, notice_reader) = mpsc::unbounded_channel();
        let (dispatched, dispatched_reader) = watch::channel(dispatched);
        let outputs = Outputs {
            snapshots,
            notices,
            dispatched,
        };
        let readers = Readers {
            snapshots: snapshot_reader,
            notices: notice_reader,
            dispatched: dispatched_reader,
        };
        (outputs, readers)
    }
}

/// The broker's state, effects and outputs.
pub struct Broker {
    config: Config,
    state: State,
    effects: Effects,
    /// What policy routing was last told.
    routing_settings: routing::Settings,
    outputs: Outputs,
    routes_modified: Debouncer<IfIndex>,
    /// Whether the kernel's first dump has arrived. What that dump contains is the state the
    /// daemon starts from, not a change: it runs the startup triggers, not transitions.
    kernel_seen: bool,
    /// The same for networkd's first report.
    networkd_seen: bool,
    /// Whether the startup triggers ran.
    startup_done: bool,
    /// The state-hook requests handed to the runner and not finished yet.
    in_flight: InFlight,
}

impl Broker {
    /// A broker with an empty link table; the first kernel snapshot fills it. It starts from
    /// the memory of dispatched states `outputs` holds.
    pub fn new(config: Config, effects: Effects, outputs: Outputs) -> Self {
        let routing_settings = settings::routing_settings(&config);
        Broker {
            config,
            state: State::default(),
            effects,
            routing_settings,
            outputs,
            routes_modified: Debouncer::new(ROUTES_QUIET, ROUTES_MAX_DELAY),
            kernel_seen: false,
            networkd_seen: false,
            startup_done: false,
            in_flight: InFlight::default(),
        }
    }

    /// Runs until `cancel` fires or every event sender is gone. `commands` are the bus's
    /// requests.
    pub async fn run(
        mut self,
        mut events: EventReceiver,
        mut commands: CommandReceiver,
        cancel: CancellationToken,
    ) {
        loop {
            let deadline = self.routes_modified.next_deadline();
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(command) = commands.recv() => self.answer(command),
                received = events.recv() => {
                    let Some(first) = received else { break };
                    let mut changed = self.handle(first);
                    // Drain what is already queued so a burst costs one snapshot, not one
                    // per event.
                    for _ in 1..MAX_BATCH {
                        match events.try_recv() {
                            Ok(event) => changed |= self.handle(event),
                            Err(_) => break,
                        }
                    }
                    self.publish(changed);
                    // The biased select serves events first: during a flood, collect the
                    // completions here too, or the in-flight list would grow with the flood.
                    self.collect_finished();
                }
                done = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.hooks_done(done);
                }
                () = sleep_until_opt(deadline) => self.fire_due(now()),
            }
        }
        debug!("broker stopped");
    }

    /// Records the state hooks that finished by now.
    fn collect_finished(&mut self) {
        for done in self.in_flight.ready() {
            self.hooks_done(done);
        }
    }

    /// Records a dispatched state in the memory the saving task reads. The memory lives in
    /// the `watch` itself and changes in place: the broker neither copies nor compares the
    /// whole memory per change (both were a quarter of the daemon's CPU while 4,096 links
    /// appeared, docs/benchmarks.md), and the reader wakes only for a real change.
    fn remember(&self, index: IfIndex, property: StateProperty, value: &'static str) {
        self.outputs
            .dispatched
            .send_if_modified(|memory| memory.record(index, property, value));
    }

    /// Records a state whose hooks completed, unless its link went away meanwhile (its
    /// memory was forgotten with it).
    fn hooks_done(&mut self, done: Option<Dispatch>) {
        if let Some((index, property, value)) = self.in_flight.settle(done) {
            if self.state.link(index).is_some() {
                self.remember(index, property, value);
            }
        }
    }

    /// Publishes the current state when it differs from the published one, and hands it to
    /// policy routing once the kernel's first dump is in (an empty picture would make the
    /// reconciler sweep everything of ours) when anything changed. `changed`: the batch
    /// reported changes. The picture is compared even without: a view can change without a
    /// transition (an address's flags, the kernel's order of addresses after a resync).
    fn publish(&mut self, changed: bool) {
        let mut snapshot = self.state.snapshot();
        // Only the links named in `RoutingPolicyRules` have a table: without any, the pass over
        // every link (per batch, thousands of links at scale) would find none.
        if !self.routing_settings.links.is_empty() {
            for view in snapshot.links.values() {
                let table = self.routing_settings.routing_table(&view.attrs);
                if table != 0 {
                    snapshot.routing_tables.insert(view.attrs.index, table);
                }
            }
        }
        let snapshot = Arc::new(snapshot);
        // Events that change nothing the bus shows (networkd's states of a link the kernel has
        // not named, a link added and removed within one batch) publish nothing: readers are
        // woken for changes only. Policy routing still hears of them (rules are not in the
        // snapshot).
        let differs = !same_picture(&self.outputs.snapshots.borrow(), &snapshot);
        if differs {
            self.outputs.snapshots.send_replace(snapshot.clone());
        }
        if !(differs || changed) {
            return;
        }
        if self.kernel_seen {
            self.effects.routing.reconcile(snapshot);
        }
    }

    /// Tells policy routing the routers that leases name (a link's default route falls back
    /// to them when the main table has none through the link).
    fn refresh_lease_routers(&mut self) {
        let routers: std::collections::BTreeMap<IfIndex, Vec<std::net::IpAddr>> = self
            .state
            .links()
            .filter_map(|view| {
                let lease = view.lease.as_ref()?;
                let routers: Vec<_> = lease.routers.iter().map(|r| (*r).into()).collect();
                (!routers.is_empty()).then_some((view.attrs.index, routers))
            })
            .collect();
        if routers != self.routing_settings.lease_routers {
            self.routing_settings.lease_routers = routers;
            self.effects
                .routing
                .update_settings(self.routing_settings.clone());
        }
    }

    /// Applies one event; returns whether the link table changed.
    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::Kernel(kernel) => {
                let initial = !self.kernel_seen && matches!(kernel, KernelEvent::Snapshot(_));
                self.kernel_seen |= initial;
                let mut changes = Vec::new();
                self.state.apply(kernel, &mut changes);
                self.act(&changes, initial)
            }
            Event::Networkd(event) => {
                let initial =
                    !self.networkd_seen && matches!(event, NetworkdEvent::Snapshot { .. });
                self.networkd_seen |= initial;
                match &event {
                    NetworkdEvent::Snapshot { links, .. } => {
                        info!(
                            links = links.len(),
                            "systemd-networkd states read: {} link(s)",
                            links.len()
                        )
                    }
                    NetworkdEvent::Vanished => {
                        info!("systemd-networkd left the bus; keeping its last link states")
                    }
                    _ => {}
                }
                let mut changes = Vec::new();
                let views_changed = self.state.apply_networkd(event, &mut changes);
                self.act(&changes, initial) | views_changed
            }
            Event::Leases(leases) => {
                let mut changes = Vec::new();
                // A renewal that only moves the times changes no lease in content, so no
                // `Change`, but the links' views (the bus `Lease`) must still show it.
                let views_changed = self.state.apply_leases(leases, &mut changes);
                self.refresh_lease_routers();
                self.act(&changes, false) | views_changed
            }
            Event::ConfigReloaded(config) => {
                self.reconfigure(*config);
                false
            }
        }
    }

    /// Takes a reloaded configuration (SIGHUP or `Reload()`) and hands the effect actors
    /// their part of it.
    fn reconfigure(&mut self, config: Config) {
        // The daemon already kept the restart-only keys at their running values
        // (`config::reload::accept`) and said so; everything else applies now.
        let file = config.dir.join(crate::config::CONFIG_FILE_NAME);
        info!(
            dir = %config.dir.display(),
            "configuration reloaded from {}",
            file.display()
        );
        let old = std::mem::replace(&mut self.config, config);
        let lease_routers = std::mem::take(&mut self.routing_settings.lease_routers);
        self.routing_settings = settings::routing_settings(&self.config);
        self.routing_settings.lease_routers = lease_routers;
        self.effects
            .routing
            .update_settings(self.routing_settings.clone());
        self.effects.hooks.reconfigure(&self.config);
        // UseDNS, UseDomain, UseHostname and Links apply to the leases held now, not only to
        // the next one.
        if let Some(push) = &self.effects.push {
            let held: Vec<(IfIndex, String, Lease)> = self
                .state
                .links()
                .filter_map(|v| {
                    let lease = v.lease.as_deref()?.clone();
                    Some((v.attrs.index, v.attrs.name.clone(), lease))
                })
                .collect();
            push_policy::carry_out(push, push_policy::for_reload(&old, &self.config, &held));
        }
    }

    /// Acts on applied changes; returns whether there were any. A source's first complete
    /// report (`initial`) is where the daemon starts from, not a list of transitions: once
    /// every report the startup triggers need is in, they run instead.
    fn act(&mut self, changes: &[Change], initial: bool) -> bool {
        log::changes(&self.state, changes);
        self.announce(changes);
        if initial {
            self.startup_triggers_when_ready();
            // Leases are not startup triggers: a lease is acted on when it changes or when
            // its link appears, and the kernel's first dump is where the links appear (the
            // lease files may well have been read before it arrived).
            let added: Vec<Change> = changes
                .iter()
                .filter(|change| matches!(change, Change::LinkAdded(_)))
                .cloned()
                .collect();
            let effects = decide::decide(&self.config, &self.state, &added);
            self.carry_out(effects);
        } else {
            let effects = decide::decide(&self.config, &self.state, changes);
            self.carry_out(effects);
        }
        !changes.is_empty()
    }

    /// Runs the startup triggers once the reports they need are in ([`startup::ready`]).
    fn startup_triggers_when_ready(&mut self) {
        let Some(origin) = startup::origin(self.config.system.generator) else {
            return;
        };
        if startup::ready(origin, self.kernel_seen, self.networkd_seen) && !self.startup_done {
            self.startup_done = true;
            self.startup_triggers(origin);
        }
    }

    /// networkd-dispatcher's `--run-startup-triggers`: run the hooks of every due state
    /// ([`startup::due`]). With `StartupTriggers: false` the current states are only recorded,
    /// so later transitions are measured from them.
    fn startup_triggers(&mut self, origin: Origin) {
        // Collected before acting: the memory's read guard must be gone when it is written.
        let due = startup::due(
            &self.config,
            &self.state,
            origin,
            &self.outputs.dispatched.borrow(),
        );
        for (index, property, value) in due {
            if self.config.system.startup_triggers {
                debug!(
                    ifindex = index,
                    state = value,
                    "startup trigger: link {index} is {value}"
                );
                self.run_state_hooks(index, property, value);
            } else {
                self.remember(index, property, value);
            }
        }
    }

    fn carry_out(&mut self, effects: Vec<Effect>) {
        let now = now();
        for effect in effects {
            match effect {
                Effect::RoutesModified(index) => self.routes_modified.touch(index, now),
                Effect::Forget(index) => {
                    self.routes_modified.forget(index);
                    self.outputs
                        .dispatched
                        .send_if_modified(|memory| memory.forget(index));
                    self.in_flight.forget(index);
                    // resolved drops a removed link's settings itself; the actor only has to
                    // forget what it would re-apply.
                    if let Some(push) = &self.effects.push {
                        push.revert_link(index);
                    }
                }
                Effect::RunStateHooks {
                    index,
                    property,
                    value,
                } => self.run_state_hooks(index, property, value),
                Effect::RunManagerHooks(changed) => self.run_manager_hooks(&changed),
                Effect::RunLeaseHooks { index, lease } => self.run_lease_hooks(index, *lease),
                Effect::PushLease { index, name, lease } => {
                    if let Some(push) = &self.effects.push {
                        let network = &self.config.network;
                        let pushes =
                            push_policy::for_lease(network, index, &name, lease.as_deref());
                        push_policy::carry_out(push, pushes);
                    }
                }
            }
        }
    }

    fn run_state_hooks(&mut self, index: IfIndex, property: StateProperty, value: &'static str) {
        let Some(view) = self.state.link(index) else {
            // networkd can report a link a moment before the kernel's message about it
            // reaches us; without the link there is nothing to describe to a hook.
            debug!(
                ifindex = index,
                state = value,
                "link {index} is {value} but not known yet: no hooks"
            );
            return;
        };
        info!(
            ifindex = index,
            ifname = %view.attrs.name,
            "{}: {}={value}",
            view.attrs.name,
            property.name()
        );
        let table = self.routing_settings.routing_table(&view.attrs);
        let request = requests::state_change(view, table, property, value);
        // Recorded when the batch ran to its end.
        let outcome = self.effects.hooks.track(request);
        self.in_flight.track(index, property, value, outcome);
    }

    /// `routable.d` for a new or changed dhclient lease (a renewal with the same content
    /// never gets here).
    fn run_lease_hooks(&mut self, index: IfIndex, lease: Lease) {
        let Some(view) = self.state.link(index) else {
            return;
        };
        info!(
            ifindex = index,
            ifname = %view.attrs.name,
            address = ?lease.address,
            "{}: lease changed (address {:?}), running routable.d",
            view.attrs.name,
            lease.address
        );
        let table = self.routing_settings.routing_table(&view.attrs);
        self.effects
            .hooks
            .submit(requests::lease_change(view, table, lease));
    }

    fn run_manager_hooks(&mut self, changed: &[(StateProperty, &'static str)]) {
        let shown: Vec<String> = changed
            .iter()
            .map(|(p, v)| format!("{}={v}", p.name()))
            .collect();
        info!(
            changed = ?shown,
            "manager states changed: {}",
            shown.join(" ")
        );
        let request = requests::manager_change(self.state.manager());
        self.effects.hooks.submit(request);
    }

    /// Hands the discrete changes to the bus, one notice each and in order, before the
    /// snapshot holding them is published (see [`command::Notice`]).
    fn announce(&self, changes: &[Change]) {
        let notices = &self.outputs.notices;
        for change in changes {
            let notice = match change {
                Change::LinkAdded(index) => {
                    let Some(view) = self.state.link(*index) else {
                        continue;
                    };
                    Notice::LinkAdded(*index, view.attrs.name.clone())
                }
                Change::LinkRemoved(view) => {
                    Notice::LinkRemoved(view.attrs.index, view.attrs.name.clone())
                }
                Change::AddressAdded(index, address) => {
                    Notice::AddressAdded(*index, address.clone())
                }
                Change::AddressRemoved(index, address) => {
                    Notice::AddressRemoved(*index, address.clone())
                }
                _ => continue,
            };
            // The publisher gone means the daemon is stopping.
            let _ = notices.send(notice);
        }
    }

    fn fire_due(&mut self, now: Instant) {
        for index in self.routes_modified.take_due(now) {
            // The link may have gone or been renamed out of the filter while the burst settled.
            let Some(view) = self.state.link(index) else {
                continue;
            };
            let _ = self.outputs.notices.send(Notice::RoutesModified(index));
            if !self.config.link_selected(&view.attrs.name) {
                continue;
            }
            debug!(
                ifindex = index,
                ifname = %view.attrs.name,
                "{}: routes settled",
                view.attrs.name
            );
            let table = self.routing_settings.routing_table(&view.attrs);
            self.effects
                .hooks
                .submit(requests::routes_modified(view, table));
        }
    }
}

/// Whether two snapshots show the same; cheap for the chunks of links and the links they
/// share (pointer-equal, [`crate::model::Links`]).
fn same_picture(a: &Snapshot, b: &Snapshot) -> bool {
    a.manager == b.manager && a.routing_tables == b.routing_tables && a.links == b.links
}

/// The broker's clock: tokio's, which is the system's except in tests that pause it (the
/// debounce then runs on the same clock as the timer that wakes it).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

#[cfg(test)]
mod tests;
