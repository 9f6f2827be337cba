//! The link document (docs/json.md, "The link document"): every key always present, PascalCase,
//! the original program's names where it had the field, the kernel's numbers as names.

use std::collections::BTreeMap;

use serde::Serialize;

use super::names::link_flag_names;
use super::{AddressDocument, RouteDocument};
use crate::model::{Lease, LinkView, StateProperty, States};

/// One link as hooks, the bus and the client show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LinkDocument<'a> {
    pub index: u32,
    /// The escaped name (src/model/link_name.rs), so the document is always UTF-8.
    pub name: &'a str,
    /// networkd's vocabulary; for a hook run, the state the event is about.
    pub operational_state: &'a str,
    /// Every state property by its bus name, `""` for one nobody reported.
    pub states: BTreeMap<&'static str, &'static str>,
    pub kernel_operational_state: &'static str,
    /// `IFLA_INFO_KIND`, `""` for hardware links and loopback.
    pub kind: &'a str,
    /// `""` without one.
    pub hardware_address: &'a str,
    /// 0 when the kernel gave none.
    #[serde(rename = "MTU")]
    pub mtu: u32,
    pub flags: Vec<&'static str>,
    /// The original's name for the list (the bus property is `Addresses`).
    pub address: Vec<AddressDocument<'a>>,
    pub routes: Vec<RouteDocument>,
    /// The gateways of the link's default routes, any table, each once.
    pub gateways: Vec<String>,
    /// From the dhclient lease, as the `DNS` property.
    #[serde(rename = "DNS")]
    pub dns: Vec<String>,
    /// From the dhclient lease, as the `Domains` property.
    pub domains: Vec<String>,
    /// The dhclient lease key by key (`Lease::key_values`), `{}` without one.
    pub lease: BTreeMap<&'static str, String>,
    /// The link's policy-routing table, 0 when none (the `RoutingTable` property).
    pub routing_table: u32,
}

impl<'a> LinkDocument<'a> {
    /// `view` as the daemon holds it; `routing_table` is the link's `RoutingTable`.
    pub fn new(view: &'a LinkView, routing_table: u32) -> Self {
        Self::for_event(view, routing_table, None, None)
    }

    /// `view` for a hook run: `operational_state` is the state the event is about, when it is
    /// about one, and `lease` the dhclient lease it is about, in place of the view's own.
    pub fn for_event(
        view: &'a LinkView,
        routing_table: u32,
        operational_state: Option<&'a str>,
        lease: Option<&'a Lease>,
    ) -> Self {
        let attrs = &view.attrs;
        let lease = lease.or(view.lease.as_deref());
        let current = view.states.get(&StateProperty::Operational).copied();
        LinkDocument {
            index: attrs.index,
            name: &attrs.name,
            // The kernel's state stands in until a state is computed or reported, as the
            // original did: never an empty state.
            operational_state: operational_state
                .or(current)
                .unwrap_or(attrs.oper_state.as_str()),
            states: states_by_name(&view.states, &StateProperty::ALL),
            kernel_operational_state: attrs.oper_state.as_str(),
            kind: attrs.kind.as_deref().unwrap_or(""),
            hardware_address: attrs.mac.as_deref().unwrap_or(""),
            mtu: attrs.mtu.unwrap_or(0),
            flags: link_flag_names(attrs.flags),
            address: view.addresses.iter().map(AddressDocument::from).collect(),
            routes: view.routes.iter().map(RouteDocument::from).collect(),
            gateways: gateways(view),
            dns: lease
                .iter()
                .flat_map(|l| l.dns.iter().map(ToString::to_string))
                .collect(),
            domains: lease.iter().flat_map(|l| l.search_domains()).collect(),
            lease: lease
                .map(|l| l.key_values().into_iter().collect())
                .unwrap_or_default(),
            routing_table,
        }
    }

    /// The document on one line.
    pub fn to_json(&self) -> String {
        // Structs of strings, numbers and string-keyed maps always serialise; an empty object
        // is still valid JSON should that ever change.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// `properties` by their bus names with their values in `states`, `""` for those not in it.
pub fn states_by_name(
    states: &States,
    properties: &[StateProperty],
) -> BTreeMap<&'static str, &'static str> {
    properties
        .iter()
        .map(|p| (p.name(), states.get(p).copied().unwrap_or("")))
        .collect()
}

/// The gateways of the default routes, in route order, each once.
fn gateways(view: &LinkView) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for route in view.routes.iter().filter(|r| r.dst_len == 0) {
        if let Some(gw) = route.gateway.map(|g| g.to_string()) {
            if !out.contains(&gw) {
                out.push(gw);
            }
        }
    }
    out
}
