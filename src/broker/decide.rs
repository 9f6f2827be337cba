//! Pure decisions: from what changed in the link table to the effects the daemon must carry
//! out. No I/O and no clock here, so every rule is unit-tested by feeding changes.

use crate::config::{Config, Generator};
use crate::model::{IfIndex, Lease, StateProperty};

use super::state::{Change, Origin, State, Transitions};

/// Something the daemon must do because of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The routes of this link changed: announce it and run `routes-modified.d` (if `Links`
    /// selects the link then) once the burst settles.
    RoutesModified(IfIndex),
    /// The link is gone: drop any pending work for it.
    Forget(IfIndex),
    /// A link entered a state that names a hook directory: run `<value>.d`.
    RunStateHooks {
        /// The link.
        index: IfIndex,
        /// The property that changed (operational or administrative state).
        property: StateProperty,
        /// Its new value, also the directory stem.
        value: &'static str,
    },
    /// networkd's manager states changed: run `manager.d` once.
    RunManagerHooks(Transitions),
    /// A link's dhclient lease changed in content: run `routable.d` with the lease.
    RunLeaseHooks {
        /// The link.
        index: IfIndex,
        /// The new lease.
        lease: Box<Lease>,
    },
    /// Push what a link's lease says to resolved and hostnamed (as `UseDNS`, `UseDomain` and
    /// `UseHostname` allow), or revert what was pushed when the lease is gone.
    PushLease {
        /// The link.
        index: IfIndex,
        /// Its name, for the logs.
        name: String,
        /// The new lease; `None` reverts.
        lease: Option<Box<Lease>>,
    },
}

/// The effects of one batch of changes, in the order the changes happened.
pub fn decide(config: &Config, state: &State, changes: &[Change]) -> Vec<Effect> {
    let mut effects = Vec::new();
    for change in changes {
        match change {
            Change::RoutesChanged(index) => {
                // Every link's burst is debounced: the bus's `RoutesModified` is for every
                // link, and whether the hook runs is decided when the burst settles (the
                // link may be renamed into or out of `Links` meanwhile).
                if state.link(*index).is_some() {
                    effects.push(Effect::RoutesModified(*index));
                }
            }
            Change::LinkRemoved(view) => effects.push(Effect::Forget(view.attrs.index)),
            Change::StatesChanged {
                index,
                origin,
                changed,
            } => {
                if !drives_hooks(config.system.generator, *origin) {
                    continue;
                }
                let selected = state
                    .link(*index)
                    .is_some_and(|view| config.link_selected(&view.attrs.name));
                if !selected {
                    continue;
                }
                for (property, value) in changed {
                    if property.selects_hooks() {
                        effects.push(Effect::RunStateHooks {
                            index: *index,
                            property: *property,
                            value,
                        });
                    }
                }
            }
            Change::LeaseChanged {
                interface, after, ..
            } => {
                // Leases name interfaces; a lease for a link the kernel does not have (yet)
                // has nothing to act on now: it is acted on when the link appears (below).
                if let Some(view) = state.link_by_name(interface) {
                    let lease = after.as_deref();
                    lease_effects(config, view.attrs.index, interface, lease, &mut effects);
                }
            }
            Change::LinkAdded(index) => {
                // A link whose name has a lease already: the lease files were read before
                // the kernel's first dump named the link, or the link was created later.
                if let Some(view) = state.link(*index) {
                    let name = &view.attrs.name;
                    if let Some(lease) = state.lease(name) {
                        lease_effects(config, *index, name, Some(lease), &mut effects);
                    }
                }
            }
            Change::LinkRenamed { index, old } => {
                // The link's lease is the lease of its new name.
                if let Some(view) = state.link(*index) {
                    let name = &view.attrs.name;
                    let (before, after) = (state.lease(old), state.lease(name));
                    if !same_lease(before, after) {
                        lease_effects(config, *index, name, after, &mut effects);
                    }
                }
            }
            Change::ManagerStatesChanged(changed) => {
                if config.system.generator == Generator::SystemdNetworkd {
                    effects.push(Effect::RunManagerHooks(changed.clone()));
                }
            }
            Change::RuleAdded(_)
            | Change::RuleRemoved(_)
            | Change::LinkChanged(_)
            | Change::AddressAdded(..)
            | Change::AddressRemoved(..) => {}
        }
    }
    effects
}

/// What a link's lease becoming `lease` means (`None`: it has none now): with
/// `Generator: dhclient` and the link selected by `Links`, push it (or revert), and run
/// `routable.d` when there is a lease.
fn lease_effects(
    config: &Config,
    index: IfIndex,
    name: &str,
    lease: Option<&Lease>,
    effects: &mut Vec<Effect>,
) {
    if config.system.generator != Generator::Dhclient || !config.link_selected(name) {
        return;
    }
    effects.push(Effect::PushLease {
        index,
        name: name.to_string(),
        lease: lease.cloned().map(Box::new),
    });
    if let Some(lease) = lease {
        effects.push(Effect::RunLeaseHooks {
            index,
            lease: Box::new(lease.clone()),
        });
    }
}

/// Whether two leases say the same (a renewal that only moves the times is no change).
fn same_lease(before: Option<&Lease>, after: Option<&Lease>) -> bool {
    match (before, after) {
        (Some(b), Some(a)) => b.same_content(a),
        (None, None) => true,
        _ => false,
    }
}

/// Whether states from `origin` run hooks under `generator`. With networkd as the generator
/// only networkd's own reports count; the kernel-derived states are shown on the bus but run
/// nothing, or every transition would run twice. Leases (`dhclient`) run their own hooks.
pub fn drives_hooks(generator: Generator, origin: Origin) -> bool {
    matches!(
        (generator, origin),
        (Generator::SystemdNetworkd, Origin::Networkd) | (Generator::Netlink, Origin::Kernel)
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::event::KernelEvent;
    use crate::model::{KernelOperState, LinkAttrs};

    fn state_with(links: &[(IfIndex, &str)]) -> State {
        let mut state = State::default();
        let mut changes = Vec::new();
        for (index, name) in links {
            state.apply(
                KernelEvent::LinkChanged(LinkAttrs {
                    index: *index,
                    name: name.to_string(),
                    kind: None,
                    mac: None,
                    mtu: None,
                    flags: 0,
                    oper_state: KernelOperState::Up,
                }),
                &mut changes,
            );
        }
        state
    }

    /// Found by the model-based trace tests: a link outside `Links` never got the bus's
    /// `RoutesModified`, which is documented for every link, and a link renamed into
    /// `Links` during a burst never ran the hook. The burst of every known link is
    /// debounced; the filter applies when it settles (`Broker::fire_due`).
    #[test]
    fn routes_of_every_known_link_are_debounced() {
        let state = state_with(&[(2, "eth1"), (3, "eth10")]);
        let mut config = Config::defaults(Path::new("/nonexistent"));
        config.network.links = Some(vec!["eth10".into()]);
        let effects = decide(
            &config,
            &state,
            &[
                Change::RoutesChanged(2),
                Change::RoutesChanged(3),
                Change::RoutesChanged(9),
            ],
        );
        assert_eq!(
            effects,
            vec![Effect::RoutesModified(2), Effect::RoutesModified(3)]
        );
    }

    #[test]
    fn without_a_filter_every_link_is_selected() {
        let state = state_with(&[(2, "eth1")]);
        let config = Config::defaults(Path::new("/nonexistent"));
        assert_eq!(
            decide(&config, &state, &[Change::RoutesChanged(2)]),
            vec![Effect::RoutesModified(2)]
        );
    }

    #[test]
    fn each_transition_runs_its_directory_once_in_order() {
        let state = state_with(&[(2, "eth1")]);
        let config = Config::defaults(Path::new("/nonexistent"));
        let change = Change::StatesChanged {
            index: 2,
            origin: Origin::Networkd,
            changed: vec![
                (StateProperty::Carrier, "carrier"),
                (StateProperty::Operational, "routable"),
                (StateProperty::Address, "routable"),
                (StateProperty::Administrative, "configured"),
            ],
        };
        assert_eq!(
            decide(&config, &state, &[change]),
            vec![
                Effect::RunStateHooks {
                    index: 2,
                    property: StateProperty::Operational,
                    value: "routable"
                },
                Effect::RunStateHooks {
                    index: 2,
                    property: StateProperty::Administrative,
                    value: "configured"
                },
            ]
        );
    }

    #[test]
    fn only_the_configured_generator_runs_state_hooks() {
        let state = state_with(&[(2, "eth1")]);
        let mut config = Config::defaults(Path::new("/nonexistent"));
        let kernel = Change::StatesChanged {
            index: 2,
            origin: Origin::Kernel,
            changed: vec![(StateProperty::Operational, "degraded")],
        };
        let networkd = Change::StatesChanged {
            index: 2,
            origin: Origin::Networkd,
            changed: vec![(StateProperty::Operational, "routable")],
        };
        let manager = Change::ManagerStatesChanged(vec![(StateProperty::Online, "online")]);
        let all = [kernel, networkd, manager];

        let effects = decide(&config, &state, &all);
        assert_eq!(effects.len(), 2);
        assert!(matches!(
            effects[0],
            Effect::RunStateHooks {
                value: "routable",
                ..
            }
        ));
        assert!(matches!(effects[1], Effect::RunManagerHooks(_)));

        config.system.generator = Generator::Netlink;
        let effects = decide(&config, &state, &all);
        assert_eq!(effects.len(), 1);
        assert!(matches!(
            effects[0],
            Effect::RunStateHooks {
                value: "degraded",
                ..
            }
        ));

        config.system.generator = Generator::Dhclient;
        assert!(decide(&config, &state, &all).is_empty());
    }

    #[test]
    fn state_hooks_respect_the_links_filter() {
        let state = state_with(&[(2, "eth1")]);
        let mut config = Config::defaults(Path::new("/nonexistent"));
        config.network.links = Some(vec!["eth0".into()]);
        let change = Change::StatesChanged {
            index: 2,
            origin: Origin::Networkd,
            changed: vec![(StateProperty::Operational, "routable")],
        };
        assert!(decide(&config, &state, &[change]).is_empty());
    }

    fn lease(interface: &str) -> Box<Lease> {
        Box::new(Lease {
            interface: interface.into(),
            address: Some("192.0.2.10".parse().unwrap()),
            prefix_len: Some(24),
            routers: Vec::new(),
            dns: Vec::new(),
            domain_name: None,
            domain_search: Vec::new(),
            host_name: None,
            mtu: None,
            renew: None,
            rebind: None,
            expire: None,
            options: Default::default(),
        })
    }

    #[test]
    fn a_changed_lease_runs_routable_and_pushes_only_with_dhclient() {
        let state = state_with(&[(4, "eth1")]);
        let mut config = Config::defaults(Path::new("/nonexistent"));
        let change = Change::LeaseChanged {
            interface: "eth1".into(),
            before: None,
            after: Some(lease("eth1")),
        };
        assert!(decide(&config, &state, std::slice::from_ref(&change)).is_empty());

        config.system.generator = Generator::Dhclient;
        assert_eq!(
            decide(&config, &state, std::slice::from_ref(&change)),
            vec![
                Effect::PushLease {
                    index: 4,
                    name: "eth1".into(),
                    lease: Some(lease("eth1"))
                },
                Effect::RunLeaseHooks {
                    index: 4,
                    lease: lease("eth1")
                },
            ]
        );

        // A lost lease reverts and runs nothing; a lease of an unknown link does nothing.
        let lost = Change::LeaseChanged {
            interface: "eth1".into(),
            before: Some(lease("eth1")),
            after: None,
        };
        assert_eq!(
            decide(&config, &state, &[lost]),
            vec![Effect::PushLease {
                index: 4,
                name: "eth1".into(),
                lease: None
            }]
        );
        let unknown = Change::LeaseChanged {
            interface: "eth9".into(),
            before: None,
            after: Some(lease("eth9")),
        };
        assert!(decide(&config, &state, &[unknown]).is_empty());
    }

    /// The lease files can be read before the kernel's first dump names the link (the two
    /// sources start together), and a link can be created or renamed after its lease was
    /// written: the lease waits for the link and is acted on when it appears.
    #[test]
    fn a_lease_read_before_its_link_appears_is_acted_on_when_it_does() {
        let mut config = Config::defaults(Path::new("/nonexistent"));
        config.system.generator = Generator::Dhclient;
        let mut state = State::default();
        let mut changes = Vec::new();
        state.apply_leases(
            std::collections::BTreeMap::from([("eth1".to_string(), *lease("eth1"))]),
            &mut changes,
        );
        // no link yet: nothing to act on
        assert!(decide(&config, &state, &changes).is_empty());

        let mut changes = Vec::new();
        let mut eth1 = crate::model::fixtures::link(4, "eth1");
        eth1.oper_state = KernelOperState::Up;
        state.apply(KernelEvent::LinkChanged(eth1), &mut changes);
        assert!(changes.contains(&Change::LinkAdded(4)));
        assert_eq!(
            decide(&config, &state, &changes),
            vec![
                Effect::PushLease {
                    index: 4,
                    name: "eth1".into(),
                    lease: Some(lease("eth1"))
                },
                Effect::RunLeaseHooks {
                    index: 4,
                    lease: lease("eth1")
                },
            ]
        );

        // only with dhclient as the generator, and only for selected links
        config.network.links = Some(vec!["eth2".into()]);
        assert!(decide(&config, &state, &changes).is_empty());
        config.network.links = None;
        config.system.generator = Generator::Netlink;
        // (the kernel-derived states of the new link run their hooks under netlink)
        assert!(!decide(&config, &state, &changes)
            .iter()
            .any(|e| matches!(e, Effect::PushLease { .. } | Effect::RunLeaseHooks { .. })));
        config.system.generator = Generator::Dhclient;

        // renamed to a name without a lease: its lease is gone (revert, no hooks) ...
        let mut changes = Vec::new();
        let mut renamed = crate::model::fixtures::link(4, "wan0");
        renamed.oper_state = KernelOperState::Up;
        state.apply(KernelEvent::LinkChanged(renamed), &mut changes);
        assert_eq!(
            decide(&config, &state, &changes),
            vec![Effect::PushLease {
                index: 4,
                name: "wan0".into(),
                lease: None
            }]
        );
        // ... and back to the name that has one: the lease again
        let mut changes = Vec::new();
        let mut back = crate::model::fixtures::link(4, "eth1");
        back.oper_state = KernelOperState::Up;
        state.apply(KernelEvent::LinkChanged(back), &mut changes);
        assert_eq!(decide(&config, &state, &changes).len(), 2);
    }

    #[test]
    fn removed_links_are_forgotten() {
        let mut state = state_with(&[(2, "eth1")]);
        let mut changes = Vec::new();
        state.apply(KernelEvent::LinkRemoved { index: 2 }, &mut changes);
        let config = Config::defaults(Path::new("/nonexistent"));
        assert_eq!(decide(&config, &state, &changes), vec![Effect::Forget(2)]);
    }
}
