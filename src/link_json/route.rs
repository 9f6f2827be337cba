//! One element of a link document's `Routes` (docs/json.md): the original program's `Dst`,
//! `Src`, `Gw` and `Table`, then the kernel's numbers by name.

use std::net::IpAddr;

use serde::Serialize;

use super::names::{family, protocol_name, route_type_name, scope_name, table_name};
use crate::model::Route;

/// A route's destination as the original wrote it; a default route is `{"IP":"","Mask":0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationDocument {
    #[serde(rename = "IP")]
    pub ip: String,
    pub mask: u8,
}

/// One route leaving through the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteDocument {
    pub dst: DestinationDocument,
    /// The preferred source, `""` without one.
    pub src: String,
    /// The gateway, `""` without one.
    pub gw: String,
    /// The table's number: the original's key, a number since hooks compare it as one.
    pub table: u32,
    /// The table's name (`main`, `local`, `default`), the number as text for others.
    pub table_name: String,
    pub family: &'static str,
    pub protocol: String,
    pub scope: String,
    #[serde(rename = "Type")]
    pub kind: String,
    /// The metric, 0 when the kernel gave none.
    pub metric: u32,
}

/// An optional address as text, `""` without one.
fn text(ip: Option<IpAddr>) -> String {
    ip.map(|ip| ip.to_string()).unwrap_or_default()
}

impl From<&Route> for RouteDocument {
    fn from(r: &Route) -> Self {
        RouteDocument {
            dst: DestinationDocument {
                ip: text(r.dst),
                mask: r.dst_len,
            },
            src: text(r.src),
            gw: text(r.gateway),
            table: r.table,
            table_name: table_name(r.table),
            family: family(r.ipv6),
            protocol: protocol_name(r.protocol),
            scope: scope_name(r.scope),
            kind: route_type_name(r.kind),
            metric: r.metric.unwrap_or(0),
        }
    }
}
