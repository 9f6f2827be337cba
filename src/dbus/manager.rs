//! `org.freedesktop.NetworkBroker1.Manager` at `/org/freedesktop/NetworkBroker1`: a thin
//! adapter that reads the broker's snapshot. It decides nothing.

use std::sync::Arc;

use tokio::sync::watch;
use zbus::object_server::SignalEmitter;
use zbus::{interface, ObjectPath, OwnedObjectPath};

use crate::model::Snapshot;

use super::path::link_path;

/// The manager object.
pub struct Manager {
    snapshot: watch::Receiver<Arc<Snapshot>>,
}

impl Manager {
    /// A manager reading the broker's snapshots.
    pub fn new(snapshot: watch::Receiver<Arc<Snapshot>>) -> Self {
        Self { snapshot }
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

    /// A link appeared: interface index, name, object path.
    #[zbus(signal)]
    pub async fn link_added(
        emitter: &SignalEmitter<'_>,
        index: i32,
        name: &str,
        path: ObjectPath<'_>,
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
