//! The text views for people of `status`, `links` and `link NAME`, rendered from the
//! client's JSON (src/bin/network-brokerctl/json.rs; a link is the daemon's link document,
//! docs/json.md) so that both say the same.

use serde_json::Value;

use crate::clock;
use crate::hook_results;
use crate::page::Page;
use crate::style::Style;
use crate::table::{self, Cell};

/// `status`: the system as `networkctl status` shows it.
pub fn status(v: &Value, style: Style) -> String {
    let state = text(&v["OperationalState"]);
    let mut page = Page::default();
    let from = if v["OperationalStateFrom"] == "links" {
        " (from the links; networkd not seen)"
    } else {
        ""
    };
    page.row("State", format!("{}{from}", style.state(&state)));
    page.row("Online state", style.state(&text(&v["OnlineState"])));
    page.row("Carrier state", style.state(&text(&v["CarrierState"])));
    page.row("Address state", style.state(&text(&v["AddressState"])));
    page.row("Generator", text(&v["Generator"]));
    page.row("Version", text(&v["Version"]));
    let by_state: Vec<String> = v["Links"]["ByOperationalState"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(state, n)| format!("{n} {}", style.state(state)))
        .collect();
    let total = v["Links"]["Total"].as_u64().unwrap_or_default();
    page.row("Links", format!("{total} ({})", by_state.join(", ")));
    let on = |what: &str, key: &str, value: &dyn Fn(&Value) -> String| -> Vec<String> {
        v[what]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("{} on {}", value(&e[key]), text(&e["Link"])))
            .collect()
    };
    page.rows(
        "Address",
        v["Addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                format!(
                    "{}/{} on {}",
                    text(&a["IP"]),
                    a["PrefixLength"],
                    text(&a["Link"])
                )
            })
            .collect(),
    );
    page.rows("Gateway", on("Gateways", "Gateway", &text));
    page.rows("DNS", on("DNS", "Server", &text));
    page.rows("Search Domains", on("Domains", "Domain", &text));
    let now = i64::try_from(clock::now_us() / 1_000_000).unwrap_or_default();
    hook_results::status_rows(&mut page, v, now, style);
    page.render(&format!(
        "{} {}",
        style.dot(&state),
        style.bold("network-broker")
    ))
}

/// `links`: one row per link, as `networkctl list`.
pub fn links(links: &[Value], legend: bool, style: Style) -> String {
    let rows: Vec<Vec<Cell>> = links
        .iter()
        .map(|l| {
            let setup = match states(l, "AdministrativeState").as_str() {
                "" => "n/a".to_string(),
                s => s.to_string(),
            };
            let addresses: Vec<String> = l["Address"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| format!("{}/{}", text(&a["IP"]), a["Mask"]))
                .collect();
            vec![
                Cell::plain(l["Index"].to_string()),
                Cell::plain(text(&l["Name"])),
                Cell::plain(kind(l)),
                Cell::state(text(&l["OperationalState"])),
                Cell::state(setup),
                Cell::plain(addresses.join(" ")),
            ]
        })
        .collect();
    let footer = format!(
        "{} link{} listed.",
        links.len(),
        if links.len() == 1 { "" } else { "s" }
    );
    table::render(
        &["IDX", "LINK", "TYPE", "OPERATIONAL", "SETUP", "ADDRESSES"],
        &rows,
        legend.then_some(footer.as_str()),
        style,
    )
}

/// `link NAME`: one link as `networkctl status NAME` shows it. `now` is in Unix seconds, for
/// the lease's relative times.
pub fn link(l: &Value, now: i64, style: Style) -> String {
    let state = text(&l["OperationalState"]);
    let mut page = Page::default();
    page.row("Type", kind(l));
    let admin = states(l, "AdministrativeState");
    let admin = if admin.is_empty() {
        " (not managed by networkd)".to_string()
    } else {
        format!(" ({})", style.state(&admin))
    };
    page.row("State", format!("{}{admin}", style.state(&state)));
    page.row("Online state", style.state(&states(l, "OnlineState")));
    page.row("Carrier state", style.state(&states(l, "CarrierState")));
    page.row("Address state", style.state(&states(l, "AddressState")));
    page.row(
        "Kernel state",
        style.state(&text(&l["KernelOperationalState"])),
    );
    page.row("Hardware Address", text(&l["HardwareAddress"]));
    if l["MTU"].as_u64().is_some_and(|mtu| mtu > 0) {
        page.row("MTU", l["MTU"].to_string());
    }
    page.rows(
        "Address",
        l["Address"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let mut notes = Vec::new();
                if let Some(scope) = a["Scope"].as_str() {
                    notes.push(scope.to_string());
                }
                match a["Permanent"].as_bool() {
                    Some(true) => notes.push("permanent".into()),
                    Some(false) => notes.push("dynamic".into()),
                    None => {}
                }
                let notes = if notes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", notes.join(", "))
                };
                format!("{}/{}{notes}", text(&a["IP"]), a["Mask"])
            })
            .collect(),
    );
    page.rows("Gateway", list(&l["Gateways"]));
    page.rows("DNS", list(&l["DNS"]));
    page.rows("Search Domains", list(&l["Domains"]));
    lease(&mut page, &l["Lease"], now);
    page.row("Routing table", routing_table(l, style));
    // The local table holds the kernel's own routes of each address: ip(8) leaves it out too.
    page.rows(
        "Routes",
        l["Routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["TableName"] != "local")
            .map(route)
            .collect(),
    );
    hook_results::link_rows(&mut page, l, now, style);
    page.render(&format!(
        "{} {}: {}",
        style.dot(&state),
        l["Index"],
        style.bold(&text(&l["Name"]))
    ))
}

/// The lease's address and times (`RENEW`, `REBIND`, `EXPIRE` are Unix seconds).
fn lease(page: &mut Page, lease: &Value, now: i64) {
    let key = |k: &str| lease[k].as_str().unwrap_or_default().to_string();
    if lease.as_object().is_none_or(|m| m.is_empty()) {
        return;
    }
    let mut head = key("ADDRESS");
    if !key("NETMASK").is_empty() {
        head += &format!(" netmask {}", key("NETMASK"));
    }
    if !key("ROUTER").is_empty() {
        head += &format!(" router {}", key("ROUTER"));
    }
    if !key("HOSTNAME").is_empty() {
        head += &format!(", host name {}", key("HOSTNAME"));
    }
    page.row("DHCP lease", head);
    for (label, k) in [
        ("Renew", "RENEW"),
        ("Rebind", "REBIND"),
        ("Expire", "EXPIRE"),
    ] {
        if let Ok(at) = key(k).parse::<i64>() {
            page.row(
                label,
                format!("{} ({})", clock::date_time(at), clock::relative(at, now)),
            );
        }
    }
}

/// `main`, or the link's table with whether its rules and routes are in place.
fn routing_table(l: &Value, style: Style) -> String {
    let table = l["RoutingTable"].as_u64().unwrap_or_default();
    if table == 0 {
        return "main (no policy routing for this link)".into();
    }
    let r = &l["Routing"];
    let n = |k: &str| r[k].as_u64().unwrap_or_default();
    if r.is_null() {
        return table.to_string();
    }
    let summary = if r["InPlace"] == true {
        format!("{}, {} entries", style.state("ok"), n("Ok"))
    } else {
        let mut parts = vec![format!("{} ok", n("Ok"))];
        if n("Missing") > 0 {
            parts.push(format!("{} {}", n("Missing"), style.state("missing")));
        }
        if n("Stale") > 0 {
            parts.push(format!("{} {}", n("Stale"), style.state("stale")));
        }
        format!("not in place: {}", parts.join(", "))
    };
    format!("{table} ({summary})")
}

/// A route in ip-route(8)'s words.
fn route(r: &Value) -> String {
    let mut line = String::new();
    if let Some(kind) = r["Type"].as_str().filter(|k| *k != "unicast") {
        line += &format!("{kind} ");
    }
    let dst = &r["Dst"];
    line += &match (text(&dst["IP"]).as_str(), dst["Mask"].as_u64()) {
        ("", _) => "default".to_string(),
        (ip, Some(len)) if len != host_length(ip) => format!("{ip}/{len}"),
        (ip, _) => ip.to_string(),
    };
    let some = |key: &str| Some(text(&r[key])).filter(|v| !v.is_empty());
    if let Some(gw) = some("Gw") {
        line += &format!(" via {gw}");
    }
    if let Some(table) = some("TableName").filter(|t| t != "main") {
        line += &format!(" table {table}");
    }
    for (word, key) in [("proto", "Protocol"), ("scope", "Scope"), ("src", "Src")] {
        if let Some(value) = some(key).filter(|v| !(key == "Scope" && v == "global")) {
            line += &format!(" {word} {value}");
        }
    }
    if r["Metric"].as_u64().is_some_and(|m| m > 0) {
        line += &format!(" metric {}", r["Metric"]);
    }
    line
}

/// The prefix length of one host of `ip`'s family, which ip-route(8) does not print.
fn host_length(ip: &str) -> u64 {
    if ip.contains(':') {
        128
    } else {
        32
    }
}

/// The link's type: its kind (`veth`, `bridge`, …), else `loopback` or `ether`.
fn kind(l: &Value) -> String {
    let loopback = l["Flags"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f == "loopback");
    match text(&l["Kind"]).as_str() {
        "" if loopback || l["Name"] == "lo" => "loopback".into(),
        "" if !text(&l["HardwareAddress"]).is_empty() => "ether".into(),
        "" => "n/a".into(),
        kind => kind.to_string(),
    }
}

/// One of the link's states (`States`), `""` when nobody reported it.
fn states(l: &Value, property: &str) -> String {
    text(&l["States"][property])
}

fn list(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(text).collect()
}

/// A JSON string as it is, anything else in its JSON text; `null` and `""` as empty.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
