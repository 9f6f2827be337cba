//! systemd-networkd in the lab: its bus names, its link states (the `<state>.d` directories a
//! link state selects), its properties, and stopping it for a test ([`NetworkdStopped`]).

use crate::{LabInfo, NetworkdStopped, ServiceStopped};
use serde_json::Value;
use std::fs;

/// systemd-networkd's bus name.
pub const NETWORKD_NAME: &str = "org.freedesktop.network1";
/// networkd's manager object.
pub const NETWORKD_PATH: &str = "/org/freedesktop/network1";
/// networkd's manager interface.
pub const NETWORKD_MANAGER_IFACE: &str = "org.freedesktop.network1.Manager";
/// networkd's per-link interface.
pub const NETWORKD_LINK_IFACE: &str = "org.freedesktop.network1.Link";

/// networkd's object path of link `ifindex` (the same escaping as [`link_path`]).
pub fn networkd_link_path(ifindex: u32) -> String {
    format!("{NETWORKD_PATH}/link/_3{ifindex}")
}

/// Every `<state>.d` directory a link state can select: networkd's `OperationalState` values
/// and its `AdministrativeState` values (two disjoint lists, so a run's `EVENT` says which
/// property chose it).
pub const OPERATIONAL_STATES: &[&str] = &[
    "missing",
    "off",
    "no-carrier",
    "dormant",
    "degraded-carrier",
    "carrier",
    "degraded",
    "enslaved",
    "routable",
];
/// networkd's `AdministrativeState` values (see [`OPERATIONAL_STATES`]).
pub const ADMINISTRATIVE_STATES: &[&str] = &[
    "pending",
    "initialized",
    "configuring",
    "configured",
    "unmanaged",
    "failed",
    "linger",
];

impl LabInfo {
    /// A property of systemd-networkd's object `path` (`NETWORKD_PATH` or
    /// [`networkd_link_path`]), read from networkd itself: the value's `data`.
    pub fn try_networkd_property(
        &self,
        path: &str,
        iface: &str,
        prop: &str,
    ) -> Result<Value, String> {
        let v = self.try_busctl_json(&["get-property", NETWORKD_NAME, path, iface, prop])?;
        Ok(v["data"].clone())
    }

    /// The PID in `$LAB_DIR/run/pids/networkd.pid` (written by `netlab.sh up` and
    /// `netlab.sh networkd start`, removed by `netlab.sh networkd stop`).
    pub fn networkd_pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.join("run/pids/networkd.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Stops the lab's systemd-networkd (`netlab.sh networkd stop`: SIGTERM to the PID in its
    /// pid file only, then waits until it is gone and its bus name is free). The returned guard
    /// starts it again when dropped, so a failing test does not leave the lab without networkd;
    /// call [`NetworkdStopped::start`] to start it at a chosen moment.
    pub fn stop_networkd(&self) -> NetworkdStopped {
        let out = self.netlab(&["networkd", "stop"]);
        if !out.success() {
            panic!("stopping the lab's networkd failed\n{}", out.describe());
        }
        ServiceStopped::new(self, "networkd", Some(NETWORKD_NAME))
    }
}
