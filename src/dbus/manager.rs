//! `org.freedesktop.NetworkBroker1.Manager` at `/org/freedesktop/NetworkBroker1`: a thin
//! adapter that reads the broker's snapshot. It decides nothing.

use std::sync::Arc;

use tokio::sync::watch;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{interface, Connection, ObjectPath, OwnedObjectPath};

use crate::broker::command::{CommandSender, HookEvent, ReloadSender};
use crate::link_json::{states_by_name, LinkDocument};
use crate::model::{IfIndex, Snapshot, StateProperty};

use super::authz::Authorizer;
use super::error::{quoted, ApiError};
use super::history::Recorded;
use super::hook_record::{FailureEntry, SharedRecord};
use super::names::{ACTION_RECONCILE_ROUTING, ACTION_RELOAD, ACTION_RUN_HOOKS};
use super::path::link_path;
use super::stream::EventStream;

/// What the manager needs besides the snapshot.
pub struct Services {
    /// Requests to the broker.
    pub commands: CommandSender,
    /// Reload requests to the daemon.
    pub reload: ReloadSender,
    /// Who may call the privileged methods.
    pub authorizer: Arc<dyn Authorizer>,
    /// The numbered event stream the Manager's signals go out on (`EventsSince`).
    pub stream: EventStream,
}

/// The manager object.
pub struct Manager {
    snapshot: watch::Receiver<Arc<Snapshot>>,
    generator: String,
    services: Services,
    hooks: SharedRecord,
}

impl Manager {
    fn manager_state(&self, property: StateProperty) -> String {
        self.snapshot
            .borrow()
            .manager
            .get(&property)
            .copied()
            .unwrap_or_default()
            .to_string()
    }

    /// A manager reading the broker's snapshots and the hook results in `hooks`.
    pub fn new(
        snapshot: watch::Receiver<Arc<Snapshot>>,
        generator: &str,
        services: Services,
        hooks: SharedRecord,
    ) -> Self {
        Self {
            snapshot,
            generator: generator.to_string(),
            services,
            hooks,
        }
    }
}

/// A link index from the wire: positive, or `InvalidArgument`.
pub(crate) fn index_arg(index: i32) -> Result<IfIndex, ApiError> {
    match IfIndex::try_from(index) {
        Ok(index) if index > 0 => Ok(index),
        _ => Err(ApiError::InvalidArgument(format!(
            "invalid interface index {index}: must be positive"
        ))),
    }
}

/// For the methods that take no arguments: zbus reads the (empty) argument list from any body,
/// so a call with arguments would be served as if it had none; it is refused instead.
fn no_arguments(header: &Header<'_>) -> Result<(), ApiError> {
    let signature = header.signature().to_string();
    if signature.is_empty() {
        Ok(())
    } else {
        Err(ApiError::InvalidArgs(format!(
            "this method takes no arguments, got {}",
            quoted(&signature)
        )))
    }
}

/// An event name from the wire: `[a-z0-9-]+`, or `InvalidArgument`.
fn event_arg(event: &str) -> Result<(), ApiError> {
    if HookEvent::parse(event).is_ok() {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "invalid event name {}: expected [a-z0-9-]+",
            quoted(event)
        )))
    }
}

/// The whole state as one JSON document (`Describe()`, docs/json.md): the Manager's states by
/// property name, and each link's document, the same as its `Link.Describe()`.
pub fn describe(snapshot: &Snapshot, generator: &str) -> Result<String, ApiError> {
    // The Manager's state properties (networkd's manager has no administrative state).
    const MANAGER_STATES: [StateProperty; 6] = [
        StateProperty::Operational,
        StateProperty::Carrier,
        StateProperty::Address,
        StateProperty::Ipv4Address,
        StateProperty::Ipv6Address,
        StateProperty::Online,
    ];
    let links: Vec<LinkDocument<'_>> = snapshot
        .links
        .values()
        .map(|view| {
            let table = snapshot.routing_tables.get(&view.attrs.index);
            LinkDocument::new(view, table.copied().unwrap_or(0))
        })
        .collect();
    serde_json::to_string(&serde_json::json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Generator": generator,
        "Manager": states_by_name(&snapshot.manager, &MANAGER_STATES),
        "Links": links,
        "RoutingTables": snapshot.routing_tables,
    }))
    .map_err(|err| ApiError::Failed(format!("cannot encode the state: {err}")))
}

/// D-Bus carries an ifindex as `i`; the kernel never hands out indexes above `i32::MAX`.
pub(crate) fn wire_index(index: u32) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

#[interface(name = "org.freedesktop.NetworkBroker1.Manager")]
impl Manager {
    /// The daemon's version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// The configured event source: `systemd-networkd`, `dhclient` or `netlink`.
    #[zbus(property(emits_changed_signal = "const"))]
    fn generator(&self) -> String {
        self.generator.clone()
    }

    /// networkd's overall operational state; empty while networkd has not been seen.
    #[zbus(property)]
    fn operational_state(&self) -> String {
        self.manager_state(StateProperty::Operational)
    }

    /// networkd's overall carrier state.
    #[zbus(property)]
    fn carrier_state(&self) -> String {
        self.manager_state(StateProperty::Carrier)
    }

    /// networkd's overall address state.
    #[zbus(property)]
    fn address_state(&self) -> String {
        self.manager_state(StateProperty::Address)
    }

    /// networkd's overall online state.
    #[zbus(property)]
    fn online_state(&self) -> String {
        self.manager_state(StateProperty::Online)
    }

    /// The hook scripts that failed lately (exit status not 0 or an error), oldest first, at
    /// most 32: ifindex (0 for `manager`), link name (empty for `manager`), event, script
    /// path, time (µs since the epoch, when the result reached the bus), exit status (as in
    /// `HooksCompleted`), error text.
    #[zbus(property)]
    fn failed_hooks(&self) -> Vec<FailureEntry> {
        self.hooks.with(|record| record.failures())
    }

    /// This run's event stream: different every time the daemon starts, so that a subscriber
    /// does not take the numbers of a new run for those of the one it followed.
    #[zbus(property(emits_changed_signal = "const"))]
    fn stream_id(&self) -> String {
        self.services.stream.id().to_string()
    }

    /// The last event sequence number handed out (0 before the first event). Read on demand:
    /// every event carries its number, so a change signal would only double them.
    #[zbus(property(emits_changed_signal = "false"))]
    async fn event_sequence(&self) -> u64 {
        self.services.stream.last().await
    }

    /// The events after sequence number `after` from the bounded history (`EventHistory`):
    /// the stream's identity (as `StreamId`), whether the events are all there were after
    /// `after` (false when the history no longer reaches back that far, or `after` was never
    /// handed out in this run: then re-read the state), and the events, oldest first, each
    /// as (sequence, time sent in microseconds since the Unix epoch, signal name, the
    /// signal's arguments without the sequence).
    #[zbus(out_args("stream_id", "complete", "events"))]
    async fn events_since(&self, after: u64) -> (String, bool, Vec<Arc<Recorded>>) {
        let since = self.services.stream.since(after).await;
        (
            self.services.stream.id().to_string(),
            since.complete,
            since.events,
        )
    }

    /// Every link the daemon knows: interface index, name and object path.
    #[zbus(out_args("links"))]
    fn list_links(
        &self,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<Vec<(i32, String, OwnedObjectPath)>, ApiError> {
        no_arguments(&header)?;
        Ok(self
            .snapshot
            .borrow()
            .links
            .values()
            .map(|view| {
                (
                    wire_index(view.attrs.index),
                    view.attrs.name.clone(),
                    link_path(view.attrs.index),
                )
            })
            .collect())
    }

    /// The object path of the link with this name.
    ///
    /// Errors: `org.freedesktop.NetworkBroker1.Error.NoSuchLink`.
    #[zbus(out_args("path"))]
    fn get_link_by_name(&self, name: &str) -> Result<OwnedObjectPath, ApiError> {
        self.snapshot
            .borrow()
            .link_by_name(name)
            .map(|view| link_path(view.attrs.index))
            .ok_or_else(|| ApiError::NoSuchLink(format!("no link named {}", quoted(name))))
    }

    /// The object path of the link with this interface index.
    ///
    /// Errors: `org.freedesktop.NetworkBroker1.Error.InvalidArgument` (index not positive),
    /// `org.freedesktop.NetworkBroker1.Error.NoSuchLink`.
    #[zbus(out_args("path"))]
    fn get_link_by_index(&self, index: i32) -> Result<OwnedObjectPath, ApiError> {
        let index = index_arg(index)?;
        if self.snapshot.borrow().links.contains_key(&index) {
            Ok(link_path(index))
        } else {
            Err(ApiError::NoSuchLink(format!("no link with index {index}")))
        }
    }

    /// Everything the daemon knows as one JSON document (docs/json.md): version, generator,
    /// manager states, every link's document (as its `Link.Describe()`) and the policy-routing
    /// tables.
    #[zbus(out_args("json"))]
    fn describe(&self, #[zbus(header)] header: Header<'_>) -> Result<String, ApiError> {
        no_arguments(&header)?;
        describe(&self.snapshot.borrow(), &self.generator)
    }

    /// Every hook that would run, per event directory in run order: (event, script path).
    ///
    /// Errors: `org.freedesktop.DBus.Error.Failed` (a hook directory cannot be read).
    #[zbus(out_args("hooks"))]
    async fn list_hooks(
        &self,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<Vec<(String, String)>, ApiError> {
        no_arguments(&header)?;
        let listed = self.services.commands.list_hooks().await?;
        Ok(listed
            .into_iter()
            .map(|(event, path)| (event, path.to_string_lossy().into_owned()))
            .collect())
    }

    /// Re-reads the configuration, as SIGHUP does, and answers when it is in force, with one
    /// line per key the file changed that takes effect only after a restart (`System.Generator
    /// changed from A to B: takes effect after a restart`; none when every change applies). An
    /// invalid configuration is rejected with its error (`configuration FILE:LINE:COLUMN
    /// rejected: KEY: ERROR`) and the running one stays in force. Root and the daemon's own
    /// user may always call it (the unit's `ExecReload=` runs as that user); anyone else needs
    /// polkit action `org.freedesktop.NetworkBroker1.reload`.
    ///
    /// Errors: `org.freedesktop.DBus.Error.AccessDenied`,
    /// `org.freedesktop.DBus.Error.InteractiveAuthorizationRequired`,
    /// `org.freedesktop.NetworkBroker1.Error.InvalidConfig`, `org.freedesktop.DBus.Error.Failed`.
    #[zbus(out_args("restart_needed"))]
    async fn reload(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<Vec<String>, ApiError> {
        no_arguments(&header)?;
        if !super::authz::caller_is_root_or_self(conn, &header).await {
            self.services
                .authorizer
                .check(conn, &header, ACTION_RELOAD)
                .await?;
        }
        let kept = self
            .services
            .reload
            .reload()
            .await
            .map_err(ApiError::from)?;
        Ok(kept.iter().map(ToString::to_string).collect())
    }

    /// Runs the hooks of `event` (a directory stem such as `routable`) for the link with this
    /// index now, with the link's current state, and answers when every script has run: per
    /// script its path, exit status and error text (as in `HooksCompleted`). polkit action
    /// `org.freedesktop.NetworkBroker1.run-hooks`.
    ///
    /// Errors: `org.freedesktop.NetworkBroker1.Error.InvalidArgument`,
    /// `org.freedesktop.NetworkBroker1.Error.NoSuchLink`, `org.freedesktop.DBus.Error.AccessDenied`,
    /// `org.freedesktop.DBus.Error.InteractiveAuthorizationRequired`,
    /// `org.freedesktop.NetworkBroker1.Error.ShuttingDown`.
    #[zbus(out_args("results"))]
    async fn run_hooks(
        &self,
        event: &str,
        index: i32,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<Vec<(String, u32, String)>, ApiError> {
        // Bad input is refused before anyone is asked for a password.
        event_arg(event)?;
        let index = index_arg(index)?;
        if !self.snapshot.borrow().links.contains_key(&index) {
            return Err(ApiError::NoSuchLink(format!("no link with index {index}")));
        }
        self.services
            .authorizer
            .check(conn, &header, ACTION_RUN_HOOKS)
            .await?;
        let batch = self.services.commands.run_hooks(event, index).await?;
        Ok(batch
            .results
            .into_iter()
            .map(|r| (r.script, r.status, r.error))
            .collect())
    }

    /// What `RunHooks` would do now, running nothing: the scripts in run order, the exact
    /// environment (sorted by name) and the standard input (the JSON document; empty for
    /// `/dev/null`) they would get.
    ///
    /// Errors: `org.freedesktop.NetworkBroker1.Error.InvalidArgument`,
    /// `org.freedesktop.NetworkBroker1.Error.NoSuchLink`, `org.freedesktop.DBus.Error.Failed`.
    #[zbus(out_args("scripts", "environment", "stdin"))]
    async fn dry_run_hooks(
        &self,
        event: &str,
        index: i32,
    ) -> Result<(Vec<String>, Vec<(String, String)>, String), ApiError> {
        event_arg(event)?;
        let index = index_arg(index)?;
        let dry = self.services.commands.dry_run_hooks(event, index).await?;
        Ok((dry.scripts, dry.env, dry.stdin))
    }

    /// Reconciles policy routing now: computes the rules and routes the configuration calls
    /// for and applies the difference to the kernel. polkit action
    /// `org.freedesktop.NetworkBroker1.reconcile-routing`.
    ///
    /// Errors: `org.freedesktop.DBus.Error.AccessDenied`,
    /// `org.freedesktop.DBus.Error.InteractiveAuthorizationRequired`,
    /// `org.freedesktop.NetworkBroker1.Error.RoutingFailed`.
    async fn reconcile_routing(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), ApiError> {
        no_arguments(&header)?;
        self.services
            .authorizer
            .check(conn, &header, ACTION_RECONCILE_ROUTING)
            .await?;
        self.services.commands.reconcile_routing().await?;
        Ok(())
    }

    /// Policy routing as JSON: for every link in `RoutingPolicyRules` its table, and the rules
    /// and routes the configuration calls for (`desired`) next to the ones of ours the kernel
    /// has (`actual`), with what a reconcile would change (`pending`).
    ///
    /// Errors: `org.freedesktop.NetworkBroker1.Error.RoutingFailed`.
    #[zbus(out_args("json"))]
    async fn describe_routing(
        &self,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<String, ApiError> {
        no_arguments(&header)?;
        let status = self.services.commands.routing_status().await?;
        serde_json::to_string(&status)
            .map_err(|err| ApiError::Failed(format!("cannot encode the routing status: {err}")))
    }

    /// An address was added to a link: ifindex, address in text form, prefix length, and the
    /// event's sequence number.
    #[zbus(signal)]
    pub async fn address_added(
        emitter: &SignalEmitter<'_>,
        index: i32,
        address: &str,
        prefix_len: u8,
        sequence: u64,
    ) -> zbus::Result<()>;

    /// An address was removed from a link: ifindex, address in text form, prefix length, and
    /// the event's sequence number.
    #[zbus(signal)]
    pub async fn address_removed(
        emitter: &SignalEmitter<'_>,
        index: i32,
        address: &str,
        prefix_len: u8,
        sequence: u64,
    ) -> zbus::Result<()>;

    /// A link's routes changed and have settled: once per burst, when `routes-modified.d`
    /// would run. The ifindex and the event's sequence number.
    #[zbus(signal)]
    pub async fn routes_modified(
        emitter: &SignalEmitter<'_>,
        index: i32,
        sequence: u64,
    ) -> zbus::Result<()>;

    /// A link appeared: interface index, name, object path, and the event's sequence number.
    #[zbus(signal)]
    pub async fn link_added(
        emitter: &SignalEmitter<'_>,
        index: i32,
        name: &str,
        path: ObjectPath<'_>,
        sequence: u64,
    ) -> zbus::Result<()>;

    /// The hooks of one event ran: event (directory stem), ifindex (0 for `manager`), per
    /// script its path, exit status (128+N: killed by signal N, 124: timed out, 127: could
    /// not start) and an error text (empty on success), and how many earlier requests of the
    /// link were coalesced into this run because its backlog was full (0 normally; see
    /// `HookBacklog`), and the event's sequence number.
    #[zbus(signal)]
    pub async fn hooks_completed(
        emitter: &SignalEmitter<'_>,
        event: &str,
        index: i32,
        results: &[(String, u32, String)],
        coalesced: u32,
        sequence: u64,
    ) -> zbus::Result<()>;

    /// A link's dhclient lease changed in content, appeared or went away: ifindex, name and
    /// the lease key by key (empty when it went away), and the event's sequence number.
    #[zbus(signal)]
    pub async fn lease_changed(
        emitter: &SignalEmitter<'_>,
        index: i32,
        name: &str,
        lease: std::collections::HashMap<String, String>,
        sequence: u64,
    ) -> zbus::Result<()>;

    /// A link's properties changed: ifindex and the changed properties with their new values,
    /// exactly as the link object's `PropertiesChanged` carries them, so that state changes
    /// are numbered in the event stream too; and the event's sequence number.
    #[zbus(signal)]
    pub async fn link_properties_changed(
        emitter: &SignalEmitter<'_>,
        index: i32,
        changed: std::collections::HashMap<String, zbus::OwnedVariant>,
        sequence: u64,
    ) -> zbus::Result<()>;

    /// A link disappeared: interface index, its last name, the object path it had, and the
    /// event's sequence number.
    #[zbus(signal)]
    pub async fn link_removed(
        emitter: &SignalEmitter<'_>,
        index: i32,
        name: &str,
        path: ObjectPath<'_>,
        sequence: u64,
    ) -> zbus::Result<()>;
}
