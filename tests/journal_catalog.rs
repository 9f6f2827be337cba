//! The journal catalog `systemd/network-broker.catalog`: one entry for every `MESSAGE_ID` the
//! daemon logs (src/messages.rs), each with a subject, its definer, documentation and a text,
//! and journalctl itself compiles it and finds every id. journalctl works on a throwaway root
//! (`--root`), so the host's catalog is never touched.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use network_broker::messages::id;

const CATALOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/systemd/network-broker.catalog"
);

/// The entries of a catalog file: (id, header lines, text).
fn entries(text: &str) -> Vec<(String, Vec<String>, String)> {
    let mut entries = Vec::new();
    let mut current: Option<(String, Vec<String>, String, bool)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("-- ") {
            if let Some((id, headers, body, _)) = current.take() {
                entries.push((id, headers, body));
            }
            current = Some((rest.trim().to_string(), Vec::new(), String::new(), true));
            continue;
        }
        let Some((_, headers, body, in_headers)) = current.as_mut() else {
            continue;
        };
        if *in_headers {
            if line.is_empty() {
                *in_headers = false;
            } else {
                headers.push(line.to_string());
            }
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((id, headers, body, _)) = current {
        entries.push((id, headers, body));
    }
    entries
}

#[test]
fn the_catalog_explains_every_message_id_the_daemon_logs() {
    let text = std::fs::read_to_string(CATALOG).expect("systemd/network-broker.catalog");
    let entries = entries(&text);
    let ids: BTreeSet<&str> = entries.iter().map(|(id, _, _)| id.as_str()).collect();
    let logged: BTreeSet<&str> = id::ALL.into_iter().collect();
    assert_eq!(ids, logged, "one catalog entry per MESSAGE_ID");
    assert_eq!(entries.len(), ids.len(), "an id has two entries");
    for (id, headers, body) in &entries {
        for header in ["Subject: ", "Defined-By: network-broker", "Documentation: "] {
            assert!(
                headers.iter().any(|h| h.starts_with(header)),
                "{id}: no {header:?} line in {headers:#?}"
            );
        }
        assert!(
            body.split_whitespace().count() > 20,
            "{id}: the text must say what it means and what to do:\n{body}"
        );
    }
}

#[test]
fn journalctl_compiles_the_catalog_and_lists_our_ids() {
    let Ok(version) = Command::new("journalctl").arg("--version").output() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "journalctl is missing (package systemd)"
        );
        eprintln!("SKIP: no journalctl");
        return;
    };
    assert!(version.status.success());
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("usr/lib/systemd/catalog");
    std::fs::create_dir_all(&dir).expect("catalog directory");
    std::fs::copy(CATALOG, dir.join("network-broker.catalog")).expect("copy the catalog");

    let journalctl = |args: &[&str]| {
        let out = Command::new("journalctl")
            .arg(format!("--root={}", root.path().display()))
            .args(args)
            .output()
            .expect("run journalctl");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "journalctl {args:?}: {stderr}");
        // journalctl reports a malformed entry on stderr and skips it, still exiting 0.
        assert!(
            stderr.trim().is_empty(),
            "journalctl {args:?} complained: {stderr}"
        );
        stdout
    };
    journalctl(&["--update-catalog"]);
    assert!(
        Path::new(&root.path().join("var/lib/systemd/catalog/database")).exists(),
        "the compiled catalog is under the temporary root, not the host's"
    );
    let listed = journalctl(&["--list-catalog"]);
    for id in id::ALL {
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(&format!("{id} network-broker: "))),
            "{id} is not in journalctl's catalog:\n{listed}"
        );
    }
    let rejected = journalctl(&["--dump-catalog", id::CONFIG_REJECTED]);
    assert!(
        rejected.contains("@CONFIG_FILE@") && rejected.contains("keeps the old one"),
        "{rejected}"
    );
}
