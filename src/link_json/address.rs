//! One element of a link document's `Address` (docs/json.md): the original program's `IP`,
//! `Mask` and `Label`, then the kernel's scope and flags by name.

use serde::Serialize;

use super::names::{address_flag_names, family, scope_name};
use crate::model::kernel::IFA_F_PERMANENT;
use crate::model::Address;

/// One address of the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressDocument<'a> {
    #[serde(rename = "IP")]
    pub ip: String,
    /// The prefix length (the original's name).
    pub mask: u8,
    /// The IPv4 label, `""` without one (IPv6 addresses have none).
    pub label: &'a str,
    pub family: &'static str,
    pub scope: String,
    pub flags: Vec<&'static str>,
    /// No lifetime: configured by hand or by networkd, not from DHCP or SLAAC.
    pub permanent: bool,
}

impl<'a> From<&'a Address> for AddressDocument<'a> {
    fn from(a: &'a Address) -> Self {
        AddressDocument {
            ip: a.ip.to_string(),
            mask: a.prefix_len,
            label: a.label.as_deref().unwrap_or(""),
            family: family(a.ip.is_ipv6()),
            scope: scope_name(a.scope),
            flags: address_flag_names(a.flags, a.ip.is_ipv6()),
            permanent: a.flags & IFA_F_PERMANENT != 0,
        }
    }
}
