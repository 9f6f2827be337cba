//! Names for the numbers rtnetlink uses in `Describe()` (address and route scopes, route
//! protocols, types and tables), spelled as ip-route(8) and networkctl print them: the hooks'
//! JSON's names (src/hooks/env.rs), so both say the same, and the tables and our own protocol
//! that only the client names.

use network_broker::hooks::env::{protocol_name, route_type_name, scope_name};

/// The name `name` gives a number of rtnetlink's 8-bit fields; a larger number (never sent by
/// the kernel) as itself.
fn byte_name(n: u64, name: fn(u8) -> std::borrow::Cow<'static, str>) -> String {
    match u8::try_from(n) {
        Ok(byte) => name(byte).into_owned(),
        Err(_) => n.to_string(),
    }
}

/// An address or route scope (`RT_SCOPE_*`).
pub fn scope(scope: u64) -> String {
    byte_name(scope, scope_name)
}

/// A route's protocol (`RTPROT_*`, /etc/iproute2/rt_protos).
pub fn protocol(protocol: u64) -> String {
    match protocol {
        // The daemon's own rules and routes with the default `RoutingPolicyProtocol`, named as
        // iproute2/rt_protos.d/network-broker.conf names it for ip(8).
        78 => "network-broker".into(),
        other => byte_name(other, protocol_name),
    }
}

/// A route's type (`RTN_*`).
pub fn route_type(kind: u64) -> String {
    byte_name(kind, route_type_name)
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
