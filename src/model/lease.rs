//! A DHCP lease as ISC dhclient records it, reduced to what the broker acts on plus every
//! option verbatim.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

/// One lease of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The interface the lease belongs to (`interface "eth0";`).
    pub interface: String,
    /// The leased address (`fixed-address`).
    pub address: Option<Ipv4Addr>,
    /// Prefix length from `option subnet-mask`.
    pub prefix_len: Option<u8>,
    /// `option routers`, in order.
    pub routers: Vec<Ipv4Addr>,
    /// `option domain-name-servers` (IPv4) or `dhcp6.name-servers` (IPv6), in order.
    pub dns: Vec<IpAddr>,
    /// `option domain-name`.
    pub domain_name: Option<String>,
    /// `option domain-search`, in order, without trailing dots.
    pub domain_search: Vec<String>,
    /// `option host-name`.
    pub host_name: Option<String>,
    /// `option interface-mtu`.
    pub mtu: Option<u32>,
    /// `renew` time, seconds since the Unix epoch (UTC).
    pub renew: Option<i64>,
    /// `rebind` time, seconds since the Unix epoch (UTC).
    pub rebind: Option<i64>,
    /// `expire` time, seconds since the Unix epoch (UTC); `None` for a lease that never
    /// expires (`expire never;`).
    pub expire: Option<i64>,
    /// Every `option NAME VALUE;` as written (quotes removed from plain strings), by name.
    pub options: BTreeMap<String, String>,
}

impl Lease {
    /// Whether `other` says the same things: a renewal that only moves the renew, rebind
    /// and expire times (and the lease-time bookkeeping options) is not a change.
    pub fn same_content(&self, other: &Lease) -> bool {
        let volatile = |name: &str| {
            matches!(
                name,
                "dhcp-lease-time" | "dhcp-renewal-time" | "dhcp-rebinding-time"
            )
        };
        let options = |lease: &Lease| -> Vec<(String, String)> {
            lease
                .options
                .iter()
                .filter(|(k, _)| !volatile(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        self.interface == other.interface
            && self.address == other.address
            && self.prefix_len == other.prefix_len
            && self.routers == other.routers
            && self.dns == other.dns
            && self.domain_name == other.domain_name
            && self.domain_search == other.domain_search
            && self.host_name == other.host_name
            && self.mtu == other.mtu
            && options(self) == options(other)
    }
}
