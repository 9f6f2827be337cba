//! The JSON document hooks get about their link, on standard input and in `JSON` (see
//! `docs/hooks.md`): the field names of the original program, networkd's view and the lease,
//! and the kernel's numbers given their names.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::networkd::{NetworkdFiles, NetworkdJson};
use crate::model::kernel::route_protocol_name;
use crate::model::{Address, Lease, LinkView, Route, StateProperty};

/// The JSON document describing `link`, compact, on one line.
///
/// `OperationalState` is `operational_state` when given (networkd's `routable`, `degraded`, …),
/// otherwise the kernel's state (`up`, `down`, …). Field names of the original program are kept
/// (`Index`, `Name`, `OperationalState`, `Address[].IP/Mask/Label`, `Routes[].Dst/Src/Gw/Table`);
/// every field is always present, with `""` or `0` for an absent value, as the original did.
pub fn json_for(link: &LinkView, operational_state: Option<&str>) -> String {
    json_with(link, operational_state, None)
}

/// [`json_for`] plus networkd's view of the link (`"Networkd"`), when there is one.
pub fn json_with(
    link: &LinkView,
    operational_state: Option<&str>,
    networkd: Option<&NetworkdFiles>,
) -> String {
    json_document(link, operational_state, networkd, None)
}

/// [`json_with`] plus a dhclient lease (`"Lease"`, keyed like [`Lease::key_values`]).
pub(super) fn json_document(
    link: &LinkView,
    operational_state: Option<&str>,
    networkd: Option<&NetworkdFiles>,
    lease: Option<&Lease>,
) -> String {
    let attrs = &link.attrs;
    let states_operational = link.states.get(&StateProperty::Operational).copied();
    let doc = LinkJson {
        index: attrs.index,
        name: &attrs.name,
        operational_state: operational_state
            .or(states_operational)
            .unwrap_or(attrs.oper_state.as_str()),
        states: link.states.iter().map(|(p, v)| (p.name(), *v)).collect(),
        networkd: networkd.filter(|n| !n.is_empty()).map(NetworkdFiles::json),
        lease: lease.map(|l| l.key_values().into_iter().collect()),
        kernel_operational_state: attrs.oper_state.as_str(),
        kind: attrs.kind.as_deref().unwrap_or(""),
        hardware_address: attrs.mac.as_deref().unwrap_or(""),
        mtu: attrs.mtu.unwrap_or(0),
        flags: link_flag_names(attrs.flags),
        address: link.addresses.iter().map(AddressJson::from).collect(),
        routes: link.routes.iter().map(RouteJson::from).collect(),
    };
    // Serialising plain structs of strings, numbers and vectors cannot fail; an empty object is
    // still valid JSON should that ever change.
    serde_json::to_string(&doc).unwrap_or_else(|_| String::from("{}"))
}

#[derive(Serialize)]
struct LinkJson<'a> {
    #[serde(rename = "Index")]
    index: u32,
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "OperationalState")]
    operational_state: &'a str,
    /// Every state of the link in networkd's vocabulary, by property name.
    #[serde(rename = "States")]
    states: BTreeMap<&'static str, &'static str>,
    /// networkd's DNS, NTP, domains and lease, for links it manages.
    #[serde(rename = "Networkd", skip_serializing_if = "Option::is_none")]
    networkd: Option<NetworkdJson>,
    /// The dhclient lease the event is about.
    #[serde(rename = "Lease", skip_serializing_if = "Option::is_none")]
    lease: Option<BTreeMap<&'static str, String>>,
    #[serde(rename = "KernelOperationalState")]
    kernel_operational_state: &'static str,
    #[serde(rename = "Kind")]
    kind: &'a str,
    #[serde(rename = "HardwareAddress")]
    hardware_address: &'a str,
    #[serde(rename = "MTU")]
    mtu: u32,
    #[serde(rename = "Flags")]
    flags: Vec<&'static str>,
    #[serde(rename = "Address")]
    address: Vec<AddressJson<'a>>,
    #[serde(rename = "Routes")]
    routes: Vec<RouteJson>,
}

#[derive(Serialize)]
struct AddressJson<'a> {
    #[serde(rename = "IP")]
    ip: String,
    #[serde(rename = "Mask")]
    mask: u8,
    #[serde(rename = "Label")]
    label: &'a str,
    #[serde(rename = "Family")]
    family: &'static str,
    #[serde(rename = "Scope")]
    scope: Cow<'static, str>,
    #[serde(rename = "Flags")]
    flags: Vec<&'static str>,
}

impl<'a> From<&'a Address> for AddressJson<'a> {
    fn from(a: &'a Address) -> Self {
        AddressJson {
            ip: a.ip.to_string(),
            mask: a.prefix_len,
            label: a.label.as_deref().unwrap_or(""),
            family: family(&a.ip),
            scope: scope_name(a.scope),
            flags: address_flag_names(a.flags, a.ip.is_ipv6()),
        }
    }
}

#[derive(Serialize)]
struct DstJson {
    #[serde(rename = "IP")]
    ip: String,
    #[serde(rename = "Mask")]
    mask: u8,
}

#[derive(Serialize)]
struct RouteJson {
    #[serde(rename = "Dst")]
    dst: DstJson,
    #[serde(rename = "Src")]
    src: String,
    #[serde(rename = "Gw")]
    gw: String,
    #[serde(rename = "Table")]
    table: u32,
    #[serde(rename = "Family")]
    family: &'static str,
    #[serde(rename = "Protocol")]
    protocol: Cow<'static, str>,
    #[serde(rename = "Scope")]
    scope: Cow<'static, str>,
    #[serde(rename = "Type")]
    kind: Cow<'static, str>,
    #[serde(rename = "Metric")]
    metric: u32,
}

impl From<&Route> for RouteJson {
    fn from(r: &Route) -> Self {
        let text = |ip: Option<IpAddr>| ip.map(|ip| ip.to_string()).unwrap_or_default();
        RouteJson {
            // The original wrote a default route as {"IP":"","Mask":0}; kept.
            dst: DstJson {
                ip: text(r.dst),
                mask: r.dst_len,
            },
            src: text(r.src),
            gw: text(r.gateway),
            table: r.table,
            family: if r.ipv6 { "ipv6" } else { "ipv4" },
            protocol: protocol_name(r.protocol),
            scope: scope_name(r.scope),
            kind: route_type_name(r.kind),
            metric: r.metric.unwrap_or(0),
        }
    }
}

fn family(ip: &IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
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

/// `IFF_*` names as `ip link` prints them, lower-cased (`<linux/if.h>`).
fn link_flag_names(flags: u32) -> Vec<&'static str> {
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

/// `IFA_F_*` names as `ip addr` prints them (`<linux/if_addr.h>`). Bit 0x01 is `secondary` for
/// IPv4 and `temporary` for IPv6: the kernel uses one bit for both.
fn address_flag_names(flags: u32, ipv6: bool) -> Vec<&'static str> {
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

/// `RT_SCOPE_*` names from iproute2's `rt_scopes`; the number for others.
pub fn scope_name(scope: u8) -> Cow<'static, str> {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string().into(),
    }
}

/// `RTPROT_*` names from iproute2's `rt_protos`; the number for others.
pub fn protocol_name(protocol: u8) -> Cow<'static, str> {
    route_protocol_name(protocol).map_or_else(|| protocol.to_string().into(), Cow::Borrowed)
}

/// `RTN_*` names as `ip route` prints them; the number for others.
pub fn route_type_name(kind: u8) -> Cow<'static, str> {
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
        n => return n.to_string().into(),
    };
    name.into()
}
