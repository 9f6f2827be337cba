//! Test of `source::networkd` on a real, private `dbus-daemon`, with the test playing
//! systemd-networkd (a connection that owns `org.freedesktop.network1` and serves minimal
//! Manager and Link objects) and an impostor (a third connection that sends the same signals).
//!
//! It checks what the source promises: the snapshot at start, changes received during the
//! read sent after it unless the snapshot already has them, changes in the order one signal
//! carried them, nothing from the impostor (broadcast or sent straight to the source, nor a
//! forged `NameOwnerChanged`), values and paths off networkd's lists dropped, `Vanished` when
//! the name is released, a fresh snapshot from the next owner, and a source started while
//! networkd is absent picking it up when it appears.
//!
//! The bus is the test's own (a temporary config with a permissive policy, killed by PID at
//! the end), so the host's buses are never touched and no root is needed. Without
//! `dbus-daemon` the test prints SKIPPED and passes, except under `CI=true`, where a skipped
//! test must fail loudly.

// Panicking on an unexpected result is how a test fails.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use network_broker::event::{Event, NetworkdEvent};
use network_broker::model::StateProperty as P;
use network_broker::model::States;
use network_broker::source::networkd::{self, wire::PropertyList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zbus::connection::Builder;
use zbus::{Connection, MessageStream, OwnedObjectPath};

const NAME: &str = "org.freedesktop.network1";
const MANAGER: &str = "/org/freedesktop/network1";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
const LINK_IFACE: &str = "org.freedesktop.network1.Link";
const MANAGER_IFACE: &str = "org.freedesktop.network1.Manager";
/// How long to wait for an event that must come.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait to be confident that an event does not come.
const QUIET: Duration = Duration::from_millis(400);

/// The private bus: `dbus-daemon --nofork`, killed by its PID when dropped.
struct Bus {
    daemon: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, bus_config(&socket)).unwrap();
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-pid"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dbus-daemon");
        // The PID is printed once the socket listens: reading it is waiting for the bus.
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid: u32 = line.trim().parse().expect("dbus-daemon printed its PID");
        assert_eq!(pid, daemon.id());
        Bus {
            daemon,
            address: format!("unix:path={}", socket.display()),
            _dir: dir,
        }
    }

    async fn connect(&self) -> Connection {
        Builder::address(self.address.as_str())
            .build()
            .await
            .expect("connect to the private bus")
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID.
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

/// One link object of the fake networkd.
struct FakeLink {
    states: BTreeMap<&'static str, &'static str>,
}

impl FakeLink {
    fn new(states: &[(&'static str, &'static str)]) -> Self {
        Self {
            states: states.iter().copied().collect(),
        }
    }

    /// Unset states read as networkd's neutral values ("" is valid for OnlineState only).
    fn get(&self, name: &str) -> String {
        let unset = if name == "OnlineState" { "" } else { "off" };
        self.states.get(name).copied().unwrap_or(unset).to_string()
    }
}

#[zbus::interface(name = "org.freedesktop.network1.Link")]
impl FakeLink {
    #[zbus(property)]
    fn operational_state(&self) -> String {
        self.get("OperationalState")
    }
    #[zbus(property)]
    fn carrier_state(&self) -> String {
        self.get("CarrierState")
    }
    #[zbus(property)]
    fn address_state(&self) -> String {
        self.get("AddressState")
    }
    #[zbus(property, name = "IPv4AddressState")]
    fn ipv4_address_state(&self) -> String {
        self.get("IPv4AddressState")
    }
    #[zbus(property, name = "IPv6AddressState")]
    fn ipv6_address_state(&self) -> String {
        self.get("IPv6AddressState")
    }
    #[zbus(property)]
    fn administrative_state(&self) -> String {
        self.get("AdministrativeState")
    }
    #[zbus(property)]
    fn online_state(&self) -> String {
        self.get("OnlineState")
    }
    /// Not a state: must be ignored.
    #[zbus(property)]
    fn bit_rates(&self) -> (u64, u64) {
        (u64::MAX, u64::MAX)
    }
}

/// A `PropertiesChanged` the fake emits: path, interface, entries in order.
type Emission = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// The fake networkd's manager object.
struct FakeManager {
    link: FakeLink,
    listed: Vec<(i32, String, OwnedObjectPath)>,
    /// Signals emitted while answering `ListLinks`, i.e. in the middle of the source's read
    /// (after the manager's `GetAll`, before the links' ones).
    during_list: Vec<Emission>,
}

#[zbus::interface(name = "org.freedesktop.network1.Manager")]
impl FakeManager {
    async fn list_links(
        &self,
        #[zbus(connection)] conn: &Connection,
    ) -> Vec<(i32, String, OwnedObjectPath)> {
        // Emitted before the reply is sent, so the source receives them before it.
        for (path, interface, entries) in &self.during_list {
            emit(conn, None, path, interface, entries).await;
        }
        self.listed.clone()
    }
    #[zbus(property)]
    fn operational_state(&self) -> String {
        self.link.get("OperationalState")
    }
    #[zbus(property)]
    fn carrier_state(&self) -> String {
        self.link.get("CarrierState")
    }
    #[zbus(property)]
    fn address_state(&self) -> String {
        self.link.get("AddressState")
    }
    #[zbus(property, name = "IPv4AddressState")]
    fn ipv4_address_state(&self) -> String {
        self.link.get("IPv4AddressState")
    }
    #[zbus(property, name = "IPv6AddressState")]
    fn ipv6_address_state(&self) -> String {
        self.link.get("IPv6AddressState")
    }
    #[zbus(property)]
    fn online_state(&self) -> String {
        self.link.get("OnlineState")
    }
    /// Not a state: must be ignored.
    #[zbus(property)]
    fn namespace_id(&self) -> u64 {
        4026531840
    }
}

fn link_path(element: &str) -> OwnedObjectPath {
    OwnedObjectPath::try_from(format!("{MANAGER}/link/{element}")).unwrap()
}

/// Starts a fake networkd: objects first, then the name, as networkd does.
async fn fake_networkd(bus: &Bus, generation: u32) -> Connection {
    let nb0_admin = if generation == 1 {
        "configuring"
    } else {
        "configured"
    };
    let manager = FakeManager {
        link: FakeLink::new(&[
            ("OperationalState", "routable"),
            ("CarrierState", "carrier"),
            ("AddressState", "routable"),
            ("IPv4AddressState", "routable"),
            ("IPv6AddressState", "degraded"),
            ("OnlineState", "online"),
        ]),
        listed: vec![
            (1, "lo".into(), link_path("_31")),
            (2, "nb0".into(), link_path("_32")),
            (3, "nb1".into(), link_path("_33")),
            // Listed but gone before its states are read: not in the snapshot.
            (9, "gone".into(), link_path("_39")),
            // A path that does not match the ifindex: skipped.
            (4, "odd".into(), link_path("_35")),
        ],
        during_list: if generation == 1 {
            vec![
                // Newer than the manager's states in the snapshot: sent after it.
                (
                    MANAGER,
                    MANAGER_IFACE,
                    vec![("OperationalState", "degraded")],
                ),
                // Older than link 2's states in the snapshot (read after ListLinks): already
                // in it, so not replayed.
                (
                    "/org/freedesktop/network1/link/_32",
                    LINK_IFACE,
                    vec![("AdministrativeState", "configuring")],
                ),
            ]
        } else {
            Vec::new()
        },
    };
    Builder::address(bus.address.as_str())
        .serve_at(MANAGER, manager)
        .serve_at(
            link_path("_31"),
            FakeLink::new(&[
                ("OperationalState", "carrier"),
                ("CarrierState", "carrier"),
                ("AdministrativeState", "unmanaged"),
            ]),
        )
        .serve_at(
            link_path("_32"),
            FakeLink::new(&[
                ("OperationalState", "routable"),
                ("CarrierState", "carrier"),
                ("AddressState", "routable"),
                ("AdministrativeState", nb0_admin),
                ("OnlineState", "online"),
            ]),
        )
        .serve_at(
            link_path("_33"),
            FakeLink::new(&[
                // Not on the list: dropped from the snapshot, the rest kept.
                ("OperationalState", "../x"),
                ("CarrierState", "no-carrier"),
                ("AdministrativeState", "configuring"),
            ]),
        )
        .serve_at(
            link_path("_35"),
            FakeLink::new(&[("OperationalState", "off")]),
        )
        .name(NAME)
        .build()
        .await
        .expect("fake networkd on the bus")
}

/// Emits `PropertiesChanged` with the entries in this order, broadcast or to `destination`.
async fn emit(
    conn: &Connection,
    destination: Option<&str>,
    path: &str,
    interface: &str,
    entries: &[(&str, &str)],
) {
    let body = (
        interface.to_string(),
        PropertyList::strings(entries.iter().copied()),
        Vec::<String>::new(),
    );
    conn.emit_signal(destination, path, PROPERTIES, "PropertiesChanged", &body)
        .await
        .unwrap();
}

async fn next(rx: &mut mpsc::Receiver<Event>) -> NetworkdEvent {
    match tokio::time::timeout(EVENT_TIMEOUT, rx.recv()).await {
        Ok(Some(Event::Networkd(event))) => event,
        Ok(Some(other)) => panic!("not a networkd event: {other:?}"),
        Ok(None) => panic!("the source closed its queue"),
        Err(_) => panic!("no event within {EVENT_TIMEOUT:?}"),
    }
}

async fn quiet(rx: &mut mpsc::Receiver<Event>) {
    if let Ok(event) = tokio::time::timeout(QUIET, rx.recv()).await {
        panic!("expected no event, got {event:?}");
    }
}

fn changed(pairs: &[(P, &'static str)]) -> Vec<(P, &'static str)> {
    pairs.to_vec()
}

fn skip(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("networkd source test cannot run under CI=true: {why}");
    }
    eprintln!("SKIPPED: networkd source test: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_owner_of_the_name_and_nobody_else() {
    if Command::new("dbus-daemon")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
    {
        skip("dbus-daemon is not installed");
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();

    let bus = Bus::start();
    let networkd_a = fake_networkd(&bus, 1).await;
    let owner_a = networkd_a.unique_name().unwrap().to_string();

    // The daemon's connection. Another part of the daemon listening to every
    // PropertiesChanged makes the bus deliver the impostor's broadcasts to this connection
    // too; the drain counts them, so the test knows they arrived and were refused.
    let daemon_conn = bus.connect().await;
    let source_name = daemon_conn.unique_name().unwrap().to_string();
    let broad = MessageStream::for_match_rule(
        "type='signal',interface='org.freedesktop.DBus.Properties'",
        &daemon_conn,
        None,
    )
    .await
    .unwrap();
    let impostor = bus.connect().await;
    let impostor_name = impostor.unique_name().unwrap().to_string();
    let from_impostor = Arc::new(AtomicUsize::new(0));
    let seen = from_impostor.clone();
    let watched = impostor_name.clone();
    tokio::spawn(broad.for_each(move |msg| {
        if let Ok(msg) = msg {
            if msg.header().sender().is_some_and(|s| s.as_str() == watched) {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
        std::future::ready(())
    }));

    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let source = tokio::spawn(networkd::run(daemon_conn.clone(), tx, cancel.clone()));

    // 1. The snapshot at start.
    let NetworkdEvent::Snapshot { manager, links } = next(&mut rx).await else {
        panic!("the first event must be a snapshot");
    };
    assert_eq!(
        manager,
        States::from([
            (P::Operational, "routable"),
            (P::Carrier, "carrier"),
            (P::Address, "routable"),
            (P::Ipv4Address, "routable"),
            (P::Ipv6Address, "degraded"),
            (P::Online, "online"),
        ])
    );
    assert_eq!(links.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(links[&2][&P::Administrative], "configuring");
    assert_eq!(links[&2][&P::Operational], "routable");
    assert_eq!(links[&2][&P::Ipv4Address], "off");
    assert_eq!(links[&1][&P::Administrative], "unmanaged");
    assert_eq!(
        links[&3],
        States::from([
            (P::Carrier, "no-carrier"),
            (P::Address, "off"),
            (P::Ipv4Address, "off"),
            (P::Ipv6Address, "off"),
            (P::Administrative, "configuring"),
            (P::Online, ""),
        ]),
        "the value ../x is dropped, the rest kept"
    );

    // The changes networkd emitted during the read: the manager's follows the snapshot, the
    // link's was already in it. (The next event being step 2's shows it was not replayed.)
    assert_eq!(
        next(&mut rx).await,
        NetworkdEvent::ManagerChanged {
            changed: changed(&[(P::Operational, "degraded")]),
        }
    );

    // 2. Changes in the order one signal carried them, both ways round.
    let nb0 = "/org/freedesktop/network1/link/_32";
    emit(
        &networkd_a,
        None,
        nb0,
        LINK_IFACE,
        &[
            ("OperationalState", "degraded"),
            ("AdministrativeState", "configuring"),
        ],
    )
    .await;
    assert_eq!(
        next(&mut rx).await,
        NetworkdEvent::LinkChanged {
            index: 2,
            changed: changed(&[
                (P::Operational, "degraded"),
                (P::Administrative, "configuring")
            ]),
        }
    );
    emit(
        &networkd_a,
        None,
        nb0,
        LINK_IFACE,
        &[
            ("AdministrativeState", "configured"),
            ("CarrierState", "carrier"),
            ("OperationalState", "routable"),
        ],
    )
    .await;
    assert_eq!(
        next(&mut rx).await,
        NetworkdEvent::LinkChanged {
            index: 2,
            changed: changed(&[
                (P::Administrative, "configured"),
                (P::Carrier, "carrier"),
                (P::Operational, "routable"),
            ]),
        }
    );

    // 3. The impostor: the same signals, broadcast and sent straight to the source, and a
    //    forged NameOwnerChanged naming itself the owner. None of it may produce anything.
    //    (zbus already filters the forged NameOwnerChanged, as its client-side rule names the
    //    bus as sender; the source checks the sender again itself.)
    emit(
        &impostor,
        None,
        nb0,
        LINK_IFACE,
        &[("OperationalState", "off")],
    )
    .await;
    emit(
        &impostor,
        Some(&source_name),
        nb0,
        LINK_IFACE,
        &[
            ("OperationalState", "off"),
            ("AdministrativeState", "failed"),
        ],
    )
    .await;
    emit(
        &impostor,
        Some(&source_name),
        MANAGER,
        MANAGER_IFACE,
        &[("OperationalState", "off")],
    )
    .await;
    impostor
        .emit_signal(
            Some(source_name.as_str()),
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameOwnerChanged",
            &(NAME, owner_a.as_str(), impostor_name.as_str()),
        )
        .await
        .unwrap();
    emit(
        &impostor,
        Some(&source_name),
        nb0,
        LINK_IFACE,
        &[("OperationalState", "no-carrier")],
    )
    .await;
    quiet(&mut rx).await;
    assert_eq!(
        from_impostor.load(Ordering::SeqCst),
        4,
        "the impostor's PropertiesChanged signals all reached the daemon's connection"
    );
    // The genuine owner is still believed, and its signal is the next event.
    emit(
        &networkd_a,
        None,
        nb0,
        LINK_IFACE,
        &[("OnlineState", "partial")],
    )
    .await;
    assert_eq!(
        next(&mut rx).await,
        NetworkdEvent::LinkChanged {
            index: 2,
            changed: changed(&[(P::Online, "partial")]),
        }
    );

    // 4. From the owner but off the lists: bad values, a bad path, a malformed body, another
    //    interface. Only the valid state of the first signal gets through, then the manager's.
    emit(
        &networkd_a,
        None,
        nb0,
        LINK_IFACE,
        &[("OperationalState", "../x"), ("CarrierState", "carrier")],
    )
    .await;
    assert_eq!(
        next(&mut rx).await,
        NetworkdEvent::LinkChanged {
            index: 2,
            changed: changed(&[(P::Carrier, "carrier")]),
        }
    );
    emit(
        &networkd_a,
        None,
        nb0,
        LINK_IFACE,
        &[("OperationalState", "../x")],
    )
    .await;
    emit(
        &networkd_a,
        None,
        "/org/freedesktop/network1/link/_30",
        LINK_IFACE,
        &[("OperationalState", "routable")],
    )
    .await;
    emit(
        &networkd_a,
        None,
        "/org/freedesktop/network1/link/x_2e_2e",
        LINK_IFACE,
        &[("OperationalState", "routable")],
    )
    .await;
    networkd_a
        .emit_signal(
            None::<&str>,
            nb0,
            PROPERTIES,
            "PropertiesChanged",
            &(LINK_IFACE,),
        )
        .await
        .unwrap();
    emit(
        &networkd_a,
        None,
        nb0,
        "org.freedesktop.network1.DHCPServer",
        &[("OperationalState", "routable")],
    )
    .await;
    emit(
        &networkd_a,
        None,
        MANAGER,
        MANAGER_IFACE,
        &[("OnlineState", "partial"), ("OperationalState", "degraded")],
    )
    .await;
    assert_eq!(
        next(&mut rx).await,
        NetworkdEvent::ManagerChanged {
            changed: changed(&[(P::Online, "partial"), (P::Operational, "degraded")]),
        }
    );

    // 5. networkd releases its name: Vanished. Its signals are no longer believed.
    assert!(networkd_a.release_name(NAME).await.unwrap());
    assert_eq!(next(&mut rx).await, NetworkdEvent::Vanished);
    emit(
        &networkd_a,
        None,
        nb0,
        LINK_IFACE,
        &[("OperationalState", "off")],
    )
    .await;
    quiet(&mut rx).await;

    // 6. A second source starts while networkd is absent: it says nothing until networkd
    //    appears.
    let late_conn = bus.connect().await;
    let (late_tx, mut late_rx) = mpsc::channel(64);
    let late = tokio::spawn(networkd::run(late_conn, late_tx, cancel.clone()));
    quiet(&mut late_rx).await;

    // 7. networkd comes back under a new unique name: a fresh snapshot, for both sources.
    let networkd_b = fake_networkd(&bus, 2).await;
    let owner_b = networkd_b.unique_name().unwrap().to_string();
    assert_ne!(owner_a, owner_b);
    for rx in [&mut rx, &mut late_rx] {
        let NetworkdEvent::Snapshot { manager, links } = next(rx).await else {
            panic!("a new owner must bring a snapshot");
        };
        assert_eq!(manager[&P::Operational], "routable");
        assert_eq!(links[&2][&P::Administrative], "configured");
    }
    // The old owner is still connected but no longer believed; the new one is.
    emit(
        &networkd_a,
        None,
        nb0,
        LINK_IFACE,
        &[("OperationalState", "off")],
    )
    .await;
    emit(
        &networkd_b,
        None,
        nb0,
        LINK_IFACE,
        &[("OperationalState", "degraded")],
    )
    .await;
    for rx in [&mut rx, &mut late_rx] {
        assert_eq!(
            next(rx).await,
            NetworkdEvent::LinkChanged {
                index: 2,
                changed: changed(&[(P::Operational, "degraded")]),
            }
        );
    }

    // 8. networkd's connection dies (a crash rather than a release): Vanished again.
    networkd_b.close().await.unwrap();
    assert_eq!(next(&mut rx).await, NetworkdEvent::Vanished);
    assert_eq!(next(&mut late_rx).await, NetworkdEvent::Vanished);

    // 9. Cancelling stops both sources cleanly.
    cancel.cancel();
    source
        .await
        .unwrap()
        .expect("the source stops without error");
    late.await
        .unwrap()
        .expect("the late source stops without error");

    // 10. A dead bus connection is an error (the daemon exits and is restarted).
    //     The bus dies once the source is running, seen by its snapshot of a networkd that
    //     is there again, so what ends it is the dead connection, not a failed start.
    let doomed = bus.connect().await;
    let (doomed_tx, mut doomed_rx) = mpsc::channel(64);
    let doomed_source = tokio::spawn(networkd::run(
        doomed.clone(),
        doomed_tx,
        CancellationToken::new(),
    ));
    let _networkd_c = fake_networkd(&bus, 3).await;
    let NetworkdEvent::Snapshot { .. } = next(&mut doomed_rx).await else {
        panic!("a running source reports networkd with a snapshot");
    };
    drop(bus);
    let ended = tokio::time::timeout(EVENT_TIMEOUT, doomed_source)
        .await
        .expect("the source notices the dead connection")
        .unwrap();
    assert!(ended.is_err(), "{ended:?}");
}
