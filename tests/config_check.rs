//! `network-broker --check-config`: validates `DIR/network-broker.yaml` and exits 0 (valid) or 1
//! (invalid, with file:line on stderr).  Needs neither root nor the lab.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn check_config(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_network-broker"))
        .arg("--check-config")
        .arg("--config-dir")
        .arg(dir)
        .stdin(Stdio::null())
        // --check-config must not need a bus: point it at one that does not exist
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/network-broker-test-bus",
        )
        .output()
        .expect("run network-broker")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn dir_with(yaml: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("network-broker.yaml"), yaml).unwrap();
    d
}

#[test]
fn check_config_accepts_a_valid_file() {
    let d = dir_with(
        "System:\n  LogLevel: debug\n  Generator: netlink\nNetwork:\n  Links: eth0 eth1\n  EmitJSON: true\n",
    );
    let out = check_config(d.path());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn check_config_accepts_a_missing_file_as_defaults() {
    let d = tempfile::tempdir().unwrap();
    let out = check_config(d.path());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn check_config_rejects_a_bad_value_naming_file_and_line() {
    // line 3 holds the bad value
    let d = dir_with(
        "System:\n  LogLevel: debug\n  Generator: carrier-pigeon\nNetwork:\n  EmitJSON: true\n",
    );
    let out = check_config(d.path());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("network-broker.yaml:3"),
        "stderr must name the file and line (network-broker.yaml:3)\n{}",
        describe(&out)
    );
}

#[test]
fn check_config_rejects_malformed_yaml_naming_file_and_line() {
    // line 4 opens a flow sequence that never closes
    let d =
        dir_with("System:\n  LogLevel: debug\nNetwork:\n  Links: [eth0, eth1\n  EmitJSON: true\n");
    let out = check_config(d.path());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("network-broker.yaml:"),
        "stderr must name the file (network-broker.yaml:LINE)\n{}",
        describe(&out)
    );
}

#[test]
fn check_config_rejects_deep_nesting_naming_file_and_line() {
    // A flow mapping of depth 50 on line 2: refused with its position, not by the size of
    // the main thread's stack.
    let d = dir_with(&format!(
        "Network:\n  Links: {}1{}\n",
        "{a: ".repeat(50),
        "}".repeat(50)
    ));
    let out = check_config(d.path());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("network-broker.yaml:2:") && stderr.contains("nested deeper than"),
        "stderr must name the file, the line and the limit\n{}",
        describe(&out)
    );
}
