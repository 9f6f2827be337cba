//! Keeps the bus in step with the broker. Discrete signals (`LinkAdded`/`LinkRemoved`,
//! `AddressAdded`/`AddressRemoved`, `RoutesModified`) come from the broker's change stream
//! ([`Notice`]), one per change and in order, together with the link objects they announce;
//! property state (`PropertiesChanged`) comes from comparing each new snapshot with the last
//! one published, so a burst may coalesce into its final state. Every Manager signal goes out
//! numbered through the event stream ([`EventStream`]), and each link's `PropertiesChanged`
//! is followed by the Manager's `LinkPropertiesChanged` with the same change, so that state
//! changes are in the stream too. Only this task adds or removes objects.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use zbus::fdo::Properties;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, OwnedVariant, Variant};

use crate::broker::command::Notice;
use crate::model::{IfIndex, LinkView, Snapshot, StateProperty, States};

use super::link::{addresses_of, dns_of, domains_of, lease_of, state_of, Link};
use super::manager::{wire_index, Manager};
use super::names::{LINK_INTERFACE, MANAGER_PATH};
use super::path::link_path;
use super::stream::{EventStream, StreamEvent};

/// Publishes every notice and snapshot until `cancel` fires or the broker goes away.
pub async fn run(
    conn: Connection,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut notices: mpsc::UnboundedReceiver<Notice>,
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
                    announce(&conn, &manager, &stream, &snapshots, &mut objects, notice).await;
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
                Some(notice) => announce(&conn, &manager, &stream, &snapshots, &mut objects, notice).await,
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
    objects: &mut HashSet<IfIndex>,
    notice: Notice,
) {
    let server = conn.object_server();
    match notice {
        Notice::LinkAdded(index, name) => {
            let path = link_path(index);
            if let Err(err) = server.at(&path, Link::new(index, snapshots.clone())).await {
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
                if let Err(err) = server.remove::<Link, _>(&path).await {
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
    // Both maps are ordered by index: walk them side by side, one pass per snapshot instead
    // of a lookup per link (with 4,096 links this loop was 8 % of the daemon's samples while
    // they appeared, docs/benchmarks.md).
    let mut earlier = old.links.iter().peekable();
    for (index, view) in &new.links {
        while earlier.next_if(|(i, _)| *i < index).is_some() {}
        // A link new in this snapshot has no object yet: `LinkAdded` announces it.
        let Some((_, before)) = earlier.next_if(|(i, _)| *i == index) else {
            continue;
        };
        // Most links are unchanged (shared with the previous snapshot): skip them before
        // doing any work, since a burst publishes many snapshots of many links.
        if Arc::ptr_eq(before, view) || !objects.contains(index) {
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
/// docs/benchmarks.md). It is emitted straight at the object's path; no lookup in the object
/// server, whose tree lock the bus's method calls share.
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
        let numbered = owned_changes(&changed);
        match SignalEmitter::new(conn, path.as_ref()) {
            Ok(emitter) => {
                let sent = Properties::properties_changed(
                    &emitter,
                    InterfaceName::from_static_str_unchecked(LINK_INTERFACE),
                    changed,
                    Cow::Borrowed(&[]),
                )
                .await;
                log_failed_signal(sent, "PropertiesChanged");
                link_properties_changed(conn, stream, after, numbered).await;
            }
            Err(err) => {
                warn!(path = %path.as_str(), error = %err, "bus: cannot address the object {}: {err}", path.as_str());
            }
        }
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

async fn emit_manager_changes(conn: &Connection, before: &States, after: &States) {
    let iface = match conn
        .object_server()
        .interface::<_, Manager>(MANAGER_PATH)
        .await
    {
        Ok(iface) => iface,
        Err(err) => {
            warn!(error = %err, "bus: the manager object is missing: {err}");
            return;
        }
    };
    let emitter = iface.signal_emitter();
    let manager = iface.get().await;
    for property in StateProperty::ALL {
        if before.get(&property) == after.get(&property) {
            continue;
        }
        let sent = match property {
            StateProperty::Operational => manager.operational_state_changed(emitter).await,
            StateProperty::Carrier => manager.carrier_state_changed(emitter).await,
            StateProperty::Address => manager.address_state_changed(emitter).await,
            StateProperty::Online => manager.online_state_changed(emitter).await,
            StateProperty::Ipv4Address
            | StateProperty::Ipv6Address
            | StateProperty::Administrative => Ok(()),
        };
        log_failed_signal(sent, property.name());
    }
}

/// Publishes each hook batch's outcome as `HooksCompleted` until the runner stops.
pub async fn hook_results(
    conn: Connection,
    stream: EventStream,
    mut results: tokio::sync::mpsc::UnboundedReceiver<crate::broker::command::BatchResult>,
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

/// The Manager's `LinkPropertiesChanged` for what a link's `PropertiesChanged` just carried:
/// the same change, numbered in the event stream (docs/dbus-api.md, "The event stream").
async fn link_properties_changed(
    conn: &Connection,
    stream: &EventStream,
    after: &LinkView,
    changed: HashMap<String, OwnedVariant>,
) {
    match SignalEmitter::new(conn, MANAGER_PATH) {
        Ok(manager) => {
            let event = StreamEvent::LinkPropertiesChanged(wire_index(after.attrs.index), changed);
            log_failed_signal(stream.emit(&manager, event).await, "LinkPropertiesChanged");
        }
        Err(err) => warn!(error = %err, "bus: cannot address the manager object: {err}"),
    }
}

/// The changed properties as the event stream keeps them.
fn owned_changes(changed: &HashMap<&str, Variant<'_>>) -> HashMap<String, OwnedVariant> {
    let mut owned = HashMap::with_capacity(changed.len());
    for (property, value) in changed {
        match value.try_to_owned() {
            Ok(value) => {
                owned.insert((*property).to_string(), value);
            }
            // Only a file descriptor cannot be copied, and no link property is one.
            Err(err) => {
                warn!(property = *property, error = %err, "bus: {property} left out of LinkPropertiesChanged: {err}")
            }
        }
    }
    owned
}

fn log_failed_signal(result: zbus::Result<()>, what: &str) {
    if let Err(err) = result {
        warn!(signal = what, error = %err, "bus: failed to emit {what}: {err}");
    }
}
