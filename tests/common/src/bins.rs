//! Where the package's binaries are: the daemon under test, the hook executor and the
//! command-line client, as
//! cargo built them for this test run.
//!
//! This crate is a dependency of the tests, not one of them, so `env!("CARGO_BIN_EXE_...")`
//! does not exist when it is compiled. Cargo also sets those variables in the environment of
//! the test process it runs (cargo's documentation of `CARGO_BIN_EXE_<name>`); a test binary
//! started by hand finds them where cargo puts binaries, next to its own `deps/` directory.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The daemon under test (`network-broker`).
pub fn broker_bin() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| locate("network-broker"))
}

/// The command-line client (`network-brokerctl`), built next to the daemon. Run it inside the
/// lab with [`crate::LabInfo::run`]: the harness sets `DBUS_SYSTEM_BUS_ADDRESS` to the lab
/// bus there.
pub fn brokerctl_bin() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| locate("network-brokerctl"))
}

/// The hook executor (`network-broker-executor`), built next to the daemon.
pub fn executor_bin() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| locate("network-broker-executor"))
}

/// `CARGO_BIN_EXE_<name>`, else `<profile dir>/<name>` beside the running test binary
/// (`<profile dir>/deps/<test>-<hash>`); panics when neither names an existing file.
fn locate(name: &str) -> String {
    let var = format!("CARGO_BIN_EXE_{name}");
    let path = match std::env::var_os(&var) {
        Some(p) => PathBuf::from(p),
        None => beside_test_binary(name)
            .unwrap_or_else(|| panic!("{var} is not set and this test binary's path says nothing")),
    };
    if !path.is_file() {
        panic!(
            "{name} is not at {} ({var} unset or stale): run the tests with `cargo test`",
            path.display()
        );
    }
    path.to_string_lossy().into_owned()
}

fn beside_test_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent().and_then(Path::parent)?;
    Some(profile_dir.join(name))
}
