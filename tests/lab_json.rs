//! Lab integration test of the one link document (docs/json.md, "The link document"): for one
//! real link, the hook's `JSON` and standard input, `Link.Describe()` (busctl), its element of
//! `Manager.Describe()` (gdbus, a client the project did not write) and `network-brokerctl
//! link NAME --json` are equal documents, parsed, the documented extra keys aside (the
//! hook's `Networkd`, the client's `Routing` and `HookResults`).  Without the lab they SKIP, under `CI=true`
//! they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

/// The dhclient link: a lease (so `Lease`, `DNS`, `Domains` are filled), a gateway, and a
/// policy-routing table (so `RoutingTable` is not 0).
const LINK: &str = "labdh0";

fn yaml(runtime: &Path) -> String {
    format!(
        "System:\n  Generator: dhclient\n  LogLevel: debug\n  RuntimeDirectory: {}\n\
         Network:\n  EmitJSON: true\n  RoutingPolicyRules: [{LINK}]\n",
        runtime.display()
    )
}

/// A `routable.d` hook that keeps its `JSON` and its standard input, each written whole and
/// then renamed, so a reader never sees half a file.
fn hook_script(out: &Path) -> String {
    let out = out.display();
    format!(
        "#!/bin/sh\n\
         [ \"$LINK\" = {LINK} ] || exit 0\n\
         printf '%s' \"$JSON\" > {out}/env.tmp && mv {out}/env.tmp {out}/env.json\n\
         cat > {out}/stdin.tmp && mv {out}/stdin.tmp {out}/stdin.json\n"
    )
}

fn parse(what: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

/// `document` without `key` (a reader's documented extra), which must be there when `present`.
fn without(mut document: Value, key: &str, present: bool) -> Value {
    let removed = document.as_object_mut().and_then(|m| m.remove(key));
    if present {
        assert!(removed.is_some(), "{key} missing: {document}");
    }
    document
}

/// The one string gdbus prints for a method returning `s`: `('…',)` in GVariant's text
/// format, where only `\` and `'` are escaped (the JSON here holds neither in a value that
/// needs it, but both are undone).
fn gvariant_string(printed: &str) -> String {
    let inner = printed
        .trim()
        .strip_prefix("('")
        .and_then(|s| s.strip_suffix("',)"))
        .unwrap_or_else(|| panic!("gdbus printed no single string: {printed}"));
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// The four documents of one moment: the hook's (from `JSON`), `Link.Describe()`,
/// `Manager.Describe()`'s element and the client's; and `Link.Describe()` read again at the
/// end, to tell a link that changed meanwhile (a lease renewal, an IPv6 address leaving
/// `tentative`) from documents that differ.
struct Round {
    hook: Value,
    hook_stdin: Value,
    link: Value,
    manager: Value,
    manager_link: Value,
    client: Value,
    link_after: Value,
}

fn link_describe(lab: &LabInfo, path: &str) -> Value {
    let reply = lab.call(path, LINK_IFACE, "Describe", &[]);
    parse(
        "Link.Describe",
        reply[0].as_str().expect("Describe returns s"),
    )
}

fn round(lab: &LabInfo, out: &Path, index: u32) -> Round {
    let path = link_path(index);
    let link = link_describe(lab, &path);
    for file in ["env.json", "stdin.json"] {
        let _ = fs::remove_file(out.join(file));
    }
    // RunHooks answers when the hooks have run: the files are there (or the hook failed).
    let run = lab.output(&[brokerctl_bin(), "run-hooks", LINK, "routable"]);
    assert!(run.success(), "run-hooks: {}", run.describe());
    let read = |file: &str| {
        let text = fs::read_to_string(out.join(file))
            .unwrap_or_else(|e| panic!("the hook wrote no {file} ({e}); run-hooks said {run:?}"));
        parse(file, &text)
    };
    let hook = read("env.json");
    let hook_stdin = read("stdin.json");
    let printed = lab.gdbus_call(MANAGER_PATH, &format!("{MANAGER_IFACE}.Describe"), &[]);
    let manager = parse("Manager.Describe", &gvariant_string(&printed));
    let manager_link = manager["Links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["Index"] == index)
        .cloned()
        .unwrap_or_else(|| panic!("{LINK} not in Manager.Describe(): {manager}"));
    let client = lab.output(&[brokerctl_bin(), "link", LINK, "--json=short"]);
    assert!(client.success(), "{}", client.describe());
    let client = parse("network-brokerctl link --json", &client.stdout);
    let link_after = link_describe(lab, &path);
    Round {
        hook,
        hook_stdin,
        link,
        manager,
        manager_link,
        client,
        link_after,
    }
}

#[test]
fn hooks_the_bus_and_the_client_get_one_link_document() {
    let Some(lab) = Lab::require() else { return };
    lab.ensure_dhclient();
    let runtime = ScratchDir::new("nb-json-run");
    let out = ScratchDir::new("nb-json-out");
    let script = hook_script(out.path());
    let _broker = Broker::start(
        &lab,
        &yaml(runtime.path()),
        &[Hook {
            event: "routable",
            name: "50-keep-json",
            script: &script,
        }],
    );
    let index = lab.ifindex(LINK);
    // labdh0's lease, its policy-routing table and its default route are in the document.
    wait_until(
        "labdh0's document to show its lease and table",
        EVENT_TIMEOUT,
        || {
            let d = link_describe(&lab, &link_path(index));
            let ready = d["Lease"]["ADDRESS"].is_string()
                && d["RoutingTable"].as_u64().is_some_and(|t| t > 0)
                && d["Gateways"].as_array().is_some_and(|g| !g.is_empty());
            ready.then_some(()).ok_or_else(|| format!("not yet: {d}"))
        },
    );

    // A link that changed during a round (a lease renewed, an address's flags) says nothing
    // about the documents: such a round is done again.
    let r = wait_until(
        "a round in which labdh0 did not change",
        EVENT_TIMEOUT,
        || {
            let r = round(&lab, out.path(), index);
            if r.link == r.link_after {
                Ok(r)
            } else {
                Err(format!("changed meanwhile:\n{}\n{}", r.link, r.link_after))
            }
        },
    );

    assert_eq!(r.hook, r.hook_stdin, "JSON and standard input");
    let hook = without(r.hook, "Networkd", false);
    assert_eq!(hook, r.link, "the hook's JSON and Link.Describe()");
    assert_eq!(
        r.manager_link, r.link,
        "Manager.Describe()'s element and Link.Describe()"
    );
    let client = without(without(r.client, "Routing", true), "HookResults", true);
    assert_eq!(
        client, r.link,
        "network-brokerctl link --json and Link.Describe()"
    );

    // The document is the documented one: names, not numbers, and the link's real state.
    let d = &r.link;
    assert_eq!(d["Name"], LINK);
    assert_eq!(d["Index"], index);
    assert!(
        d["Flags"].as_array().unwrap().iter().any(|f| f == "up"),
        "{d}"
    );
    assert!(
        d["Address"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["IP"] == d["Lease"]["ADDRESS"] && a["Scope"] == "global"),
        "the leased address, scope by name: {d}"
    );
    assert!(
        d["Routes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["Protocol"].is_string() && r["Table"].is_u64()),
        "{d}"
    );
    assert!(!d["DNS"].as_array().unwrap().is_empty(), "{d}");
    assert_eq!(
        r.manager["RoutingTables"][index.to_string()],
        d["RoutingTable"],
        "{}",
        r.manager
    );
    assert!(
        r.manager["Manager"]["OperationalState"].is_string(),
        "{}",
        r.manager
    );
}
