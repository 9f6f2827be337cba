//! Pure decisions: from what changed in the link table to the effects the daemon must carry
//! out. No I/O and no clock here, so every rule is unit-tested by feeding changes.

use crate::config::Config;
use crate::model::IfIndex;

use super::state::{Change, State};

/// Something the daemon must do because of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The routes of this link changed: run `routes-modified.d` once the burst settles.
    RoutesModified(IfIndex),
    /// The link is gone: drop any pending work for it.
    Forget(IfIndex),
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
            Change::LinkAdded(_)
            | Change::LinkChanged(_)
            | Change::LinkRenamed { .. }
            | Change::AddressAdded(..)
            | Change::AddressRemoved(..) => {}
        }
    }
    effects
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
    fn removed_links_are_forgotten() {
        let mut state = state_with(&[(2, "eth1")]);
        let mut changes = Vec::new();
        state.apply(KernelEvent::LinkRemoved { index: 2 }, &mut changes);
        let config = Config::defaults(Path::new("/nonexistent"));
        assert_eq!(decide(&config, &state, &changes), vec![Effect::Forget(2)]);
    }
}
