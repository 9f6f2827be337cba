//! The log lines of applied changes: links appearing, going and renamed at info, address
//! and state changes at debug, leases at info.

use tracing::{debug, info};

use super::state::{Change, State};

/// Logs each of `changes`, as `state` (where they are already applied) names the links.
pub fn changes(state: &State, changes: &[Change]) {
    for change in changes {
        match change {
            Change::LinkAdded(_) | Change::LinkRemoved(_) | Change::LinkRenamed { .. } => {
                link_change(state, change)
            }
            Change::AddressAdded(index, a) | Change::AddressRemoved(index, a) => {
                let (done, to) = match change {
                    Change::AddressAdded(..) => ("added", "to"),
                    _ => ("removed", "from"),
                };
                debug!(
                    ifindex = index,
                    address = %a.ip,
                    prefix = a.prefix_len,
                    "address {}/{} {done} {to} link {index}",
                    a.ip,
                    a.prefix_len
                )
            }
            Change::StatesChanged {
                index,
                origin,
                changed,
            } => {
                for (property, value) in changed {
                    debug!(
                        ifindex = index,
                        ?origin,
                        "link {index}: {}={value} ({origin:?})",
                        property.name()
                    );
                }
            }
            Change::LeaseChanged {
                interface, after, ..
            } => match after {
                Some(lease) => {
                    info!(
                        ifname = %interface,
                        address = ?lease.address,
                        "{interface}: lease changed (address {:?})",
                        lease.address
                    )
                }
                None => info!(ifname = %interface, "{interface}: lease gone"),
            },
            Change::LinkChanged(_)
            | Change::RoutesChanged(_)
            | Change::ManagerStatesChanged(_)
            | Change::RuleAdded(_)
            | Change::RuleRemoved(_) => {}
        }
    }
}

/// Logs a link that appeared, went or was renamed.
fn link_change(state: &State, change: &Change) {
    match change {
        Change::LinkAdded(index) => {
            if let Some(view) = state.link(*index) {
                info!(
                    ifindex = index,
                    ifname = %view.attrs.name,
                    "link {} appeared (index {index})",
                    view.attrs.name
                );
            }
        }
        Change::LinkRemoved(view) => {
            info!(
                ifindex = view.attrs.index,
                ifname = %view.attrs.name,
                "link {} removed (index {})",
                view.attrs.name,
                view.attrs.index
            )
        }
        Change::LinkRenamed { index, old } => {
            if let Some(view) = state.link(*index) {
                info!(
                    ifindex = index,
                    old = %old,
                    ifname = %view.attrs.name,
                    "link {old} renamed to {} (index {index})",
                    view.attrs.name
                );
            }
        }
        _ => {}
    }
}
