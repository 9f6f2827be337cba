//! The vocabulary sources speak to the broker. Sources translate their input into `Event`s and
//! decide nothing; the broker is the only one that acts on them.

use crate::config::Config;
use std::collections::BTreeMap;

use crate::model::{Address, IfIndex, Lease, LinkAttrs, Route, Rule, StateProperty, States};

/// Capacity of the broker's event queue. Kernel readers never block on it: when it is full they
/// drop their event, remember that they did, and later send a fresh [`KernelEvent::Snapshot`].
pub const EVENT_QUEUE_CAPACITY: usize = 4096;

/// Sender half of the broker's event queue.
pub type EventSender = tokio::sync::mpsc::Sender<Event>;
/// Receiver half of the broker's event queue.
pub type EventReceiver = tokio::sync::mpsc::Receiver<Event>;

/// Something that happened, as a source saw it.
#[derive(Debug, Clone)]
pub enum Event {
    /// The kernel's link, address or route tables changed.
    Kernel(KernelEvent),
    /// systemd-networkd reported states.
    Networkd(NetworkdEvent),
    /// dhclient's lease files changed: the current (last complete, unexpired) lease of every
    /// interface found in them, by interface name. Sent whenever that set changes, including
    /// when a lease expires.
    Leases(BTreeMap<String, Lease>),
    /// A new configuration was read and validated (SIGHUP or a reload request).
    ConfigReloaded(Box<Config>),
}

/// A change in the kernel's tables, from rtnetlink.
#[derive(Debug, Clone)]
pub enum KernelEvent {
    /// A link appeared or changed (new name, flags, state…). `RTM_NEWLINK`.
    LinkChanged(LinkAttrs),
    /// A link is gone. `RTM_DELLINK`.
    LinkRemoved {
        /// Index of the removed link.
        index: IfIndex,
    },
    /// An address was added or its attributes changed. `RTM_NEWADDR`.
    AddressAdded {
        /// Link the address belongs to.
        index: IfIndex,
        /// The address.
        address: Address,
    },
    /// An address was removed. `RTM_DELADDR`.
    AddressRemoved {
        /// Link the address belonged to.
        index: IfIndex,
        /// The address.
        address: Address,
    },
    /// A route was added. `RTM_NEWROUTE`.
    RouteAdded(Route),
    /// A route was removed. `RTM_DELROUTE`.
    RouteRemoved(Route),
    /// A routing policy rule was added. `RTM_NEWRULE`.
    RuleAdded(Rule),
    /// A routing policy rule was removed. `RTM_DELRULE`.
    RuleRemoved(Rule),
    /// A complete dump of the kernel's tables, taken at start-up and after any loss of events
    /// (netlink overrun, full queue). The broker replaces its view with it and acts on the
    /// difference.
    Snapshot(KernelSnapshot),
}

/// The kernel's complete state at one moment.
#[derive(Debug, Clone, Default)]
pub struct KernelSnapshot {
    /// Every link.
    pub links: Vec<LinkAttrs>,
    /// Every address with the index of its link.
    pub addresses: Vec<(IfIndex, Address)>,
    /// Every route (all tables).
    pub routes: Vec<Route>,
    /// Every routing policy rule.
    pub rules: Vec<Rule>,
}

impl From<KernelEvent> for Event {
    fn from(event: KernelEvent) -> Self {
        Event::Kernel(event)
    }
}

/// What systemd-networkd told us over D-Bus. Only signals from the connection that currently
/// owns `org.freedesktop.network1` become events, and every value is from networkd's fixed
/// lists (see [`crate::model::networkd`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkdEvent {
    /// The complete current states, read when networkd's name gets an owner: at start-up if
    /// networkd runs, and whenever it (re)starts.
    Snapshot {
        /// The manager's states.
        manager: States,
        /// Every link networkd knows, by ifindex.
        links: BTreeMap<IfIndex, States>,
    },
    /// networkd's name lost its owner (networkd stopped or crashed).
    Vanished,
    /// `PropertiesChanged` on a link object: the state properties in the signal, in the order
    /// the signal carried them.
    LinkChanged {
        /// The link, from the object path `/org/freedesktop/network1/link/_3N`.
        index: IfIndex,
        /// Property and new value.
        changed: Vec<(StateProperty, &'static str)>,
    },
    /// `PropertiesChanged` on the manager object.
    ManagerChanged {
        /// Property and new value, in signal order.
        changed: Vec<(StateProperty, &'static str)>,
    },
}

impl From<NetworkdEvent> for Event {
    fn from(event: NetworkdEvent) -> Self {
        Event::Networkd(event)
    }
}
