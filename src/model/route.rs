//! A route from any routing table (RTM_NEWROUTE), IPv4 or IPv6.

use std::net::IpAddr;

use serde::Serialize;

use super::kernel::IPV6_DEFAULT_METRIC;
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

/// Where the kernel files a route: one slot per family, table, destination and metric (and
/// type-of-service, which nobody here sets). `ip route replace` and networkd send only the new
/// route of a slot, never a removal of the old one; and a slot held by one route refuses an
/// exclusive add of another.
///
/// The metric is the one the kernel stores ([`Route::stored_metric`]), so a route we are
/// about to add without one lands in the slot the kernel will give it. For routes read from
/// the kernel this is the metric as reported: the kernel always reports an IPv6 route's
/// metric and omits only an IPv4 metric of 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteSlot {
    /// IPv6 or IPv4.
    pub ipv6: bool,
    /// Routing table.
    pub table: u32,
    /// Destination network; `None` for a default route.
    pub dst: Option<IpAddr>,
    /// Destination prefix length.
    pub dst_len: u8,
    /// The metric as the kernel stores it.
    pub metric: u32,
}

impl Route {
    /// The metric as the kernel stores it: an IPv6 route added without one gets
    /// [`IPV6_DEFAULT_METRIC`], an IPv4 route 0.
    pub fn stored_metric(&self) -> u32 {
        self.metric
            .unwrap_or(if self.ipv6 { IPV6_DEFAULT_METRIC } else { 0 })
    }

    /// The kernel slot this route occupies.
    pub fn slot(&self) -> RouteSlot {
        RouteSlot {
            ipv6: self.ipv6,
            table: self.table,
            dst: self.dst,
            dst_len: self.dst_len,
            metric: self.stored_metric(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures;

    #[test]
    fn a_missing_metric_is_the_kernels_default_for_the_family() {
        let mut v4 = fixtures::route(3, "10.0.0.0", 8);
        assert_eq!(v4.slot().metric, 0);
        v4.ipv6 = true;
        assert_eq!(v4.slot().metric, IPV6_DEFAULT_METRIC);
        v4.metric = Some(256);
        assert_eq!(v4.slot().metric, 256);
    }

    #[test]
    fn the_same_slot_whatever_the_next_hop() {
        let a = fixtures::route(3, "10.0.0.0", 8);
        let mut b = a.clone();
        b.gateway = Some("10.0.0.1".parse().expect("test gateway"));
        b.oif = Some(4);
        b.metric = Some(0);
        assert_eq!(a.slot(), b.slot());
        b.table = 100;
        assert_ne!(a.slot(), b.slot());
    }
}
