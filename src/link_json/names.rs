//! The kernel's numbers in a link document given the names ip(8) prints (`<linux/if.h>`,
//! `<linux/if_addr.h>`, `<linux/rtnetlink.h>`, iproute2's `rt_scopes`, `rt_protos`,
//! `rt_tables`); a number without a name stays a number, as text.

use crate::model::kernel::{
    route_protocol_name, SCOPE_HOST, SCOPE_LINK, SCOPE_SITE, SCOPE_UNIVERSE, TABLE_DEFAULT,
    TABLE_LOCAL, TABLE_MAIN,
};

/// The protocol of the daemon's own rules and routes with the default
/// `RoutingPolicyProtocol`, named as iproute2/rt_protos.d/network-broker.conf names it for
/// ip(8). Not in `model::kernel::ROUTE_PROTOCOLS`: that list is what the configuration refuses
/// as our own protocol.
const OUR_PROTOCOL: (u8, &str) = (78, "network-broker");

/// `ipv4` or `ipv6`.
pub fn family(ipv6: bool) -> &'static str {
    if ipv6 {
        "ipv6"
    } else {
        "ipv4"
    }
}

/// Names of the set bits of `flags` from `table`, in table order.
fn flag_names(flags: u32, table: &[(u32, &'static str)]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// `IFF_*` names as `ip link` prints them, lower-cased.
pub fn link_flag_names(flags: u32) -> Vec<&'static str> {
    const TABLE: [(u32, &str); 19] = [
        (0x1, "up"),
        (0x2, "broadcast"),
        (0x4, "debug"),
        (0x8, "loopback"),
        (0x10, "pointopoint"),
        (0x20, "notrailers"),
        (0x40, "running"),
        (0x80, "noarp"),
        (0x100, "promisc"),
        (0x200, "allmulti"),
        (0x400, "master"),
        (0x800, "slave"),
        (0x1000, "multicast"),
        (0x2000, "portsel"),
        (0x4000, "automedia"),
        (0x8000, "dynamic"),
        (0x1_0000, "lower_up"),
        (0x2_0000, "dormant"),
        (0x4_0000, "echo"),
    ];
    flag_names(flags, &TABLE)
}

/// `IFA_F_*` names as `ip addr` prints them. Bit 0x01 is `secondary` for IPv4 and `temporary`
/// for IPv6: the kernel uses one bit for both.
pub fn address_flag_names(flags: u32, ipv6: bool) -> Vec<&'static str> {
    const TABLE: [(u32, &str); 11] = [
        (0x02, "nodad"),
        (0x04, "optimistic"),
        (0x08, "dadfailed"),
        (0x10, "home"),
        (0x20, "deprecated"),
        (0x40, "tentative"),
        (0x80, "permanent"),
        (0x100, "mngtmpaddr"),
        (0x200, "noprefixroute"),
        (0x400, "autojoin"),
        (0x800, "stable-privacy"),
    ];
    let mut names = Vec::new();
    if flags & 0x01 != 0 {
        names.push(if ipv6 { "temporary" } else { "secondary" });
    }
    names.extend(flag_names(flags, &TABLE));
    names
}

/// `RT_SCOPE_*` names.
pub fn scope_name(scope: u8) -> String {
    match scope {
        SCOPE_UNIVERSE => "global".into(),
        SCOPE_SITE => "site".into(),
        SCOPE_LINK => "link".into(),
        SCOPE_HOST => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// `RTPROT_*` names, and ours.
pub fn protocol_name(protocol: u8) -> String {
    if protocol == OUR_PROTOCOL.0 {
        return OUR_PROTOCOL.1.into();
    }
    route_protocol_name(protocol).map_or_else(|| protocol.to_string(), str::to_string)
}

/// `RTN_*` names as `ip route` prints them.
pub fn route_type_name(kind: u8) -> String {
    let name = match kind {
        0 => "unspec",
        1 => "unicast",
        2 => "local",
        3 => "broadcast",
        4 => "anycast",
        5 => "multicast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        9 => "throw",
        10 => "nat",
        11 => "xresolve",
        n => return n.to_string(),
    };
    name.into()
}

/// A routing table by the names of iproute2's `rt_tables`.
pub fn table_name(table: u32) -> String {
    match table {
        TABLE_DEFAULT => "default".into(),
        TABLE_MAIN => "main".into(),
        TABLE_LOCAL => "local".into(),
        n => n.to_string(),
    }
}
