//! Policy routing as `DescribeRouting()` reports it: every rule and route that is desired or
//! present, as one ip(8)-like line each, marked `ok` (both), `missing` (desired, not in the
//! kernel) or `stale` (ours in the kernel, not desired).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::names;
use crate::style::Style;
use crate::table::{self, Cell};

/// One rule or route and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub state: &'static str,
    pub line: String,
    pub table: u64,
}

/// Every desired or present rule and route, in a stable order.
pub fn entries(status: &Value) -> Vec<Entry> {
    let lines = |side: &str| -> BTreeSet<(String, u64)> {
        let rules = status[side]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (rule_line(r), r["table"].as_u64().unwrap_or_default()));
        let routes = status[side]["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (route_line(r), r["table"].as_u64().unwrap_or_default()));
        rules.chain(routes).collect()
    };
    let (desired, actual) = (lines("desired"), lines("actual"));
    desired
        .union(&actual)
        .map(|(line, table)| {
            let key = (line.clone(), *table);
            let state = match (desired.contains(&key), actual.contains(&key)) {
                (true, true) => "ok",
                (true, false) => "missing",
                _ => "stale",
            };
            Entry {
                state,
                line: line.clone(),
                table: *table,
            }
        })
        .collect()
}

/// The links' tables: (ifindex, name, table).
pub fn tables(status: &Value) -> Vec<(String, String, u64)> {
    status["tables"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(index, entry)| {
            (
                index.clone(),
                entry[0].as_str().unwrap_or("?").to_string(),
                entry[1].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// How many entries of `table` are ok, missing and stale.
pub fn table_state(status: &Value, table: u64) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for entry in entries(status).iter().filter(|e| e.table == table) {
        match entry.state {
            "ok" => counts.0 += 1,
            "missing" => counts.1 += 1,
            _ => counts.2 += 1,
        }
    }
    counts
}

/// The text view: the links' tables, then STATE and RULE / ROUTE columns.
pub fn text(status: &Value, legend: bool, style: Style) -> String {
    let mut out = String::new();
    for (index, name, table) in tables(status) {
        out += &format!("link {name} (index {index}): table {table}\n");
    }
    let rows: Vec<Vec<Cell>> = entries(status)
        .into_iter()
        .map(|e| vec![Cell::state(e.state), Cell::plain(e.line)])
        .collect();
    let footer = format!("{} entries listed.", rows.len());
    out + &table::render(
        &["STATE", "RULE / ROUTE"],
        &rows,
        legend.then_some(footer.as_str()),
        style,
    )
}

/// A protocol number by its name (src/bin/network-brokerctl/names.rs).
fn protocol(value: &Value) -> String {
    value
        .as_u64()
        .map(names::protocol)
        .unwrap_or_else(|| value.to_string())
}

fn prefix(value: &Value) -> Option<String> {
    Some(format!("{}/{}", value.get(0)?.as_str()?, value.get(1)?))
}

fn rule_line(rule: &Value) -> String {
    let mut line = String::from("rule");
    if let Some(from) = prefix(&rule["src"]) {
        line += &format!(" from {from}");
    }
    if let Some(to) = prefix(&rule["dst"]) {
        line += &format!(" to {to}");
    }
    line + &format!(
        " lookup {} pref {} proto {}",
        rule["table"],
        rule["priority"],
        protocol(&rule["protocol"])
    )
}

fn route_line(route: &Value) -> String {
    let dst = match route["dst"].as_str() {
        Some(dst) => format!("{dst}/{}", route["dst_len"]),
        None => "default".to_string(),
    };
    let mut line = format!("route {dst}");
    if let Some(gateway) = route["gateway"].as_str() {
        line += &format!(" via {gateway}");
    }
    line += &format!(" dev-index {} table {}", route["oif"], route["table"]);
    if let Some(src) = route["src"].as_str() {
        line += &format!(" src {src}");
    }
    line + &format!(" proto {}", protocol(&route["protocol"]))
}

#[cfg(test)]
mod tests;
