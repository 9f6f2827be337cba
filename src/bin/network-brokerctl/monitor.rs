//! `monitor`: the daemon's signals as they come, one line each with the time (UTC) and the
//! link's name (`12:01:03.123 eth1 OperationalState: routable`; `-` for the Manager), or one
//! JSON object per line with the signal's arguments as real JSON values.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use zbus::message::Type as MessageType;
use zbus::{Connection, MatchRule, MessageStream, OwnedObjectPath, OwnedVariant};

use network_broker::dbus::client::ManagerProxy;
use network_broker::dbus::names::BUS_NAME;
use network_broker::ifindex_path::unescape_index;

use crate::clock;
use crate::failure::Failure;
use crate::json::{self, Mode};
use crate::output::write_stdout;
use crate::value::to_json;

/// One signal, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time_us: u64,
    pub signal: String,
    pub path: String,
    pub index: Option<i32>,
    pub name: Option<String>,
    /// The signal's arguments by name (the client's JSON keys).
    pub fields: Map<String, Value>,
}

/// Follows the daemon's signals until interrupted or standard output closes.
pub async fn run(conn: &Connection, manager: &ManagerProxy<'_>, mode: Mode) -> Result<(), Failure> {
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(BUS_NAME)
        .build()
        .map_err(|e| Failure::bus("AddMatch", e))?;
    let mut stream = MessageStream::for_match_rule(rule, conn, None)
        .await
        .map_err(|e| Failure::bus("AddMatch", e))?;
    // Subscribed first, then the names: a link added in between is in one or the other.
    let mut names: HashMap<i32, String> = manager
        .list_links()
        .await
        .map_err(|e| Failure::bus("ListLinks", e))?
        .into_iter()
        .map(|(index, name, _)| (index, name))
        .collect();
    if mode == Mode::Off && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        crate::output::error_line(&format!("monitoring {BUS_NAME}; ^C to stop"));
    }
    while let Some(message) = stream.next().await {
        let Ok(message) = message else { continue };
        let header = message.header();
        let member = header.member().map(|m| m.to_string()).unwrap_or_default();
        let path = header.path().map(|p| p.to_string()).unwrap_or_default();
        let Some(mut event) = decode(&member, &path, &message, clock::now_us()) else {
            continue;
        };
        learn_names(&mut names, &mut event);
        let text = match mode {
            Mode::Off => text_lines(&event),
            _ => json::render(&event_json(&event), mode),
        };
        write_stdout(&text)?;
        if event.signal == "LinkRemoved" {
            if let Some(index) = event.index {
                names.remove(&index);
            }
        }
    }
    Ok(())
}

/// Fills in the link's name from what the monitor knows, and learns new names and renames.
fn learn_names(names: &mut HashMap<i32, String>, event: &mut Event) {
    let Some(index) = event.index else { return };
    if let Some(name) = &event.name {
        names.insert(index, name.clone());
    }
    if let Some(Value::String(renamed)) = event.fields.get("Changed").and_then(|c| c.get("Name")) {
        names.insert(index, renamed.clone());
    }
    if index != 0 && event.name.is_none() {
        event.name = names.get(&index).cloned();
    }
}

/// The link's index from its object path, `None` for the Manager.
fn path_index(path: &str) -> Option<i32> {
    let element = path.strip_prefix("/org/freedesktop/NetworkBroker1/link/")?;
    i32::try_from(unescape_index(element)?).ok()
}

fn decode(member: &str, path: &str, message: &zbus::Message, time_us: u64) -> Option<Event> {
    let body = message.body();
    let mut fields = Map::new();
    let mut index = path_index(path);
    let mut name = None;
    match member {
        "LinkAdded" | "LinkRemoved" => {
            let (i, n, p) = body.deserialize::<(i32, String, OwnedObjectPath)>().ok()?;
            index = Some(i);
            name = Some(n);
            fields.insert("ObjectPath".into(), json!(p.as_str()));
        }
        "AddressAdded" | "AddressRemoved" => {
            let (i, address, len) = body.deserialize::<(i32, String, u8)>().ok()?;
            index = Some(i);
            fields.insert("IP".into(), json!(address));
            fields.insert("PrefixLength".into(), json!(len));
        }
        "RoutesModified" => {
            let (i,) = body.deserialize::<(i32,)>().ok()?;
            index = Some(i);
        }
        "LeaseChanged" => {
            let (i, n, lease) = body
                .deserialize::<(i32, String, HashMap<String, String>)>()
                .ok()?;
            index = Some(i);
            name = Some(n);
            let lease: std::collections::BTreeMap<_, _> = lease.into_iter().collect();
            fields.insert("Lease".into(), json!(lease));
        }
        "HooksCompleted" => {
            let (event, i, results, coalesced) = body
                .deserialize::<(String, i32, Vec<(String, u32, String)>, u32)>()
                .ok()?;
            index = Some(i);
            fields.insert("Event".into(), json!(event));
            let results: Vec<Value> = results
                .iter()
                .map(|(s, st, e)| json!({"Script": s, "Status": st, "Error": e}))
                .collect();
            fields.insert("Results".into(), Value::Array(results));
            fields.insert("Coalesced".into(), json!(coalesced));
        }
        "PropertiesChanged" => {
            let (iface, changed, invalidated) = body
                .deserialize::<(String, HashMap<String, OwnedVariant>, Vec<String>)>()
                .ok()?;
            let changed: std::collections::BTreeMap<String, Value> = changed
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect();
            fields.insert("Interface".into(), json!(iface));
            fields.insert("Changed".into(), json!(changed));
            fields.insert("Invalidated".into(), json!(invalidated));
        }
        // ObjectManager's InterfacesAdded/Removed repeat LinkAdded/LinkRemoved.
        _ => return None,
    }
    Some(Event {
        time_us,
        signal: member.to_string(),
        path: path.to_string(),
        index: index.filter(|i| *i != 0),
        name,
        fields,
    })
}

/// `--json`: the event as one object.
pub fn event_json(event: &Event) -> Value {
    let mut out = Map::new();
    out.insert("Timestamp".into(), json!(event.time_us));
    out.insert("Signal".into(), json!(event.signal));
    out.insert("Path".into(), json!(event.path));
    out.insert("Index".into(), json!(event.index));
    out.insert("Name".into(), json!(event.name));
    out.extend(event.fields.clone());
    Value::Object(out)
}

/// The text form: one line per signal, one per property for `PropertiesChanged`.
pub fn text_lines(event: &Event) -> String {
    let who = match (&event.name, event.index) {
        (Some(name), _) => name.clone(),
        (None, Some(index)) => format!("#{index}"),
        (None, None) => "-".to_string(),
    };
    let head = format!("{} {who}", clock::time_of_day(event.time_us));
    let f = &event.fields;
    let detail = match event.signal.as_str() {
        "PropertiesChanged" => {
            let mut out = String::new();
            for (prop, value) in f["Changed"].as_object().into_iter().flatten() {
                out += &format!("{head} {prop}: {}\n", value_text(prop, value));
            }
            return out;
        }
        "AddressAdded" | "AddressRemoved" => {
            format!(
                ": {}/{}",
                f["IP"].as_str().unwrap_or_default(),
                f["PrefixLength"]
            )
        }
        "LinkAdded" | "LinkRemoved" => format!(": index {}", event.index.unwrap_or_default()),
        "LeaseChanged" => format!(": {}", value_text("Lease", &f["Lease"])),
        "HooksCompleted" => {
            let results: Vec<String> = f["Results"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    let error = r["Error"].as_str().unwrap_or_default();
                    let error = if error.is_empty() {
                        String::new()
                    } else {
                        format!(" ({error})")
                    };
                    format!(
                        "{} exited {}{error}",
                        r["Script"].as_str().unwrap_or_default(),
                        r["Status"]
                    )
                })
                .collect();
            let coalesced = match f["Coalesced"].as_u64() {
                Some(n) if n > 0 => format!(" [{n} coalesced]"),
                _ => String::new(),
            };
            format!(
                ": {} {}{coalesced}",
                f["Event"].as_str().unwrap_or_default(),
                results.join(", ")
            )
        }
        _ => String::new(),
    };
    format!("{head} {}{detail}\n", event.signal)
}

/// A property's value in words: addresses as `IP/LEN`, lists space-separated, a lease as
/// `KEY=VALUE` pairs, an empty value as `(none)`.
fn value_text(prop: &str, value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if prop == "Addresses" => items
            .iter()
            .map(|a| format!("{}/{}", a[0].as_str().unwrap_or_default(), a[1]))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    crate::quote::shell(v.as_str().unwrap_or_default())
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    if text.is_empty() {
        "(none)".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests;
