//! `org.freedesktop.NetworkBroker1.Link` at `/org/freedesktop/NetworkBroker1/link/_3N`: one
//! object per link, reading its properties from the broker's snapshot.

use std::sync::Arc;

use tokio::sync::watch;
use zbus::interface;

use crate::link_json::LinkDocument;
use crate::model::{IfIndex, LinkView, Snapshot, StateProperty};

use super::error::ApiError;
use super::hook_record::{RunEntry, SharedRecord};
use super::manager::wire_index;

/// One link object.
pub struct Link {
    index: IfIndex,
    /// The name the link was announced with: what `Name` says once the link is gone.
    announced_name: String,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    hooks: SharedRecord,
}

/// What a link object answers when its link is no longer in the latest snapshot: the
/// publisher removes the object once it has sent the link's `LinkRemoved`, and a link that
/// came and went within one burst gets its object (and its `LinkAdded`) only after the
/// snapshot without it is out. Each value is in its property's documented set and says the
/// link is gone: networkd's `missing`, `off`, the kernel's `notpresent`.
mod gone {
    pub const OPERATIONAL: &str = "missing";
    pub const CARRIER: &str = "off";
    pub const ADDRESS: &str = "off";
    pub const KERNEL: &str = "notpresent";
}

impl Link {
    /// The object for the link with this ifindex, announced with `name`, whose hook results
    /// are in `hooks`.
    pub fn new(
        index: IfIndex,
        name: &str,
        snapshot: watch::Receiver<Arc<Snapshot>>,
        hooks: SharedRecord,
    ) -> Self {
        Self {
            index,
            announced_name: name.to_string(),
            snapshot,
            hooks,
        }
    }

    fn with_view<T>(&self, read: impl FnOnce(&LinkView) -> T, missing: T) -> T {
        match self.snapshot.borrow().links.get(&self.index) {
            Some(view) => read(view),
            None => missing,
        }
    }

    /// A state property: the view's, or the gone link's value.
    fn state(&self, property: StateProperty, gone: &str) -> String {
        self.with_view(|v| state_of(v, property), gone.to_string())
    }
}

/// One of the link's states. The broker always has the kernel's operational, carrier and
/// address states for a link it shows (networkd's where it reported them); only
/// `AdministrativeState` and `OnlineState` are empty, for links networkd does not report.
pub(super) fn state_of(view: &LinkView, property: StateProperty) -> String {
    view.states
        .get(&property)
        .copied()
        .unwrap_or_default()
        .to_string()
}

/// The `Lease` property's value: the dhclient lease as `KEY=VALUE` pairs (see
/// [`crate::model::Lease::key_values`]); empty without one.
pub fn lease_of(view: &LinkView) -> std::collections::HashMap<String, String> {
    view.lease
        .iter()
        .flat_map(|lease| lease.key_values())
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// The `DNS` property's value: the DNS servers of the link's dhclient lease.
pub fn dns_of(view: &LinkView) -> Vec<String> {
    view.lease
        .iter()
        .flat_map(|l| l.dns.iter().map(ToString::to_string))
        .collect()
}

/// The `Domains` property's value: the lease's domain name, then its search list.
pub fn domains_of(view: &LinkView) -> Vec<String> {
    view.lease.iter().flat_map(|l| l.search_domains()).collect()
}

/// The `Addresses` property's value for a link: (address, prefix length).
pub fn addresses_of(view: &LinkView) -> Vec<(String, u8)> {
    view.addresses
        .iter()
        .map(|a| (a.ip.to_string(), a.prefix_len))
        .collect()
}

#[interface(name = "org.freedesktop.NetworkBroker1.Link")]
impl Link {
    /// The kernel's interface index.
    #[zbus(property(emits_changed_signal = "const"))]
    fn index(&self) -> i32 {
        wire_index(self.index)
    }

    /// The interface name (it may change; the object path does not).
    #[zbus(property)]
    fn name(&self) -> String {
        self.with_view(|v| v.attrs.name.clone(), self.announced_name.clone())
    }

    /// The operational state in networkd's vocabulary (`off`, `no-carrier`, `carrier`,
    /// `degraded`, `routable`, …): networkd's own for the links it reports, otherwise computed
    /// from the kernel the way networkd computes it; `missing` once the link is gone.
    #[zbus(property)]
    fn operational_state(&self) -> String {
        self.state(StateProperty::Operational, gone::OPERATIONAL)
    }

    /// The carrier state (`off`, `no-carrier`, `dormant`, `carrier`, …).
    #[zbus(property)]
    fn carrier_state(&self) -> String {
        self.state(StateProperty::Carrier, gone::CARRIER)
    }

    /// The address state (`off`, `no-address`, `degraded`, `routable`).
    #[zbus(property)]
    fn address_state(&self) -> String {
        self.state(StateProperty::Address, gone::ADDRESS)
    }

    /// networkd's administrative state (`unmanaged`, `configuring`, `configured`, …); empty
    /// for links networkd does not report.
    #[zbus(property)]
    fn administrative_state(&self) -> String {
        self.state(StateProperty::Administrative, "")
    }

    /// networkd's online state (`offline`, `partial`, `online`); empty when unknown.
    #[zbus(property)]
    fn online_state(&self) -> String {
        self.state(StateProperty::Online, "")
    }

    /// The kernel's own operational state (RFC 2863: `up`, `down`, `lowerlayerdown`, …);
    /// `notpresent` once the link is gone.
    #[zbus(property)]
    fn kernel_operational_state(&self) -> String {
        self.with_view(
            |v| v.attrs.oper_state.as_str().to_string(),
            gone::KERNEL.to_string(),
        )
    }

    /// The link's current dhclient lease, key by key (`ADDRESS`, `ROUTER`, `DNS`, …); empty
    /// without one.
    #[zbus(property)]
    fn lease(&self) -> std::collections::HashMap<String, String> {
        self.with_view(lease_of, Default::default())
    }

    /// DNS servers from the link's dhclient lease.
    #[zbus(property, name = "DNS")]
    fn dns(&self) -> Vec<String> {
        self.with_view(dns_of, Vec::new())
    }

    /// Search domains from the link's dhclient lease: the domain name, then the search list.
    #[zbus(property)]
    fn domains(&self) -> Vec<String> {
        self.with_view(domains_of, Vec::new())
    }

    /// The link's policy-routing table (`RouteTableBase + ifindex`), 0 when the link is not in
    /// `RoutingPolicyRules`.
    #[zbus(property)]
    fn routing_table(&self) -> u32 {
        self.snapshot
            .borrow()
            .routing_tables
            .get(&self.index)
            .copied()
            .unwrap_or(0)
    }

    /// The hooks that last ran for this link: for each event its last run's scripts, events
    /// by name and scripts in run order: event, script path, time (µs since the epoch, when
    /// the result reached the bus), exit status (as in `HooksCompleted`), error text (empty
    /// on success).
    #[zbus(property)]
    fn hook_results(&self) -> Vec<RunEntry> {
        self.hooks.with(|record| record.link_runs(self.index))
    }

    /// The link's addresses, IPv4 and IPv6: (address, prefix length).
    #[zbus(property)]
    fn addresses(&self) -> Vec<(String, u8)> {
        self.with_view(addresses_of, Vec::new())
    }

    /// Everything the daemon knows about this link as one JSON document (docs/json.md, "The
    /// link document"), the same as its element of `Manager.Describe()` and its hooks' `JSON`.
    ///
    /// Errors: `org.freedesktop.NetworkBroker1.Error.NoSuchLink` (the link went away).
    #[zbus(out_args("json"))]
    fn describe(&self) -> Result<String, ApiError> {
        let snapshot = self.snapshot.borrow();
        let view = snapshot
            .links
            .get(&self.index)
            .ok_or_else(|| ApiError::NoSuchLink(format!("no link with index {}", self.index)))?;
        let table = snapshot.routing_tables.get(&self.index).copied();
        let document = LinkDocument::new(view, table.unwrap_or(0));
        serde_json::to_string(&document)
            .map_err(|err| ApiError::Failed(format!("cannot encode the link: {err}")))
    }
}
