//! The kernel's numbers and names that the model's plain integers carry (`<linux/rtnetlink.h>`,
//! `<linux/if_addr.h>`) and iproute2's names for them: defined once here, so that the netlink
//! translation, the broker's derivations, routing's plan and the hook variables agree.

/// `RT_TABLE_UNSPEC`.
pub const TABLE_UNSPEC: u32 = 0;
/// `RT_TABLE_COMPAT`: what the 8-bit header field of a route or rule says for a table above
/// 255 (the real number is in the `RTA_TABLE`/`FRA_TABLE` attribute).
pub const TABLE_COMPAT: u32 = 252;
/// `RT_TABLE_DEFAULT`.
pub const TABLE_DEFAULT: u32 = 253;
/// `RT_TABLE_MAIN`: where `ip route add` and DHCP clients put routes.
pub const TABLE_MAIN: u32 = 254;
/// `RT_TABLE_LOCAL`: the kernel's own local and broadcast routes.
pub const TABLE_LOCAL: u32 = 255;

/// `RT_SCOPE_UNIVERSE`: reaches anywhere.
pub const SCOPE_UNIVERSE: u8 = 0;
/// `RT_SCOPE_SITE`.
pub const SCOPE_SITE: u8 = 200;
/// `RT_SCOPE_LINK`: reaches the link only.
pub const SCOPE_LINK: u8 = 253;
/// `RT_SCOPE_HOST`: reaches this host only.
pub const SCOPE_HOST: u8 = 254;

/// `RTN_UNICAST`: a route's ordinary type.
pub const KIND_UNICAST: u8 = 1;

/// The metric the kernel gives an IPv6 route added without one (IPv4's is 0).
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// `IFA_F_SECONDARY`: an IPv4 address that is not the first of its subnet on the link (for
/// IPv6 the same bit means `IFA_F_TEMPORARY`).
pub const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_DADFAILED`: duplicate address detection failed; the address is unusable.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_TENTATIVE`: duplicate address detection has not finished.
pub const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_PERMANENT`: the address has no lifetime (configured, not from DHCP or SLAAC).
pub const IFA_F_PERMANENT: u32 = 0x80;

/// Route and rule protocol numbers with a name: the kernel's `RTPROT_*` values and the names
/// of iproute2's `rt_protos`. Hook variables print these names; the configuration refuses
/// every number here as our own protocol.
pub const ROUTE_PROTOCOLS: &[(u8, &str)] = &[
    (0, "unspec"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
    (17, "mrouted"),
    (18, "keepalived"),
    (42, "babel"),
    (99, "openr"),
    (186, "bgp"),
    (187, "isis"),
    (188, "ospf"),
    (189, "rip"),
    (192, "eigrp"),
];

/// The name of a route protocol number, if [`ROUTE_PROTOCOLS`] has one.
pub fn route_protocol_name(protocol: u8) -> Option<&'static str> {
    ROUTE_PROTOCOLS
        .iter()
        .find(|(number, _)| *number == protocol)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_have_iproute2s_names_and_others_none() {
        assert_eq!(route_protocol_name(2), Some("kernel"));
        assert_eq!(route_protocol_name(16), Some("dhcp"));
        assert_eq!(route_protocol_name(192), Some("eigrp"));
        assert_eq!(route_protocol_name(78), None);
    }

    #[test]
    fn each_protocol_number_is_named_once() {
        let mut numbers: Vec<u8> = ROUTE_PROTOCOLS.iter().map(|(n, _)| *n).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), ROUTE_PROTOCOLS.len(), "sorted and unique");
        assert!(ROUTE_PROTOCOLS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
