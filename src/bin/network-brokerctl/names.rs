//! Names for the numbers rtnetlink uses in `Describe()` (address and route scopes, route
//! protocols, types and tables), spelled as ip-route(8) and networkctl print them.
//!
//! The hooks' JSON names the same numbers (src/hooks/env.rs, private there); the two tables
//! stay apart only until the client's JSON and the hooks' share one serializer (docs/json.md).

/// An address or route scope (`RT_SCOPE_*`).
pub fn scope(scope: u64) -> String {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        other => other.to_string(),
    }
}

/// A route's protocol (`RTPROT_*`, /etc/iproute2/rt_protos).
pub fn protocol(protocol: u64) -> String {
    let name = match protocol {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        18 => "keepalived",
        42 => "babel",
        // The daemon's own rules and routes with the default `RoutingPolicyProtocol`, named as
        // iproute2/rt_protos.d/network-broker.conf names it for ip(8).
        78 => "network-broker",
        99 => "openr",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        other => return other.to_string(),
    };
    name.into()
}

/// A route's type (`RTN_*`).
pub fn route_type(kind: u64) -> String {
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
        other => return other.to_string(),
    };
    name.into()
}

/// A routing table, by the names of /etc/iproute2/rt_tables.
pub fn table(table: u64) -> String {
    match table {
        253 => "default".into(),
        254 => "main".into(),
        255 => "local".into(),
        other => other.to_string(),
    }
}

/// `IFA_F_PERMANENT`: the address has no lifetime (configured, not from DHCP or SLAAC).
pub const ADDRESS_PERMANENT: u64 = 0x80;

#[cfg(test)]
mod tests;
