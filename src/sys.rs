//! Small wrappers over system calls, so the rest of the crate reads as policy, not plumbing.

/// Whether the daemon runs with root's effective user id.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
