//! `RTM_NEWROUTE` / `RTM_DELROUTE` messages to [`Route`], IPv4 and IPv6, any table.

use std::net::IpAddr;

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteVia,
};
use netlink_packet_route::AddressFamily;

use super::header_table;
use crate::model::Route;

/// The route, or `None` when the message is not an IPv4/IPv6 route, is a route-cache entry
/// (`RTM_F_CLONED`: IPv6 exceptions such as learned PMTUs, not table contents), or is
/// inconsistent (a destination prefix without a destination address, an address of the wrong
/// family, a prefix longer than the address).
///
/// - **Table:** `RTA_TABLE` when present, else the header's 8-bit field. The kernel writes
///   252 (`RT_TABLE_COMPAT`) into the header for tables above 255, so the attribute must win.
/// - **Default route:** `dst` is `None` and `dst_len` 0 (an explicit `0.0.0.0/0` is normalised
///   to the same, so both spellings are one route).
/// - **Gateway:** `RTA_GATEWAY`, or `RTA_VIA` (an IPv4 route through an IPv6 next hop).
/// - **Multipath (`RTA_MULTIPATH`):** the model holds one next hop, so the route takes the
///   gateway and output interface of the *first* hop when it has none of its own. The other hops
///   are not represented; an add and a delete of the same multipath route still convert to the
///   same [`Route`], so they cancel out.
/// - **Source-specific routes** (IPv6 `from` prefix, `RTA_SRC`) are reported without their
///   source prefix: the model has no field for it.
pub fn route(msg: &RouteMessage) -> Option<Route> {
    if !is_table_route(msg) {
        return None;
    }
    let header = &msg.header;
    let (ipv6, max_len) = match header.address_family {
        AddressFamily::Inet => (false, 32),
        AddressFamily::Inet6 => (true, 128),
        _ => return None,
    };
    if header.destination_prefix_length > max_len {
        return None;
    }

    let mut dst = None;
    let mut src = None;
    let mut gateway = None;
    let mut oif = None;
    let mut table = None;
    let mut metric = None;
    let mut first_hop = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = Some(ip_of(a, ipv6)?),
            RouteAttribute::PrefSource(a) => src = Some(ip_of(a, ipv6)?),
            RouteAttribute::Gateway(a) => gateway = Some(ip_of(a, ipv6)?),
            RouteAttribute::Via(via) => gateway = Some(via_ip(via)?),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Table(t) => table = Some(*t),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::MultiPath(hops) => first_hop = hops.first(),
            _ => {}
        }
    }

    if let Some(hop) = first_hop {
        if gateway.is_none() {
            for attr in &hop.attributes {
                match attr {
                    RouteAttribute::Gateway(a) => gateway = Some(ip_of(a, ipv6)?),
                    RouteAttribute::Via(via) => gateway = Some(via_ip(via)?),
                    _ => {}
                }
            }
        }
        if oif.is_none() && hop.interface_index != 0 {
            oif = Some(hop.interface_index);
        }
    }

    let dst_len = header.destination_prefix_length;
    let dst = if dst_len == 0 {
        None
    } else {
        // A prefix length without the address it belongs to cannot be a real route.
        Some(dst?)
    };

    Some(Route {
        dst,
        dst_len,
        src,
        gateway,
        oif,
        table: table.unwrap_or(u32::from(header.table)),
        protocol: header.protocol.into(),
        scope: header.scope.into(),
        kind: header.kind.into(),
        metric,
        ipv6,
    })
}

/// The message that adds, replaces or deletes `route`: every attribute the model holds, so
/// a delete built from a dumped route names exactly that route (the kernel matches the
/// metric, gateway, output interface and protocol it is given). A table above 255 goes into
/// `RTA_TABLE` with `RT_TABLE_COMPAT` in the header, as iproute2 sends it; smaller tables go
/// into both. A gateway of the other family (an IPv4 route through an IPv6 next hop) becomes
/// `RTA_VIA`.
pub fn route_message(route: &Route) -> RouteMessage {
    let mut msg = RouteMessage::default();
    let header = &mut msg.header;
    header.address_family = if route.ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    header.destination_prefix_length = route.dst_len;
    header.table = header_table(route.table);
    header.protocol = route.protocol.into();
    header.scope = route.scope.into();
    header.kind = route.kind.into();

    let attrs = &mut msg.attributes;
    attrs.push(RouteAttribute::Table(route.table));
    if let Some(dst) = route.dst {
        attrs.push(RouteAttribute::Destination(dst.into()));
    }
    if let Some(src) = route.src {
        attrs.push(RouteAttribute::PrefSource(src.into()));
    }
    match route.gateway {
        Some(gw) if gw.is_ipv6() == route.ipv6 => attrs.push(RouteAttribute::Gateway(gw.into())),
        Some(IpAddr::V6(gw)) => attrs.push(RouteAttribute::Via(RouteVia::Inet6(gw))),
        Some(IpAddr::V4(gw)) => attrs.push(RouteAttribute::Via(RouteVia::Inet(gw))),
        None => {}
    }
    if let Some(oif) = route.oif {
        attrs.push(RouteAttribute::Oif(oif));
    }
    if let Some(metric) = route.metric {
        attrs.push(RouteAttribute::Priority(metric));
    }
    msg
}

/// Whether `msg` is about an IPv4 or IPv6 routing table entry, the only routes the model
/// holds. Other route messages (MPLS, multicast routing, `RTM_F_CLONED` cache entries) are
/// normal traffic that callers ignore quietly; [`route`] returns `None` for them too.
pub fn is_table_route(msg: &RouteMessage) -> bool {
    matches!(
        msg.header.address_family,
        AddressFamily::Inet | AddressFamily::Inet6
    ) && !msg.header.flags.contains(RouteFlags::Cloned)
}

/// The address, if it is of the message's own family.
fn ip_of(addr: &RouteAddress, ipv6: bool) -> Option<IpAddr> {
    match (addr, ipv6) {
        (RouteAddress::Inet(a), false) => Some(IpAddr::V4(*a)),
        (RouteAddress::Inet6(a), true) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// `RTA_VIA` exists to name a next hop of the *other* family, so either family is accepted.
fn via_ip(via: &RouteVia) -> Option<IpAddr> {
    match via {
        RouteVia::Inet(a) => Some(IpAddr::V4(*a)),
        RouteVia::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use netlink_packet_route::route::{
        RouteHeader, RouteNextHop, RouteProtocol, RouteScope, RouteType,
    };

    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> RouteAddress {
        RouteAddress::Inet(Ipv4Addr::new(a, b, c, d))
    }

    fn message(
        family: AddressFamily,
        dst_len: u8,
        attributes: Vec<RouteAttribute>,
    ) -> RouteMessage {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family;
        msg.header.destination_prefix_length = dst_len;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Static;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes = attributes;
        msg
    }

    #[test]
    fn ipv4_route_in_a_table_above_255_uses_rta_table() {
        let mut msg = message(
            AddressFamily::Inet,
            24,
            vec![
                RouteAttribute::Table(1003),
                RouteAttribute::Destination(v4(198, 51, 100, 0)),
                RouteAttribute::Gateway(v4(192, 0, 2, 1)),
                RouteAttribute::Oif(3),
                RouteAttribute::Priority(100),
                RouteAttribute::PrefSource(v4(192, 0, 2, 10)),
            ],
        );
        // What the kernel really puts in the header for such a table.
        msg.header.table = 252;
        let route = route(&msg).expect("complete message");
        assert_eq!(
            route,
            Route {
                dst: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 0))),
                dst_len: 24,
                src: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
                gateway: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
                oif: Some(3),
                table: 1003,
                protocol: 4,
                scope: 0,
                kind: 1,
                metric: Some(100),
                ipv6: false,
            }
        );
    }

    #[test]
    fn table_falls_back_to_the_header() {
        let msg = message(AddressFamily::Inet, 0, vec![RouteAttribute::Oif(2)]);
        assert_eq!(route(&msg).map(|r| r.table), Some(254));
    }

    #[test]
    fn default_route_has_no_destination() {
        let msg = message(
            AddressFamily::Inet,
            0,
            vec![
                RouteAttribute::Gateway(v4(192, 0, 2, 1)),
                RouteAttribute::Oif(3),
            ],
        );
        let r = route(&msg).expect("complete message");
        assert_eq!((r.dst, r.dst_len, r.ipv6), (None, 0, false));

        // An explicit 0.0.0.0/0 is the same route.
        let mut explicit = msg.clone();
        explicit
            .attributes
            .push(RouteAttribute::Destination(v4(0, 0, 0, 0)));
        assert_eq!(route(&explicit), Some(r));
    }

    #[test]
    fn ipv6_route() {
        let dst = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0);
        let gw = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        let msg = message(
            AddressFamily::Inet6,
            64,
            vec![
                RouteAttribute::Destination(RouteAddress::Inet6(dst)),
                RouteAttribute::Gateway(RouteAddress::Inet6(gw)),
                RouteAttribute::Oif(4),
                RouteAttribute::Table(254),
                RouteAttribute::Priority(1024),
            ],
        );
        let r = route(&msg).expect("complete message");
        assert_eq!(r.dst, Some(IpAddr::V6(dst)));
        assert_eq!(r.dst_len, 64);
        assert_eq!(r.gateway, Some(IpAddr::V6(gw)));
        assert_eq!(
            (r.oif, r.table, r.metric, r.ipv6),
            (Some(4), 254, Some(1024), true)
        );
    }

    #[test]
    fn ipv4_route_via_an_ipv6_next_hop() {
        let gw = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        let msg = message(
            AddressFamily::Inet,
            0,
            vec![
                RouteAttribute::Via(RouteVia::Inet6(gw)),
                RouteAttribute::Oif(2),
            ],
        );
        assert_eq!(route(&msg).and_then(|r| r.gateway), Some(IpAddr::V6(gw)));
    }

    #[test]
    fn multipath_takes_the_first_hop() {
        let mut hop1 = RouteNextHop::default();
        hop1.interface_index = 5;
        hop1.attributes = vec![RouteAttribute::Gateway(v4(192, 0, 2, 1))];
        let mut hop2 = RouteNextHop::default();
        hop2.interface_index = 6;
        hop2.attributes = vec![RouteAttribute::Gateway(v4(198, 51, 100, 1))];
        let msg = message(
            AddressFamily::Inet,
            0,
            vec![RouteAttribute::MultiPath(vec![hop1, hop2])],
        );
        let r = route(&msg).expect("complete message");
        assert_eq!(r.gateway, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
        assert_eq!(r.oif, Some(5));
    }

    #[test]
    fn route_message_round_trips() {
        let v4route = Route {
            dst: Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 0))),
            dst_len: 24,
            src: Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 3))),
            gateway: None,
            oif: Some(3),
            table: 1003,
            protocol: 78,
            scope: 253,
            kind: 1,
            metric: None,
            ipv6: false,
        };
        let msg = route_message(&v4route);
        assert_eq!(msg.header.table, crate::netlink::HEADER_TABLE_COMPAT);
        assert_eq!(route(&msg), Some(v4route.clone()));

        let v6default = Route {
            dst: None,
            dst_len: 0,
            src: None,
            gateway: Some(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1))),
            oif: Some(4),
            table: 200,
            protocol: 78,
            scope: 0,
            kind: 1,
            metric: Some(1024),
            ipv6: true,
        };
        let msg = route_message(&v6default);
        assert_eq!(msg.header.table, 200);
        assert_eq!(route(&msg), Some(v6default));

        // An IPv4 route through an IPv6 next hop travels as RTA_VIA.
        let mut via = v4route.clone();
        via.gateway = Some(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)));
        let msg = route_message(&via);
        assert!(msg
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Via(RouteVia::Inet6(_)))));
        assert_eq!(route(&msg), Some(via));
    }

    #[test]
    fn incomplete_or_irrelevant_messages_are_rejected() {
        // A /24 without its destination address.
        let no_dst = message(AddressFamily::Inet, 24, vec![RouteAttribute::Oif(2)]);
        assert_eq!(route(&no_dst), None);

        // An IPv6 destination in an IPv4 message.
        let wrong_family = message(
            AddressFamily::Inet,
            64,
            vec![RouteAttribute::Destination(RouteAddress::Inet6(
                Ipv6Addr::LOCALHOST,
            ))],
        );
        assert_eq!(route(&wrong_family), None);

        let too_long = message(AddressFamily::Inet, 33, vec![]);
        assert_eq!(route(&too_long), None);

        let mpls = message(AddressFamily::Mpls, 20, vec![]);
        assert_eq!(route(&mpls), None);

        let mut cloned = message(AddressFamily::Inet6, 0, vec![RouteAttribute::Oif(2)]);
        cloned.header.flags = RouteFlags::Cloned;
        assert_eq!(route(&cloned), None);
    }
}
