//! The hook results the bus keeps as state (docs/dbus-api.md, "Hook results"): the client's
//! keys `HookResults` of `link NAME` (from the link's property) and `FailedHooks` of `status`
//! (from the Manager's), added to what the client's JSON (json.rs) built, and their rows on
//! the text pages, rendered from that same JSON.

use serde_json::{json, Value};
use zbus::{Connection, OwnedVariant};

use network_broker::dbus::names::{BUS_NAME, LINK_INTERFACE};
use network_broker::dbus::path::link_path;

use crate::clock;
use crate::failure::Failure;
use crate::fetch::Props;
use crate::page::Page;
use crate::style::Style;
use crate::value::to_json;

/// `status`'s JSON with `FailedHooks` from the Manager's properties.
pub fn with_failures(mut status: Value, manager: &Props) -> Value {
    if let Value::Object(map) = &mut status {
        map.insert("FailedHooks".into(), failed_json(manager));
    }
    status
}

/// `link NAME`'s JSON with `HookResults`, read from the link's object (by the `Index` the
/// JSON has).
pub async fn with_link_runs(mut link: Value, conn: &Connection) -> Result<Value, Failure> {
    let index = link["Index"]
        .as_u64()
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or_default();
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            link_path(index).as_str(),
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(LINK_INTERFACE, "HookResults"),
        )
        .await
        .map_err(|e| Failure::bus("Get(HookResults)", e))?;
    let runs: OwnedVariant = reply
        .body()
        .deserialize()
        .map_err(|e| Failure::bus("Get(HookResults)", e))?;
    let props = Props(serde_json::Map::from_iter([(
        "HookResults".to_string(),
        to_json(&runs),
    )]));
    if let Value::Object(map) = &mut link {
        map.insert("HookResults".into(), link_json(&props));
    }
    Ok(link)
}

/// How many of the latest failures the `status` page shows; `--json` has them all.
const SHOWN_FAILURES: usize = 5;

/// `HookResults` of a link's properties (`a(sstus)`) as objects, in the property's order.
pub fn link_json(p: &Props) -> Value {
    let runs = field(p, "HookResults");
    entries(&runs)
        .map(|e| {
            json!({
                "Event": e[0], "Script": e[1], "Time": e[2], "Status": e[3], "Error": e[4],
            })
        })
        .collect()
}

/// `FailedHooks` of the Manager's properties (`a(issstus)`) as objects, oldest first. `Index`
/// and `Link` are `null` for the `manager` event, which is no link's.
pub fn failed_json(manager: &Props) -> Value {
    let failures = field(manager, "FailedHooks");
    entries(&failures)
        .map(|e| {
            let (index, link) = if e[0] == 0 {
                (Value::Null, Value::Null)
            } else {
                (e[0].clone(), e[1].clone())
            };
            json!({
                "Index": index, "Link": link, "Event": e[2], "Script": e[3], "Time": e[4],
                "Status": e[5], "Error": e[6],
            })
        })
        .collect()
}

/// A property's value, `null` when the object has none of that name.
fn field(p: &Props, key: &str) -> Value {
    p.0.get(key).cloned().unwrap_or(Value::Null)
}

/// The structures of an array property, each as its array of fields.
fn entries(v: &Value) -> impl Iterator<Item = &Vec<Value>> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
}

/// `link NAME`'s `Hooks` rows: each script of each event's last run with its result and time;
/// `now` in Unix seconds, for the relative part.
pub fn link_rows(page: &mut Page, l: &Value, now: i64, style: Style) {
    let rows = l["HookResults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {}: {}, {}",
                text(&r["Event"]),
                text(&r["Script"]),
                result(r, style),
                when(&r["Time"], now)
            )
        })
        .collect();
    page.rows("Hooks", rows);
}

/// `status`'s `Failed hooks` rows: the latest failures, oldest first as in a log, and how many
/// earlier ones `--json` has.
pub fn status_rows(page: &mut Page, v: &Value, now: i64, style: Style) {
    let all: Vec<&Value> = v["FailedHooks"].as_array().into_iter().flatten().collect();
    let skipped = all.len().saturating_sub(SHOWN_FAILURES);
    let mut rows: Vec<String> = all[skipped..]
        .iter()
        .map(|f| {
            let link = match f["Link"].as_str() {
                Some(link) => link.to_string(),
                None => "manager".to_string(),
            };
            format!(
                "{link} {} {}: {}, {}",
                text(&f["Event"]),
                text(&f["Script"]),
                result(f, style),
                when(&f["Time"], now)
            )
        })
        .collect();
    if skipped > 0 {
        rows.push(format!("({skipped} earlier: see --json)"));
    }
    page.rows("Failed hooks", rows);
}

/// `ok`, or the exit status with the error text.
fn result(r: &Value, style: Style) -> String {
    let error = text(&r["Error"]);
    match (r["Status"].as_u64(), error.is_empty()) {
        (Some(0), true) => style.state("ok"),
        (status, _) => {
            let status = status.map_or_else(|| "?".to_string(), |s| s.to_string());
            let failed = style.state("failed");
            if error.is_empty() {
                format!("{failed} (status {status})")
            } else {
                format!("{failed} (status {status}: {error})")
            }
        }
    }
}

/// `2026-12-03 13:14:21 UTC (3s ago)` for a time in µs since the epoch; `now` in seconds.
fn when(time: &Value, now: i64) -> String {
    let at = i64::try_from(time.as_u64().unwrap_or_default() / 1_000_000).unwrap_or(i64::MAX);
    format!("{} ({})", clock::date_time(at), clock::relative(at, now))
}

/// A JSON string as it is; anything else in its JSON text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn props(key: &str, value: Value) -> Props {
        Props(Map::from_iter([(key.to_string(), value)]))
    }

    const T: u64 = 1_764_768_000_000_000; // 2025-12-03 13:20:00 UTC
    const NOW: i64 = 1_764_768_005;

    #[test]
    fn a_links_hook_results_as_json_and_text() {
        let p = props(
            "HookResults",
            json!([
                ["routable", "/etc/network-broker/routable.d/10-ok", T, 0, ""],
                [
                    "routable",
                    "/etc/network-broker/routable.d/20-bad",
                    T,
                    3,
                    "exit status 3"
                ],
            ]),
        );
        let runs = link_json(&p);
        assert_eq!(
            runs[1],
            json!({"Event": "routable", "Script": "/etc/network-broker/routable.d/20-bad",
                   "Time": T, "Status": 3, "Error": "exit status 3"})
        );
        let mut page = Page::default();
        link_rows(
            &mut page,
            &json!({"HookResults": runs}),
            NOW,
            Style::plain(),
        );
        assert_eq!(
            page.render("head"),
            "head\n\
             Hooks: routable /etc/network-broker/routable.d/10-ok: ok, 2025-12-03 13:20:00 UTC (5s ago)\n       \
             routable /etc/network-broker/routable.d/20-bad: failed (status 3: exit status 3), 2025-12-03 13:20:00 UTC (5s ago)\n"
        );
    }

    #[test]
    fn status_shows_the_latest_failures_and_how_many_more() {
        let failures: Vec<Value> = (0..7u64)
            .map(|i| json!([i + 1, format!("eth{i}"), "off", "/h/x", T + i, 1, ""]))
            .chain([json!([0, "", "manager", "/h/m", T, 124, "timed out"])])
            .collect();
        let v = failed_json(&props("FailedHooks", Value::Array(failures)));
        assert_eq!(v[7]["Link"], Value::Null, "manager failures have no link");
        assert_eq!(v[0]["Link"], "eth0");
        let mut page = Page::default();
        status_rows(&mut page, &json!({"FailedHooks": v}), NOW, Style::plain());
        let text = page.render("");
        assert_eq!(text.lines().count(), 1 + SHOWN_FAILURES + 1, "{text}");
        assert!(
            text.contains("Failed hooks: eth3 off /h/x: failed (status 1)"),
            "{text}"
        );
        assert!(
            text.contains("manager manager /h/m: failed (status 124: timed out)"),
            "{text}"
        );
        assert!(text.contains("(3 earlier: see --json)"), "{text}");
    }

    #[test]
    fn nothing_ran_shows_no_rows() {
        let mut page = Page::default();
        link_rows(&mut page, &json!({"HookResults": []}), NOW, Style::plain());
        status_rows(&mut page, &json!({"FailedHooks": []}), NOW, Style::plain());
        assert_eq!(page.render("head"), "head\n");
        assert_eq!(link_json(&Props::default()), json!([]));
    }
}
