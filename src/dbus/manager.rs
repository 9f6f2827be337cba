//! `org.freedesktop.NetworkBroker1.Manager` at `/org/freedesktop/NetworkBroker1`: a thin
//! adapter that reads the broker's snapshot. It decides nothing.

use std::sync::Arc;

use tokio::sync::watch;
use zbus::object_server::SignalEmitter;
use zbus::{interface, ObjectPath, OwnedObjectPath};

use crate::broker::command::CommandSender;
use crate::model::{Snapshot, StateProperty};

use super::path::link_path;

/// The manager object.
pub struct Manager {
    snapshot: watch::Receiver<Arc<Snapshot>>,
    generator: String,
    commands: CommandSender,
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

    /// A manager reading the broker's snapshots.
    pub fn new(
        snapshot: watch::Receiver<Arc<Snapshot>>,
        generator: &str,
        commands: CommandSender,
    ) -> Self {
        Self {
            snapshot,
            generator: generator.to_string(),
            commands,
        }
    }
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

    /// Every link the daemon knows: interface index, name and object path.
    fn list_links(&self) -> Vec<(i32, String, OwnedObjectPath)> {
        self.snapshot
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
            .collect()
    }

    /// Reconciles policy routing now: computes the rules and routes the configuration calls
    /// for and applies the difference to the kernel.
    async fn reconcile_routing(&self) -> zbus::fdo::Result<()> {
        self.commands
            .reconcile_routing()
            .await
            .map(|_| ())
            .map_err(|err| zbus::fdo::Error::Failed(err.to_string()))
    }

    /// Policy routing as JSON: for every link in `RoutingPolicyRules` its table, and the rules
    /// and routes the configuration calls for (`desired`) next to the ones of ours the kernel
    /// has (`actual`), with what a reconcile would change (`pending`).
    async fn describe_routing(&self) -> zbus::fdo::Result<String> {
        let status = self
            .commands
            .routing_status()
            .await
            .map_err(|err| zbus::fdo::Error::Failed(err.to_string()))?;
        serde_json::to_string(&status).map_err(|err| zbus::fdo::Error::Failed(err.to_string()))
    }

    /// A link appeared: interface index, name, object path.
    #[zbus(signal)]
    pub async fn link_added(
        emitter: &SignalEmitter<'_>,
        index: i32,
        name: &str,
        path: ObjectPath<'_>,
    ) -> zbus::Result<()>;

    /// The hooks of one event ran: event (directory stem), ifindex (0 for `manager`), and
    /// per script its path, exit status (128+N: killed by signal N, 124: timed out, 127:
    /// could not start) and an error text (empty on success).
    #[zbus(signal)]
    pub async fn hooks_completed(
        emitter: &SignalEmitter<'_>,
        event: &str,
        index: i32,
        results: &[(String, u32, String)],
    ) -> zbus::Result<()>;

    /// A link's dhclient lease changed in content, appeared or went away: ifindex, name and
    /// the lease key by key (empty when it went away).
    #[zbus(signal)]
    pub async fn lease_changed(
        emitter: &SignalEmitter<'_>,
        index: i32,
        name: &str,
        lease: std::collections::HashMap<String, String>,
    ) -> zbus::Result<()>;

    /// A link disappeared: interface index, its last name, the object path it had.
    #[zbus(signal)]
    pub async fn link_removed(
        emitter: &SignalEmitter<'_>,
        index: i32,
        name: &str,
        path: ObjectPath<'_>,
    ) -> zbus::Result<()>;
}
