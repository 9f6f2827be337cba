//! Unit tests of `crate::broker::startup`.

use std::collections::BTreeMap;

use super::*;
use crate::event::{KernelEvent, KernelSnapshot, NetworkdEvent};
use crate::model::States;

fn two_links() -> State {
    let mut state = State::default();
    let dump = KernelSnapshot {
        links: vec![
            crate::model::fixtures::link(3, "eth0"),
            crate::model::fixtures::link(4, "eth1"),
        ],
        ..KernelSnapshot::default()
    };
    state.apply(KernelEvent::Snapshot(dump), &mut Vec::new());
    let states = States::from([
        (StateProperty::Operational, "routable"),
        (StateProperty::Administrative, "configured"),
        (StateProperty::Carrier, "carrier"),
    ]);
    let report = NetworkdEvent::Snapshot {
        manager: States::new(),
        links: BTreeMap::from([(3, states.clone()), (4, states)]),
    };
    state.apply_networkd(report, &mut Vec::new());
    state
}

#[test]
fn the_triggers_wait_for_what_their_generator_needs() {
    assert_eq!(origin(Generator::Dhclient), None);
    let networkd = origin(Generator::SystemdNetworkd).unwrap();
    assert!(!ready(networkd, true, false));
    assert!(!ready(networkd, false, true));
    assert!(ready(networkd, true, true));
    let kernel = origin(Generator::Netlink).unwrap();
    assert!(ready(kernel, true, false));
}

#[test]
fn due_are_the_selected_links_states_not_yet_dispatched() {
    let state = two_links();
    let mut config = Config::defaults(std::path::Path::new("/nonexistent"));
    config.network.links = Some(vec!["eth0".into()]);
    let mut dispatched = Dispatched::default();
    dispatched.record(3, StateProperty::Administrative, "configured");
    assert_eq!(
        due(&config, &state, Origin::Networkd, &dispatched),
        [(3, StateProperty::Operational, "routable")]
    );
    config.network.links = None;
    assert_eq!(
        due(&config, &state, Origin::Networkd, &Dispatched::default()).len(),
        4
    );
}
