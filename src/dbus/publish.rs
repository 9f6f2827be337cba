//! Keeps the bus in step with the broker: compares each new snapshot with the last one it
//! published and turns the difference into link objects, `LinkAdded`/`LinkRemoved` signals and
//! `PropertiesChanged`. Only this task adds or removes objects.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use zbus::object_server::SignalEmitter;
use zbus::Connection;

use crate::model::{Address, IfIndex, LinkView, Snapshot, StateProperty, States};

use super::link::{lease_of, Link};
use super::manager::{wire_index, Manager};
use super::names::MANAGER_PATH;
use super::path::link_path;

/// Publishes every snapshot until `cancel` fires or the broker goes away.
pub async fn run(
    conn: Connection,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    cancel: CancellationToken,
) {
    let mut published = Arc::new(Snapshot::default());
    loop {
        let current = snapshots.borrow_and_update().clone();
        if !Arc::ptr_eq(&current, &published) {
            sync(&conn, &snapshots, &published, &current).await;
            published = current;
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            changed = snapshots.changed() => if changed.is_err() { break },
        }
    }
    debug!("publisher stopped");
}

async fn sync(
    conn: &Connection,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    old: &Snapshot,
    new: &Snapshot,
) {
    let server = conn.object_server();
    let manager = match SignalEmitter::new(conn, MANAGER_PATH) {
        Ok(emitter) => emitter,
        Err(err) => {
            warn!(error = %err, "bus: cannot address the manager object: {err}");
            return;
        }
    };

    if old.manager != new.manager {
        emit_manager_changes(conn, &old.manager, &new.manager).await;
    }

    for (index, view) in &old.links {
        if new.links.contains_key(index) {
            continue;
        }
        let path = link_path(*index);
        if let Err(err) = server.remove::<Link, _>(&path).await {
            warn!(ifindex = index, error = %err, "bus: failed to remove the object of link {index}: {err}");
        }
        let sent = Manager::link_removed(
            &manager,
            wire_index(*index),
            &view.attrs.name,
            path.as_ref(),
        )
        .await;
        log_failed_signal(sent, "LinkRemoved");
    }

    for (index, view) in &new.links {
        // Most links are unchanged (shared with the previous snapshot): skip them before
        // doing any work, since a burst publishes many snapshots of many links.
        let before = old.links.get(index);
        if before.is_some_and(|before| Arc::ptr_eq(before, view)) {
            continue;
        }
        let path = link_path(*index);
        match before {
            None => {
                match server.at(&path, Link::new(*index, snapshots.clone())).await {
                    Ok(_) => {}
                    Err(err) => {
                        warn!(ifindex = index, error = %err, "bus: failed to add the object of link {index}: {err}");
                        continue;
                    }
                }
                let sent = Manager::link_added(
                    &manager,
                    wire_index(*index),
                    &view.attrs.name,
                    path.as_ref(),
                )
                .await;
                log_failed_signal(sent, "LinkAdded");
                emit_address_changes(&manager, *index, &[], &view.addresses).await;
            }
            Some(before) => {
                emit_property_changes(conn, &path, before, view).await;
                if before.addresses != view.addresses {
                    emit_address_changes(&manager, *index, &before.addresses, &view.addresses)
                        .await;
                }
            }
        }
    }
}

/// The addresses in `after` that `before` does not have, and the other way round (an address
/// is the same address when its IP and prefix length are; a change of lifetimes or flags is not
/// news).
pub fn address_diff<'a>(
    before: &'a [Address],
    after: &'a [Address],
) -> (Vec<&'a Address>, Vec<&'a Address>) {
    let same = |a: &Address, b: &Address| a.ip == b.ip && a.prefix_len == b.prefix_len;
    let added = after
        .iter()
        .filter(|a| !before.iter().any(|b| same(a, b)))
        .collect();
    let removed = before
        .iter()
        .filter(|b| !after.iter().any(|a| same(a, b)))
        .collect();
    (added, removed)
}

/// `AddressRemoved` for every address gone, then `AddressAdded` for every new one.
async fn emit_address_changes(
    manager: &SignalEmitter<'_>,
    index: IfIndex,
    before: &[Address],
    after: &[Address],
) {
    let (added, removed) = address_diff(before, after);
    for address in removed {
        let sent = Manager::address_removed(
            manager,
            wire_index(index),
            &address.ip.to_string(),
            address.prefix_len,
        )
        .await;
        log_failed_signal(sent, "AddressRemoved");
    }
    for address in added {
        let sent = Manager::address_added(
            manager,
            wire_index(index),
            &address.ip.to_string(),
            address.prefix_len,
        )
        .await;
        log_failed_signal(sent, "AddressAdded");
    }
}

/// Publishes the broker's notices (`RoutesModified`) until the broker stops.
pub async fn notices(
    conn: Connection,
    mut notices: tokio::sync::mpsc::UnboundedReceiver<crate::broker::command::Notice>,
) {
    let emitter = match SignalEmitter::new(&conn, MANAGER_PATH) {
        Ok(emitter) => emitter,
        Err(err) => {
            warn!(error = %err, "bus: cannot address the manager object; notices not published: {err}");
            while notices.recv().await.is_some() {}
            return;
        }
    };
    while let Some(notice) = notices.recv().await {
        match notice {
            crate::broker::command::Notice::RoutesModified(index) => {
                let sent = Manager::routes_modified(&emitter, wire_index(index)).await;
                log_failed_signal(sent, "RoutesModified");
            }
        }
    }
}

async fn emit_property_changes(
    conn: &Connection,
    path: &zbus::OwnedObjectPath,
    before: &LinkView,
    after: &LinkView,
) {
    let iface = match conn.object_server().interface::<_, Link>(path).await {
        Ok(iface) => iface,
        Err(err) => {
            warn!(path = %path.as_str(), error = %err, "bus: link object {} missing: {err}", path.as_str());
            return;
        }
    };
    let emitter = iface.signal_emitter();
    let link = iface.get().await;
    if before.attrs.name != after.attrs.name {
        log_failed_signal(link.name_changed(emitter).await, "PropertiesChanged(Name)");
    }
    if before.attrs.oper_state != after.attrs.oper_state {
        log_failed_signal(
            link.kernel_operational_state_changed(emitter).await,
            "PropertiesChanged(KernelOperationalState)",
        );
    }
    for property in StateProperty::ALL {
        if before.states.get(&property) == after.states.get(&property) {
            continue;
        }
        let sent = match property {
            StateProperty::Operational => link.operational_state_changed(emitter).await,
            StateProperty::Carrier => link.carrier_state_changed(emitter).await,
            StateProperty::Address => link.address_state_changed(emitter).await,
            StateProperty::Administrative => link.administrative_state_changed(emitter).await,
            StateProperty::Online => link.online_state_changed(emitter).await,
            // Not published per family; AddressState summarises both.
            StateProperty::Ipv4Address | StateProperty::Ipv6Address => Ok(()),
        };
        log_failed_signal(sent, property.name());
    }
    if before.lease != after.lease {
        for (changed, what) in [
            (
                link.lease_changed(emitter).await,
                "PropertiesChanged(Lease)",
            ),
            // zbus derives the method name from the D-Bus name `DNS`.
            (link.d_n_s_changed(emitter).await, "PropertiesChanged(DNS)"),
            (
                link.domains_changed(emitter).await,
                "PropertiesChanged(Domains)",
            ),
        ] {
            log_failed_signal(changed, what);
        }
        // Renewals that only move the lease's times are not news to subscribers.
        let same_content = match (&before.lease, &after.lease) {
            (Some(b), Some(a)) => b.same_content(a),
            (None, None) => true,
            _ => false,
        };
        if !same_content {
            let manager = SignalEmitter::new(conn, MANAGER_PATH);
            if let Ok(manager) = manager {
                let sent = Manager::lease_changed(
                    &manager,
                    wire_index(after.attrs.index),
                    &after.attrs.name,
                    lease_of(after),
                )
                .await;
                log_failed_signal(sent, "LeaseChanged");
            }
        }
    }
    if before.addresses != after.addresses {
        log_failed_signal(
            link.addresses_changed(emitter).await,
            "PropertiesChanged(Addresses)",
        );
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
            warn!(error = %err, "bus: manager object missing: {err}");
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
    mut results: tokio::sync::mpsc::UnboundedReceiver<crate::hooks::BatchResult>,
) {
    let emitter = match SignalEmitter::new(&conn, MANAGER_PATH) {
        Ok(emitter) => emitter,
        Err(err) => {
            warn!(error = %err, "bus: cannot address the manager object; hook results not published: {err}");
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
        let sent =
            Manager::hooks_completed(&emitter, &batch.event, index, &scripts, batch.coalesced)
                .await;
        log_failed_signal(sent, "HooksCompleted");
    }
}

fn log_failed_signal(result: zbus::Result<()>, what: &str) {
    if let Err(err) = result {
        warn!(signal = what, error = %err, "bus: failed to emit signal {what}: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::address;

    #[test]
    fn address_diff_by_ip_and_prefix() {
        let before = [address("10.0.0.1", 24), address("fe80::1", 64)];
        let after = [address("10.0.0.1", 24), address("10.0.0.2", 24)];
        let (added, removed) = address_diff(&before, &after);
        assert_eq!(added, vec![&after[1]]);
        assert_eq!(removed, vec![&before[1]]);
        let (added, removed) = address_diff(&before, &before);
        assert!(added.is_empty() && removed.is_empty());
    }
}
