//! Pure decisions: from what changed in the link table to the effects the daemon must carry
//! out. No I/O and no clock here, so every rule is unit-tested by feeding changes.

use crate::config::{Config, Generator};
use crate::model::{IfIndex, StateProperty};

use super::state::{Change, Origin, State, Transitions};

/// Something the daemon must do because of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The routes of this link changed: run `routes-modified.d` once the burst settles.
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
}

/// The effects of one batch of changes, in the order the changes happened.
pub fn decide(config: &Config, state: &State, changes: &[Change]) -> Vec<Effect> {
    let mut effects = Vec::new();
    for change in changes {
        match change {
            Change::RoutesChanged(index) => {
                let selected = state
                    .link(*index)
                    .is_some_and(|view| config.link_selected(&view.attrs.name));
                if selected {
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
            Change::ManagerStatesChanged(changed) => {
                if config.system.generator == Generator::SystemdNetworkd {
                    effects.push(Effect::RunManagerHooks(changed.clone()));
                }
            }
            Change::LinkAdded(_)
            | Change::RuleAdded(_)
            | Change::RuleRemoved(_)
            | Change::LeaseChanged { .. }
            | Change::LinkChanged(_)
            | Change::LinkRenamed { .. }
            | Change::AddressAdded(..)
            | Change::AddressRemoved(..) => {}
        }
    }
    effects
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

    #[test]
    fn routes_of_selected_links_run_the_hook() {
        let state = state_with(&[(2, "eth1"), (3, "eth10")]);
        let mut config = Config::defaults(Path::new("/nonexistent"));
        config.network.links = Some(vec!["eth10".into()]);
        let effects = decide(
            &config,
            &state,
            &[Change::RoutesChanged(2), Change::RoutesChanged(3)],
        );
        // `eth1` is a prefix of `eth10` but names match exactly, never as substrings.
        assert_eq!(effects, vec![Effect::RoutesModified(3)]);
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

    #[test]
    fn removed_links_are_forgotten() {
        let mut state = state_with(&[(2, "eth1")]);
        let mut changes = Vec::new();
        state.apply(KernelEvent::LinkRemoved { index: 2 }, &mut changes);
        let config = Config::defaults(Path::new("/nonexistent"));
        assert_eq!(decide(&config, &state, &changes), vec![Effect::Forget(2)]);
    }
}
