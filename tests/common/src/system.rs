//! The system tier's harness (`tests/system_*.rs`): a throwaway machine booted with systemd as
//! PID 1 (`tests/system/ct.sh`), the Debian package installed in it the way a user does.
//!
//! * [`Machine::boot`]: one machine per test, named `$CT_NAME-<test>`, powered off and removed
//!   on drop (also when the test fails; its journal for the unit is printed then). It returns
//!   `None` (the test prints `SKIP: ...` and passes) when not root, when this host cannot boot
//!   machines, or when there is no package to install; under `CI=true` those are failures.
//! * The package: `NB_DEB` (what `make system-test` passes), else the newest
//!   `target/debian/network-broker_*.deb`.
//! * Commands inside the machine: [`Machine::sh`] (the output, whatever the status),
//!   [`Machine::ok`] (stdout, panics with both streams on failure), [`Machine::put`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The unit under test.
pub const UNIT: &str = "network-broker.service";
/// Where the package is put inside the machine.
pub const DEB_IN_CT: &str = "/root/network-broker.deb";
/// The configuration file the package ships as a conffile.
pub const CONFIG: &str = "/etc/network-broker/network-broker.yaml";

fn ct_sh() -> PathBuf {
    Path::new(crate::PROJECT_DIR).join("tests/system/ct.sh")
}

fn skip(why: &str) -> Option<Machine> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("system test cannot run under CI=true: {why}");
    }
    eprintln!("SKIP: {why}");
    None
}

/// The package to install: `NB_DEB`, or the newest one `make deb` left in target/debian/.
pub fn deb_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("NB_DEB") {
        return Some(PathBuf::from(p));
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(crate::PROJECT_DIR).join("target"));
    let mut debs: Vec<_> = std::fs::read_dir(target.join("debian"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("network-broker_") && name.ends_with(".deb")
        })
        .collect();
    debs.sort_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    debs.pop()
}

/// A booted machine (systemd as PID 1), powered off and removed on drop.
pub struct Machine {
    name: String,
    pub deb: PathBuf,
}

impl Machine {
    /// Boots `$CT_NAME-<test>`, or says why it cannot (see the module doc).
    pub fn boot(test: &str) -> Option<Machine> {
        if !rustix::process::geteuid().is_root() {
            return skip("not root (the system tier boots containers)");
        }
        let Some(deb) = deb_path().filter(|p| p.is_file()) else {
            return skip("no package: run `make deb` (or `make system-test`), or set NB_DEB");
        };
        let check = Command::new(ct_sh()).arg("check").output().unwrap();
        if !check.status.success() {
            let why = String::from_utf8_lossy(&check.stdout).trim().to_string();
            return skip(&format!("this host cannot boot a systemd machine: {why}"));
        }
        let m = Machine {
            name: test.replace('_', "-"),
            deb,
        };
        let out = Command::new(ct_sh())
            .args(["up", &m.name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "machine {} did not boot:\n{}",
            m.name,
            String::from_utf8_lossy(&out.stderr)
        );
        Some(m)
    }

    /// Runs `script` with sh inside the machine; the output whatever the exit status.
    pub fn sh(&self, script: &str) -> Output {
        Command::new(ct_sh())
            .args(["exec", &self.name, "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `script` inside the machine; its stdout, or a panic showing both streams.
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "in machine {}: `{script}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes `data` to `path` inside the machine (the host's /tmp is not visible there).
    pub fn put(&self, path: &str, data: &[u8]) {
        let mut child = Command::new(ct_sh())
            .args(["put", &self.name, path])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        assert!(
            child.wait().unwrap().success(),
            "cannot write {path} in the machine"
        );
    }

    /// Copies the package into the machine ([`DEB_IN_CT`]).
    pub fn put_deb(&self) {
        let data = std::fs::read(&self.deb).unwrap();
        self.put(DEB_IN_CT, &data);
    }

    /// Copies the package in and installs it with `apt-get install ./...`, as the README says.
    pub fn install(&self) -> String {
        self.put_deb();
        // Nothing to download: the machine is the host's image, which has every dependency.
        self.ok("cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./network-broker.deb 2>&1")
    }

    /// One property of a unit (`systemctl show -p NAME --value`).
    pub fn prop(&self, unit: &str, name: &str) -> String {
        self.ok(&format!("systemctl show -p {name} --value {unit}"))
            .trim()
            .to_string()
    }

    /// Polls `cond` (a shell condition run inside the machine) until it holds; panics after
    /// a generous time, showing `what` and the unit's journal.
    pub fn wait_for(&self, what: &str, cond: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.sh(cond).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "in machine {}: timed out waiting for {what} (`{cond}`)",
            self.name
        );
    }

    /// The journal of the daemon's unit and of the hook executor's service and socket,
    /// interleaved, for failure messages: a hook's delay or loss shows on either side.
    pub fn journal(&self) -> String {
        String::from_utf8_lossy(
            &self
                .sh(
                    "journalctl -b -u network-broker -u network-broker-executor.service \
                     -u network-broker-executor.socket --no-pager -n 150",
                )
                .stdout,
        )
        .into_owned()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- journal of {UNIT} and the hook executor in machine {}:\n{}",
                self.name,
                self.journal()
            );
        }
        let _ = Command::new(ct_sh()).args(["down", &self.name]).status();
    }
}
