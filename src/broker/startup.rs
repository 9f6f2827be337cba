//! networkd-dispatcher's `--run-startup-triggers`, as a pure decision: which source's report
//! the triggers wait for, and which link states are due once it is in.

use crate::config::{Config, Generator};
use crate::hooks::Dispatched;
use crate::model::{IfIndex, StateProperty};

use super::state::{Origin, State};

/// Where the states the triggers run come from: derived from the kernel, or networkd's
/// report. `None` for dhclient, whose leases are acted on when they change, not at start.
pub fn origin(generator: Generator) -> Option<Origin> {
    match generator {
        Generator::Netlink => Some(Origin::Kernel),
        Generator::SystemdNetworkd => Some(Origin::Networkd),
        Generator::Dhclient => None,
    }
}

/// Whether the reports the triggers need are in: the kernel's first dump (which names the
/// links) and, for networkd, its first report (which gives their states), in whichever order
/// the sources delivered them.
pub fn ready(origin: Origin, kernel_seen: bool, networkd_seen: bool) -> bool {
    kernel_seen && (origin == Origin::Kernel || networkd_seen)
}

/// Every selected link's current operational and administrative state, except those this
/// boot already dispatched (a restarted daemon does not repeat them).
pub fn due(
    config: &Config,
    state: &State,
    origin: Origin,
    dispatched: &Dispatched,
) -> Vec<(IfIndex, StateProperty, &'static str)> {
    let mut due = Vec::new();
    for view in state.links() {
        let index = view.attrs.index;
        let states = match origin {
            Origin::Kernel => state.derived(index),
            Origin::Networkd => state.networkd(index),
        };
        let Some(states) = states else { continue };
        if !config.link_selected(&view.attrs.name) {
            continue;
        }
        for property in [StateProperty::Operational, StateProperty::Administrative] {
            if let Some(value) = states.get(&property) {
                if !dispatched.contains(index, property, value) {
                    due.push((index, property, *value));
                }
            }
        }
    }
    due
}

#[cfg(test)]
mod tests;
