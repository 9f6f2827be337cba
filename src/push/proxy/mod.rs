//! Client proxies of other services' interfaces: the members the daemon calls, and nothing
//! else. Each member carries its D-Bus declaration and a link to the upstream manual, so a
//! reader can check the signature without opening systemd's sources.
//!
//! The proxies are plain zbus proxies over the daemon's one system-bus connection; policy
//! (when to call, what to retry) lives with their users (this module's parent, `crate::push`).

pub mod hostnamed;
pub mod resolved;
