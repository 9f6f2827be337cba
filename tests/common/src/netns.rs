//! Throwaway network namespaces for the privileged tests that need no lab
//! (`tests/netlink_source.rs`, `tests/routing_netns.rs`): created with `ip netns add`, deleted
//! when the test ends however it ends, and a way to run async test code inside one.
//!
//! Netlink sockets belong to the namespace of the thread that opens them, so the code under
//! test runs on a dedicated thread moved into the namespace with setns(2), on a runtime whose
//! threads it starts from there (they inherit the namespace). No other test's thread ever
//! lives in it.

use std::fs;
use std::future::Future;
use std::os::fd::AsFd as _;
use std::process::Command;

use crate::under_ci;

/// `true` when the test may run (root, needed for `ip netns add`); otherwise prints why and
/// returns `false`, or panics under `CI=true`, where a skipped privileged test must fail.
pub fn privileged(what: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if under_ci() {
        panic!("{what} needs root (CAP_NET_ADMIN to create network namespaces), and CI=true");
    }
    eprintln!("SKIPPED: {what} needs root to create network namespaces");
    false
}

/// Runs `program ARGS` and returns its stdout; panics with its stderr when it fails.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace made for one test (`ip netns add NAME`), deleted on drop; deleting it
/// also destroys the links inside it.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name`; panics when `ip netns add` fails.
    pub fn create(name: String) -> Netns {
        run_ok("ip", &["netns", "add", &name]);
        Netns { name }
    }

    /// Its name, as `ip -n NAME` takes it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`: its stdout; panics when it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ok("ip", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let status = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("warning: could not delete netns {}: {status:?}", self.name);
        }
    }
}

/// Moves the calling thread into the network namespace at `path` (`/run/netns/NAME`, or any
/// namespace file); panics when it cannot.
pub fn enter_netns(path: &str) {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
}

/// Runs `scenario` on a runtime whose threads all live in namespace `ns` (a name under
/// /run/netns), and waits for it; a panic in it is raised again here.
pub fn in_netns<F, Fut>(ns: &str, scenario: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let ns = ns.to_owned();
    let worker = std::thread::Builder::new()
        .name(format!("in-{ns}"))
        .spawn(move || {
            enter_netns(&format!("/run/netns/{ns}"));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(scenario());
        })
        .expect("spawn the namespace thread");
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}
