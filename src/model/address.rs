//! An address configured on a link (RTM_NEWADDR), IPv4 or IPv6.

use std::net::IpAddr;

use serde::Serialize;

use super::kernel::SCOPE_LINK;

/// One address of a link. Two addresses are the same address when `ip` and `prefix_len` are
/// equal; the other fields are attributes that may change (label, scope, flags).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Address {
    /// The local address (`IFA_LOCAL`, or `IFA_ADDRESS` when there is no local one).
    pub ip: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// IPv4 label (`eth0:1`); IPv6 has none.
    pub label: Option<String>,
    /// `RT_SCOPE_*`: 0 universe, 200 site, 253 link, 254 host.
    pub scope: u8,
    /// `IFA_F_*` flags (tentative, deprecated, permanent, …).
    pub flags: u32,
}

impl Address {
    /// Whether the address is the same address as `other` (ignoring mutable attributes).
    pub fn same_key(&self, other: &Address) -> bool {
        self.ip == other.ip && self.prefix_len == other.prefix_len
    }

    /// Whether the address is usable beyond the link itself (not link- or host-scoped).
    pub fn is_global(&self) -> bool {
        self.scope < SCOPE_LINK
    }
}
