//! The shapes of systemd-networkd's D-Bus messages and their translation into what the source
//! sends the broker. Pure: no I/O, no bus calls; everything here is unit-tested on built
//! messages. Nothing read from the bus is trusted: object paths, property values and senders
//! are checked here, and what fails a check is reported to the caller, never used.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use tracing::{debug, warn};
use zbus::names::OwnedUniqueName;
use zbus::{Message, OwnedVariant, Signature, Type, Variant};

use crate::dbus::path::{escape_index, unescape_index};
use crate::event::NetworkdEvent;
use crate::model::{IfIndex, StateProperty, States};

/// The bus name networkd owns.
pub const BUS_NAME: &str = "org.freedesktop.network1";
/// networkd's manager object; also the namespace of all its objects.
pub const MANAGER_PATH: &str = "/org/freedesktop/network1";
/// Parent of networkd's link objects, `/org/freedesktop/network1/link/_3N`.
pub const LINK_PATH_PREFIX: &str = "/org/freedesktop/network1/link/";
/// The manager interface.
pub const MANAGER_INTERFACE: &str = "org.freedesktop.network1.Manager";
/// The per-link interface.
pub const LINK_INTERFACE: &str = "org.freedesktop.network1.Link";
/// The standard properties interface (`PropertiesChanged`, `GetAll`).
pub const PROPERTIES_INTERFACE: &str = "org.freedesktop.DBus.Properties";
/// The bus itself: its name is the sender of `NameOwnerChanged`.
pub const DBUS_NAME: &str = "org.freedesktop.DBus";
/// Longest piece of an untrusted string put in a log line.
const SHOWN_CHARS: usize = 64;

/// A D-Bus `a{sv}` kept as a list, in the order of the wire.
///
/// Deserialising `a{sv}` into a map loses the order its entries had in the message, and the
/// broker needs that order: one `PropertiesChanged` often carries several states of one
/// transition. This type reads the entries one by one into a `Vec` instead. It also serialises
/// in its own order, which the tests use to play networkd.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PropertyList(pub Vec<(String, OwnedVariant)>);

impl Type for PropertyList {
    // Same wire type as a map of names to variants: only the in-memory shape differs.
    const SIGNATURE: &'static Signature = <HashMap<String, OwnedVariant> as Type>::SIGNATURE;
}

impl Serialize for PropertyList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PropertyList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;

        impl<'de> Visitor<'de> for InOrder {
            type Value = PropertyList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dictionary of property names to variants (a{sv})")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PropertyList, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<String, OwnedVariant>()? {
                    entries.push(entry);
                }
                Ok(PropertyList(entries))
            }
        }

        deserializer.deserialize_map(InOrder)
    }
}

impl PropertyList {
    /// A list of string-valued properties, in the given order (for tests and fakes).
    pub fn strings<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            entries
                .into_iter()
                .map(|(name, value)| {
                    (
                        name.to_string(),
                        OwnedVariant::from(zbus::Str::from(value.to_string())),
                    )
                })
                .collect(),
        )
    }
}

/// The body of `org.freedesktop.DBus.Properties.PropertiesChanged`: the interface, the changed
/// properties with their new values, and the names of invalidated properties (`sa{sv}as`).
pub type PropertiesChangedBody = (String, PropertyList, Vec<String>);

/// A networkd object whose states the broker follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    /// `/org/freedesktop/network1`.
    Manager,
    /// `/org/freedesktop/network1/link/_3N`.
    Link(IfIndex),
}

impl Object {
    /// The interface that carries this object's states.
    pub fn interface(self) -> &'static str {
        match self {
            Object::Manager => MANAGER_INTERFACE,
            Object::Link(_) => LINK_INTERFACE,
        }
    }

    /// Whether networkd publishes `property` on this object. `AdministrativeState` belongs to
    /// links only; on the manager it is ignored rather than passed on.
    fn has(self, property: StateProperty) -> bool {
        !(self == Object::Manager && property == StateProperty::Administrative)
    }

    /// The event for changes of this object's states.
    pub fn event(self, changed: Vec<(StateProperty, &'static str)>) -> NetworkdEvent {
        match self {
            Object::Manager => NetworkdEvent::ManagerChanged { changed },
            Object::Link(index) => NetworkdEvent::LinkChanged { index, changed },
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Manager => f.write_str("manager"),
            Object::Link(index) => write!(f, "link {index}"),
        }
    }
}

/// What an object path under `/org/freedesktop/network1` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// An object the broker follows.
    Followed(Object),
    /// Under `…/link/` but not a link networkd could have made (`_3N`, N > 0, no leading
    /// zero, nothing after it): a bug or a forgery.
    InvalidLink,
    /// Another networkd object (`…/network/…`, `…/netdev/…`, …): not followed.
    Other,
}

/// Classifies an object path.
pub fn classify_path(path: &str) -> PathKind {
    if path == MANAGER_PATH {
        return PathKind::Followed(Object::Manager);
    }
    match path.strip_prefix(LINK_PATH_PREFIX) {
        Some(element) => match link_index(element) {
            Some(index) => PathKind::Followed(Object::Link(index)),
            None => PathKind::InvalidLink,
        },
        None => PathKind::Other,
    }
}

/// The ifindex in a link object's last path element, accepted only in the one spelling
/// networkd produces (`sd_bus_path_encode` of the decimal index): `_312` is 12, while `_3012`,
/// `_30`, `_3` and anything with another character are rejected.
pub fn link_index(element: &str) -> Option<IfIndex> {
    let index = unescape_index(element)?;
    (index > 0 && escape_index(index) == element).then_some(index)
}

/// The valid state properties among `entries`, in their order.
///
/// Properties that are not states are skipped silently (networkd sends others, e.g.
/// `BitRates`). A state whose value is not a string or not on networkd's fixed list is dropped
/// with a warning naming the object, the property and the (shortened, escaped) value: such a
/// value must never reach a hook directory name.
pub fn states_in(
    object: Object,
    entries: impl IntoIterator<Item = (String, OwnedVariant)>,
) -> Vec<(StateProperty, &'static str)> {
    let mut states = Vec::new();
    for (name, value) in entries {
        let Some(property) = StateProperty::from_name(&name) else {
            continue;
        };
        if !object.has(property) {
            debug!(%object, property = %name, "networkd: ignoring a property the object does not have");
            continue;
        }
        let Variant::Str(text) = &*value else {
            warn!(
                %object,
                property = %name,
                signature = %value.value_signature(),
                "networkd: dropping state {name} of {object}: not a string (signature {})",
                value.value_signature()
            );
            continue;
        };
        match property.validate(text.as_str()) {
            Some(valid) => states.push((property, valid)),
            None => warn!(
                %object,
                property = %name,
                value = %shown(text.as_str()),
                "networkd: dropping state {name}={} of {object}: not on networkd's list",
                shown(text.as_str())
            ),
        }
    }
    states
}

/// The states of an object as `GetAll` returned them.
pub fn states_map(object: Object, all: PropertyList) -> States {
    states_in(object, all.0).into_iter().collect()
}

/// What a change signal said about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The object that changed.
    pub object: Object,
    /// The valid states it carried, in signal order.
    pub changed: Vec<(StateProperty, &'static str)>,
    /// State properties whose new value networkd did not include (the signal's third
    /// argument). networkd 252 sends every state with its value; if one ever comes without,
    /// the source reads the states again rather than guess.
    pub invalidated: Vec<StateProperty>,
}

impl Change {
    /// The event for the broker; `None` if no valid state changed.
    pub fn into_event(self) -> Option<NetworkdEvent> {
        (!self.changed.is_empty()).then(|| self.object.event(self.changed))
    }
}

/// The outcome of reading one `PropertiesChanged` signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translation {
    /// States of a followed object (possibly none valid: then there is nothing to send).
    Change(Change),
    /// Not about the states the broker follows (another object or interface).
    Ignored(&'static str),
    /// Something networkd would not send: an invalid link path, a malformed body. The text
    /// says what, with untrusted parts shortened and escaped.
    Rejected(String),
}

/// Reads a `PropertiesChanged` signal. The sender is *not* checked here (see
/// [`check_sender`]); this only looks at the path and the body.
pub fn translate(msg: &Message) -> Translation {
    let header = msg.header();
    let Some(path) = header.path() else {
        return Translation::Rejected("a signal without an object path".to_string());
    };
    let object = match classify_path(path.as_str()) {
        PathKind::Followed(object) => object,
        PathKind::Other => return Translation::Ignored("an object the broker does not follow"),
        PathKind::InvalidLink => {
            return Translation::Rejected(format!(
                "an invalid link object path {}",
                shown(path.as_str())
            ))
        }
    };
    let body = msg.body();
    let (interface, changed, invalidated) = match body.deserialize::<PropertiesChangedBody>() {
        Ok(parts) => parts,
        Err(err) => {
            return Translation::Rejected(format!(
                "a malformed PropertiesChanged body (signature {}, expected sa{{sv}}as): {err}",
                shown(&body.signature().to_string())
            ))
        }
    };
    if interface != object.interface() {
        // networkd also has DHCPServer, DHCPv4Client and DHCPv6Client interfaces on links.
        return Translation::Ignored("an interface the broker does not follow");
    }
    let invalidated = invalidated
        .iter()
        .filter_map(|name| StateProperty::from_name(name))
        .filter(|property| object.has(*property))
        .collect();
    Translation::Change(Change {
        object,
        changed: states_in(object, changed.0),
        invalidated,
    })
}

/// Whether a message came from the connection that owns networkd's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderCheck {
    /// From the owner.
    Owner,
    /// From another connection (an impostor, or a previous owner): the text names it.
    NotOwner(String),
}

/// Compares a message's sender (the unique name the bus stamped on it) with the owner the
/// source tracks. No owner means nobody may speak for networkd.
pub fn check_sender(msg: &Message, owner: Option<&OwnedUniqueName>) -> SenderCheck {
    let header = msg.header();
    let sender = header.sender().map(|s| s.as_str());
    match (sender, owner) {
        (Some(sender), Some(owner)) if sender == owner.as_str() => SenderCheck::Owner,
        (Some(sender), _) => SenderCheck::NotOwner(shown(sender)),
        (None, _) => SenderCheck::NotOwner("(no sender)".to_string()),
    }
}

/// What a `NameOwnerChanged` signal said about networkd's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerSignal {
    /// The bus says the name's owner is now `new` (`None`: no owner).
    Changed {
        /// The new owner.
        new: Option<OwnedUniqueName>,
    },
    /// Not from the bus: someone else sent a `NameOwnerChanged`. The text names the sender.
    Forged(String),
    /// About another name (the match rule filters on it, but the bus is not trusted for that).
    OtherName,
    /// Not the documented `sss` body, or an invalid unique name.
    Malformed(String),
}

/// Reads a `NameOwnerChanged` signal, accepting it only from the bus itself.
pub fn owner_signal(msg: &Message) -> OwnerSignal {
    let header = msg.header();
    match header.sender().map(|s| s.as_str()) {
        Some(DBUS_NAME) => {}
        Some(other) => return OwnerSignal::Forged(shown(other)),
        None => return OwnerSignal::Forged("(no sender)".to_string()),
    }
    let body = msg.body();
    let (name, _old, new) = match body.deserialize::<(String, String, String)>() {
        Ok(parts) => parts,
        Err(err) => return OwnerSignal::Malformed(format!("{err}")),
    };
    if name != BUS_NAME {
        return OwnerSignal::OtherName;
    }
    if new.is_empty() {
        return OwnerSignal::Changed { new: None };
    }
    match OwnedUniqueName::try_from(new) {
        Ok(new) => OwnerSignal::Changed { new: Some(new) },
        Err(err) => OwnerSignal::Malformed(format!("invalid new owner: {err}")),
    }
}

/// Where a snapshot read stood, as positions in the connection's stream of received
/// messages: a change received before the reply that read an object's states is already in
/// those states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMarks<S> {
    /// When the manager's `GetAll` reply arrived.
    pub manager: S,
    /// When the `ListLinks` reply arrived.
    pub listed: S,
    /// When each link's `GetAll` reply arrived.
    pub links: std::collections::BTreeMap<IfIndex, S>,
}

impl<S: Ord> ReadMarks<S> {
    /// Whether a change received at `position` is newer than what the snapshot read of
    /// `object`, so that it must be sent after the snapshot. Older changes are dropped: sending
    /// them would replay transitions the snapshot already contains (and, if a state changed
    /// twice, briefly turn it back to an old value).
    ///
    /// D-Bus delivers the messages of one sender in the order it sent them, and networkd
    /// answers calls and emits signals from one thread, so a signal received before a reply
    /// was emitted before networkd built that reply. A link missing from the snapshot (it
    /// appeared after `ListLinks`, or went while being read) keeps the changes received after
    /// `ListLinks`.
    pub fn is_newer(&self, position: &S, object: Object) -> bool {
        let mark = match object {
            Object::Manager => &self.manager,
            Object::Link(index) => self.links.get(&index).unwrap_or(&self.listed),
        };
        position > mark
    }
}

/// An untrusted string made safe for a log line: escaped (no control characters reach the
/// journal) and cut to a bounded length.
pub fn shown(untrusted: &str) -> String {
    let mut cut: String = untrusted.chars().take(SHOWN_CHARS).collect();
    if cut.len() < untrusted.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing
mod tests {
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
            BTreeMap::from([(P::Operational, "routable"), (P::Ipv6Address, "degraded")])
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
}
