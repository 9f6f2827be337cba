//! `org.freedesktop.DBus.ObjectManager` at the manager's path: `GetManagedObjects` lists the
//! link objects and nothing else.
//!
//! zbus's own `fdo::ObjectManager` lists every node below it, so the intermediate
//! `/org/freedesktop/NetworkBroker1/link` node, which has no interface, appeared with an
//! empty interface map. This one walks the links of the latest snapshot instead and lists each
//! whose object exists. `InterfacesAdded` and `InterfacesRemoved` are still emitted by zbus's
//! object server, which sends them for any interface of this name.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use zbus::fdo::ManagedObjects;
use zbus::names::{InterfaceName, OwnedInterfaceName};
use zbus::object_server::{Interface, SignalEmitter};
use zbus::{interface, Connection, ObjectPath, ObjectServer, Variant};

use crate::model::{IfIndex, Snapshot};

use super::link::Link;
use super::path::link_path;
use super::read_only::ReadOnly;

/// The object manager.
pub struct Objects {
    snapshot: watch::Receiver<Arc<Snapshot>>,
}

impl Objects {
    /// An object manager listing the links of the broker's snapshots.
    pub fn new(snapshot: watch::Receiver<Arc<Snapshot>>) -> Self {
        Self { snapshot }
    }
}

#[interface(name = "org.freedesktop.DBus.ObjectManager")]
impl Objects {
    /// Every link object with its `org.freedesktop.NetworkBroker1.Link` properties. A link the
    /// publisher has not given an object yet is left out (its `InterfacesAdded` follows), and
    /// so is an object whose link is already gone (its `InterfacesRemoved` follows).
    // The argument's name in the D-Bus specification.
    #[zbus(out_args("objpath_interfaces_and_properties"))]
    async fn get_managed_objects(
        &self,
        #[zbus(object_server)] server: &ObjectServer,
        #[zbus(connection)] connection: &Connection,
    ) -> zbus::fdo::Result<ManagedObjects> {
        let indexes: Vec<IfIndex> = self.snapshot.borrow().links.keys().copied().collect();
        let mut objects = ManagedObjects::new();
        for index in indexes {
            let path = link_path(index);
            let Ok(link) = server.interface::<_, ReadOnly<Link>>(&path).await else {
                continue;
            };
            let emitter = link.signal_emitter().clone();
            let properties = link
                .get()
                .await
                .get_all(server, connection, None, &emitter)
                .await?;
            let interface = OwnedInterfaceName::from(<ReadOnly<Link> as Interface>::name());
            objects.insert(path, HashMap::from([(interface, properties)]));
        }
        Ok(objects)
    }

    /// An object appeared (zbus's object server emits it): its path and its interfaces with
    /// their properties.
    #[zbus(signal)]
    pub async fn interfaces_added(
        emitter: &SignalEmitter<'_>,
        object_path: ObjectPath<'_>,
        interfaces_and_properties: HashMap<InterfaceName<'_>, HashMap<&str, Variant<'_>>>,
    ) -> zbus::Result<()>;

    /// An object went away (zbus's object server emits it): its path and its interfaces.
    #[zbus(signal)]
    pub async fn interfaces_removed(
        emitter: &SignalEmitter<'_>,
        object_path: ObjectPath<'_>,
        interfaces: Cow<'_, [InterfaceName<'_>]>,
    ) -> zbus::Result<()>;
}
