//! Unit tests of `crate::source::networkd::wire`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing

use std::collections::BTreeMap;

use super::*;
use crate::model::StateProperty as P;

const NETWORKD: &str = ":1.7";

fn signal(path: &str, body: &PropertiesChangedBody) -> Message {
    Message::signal(path, PROPERTIES_INTERFACE, "PropertiesChanged")
        .sender(NETWORKD)
        .build(body)
        .expect("a valid signal")
}

fn link_signal(path: &str, entries: &[(&str, &str)]) -> Message {
    let body = (
        LINK_INTERFACE.to_string(),
        PropertyList::strings(entries.iter().copied()),
        Vec::new(),
    );
    signal(path, &body)
}

fn change(t: Translation) -> Change {
    match t {
        Translation::Change(c) => c,
        other => panic!("expected a change, got {other:?}"),
    }
}

#[test]
fn order_of_the_signal_is_kept() {
    // Two orders of the same properties: a map would make them equal.
    let forward = [
        ("OperationalState", "routable"),
        ("AdministrativeState", "configured"),
        ("CarrierState", "carrier"),
    ];
    let mut backward = forward;
    backward.reverse();
    for entries in [forward, backward] {
        let c = change(translate(&link_signal(
            "/org/freedesktop/network1/link/_32",
            &entries,
        )));
        assert_eq!(c.object, Object::Link(2));
        let got: Vec<_> = c.changed.iter().map(|(p, v)| (p.name(), *v)).collect();
        assert_eq!(got, entries);
    }
}

#[test]
fn many_entries_keep_their_order_through_the_wire() {
    let names = StateProperty::ALL.map(|p| p.name());
    let values = [
        "routable",
        "carrier",
        "routable",
        "degraded",
        "off",
        "configured",
        "online",
    ];
    let entries: Vec<_> = names.iter().copied().zip(values).rev().collect();
    let msg = link_signal("/org/freedesktop/network1/link/_31000", &entries);
    let (_, list, _) = msg.body().deserialize::<PropertiesChangedBody>().unwrap();
    let got: Vec<_> = list.0.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<_> = entries.iter().map(|(n, _)| *n).collect();
    assert_eq!(got, want);
    assert_eq!(change(translate(&msg)).object, Object::Link(1000));
}

#[test]
fn values_off_the_lists_are_dropped_and_the_rest_kept() {
    let c = change(translate(&link_signal(
        "/org/freedesktop/network1/link/_34",
        &[
            ("OperationalState", "../x"),
            ("CarrierState", "carrier"),
            ("AdministrativeState", "configured/../../etc"),
            ("AddressState", "Routable"),
            ("OnlineState", ""),
        ],
    )));
    assert_eq!(c.changed, vec![(P::Carrier, "carrier"), (P::Online, "")]);
}

#[test]
fn non_state_and_non_string_properties() {
    let body = (
        LINK_INTERFACE.to_string(),
        PropertyList(vec![
            (
                "BitRates".into(),
                OwnedVariant::try_from(Variant::from((1u64, 2u64))).unwrap(),
            ),
            (
                "OperationalState".into(),
                OwnedVariant::try_from(Variant::from(7u32)).unwrap(),
            ),
            (
                "AdministrativeState".into(),
                OwnedVariant::from(zbus::Str::from("linger")),
            ),
        ]),
        vec!["OperationalState".to_string(), "Description".to_string()],
    );
    let c = change(translate(&signal(
        "/org/freedesktop/network1/link/_33",
        &body,
    )));
    assert_eq!(c.changed, vec![(P::Administrative, "linger")]);
    assert_eq!(c.invalidated, vec![P::Operational]);
}

#[test]
fn a_signal_without_states_makes_no_event() {
    let c = change(translate(&link_signal(
        "/org/freedesktop/network1/link/_33",
        &[("Description", "x")],
    )));
    assert_eq!(c.clone().into_event(), None);
    assert!(c.invalidated.is_empty());
}

#[test]
fn manager_signals_become_manager_changes() {
    let body = (
        MANAGER_INTERFACE.to_string(),
        PropertyList::strings([
            ("OperationalState", "degraded"),
            ("AdministrativeState", "configured"),
            ("OnlineState", "partial"),
        ]),
        Vec::new(),
    );
    let event = change(translate(&signal(MANAGER_PATH, &body))).into_event();
    assert_eq!(
        event,
        Some(NetworkdEvent::ManagerChanged {
            changed: vec![(P::Operational, "degraded"), (P::Online, "partial")]
        })
    );
}

#[test]
fn other_interfaces_and_objects_are_ignored() {
    let body = (
        "org.freedesktop.network1.DHCPServer".to_string(),
        PropertyList::strings([("OperationalState", "routable")]),
        Vec::new(),
    );
    let t = translate(&signal("/org/freedesktop/network1/link/_32", &body));
    assert!(matches!(t, Translation::Ignored(_)), "{t:?}");
    // The manager interface on a link path is not a link change either.
    let body = (
        MANAGER_INTERFACE.to_string(),
        PropertyList::strings([("OperationalState", "routable")]),
        Vec::new(),
    );
    let t = translate(&signal("/org/freedesktop/network1/link/_32", &body));
    assert!(matches!(t, Translation::Ignored(_)), "{t:?}");
    let t = translate(&link_signal(
        "/org/freedesktop/network1/network/_310_2dlab",
        &[],
    ));
    assert!(matches!(t, Translation::Ignored(_)), "{t:?}");
}

#[test]
fn invalid_link_paths_are_rejected() {
    for path in [
        "/org/freedesktop/network1/link/_30",
        "/org/freedesktop/network1/link/_3012",
        "/org/freedesktop/network1/link/_3",
        "/org/freedesktop/network1/link/eth0",
        "/org/freedesktop/network1/link/_32/x",
        "/org/freedesktop/network1/link/_399999999999",
        "/org/freedesktop/network1/link/_2e_2e",
    ] {
        let t = translate(&link_signal(path, &[("OperationalState", "routable")]));
        assert!(matches!(t, Translation::Rejected(_)), "{path}: {t:?}");
    }
}

#[test]
fn malformed_bodies_are_rejected_not_panicked_on() {
    let path = "/org/freedesktop/network1/link/_32";
    let wrong: [Message; 3] = [
        Message::signal(path, PROPERTIES_INTERFACE, "PropertiesChanged")
            .sender(NETWORKD)
            .build(&("org.freedesktop.network1.Link",))
            .unwrap(),
        Message::signal(path, PROPERTIES_INTERFACE, "PropertiesChanged")
            .sender(NETWORKD)
            .build(&(
                LINK_INTERFACE,
                HashMap::from([("OperationalState", "routable")]),
                Vec::<String>::new(),
            ))
            .unwrap(),
        Message::signal(path, PROPERTIES_INTERFACE, "PropertiesChanged")
            .sender(NETWORKD)
            .build(&())
            .unwrap(),
    ];
    for msg in wrong {
        let t = translate(&msg);
        assert!(matches!(t, Translation::Rejected(_)), "{t:?}");
    }
}

#[test]
fn paths_map_to_ifindexes_only_in_networkds_spelling() {
    assert_eq!(link_index("_31"), Some(1));
    assert_eq!(link_index("_342"), Some(42));
    assert_eq!(link_index(&escape_index(u32::MAX)), Some(u32::MAX));
    for bad in [
        "", "_3", "_30", "_301", "1", "_3a", "_41", "_3-1", "_3+1", "_3 1",
    ] {
        assert_eq!(link_index(bad), None, "{bad:?}");
    }
    assert_eq!(
        classify_path(MANAGER_PATH),
        PathKind::Followed(Object::Manager)
    );
    assert_eq!(
        classify_path("/org/freedesktop/network1/link"),
        PathKind::Other
    );
    assert_eq!(
        classify_path("/org/freedesktop/network1xyz"),
        PathKind::Other
    );
}

#[test]
fn only_the_owner_may_speak_for_networkd() {
    let msg = link_signal("/org/freedesktop/network1/link/_32", &[]);
    let owner = OwnedUniqueName::try_from(NETWORKD).unwrap();
    let other = OwnedUniqueName::try_from(":1.99").unwrap();
    assert_eq!(check_sender(&msg, Some(&owner)), SenderCheck::Owner);
    assert_eq!(
        check_sender(&msg, Some(&other)),
        SenderCheck::NotOwner("\":1.7\"".to_string())
    );
    assert!(matches!(check_sender(&msg, None), SenderCheck::NotOwner(_)));
    // A message without a sender (a peer-to-peer one) is never the owner's.
    let anonymous = Message::signal(MANAGER_PATH, PROPERTIES_INTERFACE, "PropertiesChanged")
        .build(&())
        .unwrap();
    assert!(matches!(
        check_sender(&anonymous, Some(&owner)),
        SenderCheck::NotOwner(_)
    ));
}

fn owner_changed(sender: &str, body: &(&str, &str, &str)) -> Message {
    Message::signal("/org/freedesktop/DBus", DBUS_NAME, "NameOwnerChanged")
        .sender(sender)
        .build(body)
        .unwrap()
}

#[test]
fn owner_changes_are_taken_from_the_bus_only() {
    let appeared = owner_changed(DBUS_NAME, &(BUS_NAME, "", ":1.8"));
    assert_eq!(
        owner_signal(&appeared),
        OwnerSignal::Changed {
            new: Some(OwnedUniqueName::try_from(":1.8").unwrap())
        }
    );
    let gone = owner_changed(DBUS_NAME, &(BUS_NAME, ":1.8", ""));
    assert_eq!(owner_signal(&gone), OwnerSignal::Changed { new: None });
    let forged = owner_changed(":1.66", &(BUS_NAME, ":1.8", ":1.66"));
    assert!(matches!(owner_signal(&forged), OwnerSignal::Forged(s) if s.contains(":1.66")));
    let other = owner_changed(DBUS_NAME, &("org.example.Other", "", ":1.9"));
    assert_eq!(owner_signal(&other), OwnerSignal::OtherName);
    let invalid = owner_changed(DBUS_NAME, &(BUS_NAME, "", "../x"));
    assert!(matches!(owner_signal(&invalid), OwnerSignal::Malformed(_)));
}

#[test]
fn getall_results_become_state_maps() {
    let all = PropertyList::strings([
        ("OperationalState", "routable"),
        ("Description", "ignored"),
        ("AddressState", "../../x"),
        ("IPv6AddressState", "degraded"),
    ]);
    let states = states_map(Object::Link(2), all);
    assert_eq!(
        states,
        States::from([(P::Operational, "routable"), (P::Ipv6Address, "degraded")])
    );
}

#[test]
fn changes_older_than_the_snapshot_are_not_replayed() {
    let marks = ReadMarks {
        manager: 10,
        listed: 12,
        links: BTreeMap::from([(2, 15), (3, 20)]),
    };
    assert!(!marks.is_newer(&9, Object::Manager));
    assert!(marks.is_newer(&11, Object::Manager));
    assert!(!marks.is_newer(&14, Object::Link(2)));
    assert!(marks.is_newer(&16, Object::Link(2)));
    assert!(!marks.is_newer(&19, Object::Link(3)));
    // A link the snapshot does not have: everything after ListLinks.
    assert!(!marks.is_newer(&11, Object::Link(7)));
    assert!(marks.is_newer(&13, Object::Link(7)));
}

#[test]
fn untrusted_strings_are_escaped_and_cut() {
    assert_eq!(shown("a\nb"), "\"a\\nb\"");
    let long = "x".repeat(1000);
    assert!(shown(&long).chars().count() < 70);
}
