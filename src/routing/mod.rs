//! Policy routing: every link named in `RoutingPolicyRules` gets a routing table of
//! its own (`RouteTableBase + ifindex`) holding its subnet routes and a default route through
//! its own gateway, and rules that send traffic from (and to) each of its addresses through
//! that table. The user-facing description is `docs/routing.md`.
//!
//! This module owns the policy-routing *actor*: the one task that reads and writes the
//! kernel's policy rules and the routes of our tables. It is a reconciler, not a patcher:
//! every pass computes the desired rules and routes from the broker's latest [`Snapshot`]
//! ([`plan::desired`]), dumps what the kernel has with our protocol (the kernel is the truth,
//! nothing is cached), and applies only the difference ([`plan::diff`], [`apply::apply`]).
//! Everything we create carries our protocol number ([`Settings::protocol`]); anything
//! without it is never touched.
//!
//! - [`plan`]: desired state and the difference (pure);
//! - [`apply`]: carrying out a plan through a [`Backend`], collecting every error;
//! - [`backend`]: the kernel ([`NetlinkBackend`]) and, for unit tests only, a fake kernel;
//! - [`show`]: `ip`-style one-line descriptions for logs and `network-brokerctl routing`;
//! - `actor`: the loop behind [`Handle`] (debounce, rate limit, start-up sweep, stop).
//!
//! The broker drives it through [`Handle`]: [`Handle::reconcile`] with every new snapshot
//! (and whenever one of our rules or routes is reported removed), [`Handle::update_settings`]
//! on reload, [`Handle::shutdown`] on stop.

pub mod apply;
pub mod backend;
pub mod plan;
pub mod show;

mod actor;

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::Config;
use crate::model::kernel::{TABLE_COMPAT, TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN, TABLE_UNSPEC};
use crate::model::{IfIndex, LinkAttrs, Route, Rule, Snapshot};

pub use apply::Report;
#[cfg(test)]
pub use backend::FakeBackend;
pub use backend::{Backend, BackendError, NetlinkBackend, Outcome};
pub use plan::{Desired, Plan};

/// How long the actor waits after a new snapshot before reconciling, so that a burst of
/// changes (an address brings a prefix route and a local route; a link going up brings
/// several) costs one pass, with the latest snapshot.
pub const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(100);

/// Something of ours that was installed and then deleted by someone else is re-installed at
/// most this often per link; a fight with another program costs one pass a second, not a
/// busy loop.
pub const RESTORE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Re-installations less than this apart belong to one burst, which is warned about once.
pub const RESTORE_BURST_QUIET: std::time::Duration = std::time::Duration::from_secs(30);

/// A pass runs at least this often even when nothing is reported, so that a missed
/// notification cannot leave the kernel wrong for long (amazon-ec2-net-utils' refresh timer
/// exists for the same reason).
pub const PERIODIC: std::time::Duration = std::time::Duration::from_secs(60);

/// What the plan needs besides the snapshot: the configuration of policy routing and what
/// the broker learned from leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `RoutingPolicyRules`: exact names of the links that get a table and rules.
    pub links: Vec<String>,
    /// `RouteTableBase`: link *N* uses table `table_base + N`.
    pub table_base: u32,
    /// `RoutingPolicyPriority`: the `from` rules' priority; the `to` rules use the next one.
    pub priority: u32,
    /// `RoutingPolicyProtocol`: the `protocol` of every rule and route we create, and how we
    /// recognise them.
    pub protocol: u8,
    /// `RemoveRoutingOnStop`: what [`OnStop`] [`Settings::on_stop`] answers.
    pub remove_on_stop: bool,
    /// Routers learned from leases (dhclient's `option routers`, networkd's `ROUTER=`), by
    /// link, first choice first. Used for a link's default route only when the main table
    /// has no default route through that link of the family (see [`plan::desired`]). The
    /// broker fills this in; [`Settings::from_config`] leaves it empty.
    pub lease_routers: BTreeMap<IfIndex, Vec<IpAddr>>,
}

/// What happens to our rules and routes when the daemon stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStop {
    /// Leave them: traffic keeps flowing while the daemon restarts, and the next start adopts
    /// them (the default).
    Keep,
    /// Delete every rule and route that carries our protocol.
    Remove,
}

/// Table numbers the kernel and iproute2 reserve (`unspec`, `compat`, `default`, `main`,
/// `local`); no link's table may be one of them.
const RESERVED_TABLES: [u32; 5] = [
    TABLE_UNSPEC,
    TABLE_COMPAT,
    TABLE_DEFAULT,
    TABLE_MAIN,
    TABLE_LOCAL,
];

impl Settings {
    /// The policy-routing part of the configuration, with no lease routers.
    pub fn from_config(config: &Config) -> Self {
        let network = &config.network;
        Settings {
            links: network.routing_policy_rules.clone(),
            table_base: network.route_table_base,
            priority: network.routing_policy_priority,
            protocol: network.routing_policy_protocol,
            remove_on_stop: network.remove_routing_on_stop,
            lease_routers: BTreeMap::new(),
        }
    }

    /// Whether the link called `name` gets a table and rules (exact names, never
    /// substrings).
    pub fn covers(&self, name: &str) -> bool {
        self.links.iter().any(|l| l == name)
    }

    /// The table of the link with this index: `table_base + ifindex`, or `None` when that
    /// would overflow or land on a reserved table (only possible with a hand-made `Settings`:
    /// the configuration keeps the base above 255).
    pub fn table_for(&self, index: IfIndex) -> Option<u32> {
        self.table_base
            .checked_add(index)
            .filter(|t| !RESERVED_TABLES.contains(t))
    }

    /// The link's `RoutingTable` as the bus shows it: its table when the link is in
    /// `RoutingPolicyRules`, 0 otherwise. The number is the link's whether or not the table
    /// holds anything yet (a link without addresses has an empty one).
    pub fn routing_table(&self, link: &LinkAttrs) -> u32 {
        if self.covers(&link.name) {
            self.table_for(link.index).unwrap_or(0)
        } else {
            0
        }
    }

    /// Which link a table of ours belongs to, if the table is in our range.
    pub fn link_of_table(&self, table: u32) -> Option<IfIndex> {
        table.checked_sub(self.table_base).filter(|&i| i > 0)
    }

    /// Priority of the `from ADDR` rules.
    pub fn from_priority(&self) -> u32 {
        self.priority
    }

    /// Priority of the `to ADDR` rules: the one after [`Settings::from_priority`], so that a
    /// packet matching both kinds never depends on which rule was inserted first.
    pub fn to_priority(&self) -> u32 {
        self.priority.saturating_add(1)
    }

    /// Whether `rule` is ours (carries our protocol). The broker calls
    /// [`Handle::reconcile`] when such a rule is reported removed.
    pub fn owns_rule(&self, rule: &Rule) -> bool {
        rule.protocol == self.protocol
    }

    /// Whether `route` is ours (carries our protocol).
    pub fn owns_route(&self, route: &Route) -> bool {
        route.protocol == self.protocol
    }

    /// What to do on stop.
    pub fn on_stop(&self) -> OnStop {
        if self.remove_on_stop {
            OnStop::Remove
        } else {
            OnStop::Keep
        }
    }
}

impl Default for Settings {
    /// The configuration's defaults: no link, base 1000, priority 20000, protocol 78, keep.
    fn default() -> Self {
        Settings {
            links: Vec::new(),
            table_base: crate::config::DEFAULT_ROUTE_TABLE_BASE,
            priority: crate::config::DEFAULT_ROUTING_POLICY_PRIORITY,
            protocol: crate::config::DEFAULT_ROUTING_POLICY_PROTOCOL,
            remove_on_stop: false,
            lease_routers: BTreeMap::new(),
        }
    }
}

/// A failure of policy routing. Operations name the object and its table (and link, when
/// known); the kernel's reason is the source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The netlink socket could not be opened.
    #[error("cannot open a netlink socket for policy routing")]
    Socket(#[source] io::Error),
    /// The kernel's rules and routes could not be read; nothing was changed.
    #[error("cannot read the kernel's rules and routes of protocol {protocol}")]
    Dump {
        /// Our protocol number.
        protocol: u8,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// A rule could not be added.
    #[error("cannot add rule `{}`", show::rule(.rule))]
    AddRule {
        /// The rule's table.
        table: u32,
        /// The link the table belongs to, when the table is in our range.
        ifindex: Option<IfIndex>,
        /// The rule.
        rule: Box<Rule>,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// A rule could not be removed.
    #[error("cannot remove rule `{}`", show::rule(.rule))]
    RemoveRule {
        /// The rule's table.
        table: u32,
        /// The link the table belongs to, when the table is in our range.
        ifindex: Option<IfIndex>,
        /// The rule.
        rule: Box<Rule>,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// A route could not be added (or replace the one of ours it supersedes).
    #[error("cannot add route `{}`", show::route(.route))]
    AddRoute {
        /// The route's table.
        table: u32,
        /// The route's output interface.
        ifindex: Option<IfIndex>,
        /// The route.
        route: Box<Route>,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// A route could not be removed.
    #[error("cannot remove route `{}`", show::route(.route))]
    RemoveRoute {
        /// The route's table.
        table: u32,
        /// The route's output interface.
        ifindex: Option<IfIndex>,
        /// The route.
        route: Box<Route>,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// No snapshot has been handed over yet, so the desired state is unknown. Reconciling
    /// with an empty picture would delete everything of ours, so the actor waits.
    #[error("policy routing has no link table from the broker yet")]
    NoSnapshot,
    /// The actor has stopped (shut down, or its task ended).
    #[error("the policy-routing actor is gone")]
    ActorGone,
}

/// Desired and actual state side by side, for `network-brokerctl routing`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Whether the actor has a snapshot; without one `desired` is empty and means nothing.
    pub ready: bool,
    /// What the configuration and the current links call for.
    pub desired: Desired,
    /// What the kernel has with our protocol, read now.
    pub actual: Desired,
    /// What a reconcile would do now.
    pub pending: Plan,
    /// The table of every covered link present in the snapshot, by ifindex, with its name.
    pub tables: BTreeMap<IfIndex, (String, u32)>,
}

/// Requests that need an answer.
enum Command {
    ReconcileNow(oneshot::Sender<Result<Report, Error>>),
    Status(oneshot::Sender<Result<Status, Error>>),
    Shutdown(OnStop, oneshot::Sender<Result<Report, Error>>),
}

/// The broker's handle on the policy-routing actor. Cheap to clone; the actor stops when the
/// last handle is dropped (keeping everything in the kernel) or on [`Handle::shutdown`].
#[derive(Clone)]
pub struct Handle {
    snapshots: Arc<watch::Sender<Option<Arc<Snapshot>>>>,
    settings: Arc<watch::Sender<Settings>>,
    commands: mpsc::Sender<Command>,
}

impl Handle {
    /// Hands over the latest picture of the links and asks for a pass. Never blocks: the
    /// snapshot replaces any not yet used (the latest wins), and the pass starts [`DEBOUNCE`]
    /// after the first of a burst of calls.
    ///
    /// Call it with every snapshot that changes links, addresses or routes, and also, with
    /// the current snapshot, when a rule or route of ours ([`Settings::owns_rule`],
    /// [`Settings::owns_route`]) is reported removed: rules are not part of the snapshot, so
    /// only that call tells the actor someone deleted one (systemd-networkd does on restart).
    /// Do not call it before the kernel's first dump is in the snapshot: an empty picture
    /// would sweep everything of ours.
    pub fn reconcile(&self, snapshot: Arc<Snapshot>) {
        self.snapshots.send_replace(Some(snapshot));
    }

    /// Replaces the settings (configuration reload, new lease routers) and asks for a pass.
    /// When the protocol changed, the next pass first removes everything carrying the old
    /// one, because nothing else would ever recognise it again.
    pub fn update_settings(&self, settings: Settings) {
        self.settings.send_replace(settings);
    }

    /// Reconciles now with the latest snapshot, bypassing the debounce and the re-install
    /// rate limit (an explicit request, e.g. `ReconcileRouting()` on the bus), and reports
    /// what was done. Fails with [`Error::NoSnapshot`] before the first snapshot and with
    /// [`Error::Dump`] when the kernel cannot be read; failures of single operations are in
    /// the report.
    pub async fn reconcile_now(&self) -> Result<Report, Error> {
        self.call(Command::ReconcileNow).await?
    }

    /// The desired and the actual rules and routes, read now.
    pub async fn status(&self) -> Result<Status, Error> {
        self.call(Command::Status).await?
    }

    /// Stops the actor. With [`OnStop::Remove`] it first deletes every rule and route that
    /// carries our protocol and reports that; with [`OnStop::Keep`] it leaves the kernel as
    /// it is. Later calls on any handle fail with [`Error::ActorGone`].
    pub async fn shutdown(&self, on_stop: OnStop) -> Result<Report, Error> {
        self.call(|reply| Command::Shutdown(on_stop, reply)).await?
    }

    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| Error::ActorGone)?;
        answer.await.map_err(|_| Error::ActorGone)
    }
}

/// A handle with no actor behind it: what it is told goes nowhere and its calls fail with
/// [`Error::ActorGone`]. For tests of the broker, which need a handle but no kernel.
#[cfg(test)]
pub(crate) fn detached() -> Handle {
    let (snapshots, _) = watch::channel(None);
    let (settings, _) = watch::channel(Settings::default());
    let (commands, _) = mpsc::channel(1);
    Handle {
        snapshots: Arc::new(snapshots),
        settings: Arc::new(settings),
        commands,
    }
}

/// Starts the actor on the kernel of the calling thread's network namespace. Must be called
/// inside a tokio runtime; it opens its own rtnetlink request socket (separate from the
/// notification socket of `source::netlink`, so replies and notifications never compete).
pub fn spawn(settings: Settings) -> Result<Handle, Error> {
    let backend = NetlinkBackend::connect().map_err(Error::Socket)?;
    Ok(spawn_with(settings, backend))
}

/// Starts the actor on any backend (the unit tests use a fake kernel). Must be called inside a
/// tokio runtime.
pub fn spawn_with<B: Backend>(settings: Settings, backend: B) -> Handle {
    let (snapshots, snapshot_rx) = watch::channel(None);
    let (settings_tx, settings_rx) = watch::channel(settings);
    let (commands, command_rx) = mpsc::channel(16);
    let actor = actor::Actor::new(backend, snapshot_rx, settings_rx, command_rx);
    tokio::spawn(actor.run());
    Handle {
        snapshots: Arc::new(snapshots),
        settings: Arc::new(settings_tx),
        commands,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::fixtures;

    #[test]
    fn tables_and_priorities() {
        let s = Settings {
            links: vec!["eth1".into()],
            ..Settings::default()
        };
        assert_eq!(s.table_for(3), Some(1003));
        assert_eq!((s.from_priority(), s.to_priority()), (20000, 20001));
        assert_eq!(s.link_of_table(1003), Some(3));
        assert_eq!(s.link_of_table(1000), None);
        assert_eq!(s.link_of_table(254), None);
        assert_eq!(s.routing_table(&fixtures::link(3, "eth1")), 1003);
        assert_eq!(s.routing_table(&fixtures::link(3, "eth10")), 0);

        let odd = Settings {
            table_base: 250,
            ..Settings::default()
        };
        assert_eq!(odd.table_for(4), None, "254 is main");
        let huge = Settings {
            table_base: u32::MAX - 1,
            ..Settings::default()
        };
        assert_eq!(huge.table_for(2), None, "overflow");
    }

    #[test]
    fn settings_from_config() {
        let mut config = Config::defaults(std::path::Path::new("/etc/network-broker"));
        config.network.routing_policy_rules = vec!["eth1".into()];
        config.network.remove_routing_on_stop = true;
        let s = Settings::from_config(&config);
        assert_eq!(s.links, ["eth1"]);
        assert_eq!((s.table_base, s.priority, s.protocol), (1000, 20000, 78));
        assert_eq!(s.on_stop(), OnStop::Remove);
        assert_eq!(Settings::default().on_stop(), OnStop::Keep);
    }
}
