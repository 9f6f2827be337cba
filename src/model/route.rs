//! A route from any routing table (RTM_NEWROUTE), IPv4 or IPv6.

use std::net::IpAddr;

use serde::Serialize;

use super::IfIndex;

/// One route. Routes have no identity beyond their attributes, so equality is full equality:
/// the same route added twice by the kernel is one route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Route {
    /// Destination network; `None` for a default route.
    pub dst: Option<IpAddr>,
    /// Destination prefix length (0 for a default route).
    pub dst_len: u8,
    /// Preferred source address (`RTA_PREFSRC`).
    pub src: Option<IpAddr>,
    /// Next hop (`RTA_GATEWAY`).
    pub gateway: Option<IpAddr>,
    /// Output interface (`RTA_OIF`).
    pub oif: Option<IfIndex>,
    /// Routing table, from `RTA_TABLE` (the header's 8-bit field says 252 for tables > 255).
    pub table: u32,
    /// `RTPROT_*` of whoever added the route (2 kernel, 3 boot, 4 static, 16 dhcp, …).
    pub protocol: u8,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// `RTN_*` type (1 unicast, 2 local, 3 broadcast, …).
    pub kind: u8,
    /// Metric (`RTA_PRIORITY`).
    pub metric: Option<u32>,
    /// Whether this is an IPv6 route (needed for a default route, which has no address).
    pub ipv6: bool,
}
