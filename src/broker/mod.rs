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
use crate::event::{Event, EventReceiver};
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
                let mut changes = Vec::new();
                self.state.apply(kernel, &mut changes);
                log_changes(&self.state, &changes);
                let effects = decide::decide(&self.config, &self.state, &changes);
                self.carry_out(effects);
                !changes.is_empty()
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
            let Some(view) = self.state.link(index) else { continue };
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
