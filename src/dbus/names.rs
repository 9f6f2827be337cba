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
/// The standard interface whose `PropertiesChanged` the publisher sends itself.
pub const PROPERTIES_INTERFACE: &str = "org.freedesktop.DBus.Properties";

/// polkit action of `Manager.Reload()`.
pub const ACTION_RELOAD: &str = "org.freedesktop.NetworkBroker1.reload";
/// polkit action of `Manager.RunHooks()`.
pub const ACTION_RUN_HOOKS: &str = "org.freedesktop.NetworkBroker1.run-hooks";
/// polkit action of `Manager.ReconcileRouting()`.
pub const ACTION_RECONCILE_ROUTING: &str = "org.freedesktop.NetworkBroker1.reconcile-routing";

/// Prefix of the daemon's own error names.
pub const ERROR_PREFIX: &str = "org.freedesktop.NetworkBroker1.Error";
