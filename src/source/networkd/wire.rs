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

use crate::event::NetworkdEvent;
use crate::ifindex_path::{escape_index, unescape_index};
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
mod tests;
