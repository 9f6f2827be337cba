//! Unit tests of `crate::broker::state`.

use super::*;
use crate::event::KernelSnapshot;
use crate::model::fixtures::{address as addr, link, route};

fn apply(state: &mut State, event: KernelEvent) -> Vec<Change> {
    let mut changes = Vec::new();
    state.apply(event, &mut changes);
    changes
}

#[test]
fn new_link_then_same_attrs_reports_once() {
    let mut state = State::default();
    let changes = apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    assert_eq!(changes[0], Change::LinkAdded(3));
    // A new link also gets its first computed states: a down link is "off".
    assert!(matches!(
        &changes[1],
        Change::StatesChanged { index: 3, origin: Origin::Kernel, changed }
            if changed[0] == (StateProperty::Operational, "off")
    ));
    assert!(apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0"))).is_empty());
}

#[test]
fn rename_reports_old_name() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    let changes = apply(&mut state, KernelEvent::LinkChanged(link(3, "wan0")));
    assert_eq!(
        changes,
        vec![
            Change::LinkChanged(3),
            Change::LinkRenamed {
                index: 3,
                old: "eth0".into()
            }
        ]
    );
    assert_eq!(state.link(3).unwrap().attrs.name, "wan0");
}

/// IPv6 addresses start tentative (duplicate address detection); the kernel announces
/// the end of it as RTM_NEWADDR with new flags. That is no new address, but the link is
/// routable from then on, directly or in a resync's dump (found by the model-based tests:
/// the link stayed "carrier" and routable.d never ran).
#[test]
fn an_address_that_finishes_dad_makes_the_link_routable() {
    let operational = |changes: &[Change]| {
        changes.iter().find_map(|change| match change {
            Change::StatesChanged { changed, .. } => changed
                .iter()
                .find(|(p, _)| *p == StateProperty::Operational)
                .map(|(_, v)| *v),
            _ => None,
        })
    };
    let mut up = link(3, "eth0");
    up.flags = crate::model::link::IFF_UP | crate::model::link::IFF_LOWER_UP;
    up.oper_state = crate::model::KernelOperState::Up;
    let mut tentative = addr("2001:db8::1", 64);
    tentative.flags = 0x40;
    let mut ready = tentative.clone();
    ready.flags = 0;
    for resync in [false, true] {
        let mut state = State::default();
        apply(&mut state, KernelEvent::LinkChanged(up.clone()));
        let changes = apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 3,
                address: tentative.clone(),
            },
        );
        assert_eq!(operational(&changes), None, "a tentative address counts");
        let changes = if resync {
            let dump = KernelSnapshot {
                links: vec![up.clone()],
                addresses: vec![(3, ready.clone())],
                routes: Vec::new(),
                rules: Vec::new(),
            };
            apply(&mut state, KernelEvent::Snapshot(dump))
        } else {
            let address = ready.clone();
            apply(&mut state, KernelEvent::AddressAdded { index: 3, address })
        };
        assert_eq!(operational(&changes), Some("routable"), "resync: {resync}");
        assert!(!changes
            .iter()
            .any(|c| matches!(c, Change::AddressAdded(..))));
    }
}

#[test]
fn address_attribute_update_is_not_an_addition() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    let a = addr("192.0.2.1", 24);
    let changes = apply(
        &mut state,
        KernelEvent::AddressAdded {
            index: 3,
            address: a.clone(),
        },
    );
    assert_eq!(changes, vec![Change::AddressAdded(3, a.clone())]);
    let mut tentative = a.clone();
    tentative.flags = 0x40;
    assert!(apply(
        &mut state,
        KernelEvent::AddressAdded {
            index: 3,
            address: tentative
        }
    )
    .is_empty());
    assert_eq!(state.link(3).unwrap().addresses[0].flags, 0x40);
    let changes = apply(
        &mut state,
        KernelEvent::AddressRemoved {
            index: 3,
            address: a,
        },
    );
    assert_eq!(changes.len(), 1);
    assert!(state.link(3).unwrap().addresses.is_empty());
}

#[test]
fn events_for_unknown_links_are_dropped() {
    let mut state = State::default();
    assert!(apply(
        &mut state,
        KernelEvent::AddressAdded {
            index: 9,
            address: addr("192.0.2.1", 24)
        }
    )
    .is_empty());
    assert!(apply(&mut state, KernelEvent::RouteAdded(route(9, "10.0.0.0", 8))).is_empty());
    assert!(apply(&mut state, KernelEvent::LinkRemoved { index: 9 }).is_empty());
}

#[test]
fn routes_are_counted_once() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    let r = route(3, "10.0.0.0", 8);
    assert_eq!(
        apply(&mut state, KernelEvent::RouteAdded(r.clone())),
        vec![Change::RoutesChanged(3)]
    );
    assert!(apply(&mut state, KernelEvent::RouteAdded(r.clone())).is_empty());
    assert_eq!(
        apply(&mut state, KernelEvent::RouteRemoved(r.clone())),
        vec![Change::RoutesChanged(3)]
    );
    assert!(apply(&mut state, KernelEvent::RouteRemoved(r)).is_empty());
}

#[test]
fn a_replaced_route_leaves_no_stale_copy() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    apply(&mut state, KernelEvent::LinkChanged(link(4, "eth1")));
    let mut via_eth0 = route(3, "10.0.0.0", 8);
    via_eth0.gateway = Some("192.0.2.1".parse().unwrap());
    apply(&mut state, KernelEvent::RouteAdded(via_eth0.clone()));
    // `ip route replace 10.0.0.0/8 via 198.51.100.1 dev eth1`: one RTM_NEWROUTE, same key.
    let mut via_eth1 = via_eth0.clone();
    via_eth1.oif = Some(4);
    via_eth1.gateway = Some("198.51.100.1".parse().unwrap());
    let changes = apply(&mut state, KernelEvent::RouteAdded(via_eth1.clone()));
    assert_eq!(
        changes,
        vec![Change::RoutesChanged(3), Change::RoutesChanged(4)]
    );
    assert!(state.link(3).unwrap().routes.is_empty());
    assert_eq!(state.link(4).unwrap().routes.len(), 1);
    apply(&mut state, KernelEvent::RouteRemoved(via_eth1));
    assert!(state.link(4).unwrap().routes.is_empty());
}

#[test]
fn taking_a_link_down_drops_its_ipv4_routes() {
    let mut state = State::default();
    let mut up = link(3, "eth0");
    up.flags = crate::model::link::IFF_UP;
    apply(&mut state, KernelEvent::LinkChanged(up.clone()));
    apply(
        &mut state,
        KernelEvent::RouteAdded(route(3, "192.0.2.0", 24)),
    );
    let mut v6 = route(3, "2001:db8::", 64);
    v6.ipv6 = true;
    apply(&mut state, KernelEvent::RouteAdded(v6.clone()));
    let changes = apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    assert!(changes.contains(&Change::RoutesChanged(3)));
    let routes: Vec<_> = state.link(3).unwrap().routes.iter().cloned().collect();
    assert_eq!(routes, vec![v6]);
    // The same route coming back after the link is up again counts as new.
    apply(&mut state, KernelEvent::LinkChanged(up));
    assert_eq!(
        apply(
            &mut state,
            KernelEvent::RouteAdded(route(3, "192.0.2.0", 24))
        ),
        vec![Change::RoutesChanged(3)]
    );
}

/// An up link 3 with `addresses`, and routes through it.
fn link_with(addresses: &[(&str, u8)], routes: &[Route]) -> State {
    let mut state = State::default();
    let mut up = link(3, "eth0");
    up.flags = crate::model::link::IFF_UP;
    apply(&mut state, KernelEvent::LinkChanged(up));
    for (ip, len) in addresses {
        apply(
            &mut state,
            KernelEvent::AddressAdded {
                index: 3,
                address: addr(ip, *len),
            },
        );
    }
    for r in routes {
        apply(&mut state, KernelEvent::RouteAdded(r.clone()));
    }
    state
}

fn remove_address(state: &mut State, ip: &str, len: u8) -> Vec<Change> {
    apply(
        state,
        KernelEvent::AddressRemoved {
            index: 3,
            address: addr(ip, len),
        },
    )
}

fn default_via(gateway: &str, table: u32) -> Route {
    let mut r = route(3, "0.0.0.0", 0);
    r.dst = None;
    r.gateway = Some(gateway.parse().unwrap());
    r.scope = 0;
    r.table = table;
    r
}

#[test]
fn losing_the_last_ipv4_address_drops_every_ipv4_route_through_the_link() {
    // The kernel flushes them without a word (fib_disable_ip); found by the lab test of
    // policy routing: the table got a default route from the stale main-table one.
    let main_default = default_via("192.0.2.1", 254);
    let ours = default_via("192.0.2.1", 1003);
    let mut v6 = route(3, "2001:db8::", 64);
    v6.ipv6 = true;
    let mut state = link_with(
        &[("192.0.2.2", 24), ("192.0.2.3", 24), ("2001:db8::2", 64)],
        &[main_default.clone(), ours, v6.clone()],
    );
    // One of two IPv4 addresses: the routes stay (none names it as its source).
    let changes = remove_address(&mut state, "192.0.2.3", 24);
    assert!(!changes.contains(&Change::RoutesChanged(3)), "{changes:?}");
    assert_eq!(state.link(3).unwrap().routes.len(), 3);
    // The last one: every IPv4 route through the link goes, in every table; IPv6 stays.
    let changes = remove_address(&mut state, "192.0.2.2", 24);
    assert!(changes.contains(&Change::RoutesChanged(3)), "{changes:?}");
    let routes: Vec<_> = state.link(3).unwrap().routes.iter().cloned().collect();
    assert_eq!(routes, vec![v6]);
    // The default route added again is a new route, not a known one.
    apply(
        &mut state,
        KernelEvent::AddressAdded {
            index: 3,
            address: addr("192.0.2.2", 24),
        },
    );
    assert_eq!(
        apply(&mut state, KernelEvent::RouteAdded(main_default)),
        vec![Change::RoutesChanged(3)]
    );
}

#[test]
fn an_address_that_goes_takes_the_main_routes_it_was_the_source_of() {
    let mut with_src = default_via("192.0.2.1", 254);
    with_src.src = Some("192.0.2.2".parse().unwrap());
    let mut other_table = with_src.clone();
    other_table.table = 1003;
    let mut other_src = route(3, "198.51.100.0", 24);
    other_src.src = Some("198.51.100.2".parse().unwrap());
    let mut state = link_with(
        &[("192.0.2.2", 24), ("198.51.100.2", 24)],
        &[with_src, other_table.clone(), other_src.clone()],
    );
    let changes = remove_address(&mut state, "192.0.2.2", 24);
    assert!(changes.contains(&Change::RoutesChanged(3)), "{changes:?}");
    let mut routes: Vec<_> = state.link(3).unwrap().routes.iter().cloned().collect();
    routes.sort();
    let mut want = vec![other_table, other_src];
    want.sort();
    assert_eq!(routes, want, "only the main table's, only that source's");

    // The same address still on another link: nothing is flushed.
    let mut with_src = default_via("192.0.2.1", 254);
    with_src.src = Some("192.0.2.2".parse().unwrap());
    let mut state = link_with(
        &[("192.0.2.2", 24), ("198.51.100.2", 24)],
        std::slice::from_ref(&with_src),
    );
    apply(&mut state, KernelEvent::LinkChanged(link(4, "eth1")));
    apply(
        &mut state,
        KernelEvent::AddressAdded {
            index: 4,
            address: addr("192.0.2.2", 32),
        },
    );
    remove_address(&mut state, "192.0.2.2", 24);
    assert_eq!(
        state.link(3).unwrap().routes.iter().collect::<Vec<_>>(),
        vec![&with_src]
    );
}

fn networkd(event: NetworkdEvent, state: &mut State) -> Vec<Change> {
    let mut changes = Vec::new();
    state.apply_networkd(event, &mut changes);
    changes
}

#[test]
fn networkd_transitions_are_reported_once_and_in_order() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    let changes = networkd(
        NetworkdEvent::LinkChanged {
            index: 3,
            changed: vec![
                (StateProperty::Administrative, "configuring"),
                (StateProperty::Operational, "routable"),
            ],
        },
        &mut state,
    );
    assert_eq!(
        changes,
        vec![Change::StatesChanged {
            index: 3,
            origin: Origin::Networkd,
            changed: vec![
                (StateProperty::Administrative, "configuring"),
                (StateProperty::Operational, "routable"),
            ],
        }]
    );
    // networkd repeats unchanged values next to the changed ones: only the change counts.
    let changes = networkd(
        NetworkdEvent::LinkChanged {
            index: 3,
            changed: vec![
                (StateProperty::Operational, "routable"),
                (StateProperty::Administrative, "configured"),
            ],
        },
        &mut state,
    );
    assert!(
        matches!(&changes[..], [Change::StatesChanged { changed, .. }]
        if changed == &vec![(StateProperty::Administrative, "configured")])
    );
    // The link now shows networkd's states rather than the kernel's.
    let view = state.link(3).unwrap();
    assert_eq!(view.states[&StateProperty::Operational], "routable");
    assert_eq!(view.states[&StateProperty::Administrative], "configured");
}

/// networkd's first `PropertiesChanged` of a link may name one state: the others stay the
/// kernel's until networkd reports them, never empty (docs/dbus-api.md, the value sets).
#[test]
fn a_state_networkd_has_not_reported_is_the_kernels() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    networkd(
        NetworkdEvent::LinkChanged {
            index: 3,
            changed: vec![(StateProperty::Administrative, "configuring")],
        },
        &mut state,
    );
    let view = state.link(3).unwrap();
    assert_eq!(view.states[&StateProperty::Administrative], "configuring");
    assert_eq!(view.states[&StateProperty::Operational], "off");
    assert_eq!(view.states[&StateProperty::Address], "off");
    assert_eq!(view.states[&StateProperty::Carrier], "off");
}

#[test]
fn a_networkd_restart_reports_only_what_changed_meanwhile() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    let states = |op: &'static str| {
        States::from([
            (StateProperty::Operational, op),
            (StateProperty::Administrative, "configured"),
        ])
    };
    let snapshot = |op| NetworkdEvent::Snapshot {
        manager: States::from([(StateProperty::Operational, op)]),
        links: BTreeMap::from([(3, states(op))]),
    };
    assert_eq!(networkd(snapshot("routable"), &mut state).len(), 2);
    networkd(NetworkdEvent::Vanished, &mut state);
    assert!(networkd(snapshot("routable"), &mut state).is_empty());
    let changes = networkd(snapshot("degraded"), &mut state);
    assert_eq!(
        changes,
        vec![
            Change::ManagerStatesChanged(vec![(StateProperty::Operational, "degraded")]),
            Change::StatesChanged {
                index: 3,
                origin: Origin::Networkd,
                changed: vec![(StateProperty::Operational, "degraded")],
            },
        ]
    );
    // A link networkd no longer reports falls back to the kernel's view.
    networkd(
        NetworkdEvent::Snapshot {
            manager: States::new(),
            links: BTreeMap::new(),
        },
        &mut state,
    );
    assert_eq!(
        state.link(3).unwrap().states[&StateProperty::Operational],
        "off"
    );
}

#[test]
fn snapshot_reports_the_difference() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(2, "gone0")));
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    apply(
        &mut state,
        KernelEvent::AddressAdded {
            index: 3,
            address: addr("192.0.2.1", 24),
        },
    );
    apply(
        &mut state,
        KernelEvent::AddressAdded {
            index: 3,
            address: addr("192.0.2.2", 24),
        },
    );

    let snapshot = KernelSnapshot {
        links: vec![link(3, "eth0"), link(4, "new0")],
        addresses: vec![(3, addr("192.0.2.2", 24)), (3, addr("2001:db8::1", 64))],
        routes: vec![route(3, "192.0.2.0", 24)],
        rules: Vec::new(),
    };
    let changes = apply(&mut state, KernelEvent::Snapshot(snapshot));
    assert!(matches!(&changes[0], Change::LinkRemoved(v) if v.attrs.index == 2));
    assert!(changes.contains(&Change::AddressRemoved(3, addr("192.0.2.1", 24))));
    assert!(changes.contains(&Change::AddressAdded(3, addr("2001:db8::1", 64))));
    assert!(!changes.contains(&Change::AddressAdded(3, addr("192.0.2.2", 24))));
    assert!(changes.contains(&Change::RoutesChanged(3)));
    assert!(changes.contains(&Change::LinkAdded(4)));
    assert_eq!(state.len(), 2);
    let eth0 = state.link(3).unwrap();
    assert_eq!(eth0.addresses.len(), 2);
    assert_eq!(eth0.routes.len(), 1);
}

#[test]
fn unchanged_links_are_shared_between_snapshots() {
    let mut state = State::default();
    apply(&mut state, KernelEvent::LinkChanged(link(3, "eth0")));
    apply(&mut state, KernelEvent::LinkChanged(link(4, "eth1")));
    let before = state.snapshot();
    apply(
        &mut state,
        KernelEvent::AddressAdded {
            index: 4,
            address: addr("192.0.2.9", 24),
        },
    );
    let after = state.snapshot();
    assert!(Arc::ptr_eq(&before.links[&3], &after.links[&3]));
    assert!(!Arc::ptr_eq(&before.links[&4], &after.links[&4]));
    assert!(before.links[&4].addresses.is_empty());
}
