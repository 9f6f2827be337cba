//! The lab's dhclient: its lease file, its PID, and releasing or stopping it through
//! `netlab.sh dhclient release|stop|start` (guard [`DhclientStopped`]).

use crate::{DhclientStopped, LabInfo, ServiceStopped};
use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;

/// The lab's dhclient lease file as processes inside the lab see it (the daemon's
/// `LeaseFiles`); outside it is [`LabInfo::dhclient_leases`].
pub const DHCLIENT_LEASES: &str = "/var/lib/dhcp/dhclient.leases";

impl LabInfo {
    /// The lab's dhclient lease file seen from the host (`$LAB_DIR/run/dhcp/dhclient.leases`).
    pub fn dhclient_leases(&self) -> PathBuf {
        self.dir.join("run/dhcp/dhclient.leases")
    }

    /// The PID in `$LAB_DIR/run/pids/dhclient.pid` (written by `netlab.sh up` and
    /// `netlab.sh dhclient start`, removed by `dhclient release|stop`) when that process is a
    /// live `dhclient`.
    pub fn dhclient_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.dir.join("run/pids/dhclient.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        (exe.file_name() == Some(OsStr::new("dhclient"))).then_some(pid)
    }

    /// Starts the lab's dhclient if it is not running (an earlier test's cleanup failed, or
    /// the lab was brought up with `LAB_DHCLIENT=0`); returns once it is bound.
    pub fn ensure_dhclient(&self) {
        if self.dhclient_pid().is_none() {
            let out = self.netlab(&["dhclient", "start"]);
            if !out.success() {
                panic!("starting the lab's dhclient failed\n{}", out.describe());
            }
        }
    }

    /// Releases labdh0's lease (`netlab.sh dhclient release`: `dhclient -r` inside the lab,
    /// which stops the lab's dhclient, sends a DHCPRELEASE and has dhclient-script remove the
    /// address). The guard starts dhclient again when dropped, so a failing test does not
    /// leave the lab without it; [`DhclientStopped::start`] does it at a chosen moment.
    pub fn release_dhclient(&self) -> DhclientStopped {
        let out = self.netlab(&["dhclient", "release"]);
        if !out.success() {
            panic!("releasing labdh0's lease failed\n{}", out.describe());
        }
        ServiceStopped::new(self, "dhclient", None)
    }

    /// Stops the lab's dhclient without a release (`netlab.sh dhclient stop`: SIGTERM to its
    /// PID only; the lease file and labdh0's address stay). Started again on drop, as
    /// [`LabInfo::release_dhclient`].
    pub fn stop_dhclient(&self) -> DhclientStopped {
        let out = self.netlab(&["dhclient", "stop"]);
        if !out.success() {
            panic!("stopping the lab's dhclient failed\n{}", out.describe());
        }
        ServiceStopped::new(self, "dhclient", None)
    }
}
