//! Every bus name, object path and interface name the daemon serves: the one place for these
//! strings, so that a rename is a one-line change.

/// The well-known name the daemon owns.
pub const BUS_NAME: &str = "org.freedesktop.NetworkBroker1";
/// The manager object.
pub const MANAGER_PATH: &str = "/org/freedesktop/NetworkBroker1";
/// Parent of the per-link objects.
pub const LINK_PATH_PREFIX: &str = "/org/freedesktop/NetworkBroker1/link";
/// The manager interface.
pub const MANAGER_INTERFACE: &str = "org.freedesktop.NetworkBroker1.Manager";
/// The per-link interface.
pub const LINK_INTERFACE: &str = "org.freedesktop.NetworkBroker1.Link";
