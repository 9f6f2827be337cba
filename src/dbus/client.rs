//! Client-side proxies of our own interfaces, used by `network-brokerctl` and the tests.

use std::collections::HashMap;

use zbus::proxy;
use zbus::{OwnedObjectPath, OwnedVariant};

/// One event of `EventsSince`: sequence, time sent (µs since the Unix epoch), the Manager
/// signal's name, its arguments without the sequence.
pub type HistoryEvent = (u64, u64, String, Vec<OwnedVariant>);

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

    /// `StreamId` (s): this run's event stream.
    #[zbus(property)]
    fn stream_id(&self) -> zbus::Result<String>;

    /// `EventSequence` (t): the last event number handed out. Never cached: it signals no
    /// changes.
    #[zbus(property(emits_changed_signal = "false"))]
    fn event_sequence(&self) -> zbus::Result<u64>;

    /// `EventsSince(t) → (s b a(ttsav))`: the stream's identity, whether the history reached
    /// back far enough, and the events after the number.
    fn events_since(&self, after: u64) -> zbus::Result<(String, bool, Vec<HistoryEvent>)>;

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
