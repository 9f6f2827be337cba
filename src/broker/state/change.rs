//! What the broker's picture reports when it changes: one [`Change`] per link, address,
//! route set, state, rule or lease that changed, the vocabulary the decisions
//! (`crate::broker::decide`) read.

use std::sync::Arc;

use crate::model::{Address, IfIndex, Lease, LinkView, Rule, StateProperty};

/// Where a link's states came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Computed from the kernel's view ([`super::derive`]).
    Kernel,
    /// Reported by systemd-networkd.
    Networkd,
}

/// A state transition list: property and new value, in the order they happened.
pub type Transitions = Vec<(StateProperty, &'static str)>;

/// One thing that changed in the broker's picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A link the broker did not know appeared.
    LinkAdded(IfIndex),
    /// A known link's attributes changed (flags, state, MTU…); a rename is reported as
    /// [`Change::LinkRenamed`] as well.
    LinkChanged(IfIndex),
    /// A known link got a new name.
    LinkRenamed {
        /// The link.
        index: IfIndex,
        /// Its previous name.
        old: String,
    },
    /// A link disappeared; carries its last view.
    LinkRemoved(Arc<LinkView>),
    /// An address appeared on a link.
    AddressAdded(IfIndex, Address),
    /// An address disappeared from a link.
    AddressRemoved(IfIndex, Address),
    /// The set of routes leaving through a link changed.
    RoutesChanged(IfIndex),
    /// Some of a link's states changed, as computed from the kernel or as networkd reported.
    StatesChanged {
        /// The link.
        index: IfIndex,
        /// Who says so.
        origin: Origin,
        /// What changed, in order.
        changed: Transitions,
    },
    /// networkd's manager states changed.
    ManagerStatesChanged(Transitions),
    /// A routing policy rule appeared.
    RuleAdded(Rule),
    /// A routing policy rule disappeared.
    RuleRemoved(Rule),
    /// The current dhclient lease of an interface changed in content (a renewal that only
    /// moves its times is not a change), appeared or went away.
    LeaseChanged {
        /// The interface name the lease file names.
        interface: String,
        /// The lease before, if any.
        before: Option<Box<Lease>>,
        /// The lease now, if any.
        after: Option<Box<Lease>>,
    },
}
