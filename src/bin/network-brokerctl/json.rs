//! The client's JSON (docs/json.md, "network-brokerctl --json"): every verb's output as one
//! JSON value, built here and only here from what the bus gives (properties and `Describe()`),
//! and the text pages are rendered from these same values, so text and JSON never disagree.
//! Keys are the bus API's PascalCase; numbers from rtnetlink are given as names.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use network_broker::model::networkd::OPERATIONAL_STATES;

use crate::fetch::{LinkData, Props};
use crate::names;
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

/// One link: its properties, the details of its description, and, given `DescribeRouting()`,
/// whether its policy-routing table is in place.
pub fn link(link: &LinkData, routing_status: Option<&Value>) -> Value {
    let p = &link.props;
    let d = &link.describe;
    let mut out = Map::new();
    out.insert("Index".into(), json!(link.index));
    out.insert("Name".into(), json!(link.name));
    out.insert("Kind".into(), d["attrs"]["kind"].clone());
    out.insert("HardwareAddress".into(), d["attrs"]["mac"].clone());
    out.insert("MTU".into(), d["attrs"]["mtu"].clone());
    for key in [
        "OperationalState",
        "CarrierState",
        "AddressState",
        "AdministrativeState",
        "OnlineState",
        "KernelOperationalState",
    ] {
        out.insert(key.into(), json!(p.text(key)));
    }
    out.insert("Addresses".into(), Value::Array(addresses(p, d)));
    out.insert("Gateways".into(), Value::Array(gateways(d)));
    out.insert("DNS".into(), strings(p, "DNS"));
    out.insert("Domains".into(), strings(p, "Domains"));
    let lease: BTreeMap<String, Value> = p
        .get("Lease")
        .as_object()
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    out.insert("Lease".into(), json!(lease));
    let table = p.get("RoutingTable").as_u64().unwrap_or_default();
    out.insert("RoutingTable".into(), json!(table));
    if let Some(status) = routing_status {
        let value = if table == 0 {
            Value::Null
        } else {
            let (ok, missing, stale) = routing::table_state(status, table);
            json!({"InPlace": missing == 0 && stale == 0 && ok > 0, "Ok": ok, "Missing": missing, "Stale": stale})
        };
        out.insert("Routing".into(), value);
    }
    out.insert("Routes".into(), Value::Array(routes(d)));
    Value::Object(out)
}

/// Addresses from the `Addresses` property, with scope, lifetime and label from the
/// description when it has the address.
fn addresses(p: &Props, d: &Value) -> Vec<Value> {
    let described: Vec<&Value> = d["addresses"].as_array().into_iter().flatten().collect();
    p.get("Addresses")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            let ip = pair.get(0)?.as_str()?;
            let len = pair.get(1)?.as_u64()?;
            let detail = described
                .iter()
                .find(|a| a["ip"].as_str() == Some(ip) && a["prefix_len"].as_u64() == Some(len));
            let scope = detail.and_then(|a| a["scope"].as_u64()).map(names::scope);
            let permanent = detail
                .and_then(|a| a["flags"].as_u64())
                .map(|f| f & names::ADDRESS_PERMANENT != 0);
            let label = detail.map(|a| a["label"].clone()).unwrap_or(Value::Null);
            Some(json!({"IP": ip, "PrefixLength": len, "Scope": scope, "Permanent": permanent, "Label": label}))
        })
        .collect()
}

/// The gateways of the link's default routes in the main table and its own tables.
fn gateways(d: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for route in d["routes"].as_array().into_iter().flatten() {
        if route["dst_len"].as_u64() == Some(0) {
            if let Some(gw) = route["gateway"].as_str() {
                if !out.iter().any(|g| g.as_str() == Some(gw)) {
                    out.push(json!(gw));
                }
            }
        }
    }
    out
}

/// The link's routes outside the local table (which holds the kernel's own per-address routes).
fn routes(d: &Value) -> Vec<Value> {
    d["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["table"].as_u64() != Some(255))
        .map(|r| {
            let dst = match (r["dst"].as_str(), r["dst_len"].as_u64()) {
                (Some(dst), Some(len)) => json!(format!("{dst}/{len}")),
                (Some(dst), None) => json!(dst),
                (None, _) => json!("default"),
            };
            let name = |key: &str, f: fn(u64) -> String| r[key].as_u64().map(f);
            json!({
                "Destination": dst,
                "Gateway": r["gateway"],
                "Source": r["src"],
                "Family": if r["ipv6"].as_bool() == Some(true) { "ipv6" } else { "ipv4" },
                "Table": name("table", names::table),
                "Protocol": name("protocol", names::protocol),
                "Scope": name("scope", names::scope),
                "Type": name("kind", names::route_type),
                "Metric": r["metric"],
            })
        })
        .collect()
}

fn strings(p: &Props, key: &str) -> Value {
    match p.get(key) {
        Value::Array(items) => Value::Array(items),
        _ => Value::Array(Vec::new()),
    }
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
    let not_loopback = || {
        links
            .iter()
            .filter(|l| l["Kind"].as_str() != Some("loopback") && l["Name"] != "lo")
    };
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
            l["Addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a["Scope"] != "link" && a["Scope"] != "host")
                .map(move |a| json!({"Link": name, "IP": a["IP"], "PrefixLength": a["PrefixLength"]}))
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
