//! Client-side proxies of our own interfaces, used by `network-brokerctl` and the tests.

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

    /// `ListLinks() → a(iso)`.
    fn list_links(&self) -> zbus::Result<Vec<(i32, String, OwnedObjectPath)>>;

    /// `DescribeRouting() → s`.
    fn describe_routing(&self) -> zbus::Result<String>;

    /// `ReconcileRouting()`.
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
}
