//! The JSON document hooks get about their link, on standard input and in `JSON`
//! (docs/hooks.md, "JSON"): the link document every reader shares (src/link_json/), for the
//! event, plus what only hooks get: networkd's files about the link (`Networkd`).

use serde::Serialize;

use super::networkd::{NetworkdFiles, NetworkdJson};
use crate::link_json::LinkDocument;
use crate::model::{Lease, LinkView};

/// The link document and the hook-only keys, in one JSON object.
#[derive(Serialize)]
struct HookDocument<'a> {
    #[serde(flatten)]
    link: LinkDocument<'a>,
    /// networkd's DNS, NTP, domains and lease, for links it keeps files about.
    #[serde(rename = "Networkd", skip_serializing_if = "Option::is_none")]
    networkd: Option<NetworkdJson>,
}

/// The JSON document of `link` without networkd's files or a policy-routing table, compact,
/// on one line. `operational_state` is the state the event is about, if any.
pub fn json_for(link: &LinkView, operational_state: Option<&str>) -> String {
    json_document(link, 0, operational_state, None, None)
}

/// The JSON document of a hook run: `link` with its `routing_table`, the state and the lease
/// the event is about, and networkd's files when it keeps any about the link.
pub(super) fn json_document(
    link: &LinkView,
    routing_table: u32,
    operational_state: Option<&str>,
    networkd: Option<&NetworkdFiles>,
    lease: Option<&Lease>,
) -> String {
    let doc = HookDocument {
        link: LinkDocument::for_event(link, routing_table, operational_state, lease),
        networkd: networkd.filter(|n| !n.is_empty()).map(NetworkdFiles::json),
    };
    // Structs of strings, numbers and string-keyed maps always serialise; an empty object is
    // still valid JSON should that ever change.
    serde_json::to_string(&doc).unwrap_or_else(|_| String::from("{}"))
}
