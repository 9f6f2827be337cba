//! A lab service (`networkd`, `dhclient`) stopped through `netlab.sh SERVICE stop|release` for
//! a test and started again on drop ([`ServiceStopped`]).

use crate::{CmdOutput, LabInfo};
use std::time::{Duration, Instant};

/// A lab service (`networkd`, `dhclient`) stopped through `netlab.sh SERVICE stop|release`;
/// started again on drop, or earlier with [`ServiceStopped::start`].
pub struct ServiceStopped {
    lab: LabInfo,
    /// The `netlab.sh` subcommand (`networkd`, `dhclient`).
    service: &'static str,
    /// A bus name that must be free before the service starts again (a stand-in the test
    /// killed just before may still hold it for a moment).
    bus_name: Option<&'static str>,
    started: bool,
}

/// systemd-networkd stopped by [`LabInfo::stop_networkd`].
pub type NetworkdStopped = ServiceStopped;
/// The lab's dhclient stopped by [`LabInfo::release_dhclient`] or [`LabInfo::stop_dhclient`].
pub type DhclientStopped = ServiceStopped;

impl ServiceStopped {
    pub(crate) fn new(
        lab: &LabInfo,
        service: &'static str,
        bus_name: Option<&'static str>,
    ) -> Self {
        ServiceStopped {
            lab: lab.clone(),
            service,
            bus_name,
            started: false,
        }
    }

    /// Starts the service again the way `netlab.sh up` does (`netlab.sh SERVICE start`, which
    /// returns once it is ready); panics if that fails.
    pub fn start(&mut self) {
        self.started = true;
        let out = self.start_now();
        if !out.success() {
            panic!(
                "starting the lab's {} failed\n{}",
                self.service,
                out.describe()
            );
        }
    }

    fn start_now(&self) -> CmdOutput {
        if let Some(name) = self.bus_name {
            let start = Instant::now();
            while self.lab.name_owner_pid(name).is_some()
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.lab.netlab(&[self.service, "start"])
    }
}

impl Drop for ServiceStopped {
    fn drop(&mut self) {
        if !self.started {
            let out = self.start_now();
            if !out.success() {
                eprintln!(
                    "cleanup: restarting {} failed\n{}",
                    self.service,
                    out.describe()
                );
            }
        }
    }
}
