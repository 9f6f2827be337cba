//! Client-side proxies of our own interfaces, used by `network-brokerctl` and the tests.

use std::collections::HashMap;

use zbus::proxy;
use zbus::OwnedObjectPath;

/// `org.freedesktop.NetworkBroker1.Manager`.
#[proxy(
    interface = "org.freedesktop.NetworkBroker1.Manager",
    default_service = "org.freedesktop.NetworkBroker1",
    default_path = "/org/freedesktop/NetworkBroker1"
)]
pub trait Manager {
    /// `Version` (s).
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;

    /// `Generator` (s).
    #[zbus(property)]
    fn generator(&self) -> zbus::Result<String>;

    /// `OperationalState` (s).
    #[zbus(property)]
    fn operational_state(&self) -> zbus::Result<String>;

    /// `ListLinks() → a(iso)`.
    fn list_links(&self) -> zbus::Result<Vec<(i32, String, OwnedObjectPath)>>;

    /// `GetLinkByName(s) → o`.
    fn get_link_by_name(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    /// `GetLinkByIndex(i) → o`.
    fn get_link_by_index(&self, index: i32) -> zbus::Result<OwnedObjectPath>;

    /// `Describe() → s`.
    fn describe(&self) -> zbus::Result<String>;

    /// `ListHooks() → a(ss)`.
    fn list_hooks(&self) -> zbus::Result<Vec<(String, String)>>;

    /// `Reload() → as`: the changed keys that need a restart.
    #[zbus(allow_interactive_auth)]
    fn reload(&self) -> zbus::Result<Vec<String>>;

    /// `RunHooks(s, i) → a(sus)`.
    #[zbus(allow_interactive_auth)]
    fn run_hooks(&self, event: &str, index: i32) -> zbus::Result<Vec<(String, u32, String)>>;

    /// `DryRunHooks(s, i) → (as, a(ss), s)`.
    fn dry_run_hooks(
        &self,
        event: &str,
        index: i32,
    ) -> zbus::Result<(Vec<String>, Vec<(String, String)>, String)>;

    /// `DescribeRouting() → s`.
    fn describe_routing(&self) -> zbus::Result<String>;

    /// `ReconcileRouting()`.
    #[zbus(allow_interactive_auth)]
    fn reconcile_routing(&self) -> zbus::Result<()>;
}

/// `org.freedesktop.NetworkBroker1.Link`.
#[proxy(
    interface = "org.freedesktop.NetworkBroker1.Link",
    default_service = "org.freedesktop.NetworkBroker1"
)]
pub trait Link {
    /// `Index` (i).
    #[zbus(property)]
    fn index(&self) -> zbus::Result<i32>;
    /// `Name` (s).
    #[zbus(property)]
    fn name(&self) -> zbus::Result<String>;
    /// `OperationalState` (s).
    #[zbus(property)]
    fn operational_state(&self) -> zbus::Result<String>;
    /// `Addresses` (a(sy)).
    #[zbus(property)]
    fn addresses(&self) -> zbus::Result<Vec<(String, u8)>>;
    /// `Lease` (a{ss}).
    #[zbus(property)]
    fn lease(&self) -> zbus::Result<HashMap<String, String>>;
    /// `Describe() → s`.
    fn describe(&self) -> zbus::Result<String>;
}
