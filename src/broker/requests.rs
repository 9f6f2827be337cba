//! The hook requests the broker's decisions turn into: which event each runs, with which
//! variables, about which view of the link (pure; the broker hands them to the runner).
//!
//! The variables follow networkd-dispatcher: every current state of the link by its property
//! name, and `STATE`, the state that chose the directory (see `docs/hooks.md`).

use std::sync::Arc;

use crate::hooks::{HookEvent, Request};
use crate::model::{Lease, LinkView, StateProperty, States};

/// `(name, value)` of every state in `states`, in property order.
fn state_vars(states: &States) -> impl Iterator<Item = (String, String)> + '_ {
    states
        .iter()
        .map(|(property, value)| (property.name().to_string(), value.to_string()))
}

/// `STATE=<value>`.
fn state_var(value: &str) -> (String, String) {
    ("STATE".to_string(), value.to_string())
}

/// `<value>.d` for a link whose `property` became `value`: that state first, then the link's
/// other states, then `STATE`. `table` is the link's policy-routing table (0 when none), as
/// for every request about a link: it goes into the hook's JSON.
pub fn state_change(
    view: &Arc<LinkView>,
    table: u32,
    property: StateProperty,
    value: &'static str,
) -> Request {
    let mut vars = vec![(property.name().to_string(), value.to_string())];
    vars.extend(
        view.states
            .iter()
            .filter(|(other, _)| **other != property)
            .map(|(other, current)| (other.name().to_string(), current.to_string())),
    );
    vars.push(state_var(value));
    Request {
        event: HookEvent::State(value),
        link: Some(Arc::clone(view)),
        vars,
        lease: None,
        routing_table: table,
    }
}

/// `routable.d` for a new or changed dhclient lease (the original's dhclient mode ran only
/// this directory), with the lease.
pub fn lease_change(view: &Arc<LinkView>, table: u32, lease: Lease) -> Request {
    const ROUTABLE: &str = "routable";
    Request {
        event: HookEvent::State(ROUTABLE),
        link: Some(Arc::clone(view)),
        vars: state_vars(&view.states)
            .chain([state_var(ROUTABLE)])
            .collect(),
        lease: Some(lease),
        routing_table: table,
    }
}

/// `manager.d` with every current manager state (the changed ones among them, with their new
/// values).
pub fn manager_change(manager: &States) -> Request {
    Request {
        event: HookEvent::Manager,
        link: None,
        vars: state_vars(manager).collect(),
        lease: None,
        routing_table: 0,
    }
}

/// `routes-modified.d` for a link whose routes settled; no variables of its own.
pub fn routes_modified(view: &Arc<LinkView>, table: u32) -> Request {
    Request {
        event: HookEvent::RoutesModified,
        // Shared with the snapshot: the runner keeps the view of this moment alive.
        link: Some(Arc::clone(view)),
        vars: Vec::new(),
        lease: None,
        routing_table: table,
    }
}

/// The request `event` of this link gets now, on an administrator's request (`RunHooks`,
/// `DryRunHooks`): its current view, states and lease, and `STATE` when the event is a state.
pub fn on_request(view: &Arc<LinkView>, table: u32, event: HookEvent) -> Request {
    let mut vars: Vec<(String, String)> = state_vars(&view.states).collect();
    if let Some(state) = event.state() {
        vars.push(state_var(state));
    }
    Request {
        event,
        link: Some(Arc::clone(view)),
        vars,
        lease: view.lease.as_deref().cloned(),
        routing_table: table,
    }
}

#[cfg(test)]
pub(crate) mod tests;
