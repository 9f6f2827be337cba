//! What the broker knows about each link, and the snapshot of all links it publishes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::{Address, IfIndex, Lease, LinkAttrs, Links, RouteSet, States};

/// Everything the broker holds about one link: the kernel's attributes, addresses and the
/// routes whose output interface is this link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkView {
    /// The kernel's attributes.
    pub attrs: LinkAttrs,
    /// Addresses in the order the kernel reported them.
    pub addresses: Vec<Address>,
    /// Routes leaving through this link (all tables), sorted.
    pub routes: RouteSet,
    /// The link's states in networkd's vocabulary: networkd's own when it reports the link,
    /// otherwise computed from the kernel's view.
    pub states: States,
    /// The current dhclient lease of the link's name, if any.
    pub lease: Option<Arc<Lease>>,
}

impl LinkView {
    /// A view with no addresses and no routes yet.
    pub fn new(attrs: LinkAttrs) -> Self {
        Self {
            attrs,
            addresses: Vec::new(),
            routes: RouteSet::new(),
            states: States::new(),
            lease: None,
        }
    }
}

/// An immutable picture of all links, handed to D-Bus getters and the publisher so they never
/// wait on the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Links by interface index. Each view is shared between snapshots until it changes, and
    /// so is each chunk of the map ([`Links`]): taking a snapshot costs one pointer per chunk
    /// of links, not a copy of every address and route, nor of every link's pointer.
    pub links: Links,
    /// networkd's manager states; empty when networkd has not been seen.
    pub manager: States,
    /// The policy-routing table of each link that has one (`RoutingPolicyRules`).
    pub routing_tables: BTreeMap<IfIndex, u32>,
}

impl Snapshot {
    /// The link with this name, if any (names are unique at any moment).
    pub fn link_by_name(&self, name: &str) -> Option<&Arc<LinkView>> {
        self.links.values().find(|l| l.attrs.name == name)
    }
}
