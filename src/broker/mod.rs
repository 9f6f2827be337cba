//! The single owner of the daemon's state. The broker receives [`Event`]s from the sources,
//! updates its link table ([`state`]), decides what to do ([`decide`]) and hands the work to
//! the effect actors (the hook runner). Readers (the bus adapter) get immutable snapshots
//! through a `watch` channel and never wait on the broker.
//!
//! It imports no zbus, rtnetlink or notify types.

pub mod debounce;
pub mod decide;
pub mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::config::Config;
use crate::event::{Event, EventReceiver, KernelEvent};
use crate::hooks;
use crate::model::{IfIndex, LinkView, Snapshot};

use debounce::Debouncer;
use decide::Effect;
use state::{Change, State};

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
    enforce_hook_ownership: bool,
    snapshots: watch::Sender<Arc<Snapshot>>,
    routes_modified: Debouncer<IfIndex>,
    /// Whether the kernel's first dump has arrived. What that dump contains is the state the
    /// daemon starts from, not a change, so it runs no hooks.
    kernel_seen: bool,
}

/// What the hook runner needs from a configuration.
pub fn hook_settings(config: &Config, enforce_ownership: bool) -> hooks::Settings {
    hooks::Settings {
        dir: config.dir.clone(),
        timeout: config.system.hook_timeout,
        emit_json: config.network.emit_json,
        enforce_ownership,
    }
}

impl Broker {
    /// A broker with an empty link table; the first kernel snapshot fills it.
    pub fn new(
        config: Config,
        hooks: hooks::Handle,
        enforce_hook_ownership: bool,
    ) -> (Self, watch::Receiver<Arc<Snapshot>>) {
        let (snapshots, reader) = watch::channel(Arc::new(Snapshot::default()));
        let broker = Broker {
            config,
            state: State::default(),
            hooks,
            enforce_hook_ownership,
            snapshots,
            routes_modified: Debouncer::new(ROUTES_QUIET, ROUTES_MAX_DELAY),
            kernel_seen: false,
        };
        (broker, reader)
    }

    /// Runs until `cancel` fires or every event sender is gone.
    pub async fn run(mut self, mut events: EventReceiver, cancel: CancellationToken) {
        loop {
            let deadline = self.routes_modified.next_deadline();
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
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
                    if changed {
                        self.snapshots.send_replace(Arc::new(self.state.snapshot()));
                    }
                }
                () = sleep_until_opt(deadline) => self.fire_due(Instant::now()),
            }
        }
        debug!("broker stopped");
    }

    /// Applies one event; returns whether the link table changed.
    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::Kernel(kernel) => {
                let initial = !self.kernel_seen && matches!(kernel, KernelEvent::Snapshot(_));
                self.kernel_seen |= initial;
                let mut changes = Vec::new();
                self.state.apply(kernel, &mut changes);
                log_changes(&self.state, &changes);
                if !initial {
                    let effects = decide::decide(&self.config, &self.state, &changes);
                    self.carry_out(effects);
                }
                !changes.is_empty()
            }
            Event::Networkd(event) => {
                // Acted on by the networkd issue's broker work, which lands next.
                debug!(?event, "networkd event");
                false
            }
            Event::ConfigReloaded(config) => {
                info!(dir = %config.dir.display(), "configuration reloaded");
                self.config = *config;
                self.hooks
                    .update_settings(hook_settings(&self.config, self.enforce_hook_ownership));
                false
            }
        }
    }

    fn carry_out(&mut self, effects: Vec<Effect>) {
        let now = Instant::now();
        for effect in effects {
            match effect {
                Effect::RoutesModified(index) => self.routes_modified.touch(index, now),
                Effect::Forget(index) => self.routes_modified.forget(index),
            }
        }
    }

    fn fire_due(&mut self, now: Instant) {
        for index in self.routes_modified.take_due(now) {
            // The link may have gone or been renamed out of the filter while the burst settled.
            let Some(view) = self.state.link(index) else {
                continue;
            };
            if !self.config.link_selected(&view.attrs.name) {
                continue;
            }
            debug!(ifindex = index, ifname = %view.attrs.name, "routes settled");
            self.hooks.submit(hooks::Request {
                event: "routes-modified".to_string(),
                // The runner outlives this state: the one copy of the view a hook run costs.
                link: Some(LinkView::clone(view)),
                vars: Vec::new(),
            });
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

fn log_changes(state: &State, changes: &[Change]) {
    for change in changes {
        match change {
            Change::LinkAdded(index) => {
                if let Some(view) = state.link(*index) {
                    info!(ifindex = index, ifname = %view.attrs.name, "link appeared");
                }
            }
            Change::LinkRemoved(view) => {
                info!(ifindex = view.attrs.index, ifname = %view.attrs.name, "link removed")
            }
            Change::LinkRenamed { index, old } => {
                if let Some(view) = state.link(*index) {
                    info!(ifindex = index, old = %old, ifname = %view.attrs.name, "link renamed");
                }
            }
            Change::AddressAdded(index, a) => {
                debug!(ifindex = index, address = %a.ip, prefix = a.prefix_len, "address added")
            }
            Change::AddressRemoved(index, a) => {
                debug!(ifindex = index, address = %a.ip, prefix = a.prefix_len, "address removed")
            }
            Change::LinkChanged(_) | Change::RoutesChanged(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;
    use crate::event::KernelSnapshot;
    use crate::model::{KernelOperState, LinkAttrs, Route};

    fn link(index: IfIndex, name: &str) -> LinkAttrs {
        LinkAttrs {
            index,
            name: name.into(),
            kind: None,
            mac: None,
            mtu: None,
            flags: crate::model::link::IFF_UP,
            oper_state: KernelOperState::Up,
        }
    }

    fn route(oif: IfIndex, dst: &str) -> Route {
        Route {
            dst: Some(dst.parse().unwrap()),
            dst_len: 24,
            src: None,
            gateway: None,
            oif: Some(oif),
            table: 254,
            protocol: 2,
            scope: 253,
            kind: 1,
            metric: None,
            ipv6: false,
        }
    }

    /// Runs a broker with a real hook runner over a scratch configuration directory holding
    /// one `routes-modified.d` script.
    fn start(
        dir: &std::path::Path,
    ) -> (
        mpsc::Sender<Event>,
        mpsc::UnboundedReceiver<hooks::BatchResult>,
        CancellationToken,
    ) {
        let hook_dir = dir.join("routes-modified.d");
        std::fs::create_dir_all(&hook_dir).unwrap();
        let script = hook_dir.join("10-true");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = Config::defaults(dir);
        let (results_tx, results) = mpsc::unbounded_channel();
        let hooks = hooks::spawn(hook_settings(&config, false), results_tx);
        let (broker, _snapshots) = Broker::new(config, hooks, false);
        let (events, events_rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        tokio::spawn(broker.run(events_rx, cancel.clone()));
        (events, results, cancel)
    }

    #[tokio::test]
    async fn the_initial_dump_runs_no_hooks_but_a_later_burst_runs_one() {
        let dir = tempfile::tempdir().unwrap();
        let (events, mut results, cancel) = start(dir.path());
        let initial = KernelSnapshot {
            links: vec![link(3, "eth0")],
            addresses: Vec::new(),
            routes: vec![route(3, "192.0.2.0")],
        };
        events
            .send(KernelEvent::Snapshot(initial).into())
            .await
            .unwrap();
        for i in 0..20 {
            let dst = format!("198.51.{i}.0");
            events
                .send(KernelEvent::RouteAdded(route(3, &dst)).into())
                .await
                .unwrap();
        }
        let batch = tokio::time::timeout(Duration::from_secs(10), results.recv())
            .await
            .expect("routes-modified.d did not run")
            .unwrap();
        assert_eq!(batch.event, "routes-modified");
        assert_eq!(batch.ifindex, Some(3));
        // Twenty route changes within the quiet period are one burst: no second run follows.
        let more = tokio::time::timeout(ROUTES_QUIET * 4, results.recv()).await;
        assert!(more.is_err(), "unexpected second batch: {more:?}");
        cancel.cancel();
    }

    #[tokio::test]
    async fn a_later_snapshot_with_changed_routes_runs_the_hook() {
        let dir = tempfile::tempdir().unwrap();
        let (events, mut results, cancel) = start(dir.path());
        let mut snapshot = KernelSnapshot {
            links: vec![link(3, "eth0")],
            addresses: Vec::new(),
            routes: vec![route(3, "192.0.2.0")],
        };
        events
            .send(KernelEvent::Snapshot(snapshot.clone()).into())
            .await
            .unwrap();
        // A resync after lost events: the routes differ, which is a change like any other.
        snapshot.routes.push(route(3, "198.51.100.0"));
        events
            .send(KernelEvent::Snapshot(snapshot).into())
            .await
            .unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(10), results.recv())
            .await
            .expect("routes-modified.d did not run after the resync")
            .unwrap();
        assert_eq!(batch.ifindex, Some(3));
        cancel.cancel();
    }
}
