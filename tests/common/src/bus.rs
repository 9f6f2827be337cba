//! The bus as a client sees it, through `busctl --json=short` inside the lab: the daemon's names
//! (the contract), its properties and methods, bus-name owners, and the `a(sy)` address lists.

use crate::{Introspection, LabInfo};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The daemon's bus name (contract).
pub const BUS_NAME: &str = "org.freedesktop.NetworkBroker1";
/// The manager object (contract).
pub const MANAGER_PATH: &str = "/org/freedesktop/NetworkBroker1";
/// The manager interface (contract).
pub const MANAGER_IFACE: &str = "org.freedesktop.NetworkBroker1.Manager";
/// The per-link interface (contract).
pub const LINK_IFACE: &str = "org.freedesktop.NetworkBroker1.Link";
/// The standard properties interface.
pub const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";

/// The object path of link `ifindex`, escaped as systemd escapes it: the first character is a
/// digit, so it becomes `_3<digit>`; the other digits stay (4 -> `_34`, 12 -> `_312`).
pub fn link_path(ifindex: u32) -> String {
    format!("{MANAGER_PATH}/link/_3{ifindex}")
}

impl LabInfo {
    /// `busctl --json=short ARGS` inside the lab, parsed; `Err` describes the failure.
    pub fn try_busctl_json(&self, args: &[&str]) -> Result<Value, String> {
        let mut full = vec!["busctl", "--json=short", "--timeout=10"];
        full.extend_from_slice(args);
        let out = self.output(&full);
        if !out.success() {
            return Err(out.describe());
        }
        serde_json::from_str(out.stdout.trim())
            .map_err(|e| format!("{}: not JSON ({e}):\n{}", out.what, out.stdout))
    }

    /// `busctl --json=short ARGS` inside the lab, parsed; panics on failure.
    pub fn busctl_json(&self, args: &[&str]) -> Value {
        self.try_busctl_json(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads a property of the daemon's object `path`: the value's `data` (JSON form of the
    /// D-Bus value: `a(sy)` -> `[["10.0.0.1",24],...]`).
    pub fn try_get_property(&self, path: &str, iface: &str, prop: &str) -> Result<Value, String> {
        let v = self.try_busctl_json(&["get-property", BUS_NAME, path, iface, prop])?;
        Ok(v["data"].clone())
    }

    /// [`Self::try_get_property`], panicking on failure.
    pub fn get_property(&self, path: &str, iface: &str, prop: &str) -> Value {
        self.try_get_property(path, iface, prop)
            .unwrap_or_else(|e| panic!("get-property {path} {iface} {prop}: {e}"))
    }

    /// Calls a method of the daemon: `args` are busctl's signature and values (may be empty).
    /// Returns the reply's `data` (an array with one element per out argument).
    pub fn call(&self, path: &str, iface: &str, method: &str, args: &[&str]) -> Value {
        let mut full = vec!["call", BUS_NAME, path, iface, method];
        full.extend_from_slice(args);
        self.busctl_json(&full)["data"].clone()
    }

    /// Calls `method` (`INTERFACE.Member`) of the object at `path` with gdbus, a client the
    /// project did not write, and returns what it prints (GVariant's text format).
    pub fn gdbus_call(&self, path: &str, method: &str, args: &[&str]) -> String {
        self.run(&gdbus_call_args(path, method, args))
    }

    /// [`LabInfo::gdbus_call`] that may fail: its status and both outputs, for a test of an
    /// error reply.
    pub fn try_gdbus_call(&self, path: &str, method: &str, args: &[&str]) -> crate::CmdOutput {
        self.output(&gdbus_call_args(path, method, args))
    }

    /// `ListLinks()` as (ifindex, name, object path).
    pub fn try_list_links(&self) -> Result<Vec<(u32, String, String)>, String> {
        let v =
            self.try_busctl_json(&["call", BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListLinks"])?;
        let arr = v["data"][0]
            .as_array()
            .ok_or_else(|| format!("ListLinks reply is not a(iso): {v}"))?;
        arr.iter()
            .map(|e| {
                Ok((
                    e[0].as_u64()
                        .and_then(|i| u32::try_from(i).ok())
                        .ok_or_else(|| format!("bad ifindex in {e}"))?,
                    e[1].as_str()
                        .ok_or_else(|| format!("bad name in {e}"))?
                        .to_owned(),
                    e[2].as_str()
                        .ok_or_else(|| format!("bad path in {e}"))?
                        .to_owned(),
                ))
            })
            .collect()
    }

    /// The daemon's `Addresses` of link `ifindex`, as a set of (address, prefix length).
    pub fn try_link_addresses(&self, ifindex: u32) -> Result<BTreeSet<(IpAddr, u8)>, String> {
        let v = self.try_get_property(&link_path(ifindex), LINK_IFACE, "Addresses")?;
        parse_addresses(&v)
    }

    /// The PID of the process owning bus name `name`, or `None` when nobody owns it.
    pub fn name_owner_pid(&self, name: &str) -> Option<u32> {
        let v = self.bus_daemon_about(name, "GetConnectionUnixProcessID")?;
        v.as_u64().and_then(|p| u32::try_from(p).ok())
    }

    /// The unique name (`:1.42`) owning bus name `name`, or `None` when nobody owns it.
    pub fn name_owner(&self, name: &str) -> Option<String> {
        let v = self.bus_daemon_about(name, "GetNameOwner")?;
        v.as_str().map(str::to_owned)
    }

    /// The bus daemon's answer to `method(name)` (one out argument), `None` when it fails
    /// (nobody owns the name).
    fn bus_daemon_about(&self, name: &str, method: &str) -> Option<Value> {
        let v = self
            .try_busctl_json(&[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                method,
                "s",
                name,
            ])
            .ok()?;
        Some(v["data"][0].clone())
    }

    /// The introspection data of the daemon's object `path`.
    pub fn introspect(&self, path: &str) -> Introspection {
        let xml = self.run(&[
            "busctl",
            "--timeout=10",
            "introspect",
            "--xml-interface",
            BUS_NAME,
            path,
        ]);
        Introspection::parse(&xml)
    }
}

/// Parses an `a(sy)` JSON value (`[["addr", len], ...]`) into a set; addresses are compared as
/// `IpAddr`, so the daemon's and `ip`'s textual forms need not agree.
pub fn parse_addresses(v: &Value) -> Result<BTreeSet<(IpAddr, u8)>, String> {
    let arr = v
        .as_array()
        .ok_or_else(|| format!("Addresses is not an array: {v}"))?;
    arr.iter()
        .map(|e| {
            let ip = e[0]
                .as_str()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .ok_or_else(|| format!("bad address in {e}"))?;
            let len = e[1]
                .as_u64()
                .and_then(|l| u8::try_from(l).ok())
                .ok_or_else(|| format!("bad prefix length in {e}"))?;
            Ok((ip, len))
        })
        .collect()
}

/// A short description of how two address sets differ (for wait messages).
pub fn diff_summary(got: &BTreeSet<(IpAddr, u8)>, want: &BTreeSet<(IpAddr, u8)>) -> String {
    let missing: Vec<_> = want.difference(got).collect();
    let extra: Vec<_> = got.difference(want).collect();
    let mut s = format!(
        "daemon has {} addresses, kernel {}; {} missing, {} extra",
        got.len(),
        want.len(),
        missing.len(),
        extra.len()
    );
    for (label, list) in [("missing", &missing), ("extra", &extra)] {
        if !list.is_empty() {
            let sample: Vec<String> = list
                .iter()
                .take(5)
                .map(|(a, l)| format!("{a}/{l}"))
                .collect();
            let _ = write!(s, "; {label} e.g. {}", sample.join(" "));
        }
    }
    s
}

/// gdbus's command line for a method call on the daemon.
fn gdbus_call_args<'a>(path: &'a str, method: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut full = vec![
        "gdbus",
        "call",
        "--system",
        "--dest",
        BUS_NAME,
        "--object-path",
        path,
        "--method",
        method,
    ];
    full.extend_from_slice(args);
    full
}
