//! Keeps the bus in step with the broker. Discrete signals (`LinkAdded`/`LinkRemoved`,
//! `AddressAdded`/`AddressRemoved`, `RoutesModified`) come from the broker's change stream
//! ([`Notice`]), one per change and in order, together with the link objects they announce;
//! property state (`PropertiesChanged`) comes from comparing each new snapshot with the last
//! one published, so a burst may coalesce into its final state. Every Manager signal goes out
//! numbered through the event stream ([`EventStream`]), and each link's `PropertiesChanged`
//! is followed by the Manager's `LinkPropertiesChanged` with the same change, so that state
//! changes are in the stream too. Only this task adds or removes objects.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use zbus::object_server::SignalEmitter;
use zbus::{Connection, Variant};

use crate::broker::command::Notice;
use crate::model::{IfIndex, LinkView, Snapshot, StateProperty, States};

use super::hook_record::{now_us, SharedRecord};
use super::link::{addresses_of, dns_of, domains_of, lease_of, state_of, Link};
use super::manager::wire_index;
use super::names::{LINK_INTERFACE, MANAGER_INTERFACE, MANAGER_PATH, PROPERTIES_INTERFACE};
use super::path::link_path;
use super::read_only::ReadOnly;
use super::stream::{EventStream, StreamEvent};

/// Publishes every notice and snapshot until `cancel` fires or the broker goes away. The link
/// objects it creates read their hook results from `hooks`.
pub async fn run(
    conn: Connection,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut notices: mpsc::UnboundedReceiver<Notice>,
    hooks: SharedRecord,
    stream: EventStream,
    cancel: CancellationToken,
) {
    let manager = match SignalEmitter::new(&conn, MANAGER_PATH) {
        Ok(emitter) => emitter,
        Err(err) => {
            warn!(error = %err, "bus: cannot address the manager object, nothing published: {err}");
            return;
        }
    };
    let mut published = Arc::new(Snapshot::default());
    // The links whose objects exist: property changes are only news for those.
    let mut objects = HashSet::new();
    loop {
        let current = snapshots.borrow_and_update().clone();
        // The broker queues the notices of a batch before it publishes the batch's snapshot,
        // so everything `current` holds has been announced once these are out. Only what is
        // queued now: a long burst must not starve the property updates.
        for _ in 0..notices.len() {
            match notices.try_recv() {
                Ok(notice) => {
                    announce(
                        &conn,
                        &manager,
                        &stream,
                        &snapshots,
                        &hooks,
                        &mut objects,
                        notice,
                    )
                    .await;
                }
                Err(_) => break,
            }
        }
        if !Arc::ptr_eq(&current, &published) {
            sync(&conn, &stream, &objects, &published, &current).await;
            published = current;
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            changed = snapshots.changed() => if changed.is_err() { break },
            notice = notices.recv() => match notice {
                Some(notice) => {
                    announce(&conn, &manager, &stream, &snapshots, &hooks, &mut objects, notice).await;
                }
                None => break,
            },
        }
    }
    debug!("publisher stopped");
}

/// One change of the broker's stream on the bus: the object first, so that a subscriber
/// reacting to `LinkAdded` finds it (unless the link is already gone again).
async fn announce(
    conn: &Connection,
    manager: &SignalEmitter<'_>,
    stream: &EventStream,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    hooks: &SharedRecord,
    objects: &mut HashSet<IfIndex>,
    notice: Notice,
) {
    let server = conn.object_server();
    match notice {
        Notice::LinkAdded(index, name) => {
            let path = link_path(index);
            let link = Link::new(index, &name, snapshots.clone(), hooks.clone());
            if let Err(err) = server.at(&path, ReadOnly(link)).await {
                warn!(ifindex = index, error = %err, "bus: failed to add the object of link {index}: {err}");
            } else {
                objects.insert(index);
            }
            let event = StreamEvent::LinkAdded(wire_index(index), name, path);
            let sent = stream.emit(manager, event).await;
            log_failed_signal(sent, "LinkAdded");
        }
        Notice::LinkRemoved(index, name) => {
            let path = link_path(index);
            if objects.remove(&index) {
                if let Err(err) = server.remove::<ReadOnly<Link>, _>(&path).await {
                    warn!(ifindex = index, error = %err, "bus: failed to remove the object of link {index}: {err}");
                }
            }
            let event = StreamEvent::LinkRemoved(wire_index(index), name, path);
            let sent = stream.emit(manager, event).await;
            log_failed_signal(sent, "LinkRemoved");
        }
        Notice::AddressAdded(index, address) => {
            let event = StreamEvent::AddressAdded(
                wire_index(index),
                address.ip.to_string(),
                address.prefix_len,
            );
            let sent = stream.emit(manager, event).await;
            log_failed_signal(sent, "AddressAdded");
        }
        Notice::AddressRemoved(index, address) => {
            let event = StreamEvent::AddressRemoved(
                wire_index(index),
                address.ip.to_string(),
                address.prefix_len,
            );
            let sent = stream.emit(manager, event).await;
            log_failed_signal(sent, "AddressRemoved");
        }
        Notice::RoutesModified(index) => {
            let event = StreamEvent::RoutesModified(wire_index(index));
            let sent = stream.emit(manager, event).await;
            log_failed_signal(sent, "RoutesModified");
        }
    }
}

/// `PropertiesChanged` for what differs between two snapshots, on the objects that exist.
async fn sync(
    conn: &Connection,
    stream: &EventStream,
    objects: &HashSet<IfIndex>,
    old: &Snapshot,
    new: &Snapshot,
) {
    if old.manager != new.manager {
        emit_manager_changes(conn, &old.manager, &new.manager).await;
    }
    // Only the links whose views the snapshot replaced, found chunk by chunk: the chunks
    // shared with the previous snapshot are skipped whole (a walk over every link of every
    // snapshot was 5-17 % of the daemon's samples in a burst, docs/benchmarks.md). A link new
    // in this snapshot is not among them: `LinkAdded` announces it.
    for (index, before, view) in new.links.changed_since(&old.links) {
        if !objects.contains(index) {
            continue;
        }
        emit_property_changes(conn, stream, &link_path(*index), before, view).await;
    }
}

/// One `PropertiesChanged` for everything that differs between two views of a link, with the
/// values of `after`, plus `LeaseChanged` on the manager when the lease's content changed.
///
/// One signal per link and snapshot, not one per property: a link going routable changes four
/// or five states at once, and each signal is a message to every subscriber (the profile in
/// docs/benchmarks.md). The broker publishes one snapshot per batch of events, so a batch
/// gives each object at most one signal, with every property it changed.
async fn emit_property_changes(
    conn: &Connection,
    stream: &EventStream,
    path: &zbus::OwnedObjectPath,
    before: &LinkView,
    after: &LinkView,
) {
    let mut changed: HashMap<&str, Variant<'_>> = HashMap::new();
    if before.attrs.name != after.attrs.name {
        changed.insert("Name", Variant::from(after.attrs.name.clone()));
    }
    if before.attrs.oper_state != after.attrs.oper_state {
        changed.insert(
            "KernelOperationalState",
            Variant::from(after.attrs.oper_state.as_str().to_string()),
        );
    }
    for property in StateProperty::ALL {
        if before.states.get(&property) == after.states.get(&property) {
            continue;
        }
        let name = match property {
            StateProperty::Operational => "OperationalState",
            StateProperty::Carrier => "CarrierState",
            StateProperty::Address => "AddressState",
            StateProperty::Administrative => "AdministrativeState",
            StateProperty::Online => "OnlineState",
            // Not published per family; AddressState summarises both.
            StateProperty::Ipv4Address | StateProperty::Ipv6Address => continue,
        };
        changed.insert(name, Variant::from(state_of(after, property)));
    }
    let lease_changed = before.lease != after.lease;
    if lease_changed {
        changed.insert("Lease", Variant::from(lease_of(after)));
        changed.insert("DNS", Variant::from(dns_of(after)));
        changed.insert("Domains", Variant::from(domains_of(after)));
    }
    if before.addresses != after.addresses {
        changed.insert("Addresses", Variant::from(addresses_of(after)));
    }
    if !changed.is_empty() {
        properties_changed(conn, path, LINK_INTERFACE, &changed).await;
        link_properties_changed(conn, stream, wire_index(after.attrs.index), &changed).await;
    }
    if lease_changed {
        // Renewals that only move the lease's times are not news to subscribers.
        let same_content = match (&before.lease, &after.lease) {
            (Some(b), Some(a)) => b.same_content(a),
            (None, None) => true,
            _ => false,
        };
        if !same_content {
            let manager = SignalEmitter::new(conn, MANAGER_PATH);
            if let Ok(manager) = manager {
                let event = StreamEvent::LeaseChanged(
                    wire_index(after.attrs.index),
                    after.attrs.name.clone(),
                    lease_of(after),
                );
                let sent = stream.emit(&manager, event).await;
                log_failed_signal(sent, "LeaseChanged");
            }
        }
    }
}

/// One `PropertiesChanged` on the manager with every state that changed, for the same
/// reason as [`emit_property_changes`]; built here from the snapshot, since zbus's generated
/// `*_changed` helpers send one signal per property.
async fn emit_manager_changes(conn: &Connection, before: &States, after: &States) {
    let mut changed: HashMap<&str, Variant<'_>> = HashMap::new();
    for property in StateProperty::ALL {
        if before.get(&property) == after.get(&property) {
            continue;
        }
        let name = match property {
            StateProperty::Operational
            | StateProperty::Carrier
            | StateProperty::Address
            | StateProperty::Online => property.name(),
            // Not manager properties on the bus.
            StateProperty::Ipv4Address
            | StateProperty::Ipv6Address
            | StateProperty::Administrative => continue,
        };
        let value = after.get(&property).copied().unwrap_or_default();
        changed.insert(name, Variant::from(value.to_string()));
    }
    let path = zbus::OwnedObjectPath::try_from(MANAGER_PATH).unwrap_or_default();
    properties_changed(conn, &path, MANAGER_INTERFACE, &changed).await;
}

/// One `PropertiesChanged` of `interface` at `path` with `changed`, if anything changed. It is
/// emitted straight at the object's path; no lookup in the object server, whose tree lock the
/// bus's method calls share. The map is borrowed: the Manager's `LinkPropertiesChanged` is
/// serialized from the same one.
async fn properties_changed(
    conn: &Connection,
    path: &zbus::OwnedObjectPath,
    interface: &'static str,
    changed: &HashMap<&str, Variant<'_>>,
) {
    if changed.is_empty() {
        return;
    }
    let invalidated: &[&str] = &[];
    let sent = conn
        .emit_signal(
            None::<zbus::names::BusName<'_>>,
            path.as_ref(),
            PROPERTIES_INTERFACE,
            "PropertiesChanged",
            &(interface, changed, invalidated),
        )
        .await;
    log_failed_signal(sent, "PropertiesChanged");
}

/// Publishes each hook batch's outcome as `HooksCompleted`, and as state: it records the batch
/// in `hooks` and sends `PropertiesChanged` for the link's `HookResults` and, when a script
/// failed, the manager's `FailedHooks`. Runs until the runner stops.
pub async fn hook_results(
    conn: Connection,
    stream: EventStream,
    mut results: tokio::sync::mpsc::UnboundedReceiver<crate::broker::command::BatchResult>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    hooks: SharedRecord,
) {
    let emitter = match SignalEmitter::new(&conn, MANAGER_PATH) {
        Ok(emitter) => emitter,
        Err(err) => {
            warn!(error = %err, "bus: cannot address the manager object, hook results not published: {err}");
            while results.recv().await.is_some() {}
            return;
        }
    };
    while let Some(batch) = results.recv().await {
        record(&conn, &stream, &snapshots, &hooks, &batch).await;
        let scripts: Vec<(String, u32, String)> = batch
            .results
            .into_iter()
            .map(|r| (r.script, r.status, r.error))
            .collect();
        let index = batch.ifindex.map(wire_index).unwrap_or(0);
        let event =
            StreamEvent::HooksCompleted(batch.event.to_string(), index, scripts, batch.coalesced);
        let sent = stream.emit(&emitter, event).await;
        log_failed_signal(sent, "HooksCompleted");
    }
}

/// Records a batch in `hooks` and signals the properties that changed. A link no longer in
/// the snapshot has no object to show it: its entry is not kept (nor any other gone link's).
async fn record(
    conn: &Connection,
    stream: &EventStream,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    hooks: &SharedRecord,
    batch: &crate::broker::command::BatchResult,
) {
    // The snapshot itself (a pointer), not a copy of its link indexes: no lock is held while
    // the record's is taken, and a batch costs no pass over every link.
    let snapshot = snapshots.borrow().clone();
    let name = batch
        .ifindex
        .and_then(|index| snapshot.links.get(&index))
        .map(|view| view.attrs.name.clone());
    let (recorded, runs, failures) = hooks.with(|record| {
        let recorded = record.record(batch, name.as_deref().unwrap_or(""), now_us());
        record.retain_links(|index| snapshot.links.contains_key(&index));
        let runs = batch.ifindex.map(|index| record.link_runs(index));
        (recorded, runs, record.failures())
    });
    if let (Some(index), Some(runs), true) = (batch.ifindex, runs, recorded.link) {
        if name.is_some() {
            let changed = HashMap::from([("HookResults", Variant::from(runs))]);
            properties_changed(conn, &link_path(index), LINK_INTERFACE, &changed).await;
            link_properties_changed(conn, stream, wire_index(index), &changed).await;
        }
    }
    if recorded.failures {
        let changed = HashMap::from([("FailedHooks", Variant::from(failures))]);
        let path = zbus::OwnedObjectPath::try_from(MANAGER_PATH).unwrap_or_default();
        properties_changed(conn, &path, MANAGER_INTERFACE, &changed).await;
    }
}

/// The Manager's `LinkPropertiesChanged` for what a link's `PropertiesChanged` just carried:
/// the same change, numbered in the event stream (docs/dbus-api.md, "The event stream").
async fn link_properties_changed(
    conn: &Connection,
    stream: &EventStream,
    index: i32,
    changed: &HashMap<&str, Variant<'_>>,
) {
    match SignalEmitter::new(conn, MANAGER_PATH) {
        Ok(manager) => {
            let event = StreamEvent::LinkPropertiesChanged(index, changed);
            log_failed_signal(stream.emit(&manager, event).await, "LinkPropertiesChanged");
        }
        Err(err) => warn!(error = %err, "bus: cannot address the manager object: {err}"),
    }
}

fn log_failed_signal(result: zbus::Result<()>, what: &str) {
    if let Err(err) = result {
        warn!(signal = what, error = %err, "bus: failed to emit {what}: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::os::unix::net::UnixStream;
    use zbus::connection::Builder;
    use zbus::{Guid, MessageStream, OwnedVariant};

    /// A served connection and its peer, no bus.
    async fn pair() -> zbus::Result<(Connection, Connection)> {
        let (a, b) = UnixStream::pair().map_err(|e| zbus::Error::InputOutput(Arc::new(e)))?;
        for s in [&a, &b] {
            s.set_nonblocking(true)
                .map_err(|e| zbus::Error::InputOutput(Arc::new(e)))?;
        }
        let server = Builder::unix_stream(a)
            .server(Guid::generate())
            .p2p()
            .build();
        let client = Builder::unix_stream(b).p2p().build();
        tokio::try_join!(server, client)
    }

    /// The properties of the next `PropertiesChanged` the peer receives, by name.
    async fn next_changed(stream: &mut MessageStream) -> Vec<(String, String)> {
        let Some(Ok(message)) = stream.next().await else {
            panic!("no message");
        };
        let (iface, changed, _): (String, HashMap<String, OwnedVariant>, Vec<String>) = message
            .body()
            .deserialize()
            .expect("PropertiesChanged body");
        assert_eq!(iface, MANAGER_INTERFACE);
        let mut changed: Vec<(String, String)> = changed
            .into_iter()
            .map(|(k, v)| (k, String::try_from(v).unwrap_or_default()))
            .collect();
        changed.sort();
        changed
    }

    /// Everything a batch changed of the manager's states is one signal, however many states
    /// it changed; states the manager does not publish are not in it.
    #[tokio::test]
    async fn the_managers_changes_of_a_batch_are_one_properties_changed() -> zbus::Result<()> {
        let (server, client) = pair().await?;
        let mut stream = MessageStream::from(&client);
        let routable = States::from([
            (StateProperty::Operational, "routable"),
            (StateProperty::Carrier, "carrier"),
            (StateProperty::Address, "routable"),
            (StateProperty::Ipv4Address, "routable"),
            (StateProperty::Online, "online"),
        ]);
        emit_manager_changes(&server, &States::new(), &routable).await;
        let mut degraded = routable.clone();
        degraded.insert(StateProperty::Operational, "degraded");
        degraded.insert(StateProperty::Address, "degraded");
        emit_manager_changes(&server, &routable, &degraded).await;
        // Nothing changed: no signal (the next one received is the fence's).
        emit_manager_changes(&server, &degraded, &degraded).await;
        let mut fence = degraded.clone();
        fence.insert(StateProperty::Online, "partial");
        emit_manager_changes(&server, &degraded, &fence).await;

        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            next_changed(&mut stream).await,
            pairs(&[
                ("AddressState", "routable"),
                ("CarrierState", "carrier"),
                ("OnlineState", "online"),
                ("OperationalState", "routable"),
            ])
        );
        assert_eq!(
            next_changed(&mut stream).await,
            pairs(&[
                ("AddressState", "degraded"),
                ("OperationalState", "degraded")
            ])
        );
        assert_eq!(
            next_changed(&mut stream).await,
            pairs(&[("OnlineState", "partial")])
        );
        Ok(())
    }
}
