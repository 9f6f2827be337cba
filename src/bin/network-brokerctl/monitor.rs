//! `monitor`: the daemon's signals as they come, one line each with the time (UTC) and the
//! link's name (`12:01:03.123 eth1 OperationalState: routable`; `-` for the Manager), or one
//! JSON object per line with the signal's arguments as real JSON values and the event's
//! sequence number. With `--since N`, first the events after N from the daemon's history,
//! then the live ones, each once: subscribed before the history is fetched, and the live
//! events the history already held are skipped by their number (docs/dbus-api.md, "The
//! event stream").

use std::collections::HashMap;

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use zbus::message::Type as MessageType;
use zbus::{Connection, MatchRule, MessageStream, OwnedVariant, Structure};

use network_broker::dbus::client::{HistoryEvent, ManagerProxy};
use network_broker::dbus::names::{BUS_NAME, LINK_INTERFACE, MANAGER_PATH};
use network_broker::dbus::path::link_path;

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
    /// The event's number in the daemon's stream; `None` for the Manager's own
    /// `PropertiesChanged`, which is state, not an event of the stream.
    pub sequence: Option<u64>,
    /// The signal's arguments by name (the client's JSON keys).
    pub fields: Map<String, Value>,
}

/// Follows the daemon's signals until interrupted or standard output closes; with `since`,
/// prints the history after that number first.
pub async fn run(
    conn: &Connection,
    manager: &ManagerProxy<'_>,
    mode: Mode,
    since: Option<u64>,
) -> Result<(), Failure> {
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
    // The live events up to this number were in the history (or before `since`).
    let mut seen = 0;
    if let Some(after) = since {
        let (stream_id, complete, events) = manager
            .events_since(after)
            .await
            .map_err(|e| Failure::bus("EventsSince", e))?;
        seen = resume_point(after, complete, &events);
        if !complete {
            crate::output::error_line(&format!(
                "the daemon's event history (stream {stream_id}) no longer reaches back to \
                 event {after}: events before the first shown are missing; re-read the state"
            ));
        }
        for (sequence, time_us, signal, args) in &events {
            let args: Vec<Value> = args.iter().map(|a| to_json(a)).collect();
            if let Some(event) = decode_event(signal, &args, *sequence, *time_us) {
                show(&mut names, event, mode)?;
            }
        }
    }
    if mode == Mode::Off && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        crate::output::error_line(&format!("monitoring {BUS_NAME}; ^C to stop"));
    }
    while let Some(message) = stream.next().await {
        let Ok(message) = message else { continue };
        let header = message.header();
        let member = header.member().map(|m| m.to_string()).unwrap_or_default();
        let path = header.path().map(|p| p.to_string()).unwrap_or_default();
        let Some(event) = decode(&member, &path, &message, clock::now_us()) else {
            continue;
        };
        if event.sequence.is_some_and(|n| n <= seen) {
            continue;
        }
        show(&mut names, event, mode)?;
    }
    Ok(())
}

/// The last number the history reply accounts for: live events up to it are not shown again.
/// A complete reply covers everything up to `after` and what it returned; an incomplete one
/// only what it returned (`after` may be from another run, whose numbers mean nothing here).
fn resume_point(after: u64, complete: bool, events: &[HistoryEvent]) -> u64 {
    let returned = events.last().map_or(0, |(sequence, ..)| *sequence);
    if complete {
        returned.max(after)
    } else {
        returned
    }
}

/// Prints one event, with the link's name as far as the monitor knows it.
fn show(names: &mut HashMap<i32, String>, mut event: Event, mode: Mode) -> Result<(), Failure> {
    learn_names(names, &mut event);
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

/// A signal from the bus. The Manager's carry their number last; a link object's
/// `PropertiesChanged` is left out, because the Manager's `LinkPropertiesChanged` carries the
/// same change with its number (shown as that link's `PropertiesChanged`).
fn decode(member: &str, path: &str, message: &zbus::Message, time_us: u64) -> Option<Event> {
    let body = message.body();
    if member == "PropertiesChanged" {
        if path != MANAGER_PATH {
            return None;
        }
        let (iface, changed, invalidated) = body
            .deserialize::<(String, HashMap<String, OwnedVariant>, Vec<String>)>()
            .ok()?;
        let changed: Map<String, Value> = changed
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect();
        let mut fields = Map::new();
        fields.insert("Interface".into(), json!(iface));
        fields.insert("Changed".into(), Value::Object(changed));
        fields.insert("Invalidated".into(), json!(invalidated));
        return Some(Event {
            time_us,
            signal: member.to_string(),
            path: path.to_string(),
            index: None,
            name: None,
            sequence: None,
            fields,
        });
    }
    let body: Structure<'_> = body.deserialize().ok()?;
    let mut args: Vec<Value> = body.fields().iter().map(to_json).collect();
    let sequence = args.pop()?.as_u64()?;
    decode_event(member, &args, sequence, time_us)
}

/// A Manager event from its arguments (as JSON, the sequence left out), live or from the
/// history.
fn decode_event(signal: &str, args: &[Value], sequence: u64, time_us: u64) -> Option<Event> {
    let mut fields = Map::new();
    let mut path = MANAGER_PATH.to_string();
    let mut name = None;
    let index = match signal {
        "LinkAdded" | "LinkRemoved" => {
            name = Some(args.get(1)?.as_str()?.to_string());
            fields.insert("ObjectPath".into(), args.get(2)?.clone());
            args.first()?.as_i64()
        }
        "AddressAdded" | "AddressRemoved" => {
            fields.insert("IP".into(), args.get(1)?.clone());
            fields.insert("PrefixLength".into(), args.get(2)?.clone());
            args.first()?.as_i64()
        }
        "RoutesModified" => args.first()?.as_i64(),
        "LeaseChanged" => {
            name = Some(args.get(1)?.as_str()?.to_string());
            fields.insert("Lease".into(), args.get(2)?.clone());
            args.first()?.as_i64()
        }
        "HooksCompleted" => {
            fields.insert("Event".into(), args.first()?.clone());
            let results: Vec<Value> = args
                .get(2)?
                .as_array()?
                .iter()
                .map(|r| json!({"Script": r[0], "Status": r[1], "Error": r[2]}))
                .collect();
            fields.insert("Results".into(), Value::Array(results));
            fields.insert("Coalesced".into(), args.get(3)?.clone());
            args.get(1)?.as_i64()
        }
        "LinkPropertiesChanged" => {
            let index = args.first()?.as_i64()?;
            path = link_path(u32::try_from(index).ok()?).to_string();
            fields.insert("Interface".into(), json!(LINK_INTERFACE));
            fields.insert("Changed".into(), args.get(1)?.clone());
            fields.insert("Invalidated".into(), json!([]));
            return Some(Event {
                time_us,
                signal: "PropertiesChanged".to_string(),
                path,
                index: i32::try_from(index).ok(),
                name: None,
                sequence: Some(sequence),
                fields,
            });
        }
        // ObjectManager's InterfacesAdded/Removed repeat LinkAdded/LinkRemoved.
        _ => return None,
    };
    Some(Event {
        time_us,
        signal: signal.to_string(),
        path,
        index: index
            .and_then(|i| i32::try_from(i).ok())
            .filter(|i| *i != 0),
        name,
        sequence: Some(sequence),
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
    out.insert("Sequence".into(), json!(event.sequence));
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
