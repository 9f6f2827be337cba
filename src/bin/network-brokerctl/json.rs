//! The client's JSON (docs/json.md, "network-brokerctl --json"): every verb's output as one
//! JSON value, built here and only here from what the bus gives (a link is the daemon's own
//! document, `Describe()`; the rest from properties and the other methods), and the text
//! pages are rendered from these same values, so text and JSON never disagree. Keys are
//! PascalCase, as the bus API's; numbers from rtnetlink are given as names.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use network_broker::model::networkd::OPERATIONAL_STATES;

use crate::fetch::Props;
use crate::routing;

/// `--json=pretty` or `--json=short`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Indented, several lines.
    Pretty,
    /// One line.
    Short,
    /// No JSON: text for people.
    Off,
}

/// The value as text in `mode`, with a final newline.
pub fn render(value: &Value, mode: Mode) -> String {
    let text = match mode {
        Mode::Pretty => serde_json::to_string_pretty(value),
        Mode::Short | Mode::Off => serde_json::to_string(value),
    };
    // Serialising a serde_json::Value cannot fail (its keys are strings).
    text.unwrap_or_default() + "\n"
}

/// One link: the daemon's document as it is (docs/json.md, "The link document"), and, given
/// `DescribeRouting()`, the client's one key of its own, `Routing`: whether the link's
/// policy-routing table is in place.
pub fn link(document: Value, routing_status: Option<&Value>) -> Value {
    let mut out = document;
    let table = out["RoutingTable"].as_u64().unwrap_or_default();
    if let (Some(status), Value::Object(map)) = (routing_status, &mut out) {
        let value = if table == 0 {
            Value::Null
        } else {
            let (ok, missing, stale) = routing::table_state(status, table);
            json!({"InPlace": missing == 0 && stale == 0 && ok > 0, "Ok": ok, "Missing": missing, "Stale": stale})
        };
        map.insert("Routing".into(), value);
    }
    out
}

/// `status`: the Manager's properties, and what the links add up to.
pub fn status(manager: &Props, links: &[Value]) -> Value {
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    for link in links {
        let state = link["OperationalState"].as_str().unwrap_or_default();
        *by_state
            .entry(if state.is_empty() {
                "unknown".into()
            } else {
                state.into()
            })
            .or_default() += 1;
    }
    let loopback = |l: &Value| {
        let mut flags = l["Flags"].as_array().into_iter().flatten();
        l["Name"] == "lo" || flags.any(|f| f == "loopback")
    };
    let not_loopback = || links.iter().filter(|l| !loopback(l));
    // Without networkd the overall state is the best of the links' (loopback excluded), as
    // networkd computes its own; OPERATIONAL_STATES is in networkd's order, worst first.
    let (state, source) = match manager.text("OperationalState") {
        "" => {
            let best = not_loopback()
                .filter_map(|l| {
                    OPERATIONAL_STATES
                        .iter()
                        .position(|s| l["OperationalState"] == *s)
                })
                .max()
                .and_then(|i| OPERATIONAL_STATES.get(i))
                .copied()
                .unwrap_or("off");
            (best.to_string(), "links")
        }
        networkd => (networkd.to_string(), "networkd"),
    };
    let per_link = |what: &str, key: &str| -> Vec<Value> {
        not_loopback()
            .flat_map(|l| {
                let name = l["Name"].clone();
                l[what]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |v| json!({"Link": name, key: v}))
            })
            .collect()
    };
    let addresses: Vec<Value> = not_loopback()
        .flat_map(|l| {
            let name = l["Name"].clone();
            l["Address"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a["Scope"] != "link" && a["Scope"] != "host")
                .map(move |a| json!({"Link": name, "IP": a["IP"], "PrefixLength": a["Mask"]}))
        })
        .collect();
    json!({
        "Version": manager.text("Version"),
        "Generator": manager.text("Generator"),
        "OperationalState": state,
        "OperationalStateFrom": source,
        "CarrierState": manager.text("CarrierState"),
        "AddressState": manager.text("AddressState"),
        "OnlineState": manager.text("OnlineState"),
        "Links": {"Total": links.len(), "ByOperationalState": by_state},
        "Addresses": addresses,
        "Gateways": per_link("Gateways", "Gateway"),
        "DNS": per_link("DNS", "Server"),
        "Domains": per_link("Domains", "Domain"),
    })
}

/// `hooks`: every hook in run order.
pub fn hooks(list: &[(String, String)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(event, script)| json!({"Event": event, "Script": script}))
            .collect(),
    )
}

/// `run-hooks --dry-run`.
pub fn dry_run(
    event: &str,
    link: &str,
    scripts: &[String],
    env: &[(String, String)],
    input: &str,
) -> Value {
    let env: Map<String, Value> = env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({"Event": event, "Link": link, "Scripts": scripts, "Environment": env, "Input": input})
}

/// `run-hooks`: each script's result.
pub fn run_results(event: &str, link: &str, results: &[(String, u32, String)]) -> Value {
    let results: Vec<Value> = results
        .iter()
        .map(|(script, status, error)| json!({"Script": script, "Status": status, "Error": error}))
        .collect();
    json!({"Event": event, "Link": link, "Results": results})
}

/// `routing`: the links' tables and every rule and route with its state.
pub fn routing(status: &Value) -> Value {
    let tables: Vec<Value> = routing::tables(status)
        .into_iter()
        .map(|(index, name, table)| json!({"Index": index.parse::<i64>().ok(), "Name": name, "Table": table}))
        .collect();
    let entries: Vec<Value> = routing::entries(status)
        .into_iter()
        .map(|e| json!({"State": e.state, "Entry": e.line, "Table": e.table}))
        .collect();
    json!({"Ready": status["ready"], "Tables": tables, "Entries": entries})
}

#[cfg(test)]
mod tests;
