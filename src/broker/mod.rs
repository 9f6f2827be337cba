//! The single owner of the daemon's state. The broker receives [`Event`]s from the sources,
//! updates its link table ([`state`]), decides what to do ([`decide`]) and hands the work to
//! the effect actors (the hook runner). Readers (the bus adapter) get immutable snapshots
//! through a `watch` channel and never wait on the broker.
//!
//! It imports no zbus, rtnetlink or notify types.

pub mod command;
pub mod debounce;
pub mod decide;
pub mod derive;
pub mod memory;
#[cfg(test)]
mod model_tests;
pub mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt as _};
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{Config, Generator};
use crate::event::{Event, EventReceiver, KernelEvent, NetworkdEvent};
use crate::hooks;
use crate::model::{IfIndex, Lease, Snapshot, StateProperty};
use crate::push;
use crate::routing;
use crate::time::sleep_until_opt;

use command::{Command, CommandError, CommandReceiver, RoutingCommand};
use debounce::Debouncer;
use decide::Effect;
use memory::Dispatched;
use state::{Change, Origin, State};

/// A link's routes must be quiet this long before `routes-modified.d` runs: adding an address
/// or bringing a link up produces several route messages within a few milliseconds.
pub const ROUTES_QUIET: Duration = Duration::from_millis(250);
/// … but a link whose routes never settle still gets the hook this often.
pub const ROUTES_MAX_DELAY: Duration = Duration::from_secs(2);

/// How many queued events the broker applies before it publishes a snapshot; bounds the
/// latency of the bus view during a long burst.
const MAX_BATCH: usize = 1024;

/// The broker's inputs and outputs.
pub struct Broker {
    config: Config,
    state: State,
    hooks: hooks::Handle,
    /// Pushes lease data to resolved and hostnamed; `None` when no lease source runs.
    push: Option<push::Handle>,
    /// The policy-routing actor, and what it was last told.
    routing: Option<routing::Handle>,
    routing_settings: routing::Settings,
    enforce_hook_ownership: bool,
    snapshots: watch::Sender<Arc<Snapshot>>,
    routes_modified: Debouncer<IfIndex>,
    /// Where settled route bursts are announced (the bus's `RoutesModified`), once subscribed.
    notices: Option<tokio::sync::mpsc::UnboundedSender<command::Notice>>,
    /// Whether the kernel's first dump has arrived. What that dump contains is the state the
    /// daemon starts from, not a change: it runs the startup triggers, not transitions.
    kernel_seen: bool,
    /// The same for networkd's first report.
    networkd_seen: bool,
    /// Whether the startup triggers ran.
    startup_done: bool,
    /// State hooks dispatched during this boot, shared with the task that saves them. A state
    /// is recorded once its hooks completed, not when they were queued: a daemon stopped (or
    /// killed) before then runs them again at its next start.
    dispatched: Dispatched,
    dispatched_tx: watch::Sender<Dispatched>,
    /// The state-hook requests handed to the runner and not finished yet; each resolves to
    /// the state to record when its batch ran to its end.
    in_flight: FuturesUnordered<BoxFuture<'static, Option<Dispatch>>>,
    /// How many links were forgotten so far, and when each in-flight link last was: a request
    /// made before its link went away must not record its state for a link that came back
    /// with the same index.
    forgets: u64,
    forgotten: std::collections::BTreeMap<IfIndex, u64>,
}

/// A state whose hooks ran: link, property, value, and [`Broker::forgets`] when requested.
type Dispatch = (IfIndex, StateProperty, &'static str, u64);

/// What the hook runner needs from a configuration.
pub fn hook_settings(config: &Config, enforce_ownership: bool) -> hooks::Settings {
    hooks::Settings {
        dir: config.dir.clone(),
        timeout: config.system.hook_timeout,
        emit_json: config.network.emit_json,
        enforce_ownership,
        networkd_state_dir: config.network.networkd_state_dir.clone(),
        backlog: config.system.hook_backlog,
    }
}

impl Broker {
    /// A broker with an empty link table; the first kernel snapshot fills it.
    ///
    /// `dispatched` is what earlier runs of the daemon dispatched during this boot
    /// ([`memory::load`]); [`Broker::dispatched_updates`] hands out its later versions.
    pub fn new(
        config: Config,
        hooks: hooks::Handle,
        enforce_hook_ownership: bool,
        dispatched: Dispatched,
    ) -> (Self, watch::Receiver<Arc<Snapshot>>) {
        let (snapshots, reader) = watch::channel(Arc::new(Snapshot::default()));
        let (dispatched_tx, _) = watch::channel(dispatched.clone());
        let routing_settings = routing::Settings::from_config(&config);
        let broker = Broker {
            config,
            state: State::default(),
            hooks,
            push: None,
            routing: None,
            routing_settings,
            enforce_hook_ownership,
            snapshots,
            routes_modified: Debouncer::new(ROUTES_QUIET, ROUTES_MAX_DELAY),
            notices: None,
            kernel_seen: false,
            networkd_seen: false,
            startup_done: false,
            dispatched,
            dispatched_tx,
            in_flight: FuturesUnordered::new(),
            forgets: 0,
            forgotten: std::collections::BTreeMap::new(),
        };
        (broker, reader)
    }

    /// Lets the broker keep policy routing in step with the link table.
    pub fn attach_routing(&mut self, routing: routing::Handle) {
        self.routing = Some(routing);
    }

    /// Lets the broker push lease data to resolved and hostnamed (the actor needs the bus
    /// connection, which exists only after the broker's snapshots are being served).
    pub fn attach_push(&mut self, push: push::Handle) {
        self.push = Some(push);
    }

    /// The broker's [`command::Notice`]s from now on (one subscriber).
    pub fn notices(&mut self) -> tokio::sync::mpsc::UnboundedReceiver<command::Notice> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.notices = Some(tx);
        rx
    }

    /// Every later version of the dispatched-states memory, for the task that saves it.
    pub fn dispatched_updates(&self) -> watch::Receiver<Dispatched> {
        self.dispatched_tx.subscribe()
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
                    while let Some(Some(done)) = self.in_flight.next().now_or_never() {
                        self.hooks_done(done);
                    }
                    self.save_dispatched();
                }
                Some(done) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.hooks_done(done);
                    self.save_dispatched();
                }
                () = sleep_until_opt(deadline) => self.fire_due(Instant::now()),
            }
        }
        debug!("broker stopped");
    }

    /// Hands the memory of dispatched states to the task that saves it, when it changed.
    fn save_dispatched(&mut self) {
        if *self.dispatched_tx.borrow() != self.dispatched {
            self.dispatched_tx.send_replace(self.dispatched.clone());
        }
    }

    /// Records a state whose hooks completed (`None`: interrupted by a stop, or dropped),
    /// unless its link went away meanwhile (its memory was forgotten with it).
    fn hooks_done(&mut self, done: Option<Dispatch>) {
        if let Some((index, property, value, asked)) = done {
            let forgotten_since = self.forgotten.get(&index).is_some_and(|at| *at > asked);
            if self.state.link(index).is_some() && !forgotten_since {
                self.dispatched.record(index, property, value);
            }
        }
        if self.in_flight.is_empty() {
            self.forgotten.clear();
        }
    }

    /// Publishes the current state when it differs from the published one, and hands it to
    /// policy routing once the kernel's first dump is in (an empty picture would make the
    /// reconciler sweep everything of ours) when anything changed. `changed`: the batch
    /// reported changes. The picture is compared even without: a view can change without a
    /// transition (an address's flags, the kernel's order of addresses after a resync).
    fn publish(&mut self, changed: bool) {
        let mut snapshot = self.state.snapshot();
        for view in snapshot.links.values() {
            let table = self.routing_settings.routing_table(&view.attrs);
            if table != 0 {
                snapshot.routing_tables.insert(view.attrs.index, table);
            }
        }
        let snapshot = Arc::new(snapshot);
        // Events that change nothing the bus shows (networkd's states of a link the kernel has
        // not named, a link added and removed within one batch) publish nothing: readers are
        // woken for changes only. Policy routing still hears of them (rules are not in the
        // snapshot).
        let differs = !same_picture(&self.snapshots.borrow(), &snapshot);
        if differs {
            self.snapshots.send_replace(snapshot.clone());
        }
        if !(differs || changed) {
            return;
        }
        if let (Some(routing), true) = (&self.routing, self.kernel_seen) {
            routing.reconcile(snapshot);
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
            if let Some(routing) = &self.routing {
                routing.update_settings(self.routing_settings.clone());
            }
        }
    }

    fn answer(&mut self, command: Command) {
        match command {
            Command::Routing(command) => {
                let Some(routing) = self.routing.clone() else {
                    let error = CommandError::Routing("policy routing is not running".into());
                    match command {
                        RoutingCommand::Reconcile(reply) => drop(reply.send(Err(error))),
                        RoutingCommand::Status(reply) => drop(reply.send(Err(error))),
                    }
                    return;
                };
                // The actor answers in its own time; the broker goes on meanwhile.
                tokio::spawn(async move {
                    let failed = |err: routing::Error| CommandError::Routing(err.to_string());
                    match command {
                        RoutingCommand::Reconcile(reply) => {
                            let _ = reply.send(routing.reconcile_now().await.map_err(failed));
                        }
                        RoutingCommand::Status(reply) => {
                            let _ = reply.send(routing.status().await.map_err(failed));
                        }
                    }
                });
            }
            Command::PrepareHooks {
                event,
                index,
                reply,
            } => {
                let _ = reply.send(self.hook_request(&event, index));
            }
            Command::DryRunHooks {
                event,
                index,
                reply,
            } => match self.hook_request(&event, index) {
                Err(err) => {
                    let _ = reply.send(Err(err));
                }
                Ok(request) => {
                    let settings = hook_settings(&self.config, self.enforce_hook_ownership);
                    tokio::spawn(async move {
                        let result = hooks::dry_run(request, settings)
                            .await
                            .map_err(CommandError::Hooks);
                        let _ = reply.send(result);
                    });
                }
            },
            Command::RunHooks {
                event,
                index,
                reply,
            } => match self.hook_request(&event, index) {
                Err(err) => {
                    let _ = reply.send(Err(err));
                }
                Ok(request) => {
                    info!(
                        ifindex = index,
                        event = %event,
                        "running the {event} hooks of link {index} on request (RunHooks())"
                    );
                    let outcome = self.hooks.run(request);
                    // The runner answers when the scripts are done; the broker goes on.
                    tokio::spawn(async move {
                        let result = outcome.await.map_err(|_| CommandError::Stopping);
                        let _ = reply.send(result);
                    });
                }
            },
        }
    }

    /// The request an event of this link gets now: its current view, states and lease.
    fn hook_request(&self, event: &str, index: IfIndex) -> Result<hooks::Request, CommandError> {
        if !hooks::discover::is_valid_event_name(event) {
            return Err(CommandError::InvalidEvent(event.to_string()));
        }
        let view = self
            .state
            .link(index)
            .ok_or(CommandError::NoSuchLink(index))?;
        let mut vars: Vec<(String, String)> = view
            .states
            .iter()
            .map(|(property, value)| (property.name().to_string(), value.to_string()))
            .collect();
        if StateProperty::ALL
            .iter()
            .any(|p| p.validate(event).is_some())
        {
            vars.push(("STATE".to_string(), event.to_string()));
        }
        Ok(hooks::Request {
            event: event.to_string(),
            link: Some(Arc::clone(view)),
            vars,
            lease: view.lease.as_deref().cloned(),
        })
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
            Event::ConfigReloaded(mut config) => {
                let file = config.dir.join(crate::config::CONFIG_FILE_NAME);
                info!(
                    dir = %config.dir.display(),
                    "configuration reloaded from {}",
                    file.display()
                );
                if config.system.generator != self.config.system.generator {
                    // Sources are chosen at start-up; switching them live would lose the
                    // state the old one built up.
                    warn!(
                        running = self.config.system.generator.as_str(),
                        configured = config.system.generator.as_str(),
                        "Generator changes from {} to {} take effect after a restart",
                        self.config.system.generator.as_str(),
                        config.system.generator.as_str()
                    );
                    config.system.generator = self.config.system.generator;
                }
                self.config = *config;
                let lease_routers = std::mem::take(&mut self.routing_settings.lease_routers);
                self.routing_settings = routing::Settings::from_config(&self.config);
                self.routing_settings.lease_routers = lease_routers;
                if let Some(routing) = &self.routing {
                    routing.update_settings(self.routing_settings.clone());
                }
                self.hooks
                    .update_settings(hook_settings(&self.config, self.enforce_hook_ownership));
                false
            }
        }
    }

    /// Acts on applied changes; returns whether there were any. A source's first complete
    /// report (`initial`) is where the daemon starts from, not a list of transitions: once
    /// every report the startup triggers need is in, they run instead.
    fn act(&mut self, changes: &[Change], initial: bool) -> bool {
        log_changes(&self.state, changes);
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

    /// Runs the startup triggers once both the kernel's first dump (which names the links)
    /// and the generator's first report (which gives their states) have arrived, in
    /// whichever order the sources delivered them.
    fn startup_triggers_when_ready(&mut self) {
        let origin = match self.config.system.generator {
            Generator::Netlink => Origin::Kernel,
            Generator::SystemdNetworkd => Origin::Networkd,
            Generator::Dhclient => return,
        };
        let ready = self.kernel_seen && (origin == Origin::Kernel || self.networkd_seen);
        if ready && !self.startup_done {
            self.startup_done = true;
            self.startup_triggers(origin);
        }
    }

    fn carry_out(&mut self, effects: Vec<Effect>) {
        let now = Instant::now();
        for effect in effects {
            match effect {
                Effect::RoutesModified(index) => self.routes_modified.touch(index, now),
                Effect::Forget(index) => {
                    self.routes_modified.forget(index);
                    self.dispatched.forget(index);
                    if !self.in_flight.is_empty() {
                        self.forgets += 1;
                        self.forgotten.insert(index, self.forgets);
                    }
                    // resolved drops a removed link's settings itself; the actor only has to
                    // forget what it would re-apply.
                    if let Some(push) = &self.push {
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
                Effect::PushLease { index, name, lease } => self.push_lease(index, &name, lease),
            }
        }
    }

    /// networkd-dispatcher's `--run-startup-triggers`: run the hooks of every link's current
    /// operational and administrative state, except those this boot already dispatched (a
    /// restarted daemon does not repeat them). With `StartupTriggers: false` the current
    /// states are only recorded, so later transitions are measured from them.
    fn startup_triggers(&mut self, origin: Origin) {
        let mut due = Vec::new();
        for view in self.state.links() {
            let index = view.attrs.index;
            let states = match origin {
                Origin::Kernel => self.state.derived(index),
                Origin::Networkd => self.state.networkd(index),
            };
            let Some(states) = states else { continue };
            if !self.config.link_selected(&view.attrs.name) {
                continue;
            }
            for property in [StateProperty::Operational, StateProperty::Administrative] {
                if let Some(value) = states.get(&property) {
                    if !self.dispatched.contains(index, property, value) {
                        due.push((index, property, *value));
                    }
                }
            }
        }
        for (index, property, value) in due {
            if self.config.system.startup_triggers {
                debug!(
                    ifindex = index,
                    state = value,
                    "startup trigger: link {index} is {value}"
                );
                self.run_state_hooks(index, property, value);
            } else {
                self.dispatched.record(index, property, value);
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
        let mut vars = vec![(property.name().to_string(), value.to_string())];
        for (other, current) in &view.states {
            if *other != property {
                vars.push((other.name().to_string(), current.to_string()));
            }
        }
        // networkd-dispatcher's name for the state that chose the directory.
        vars.push(("STATE".to_string(), value.to_string()));
        let outcome = self.hooks.track(hooks::Request {
            event: value.to_string(),
            link: Some(Arc::clone(view)),
            vars,
            lease: None,
        });
        // Recorded when the batch ran to its end; a receiver error means the runner dropped
        // the request (stopping, or coalesced into a later one), which is not a run either.
        let asked = self.forgets;
        self.in_flight.push(Box::pin(async move {
            let batch = outcome.await.ok()?;
            batch.complete.then_some((index, property, value, asked))
        }));
    }

    /// Pushes a link's lease to resolved (`UseDNS`, `UseDomain`) and hostnamed
    /// (`UseHostname`), or reverts what was pushed when the lease is gone.
    fn push_lease(&mut self, index: IfIndex, name: &str, lease: Option<Box<Lease>>) {
        let Some(push) = &self.push else { return };
        let network = &self.config.network;
        match lease {
            None => {
                if network.use_dns || network.use_domain {
                    push.revert_link(index);
                }
                if network.use_hostname {
                    push.set_hostname(None);
                }
            }
            Some(lease) => {
                let dns = network.use_dns.then(|| lease.dns.clone());
                let domains = network.use_domain.then(|| lease.search_domains());
                if dns.is_some() || domains.is_some() {
                    push.set_link(index, name.to_string(), dns, domains);
                }
                if network.use_hostname {
                    push.set_hostname(lease.host_name.clone());
                }
            }
        }
    }

    /// `routable.d` for a new or changed dhclient lease (the original's dhclient mode ran only
    /// this directory; a renewal with the same content never gets here).
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
        let vars = view
            .states
            .iter()
            .map(|(property, value)| (property.name().to_string(), value.to_string()))
            .chain([("STATE".to_string(), "routable".to_string())])
            .collect();
        self.hooks.submit(hooks::Request {
            event: "routable".to_string(),
            link: Some(Arc::clone(view)),
            vars,
            lease: Some(lease),
        });
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
        // Every current manager state, the changed ones among them with their new values.
        let vars = self
            .state
            .manager()
            .iter()
            .map(|(property, value)| (property.name().to_string(), value.to_string()))
            .collect();
        self.hooks.submit(hooks::Request {
            event: "manager".to_string(),
            link: None,
            vars,
            lease: None,
        });
    }

    /// Hands the discrete changes to the bus, one notice each and in order, before the
    /// snapshot holding them is published (see [`command::Notice`]).
    fn announce(&self, changes: &[Change]) {
        let Some(notices) = &self.notices else { return };
        for change in changes {
            let notice = match change {
                Change::LinkAdded(index) => {
                    let Some(view) = self.state.link(*index) else {
                        continue;
                    };
                    command::Notice::LinkAdded(*index, view.attrs.name.clone())
                }
                Change::LinkRemoved(view) => {
                    command::Notice::LinkRemoved(view.attrs.index, view.attrs.name.clone())
                }
                Change::AddressAdded(index, address) => {
                    command::Notice::AddressAdded(*index, address.clone())
                }
                Change::AddressRemoved(index, address) => {
                    command::Notice::AddressRemoved(*index, address.clone())
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
            if let Some(notices) = &self.notices {
                let _ = notices.send(command::Notice::RoutesModified(index));
            }
            if !self.config.link_selected(&view.attrs.name) {
                continue;
            }
            debug!(
                ifindex = index,
                ifname = %view.attrs.name,
                "{}: routes settled",
                view.attrs.name
            );
            self.hooks.submit(hooks::Request {
                event: "routes-modified".to_string(),
                // Shared with the snapshot: the runner keeps the view of this moment alive.
                link: Some(Arc::clone(view)),
                vars: Vec::new(),
                lease: None,
            });
        }
    }
}

/// Whether two snapshots show the same; cheap for the links they share (pointer-equal).
fn same_picture(a: &Snapshot, b: &Snapshot) -> bool {
    a.manager == b.manager
        && a.routing_tables == b.routing_tables
        && a.links.len() == b.links.len()
        && a.links
            .iter()
            .zip(&b.links)
            .all(|((i, x), (j, y))| i == j && (Arc::ptr_eq(x, y) || x == y))
}

fn log_changes(state: &State, changes: &[Change]) {
    for change in changes {
        match change {
            Change::LinkAdded(index) => {
                if let Some(view) = state.link(*index) {
                    info!(
                        ifindex = index,
                        ifname = %view.attrs.name,
                        "link {} appeared (index {index})",
                        view.attrs.name
                    );
                }
            }
            Change::LinkRemoved(view) => {
                info!(
                    ifindex = view.attrs.index,
                    ifname = %view.attrs.name,
                    "link {} removed (index {})",
                    view.attrs.name,
                    view.attrs.index
                )
            }
            Change::LinkRenamed { index, old } => {
                if let Some(view) = state.link(*index) {
                    info!(
                        ifindex = index,
                        old = %old,
                        ifname = %view.attrs.name,
                        "link {old} renamed to {} (index {index})",
                        view.attrs.name
                    );
                }
            }
            Change::AddressAdded(index, a) => {
                debug!(
                    ifindex = index,
                    address = %a.ip,
                    prefix = a.prefix_len,
                    "address {}/{} added to link {index}",
                    a.ip,
                    a.prefix_len
                )
            }
            Change::AddressRemoved(index, a) => {
                debug!(
                    ifindex = index,
                    address = %a.ip,
                    prefix = a.prefix_len,
                    "address {}/{} removed from link {index}",
                    a.ip,
                    a.prefix_len
                )
            }
            Change::StatesChanged {
                index,
                origin,
                changed,
            } => {
                for (property, value) in changed {
                    debug!(
                        ifindex = index,
                        ?origin,
                        "link {index}: {}={value} ({origin:?})",
                        property.name()
                    );
                }
            }
            Change::LeaseChanged {
                interface, after, ..
            } => match after {
                Some(lease) => {
                    info!(
                        ifname = %interface,
                        address = ?lease.address,
                        "{interface}: lease changed (address {:?})",
                        lease.address
                    )
                }
                None => info!(ifname = %interface, "{interface}: lease gone"),
            },
            Change::LinkChanged(_)
            | Change::RoutesChanged(_)
            | Change::ManagerStatesChanged(_)
            | Change::RuleAdded(_)
            | Change::RuleRemoved(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
