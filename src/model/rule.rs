//! A routing policy rule (RTM_NEWRULE), IPv4 or IPv6, reduced to the selectors the broker
//! creates and recognises.

use std::net::IpAddr;

use serde::Serialize;

/// One rule. Rules have no identity beyond their attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Rule {
    /// Whether this is an IPv6 rule.
    pub ipv6: bool,
    /// `FRA_PRIORITY`; the kernel assigns one when none is given.
    pub priority: Option<u32>,
    /// `from PREFIX`.
    pub src: Option<(IpAddr, u8)>,
    /// `to PREFIX`.
    pub dst: Option<(IpAddr, u8)>,
    /// `lookup TABLE` (from `FRA_TABLE`, falling back to the header).
    pub table: u32,
    /// `FRA_PROTOCOL`: who added the rule; ours carry our own number.
    pub protocol: u8,
    /// `FR_ACT_*` (1 = to table).
    pub action: u8,
}
