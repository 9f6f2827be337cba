//! The API contract, tested: `dbus/org.freedesktop.NetworkBroker1.xml` must equal what the
//! daemon serves, and every method's bad input must get its named error. Both run the real
//! objects over a peer-to-peer connection (no bus, no root).
//!
//! After a deliberate API change, regenerate the file with
//! `NB_UPDATE_XML=1 cargo test --lib dbus::contract` and review the diff.

use std::path::PathBuf;
use std::sync::Arc;

use std::os::unix::net::UnixStream;
use tokio::sync::watch;
use zbus::connection::Builder;
use zbus::{Connection, Guid};

use crate::broker::command;
use crate::model::Snapshot;

use super::authz::Fixed;
use super::hook_record::SharedRecord;
use super::link::Link;
use super::manager::{Manager, Services};
use super::names::{LINK_INTERFACE, MANAGER_INTERFACE, MANAGER_PATH};
use super::objects::Objects;
use super::read_only::ReadOnly;

/// Where the checked-in contract lives.
fn xml_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dbus/org.freedesktop.NetworkBroker1.xml")
}

/// The `<interface name="NAME">…</interface>` block of an introspection document.
fn interface_block(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<interface name=\"{name}\">"))?;
    let end = start + xml[start..].find("</interface>")? + "</interface>".len();
    Some(xml[start..end].to_string())
}

/// The contract document: our two interfaces as the daemon serves them.
pub fn contract(manager_xml: &str, link_xml: &str) -> Option<String> {
    Some(format!(
        "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n \
         \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n\
         <!-- Generated from the daemon's introspection (src/dbus/contract.rs); do not edit. -->\n\
         <node>\n  {}\n  {}\n</node>\n",
        interface_block(manager_xml, MANAGER_INTERFACE)?,
        interface_block(link_xml, LINK_INTERFACE)?,
    ))
}

/// A served manager (denying every privileged call) and a client on a p2p connection. The
/// broker end of the command channel is kept so requests wait rather than fail.
struct Served {
    client: Connection,
    server: Connection,
    /// The Manager's event stream (keeping 4 events).
    stream: super::stream::EventStream,
    _commands: command::CommandReceiver,
    _reloads: command::ReloadReceiver,
}

async fn serve(snapshot: Snapshot) -> zbus::Result<Served> {
    let (a, b) = UnixStream::pair().map_err(|e| zbus::Error::InputOutput(Arc::new(e)))?;
    for s in [&a, &b] {
        s.set_nonblocking(true)
            .map_err(|e| zbus::Error::InputOutput(Arc::new(e)))?;
    }
    let (_tx, rx) = watch::channel(Arc::new(snapshot));
    let (commands, commands_rx) = command::channel();
    let (reload, reloads_rx) = command::reload_channel();
    let services = Services {
        commands,
        reload,
        authorizer: Arc::new(Fixed(false)),
        stream: super::stream::EventStream::new(4),
    };
    let stream = services.stream.clone();
    let server = Builder::unix_stream(a)
        .server(Guid::generate())
        .p2p()
        .serve_at(
            MANAGER_PATH,
            ReadOnly(Manager::new(
                rx.clone(),
                "netlink",
                services,
                SharedRecord::default(),
            )),
        )
        .serve_at(MANAGER_PATH, Objects::new(rx.clone()))
        .serve_at(
            super::path::link_path(1),
            ReadOnly(Link::new(1, "lo", rx, SharedRecord::default())),
        )
        .build();
    let client = Builder::unix_stream(b).p2p().build();
    let (server, client) = tokio::try_join!(server, client)?;
    Ok(Served {
        client,
        server,
        stream,
        _commands: commands_rx,
        _reloads: reloads_rx,
    })
}

async fn introspect(conn: &Connection, path: &str) -> zbus::Result<String> {
    conn.call_method(
        None::<&str>,
        path,
        Some("org.freedesktop.DBus.Introspectable"),
        "Introspect",
        &(),
    )
    .await?
    .body()
    .deserialize::<String>()
}

/// The name of the error a call ends with, or `None` when it succeeded.
async fn error_of<B>(
    conn: &Connection,
    path: &str,
    iface: &str,
    method: &str,
    body: &B,
) -> Option<String>
where
    B: serde::Serialize + zbus::DynamicType,
{
    match conn
        .call_method(None::<&str>, path, Some(iface), method, body)
        .await
    {
        Ok(_) => None,
        Err(zbus::Error::MethodError(name, _, _)) => Some(name.to_string()),
        // zbus turns the bus's own error names into `fdo::Error`.
        Err(zbus::Error::FDO(err)) => Some(zbus::DBusError::name(&*err).to_string()),
        Err(other) => Some(format!("unexpected: {other}")),
    }
}

#[tokio::test]
async fn served_introspection_equals_the_xml_file() -> zbus::Result<()> {
    let served = serve(Snapshot::default()).await?;
    let manager = introspect(&served.client, MANAGER_PATH).await?;
    let link_path = super::path::link_path(1);
    let link = introspect(&served.client, link_path.as_str()).await?;
    let served_doc = contract(&manager, &link).ok_or_else(|| {
        zbus::Error::Failure("an interface is missing from the introspection".into())
    })?;
    if std::env::var_os("NB_UPDATE_XML").is_some() {
        std::fs::write(xml_file(), &served_doc)
            .map_err(|e| zbus::Error::InputOutput(Arc::new(e)))?;
    }
    let file = std::fs::read_to_string(xml_file()).unwrap_or_default();
    assert!(
        file == served_doc,
        "dbus/org.freedesktop.NetworkBroker1.xml differs from the served API; \
         run NB_UPDATE_XML=1 cargo test --lib dbus::contract and review the diff"
    );
    // The ObjectManager is served at the root too.
    assert!(manager.contains("org.freedesktop.DBus.ObjectManager"));
    Ok(())
}

#[tokio::test]
async fn bad_arguments_get_named_errors() -> zbus::Result<()> {
    let served = serve(Snapshot::default()).await?;
    let c = &served.client;
    let m = MANAGER_INTERFACE;
    const NO_SUCH_LINK: &str = "org.freedesktop.NetworkBroker1.Error.NoSuchLink";
    const INVALID: &str = "org.freedesktop.NetworkBroker1.Error.InvalidArgument";
    const DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        (
            "GetLinkByName",
            error_of(c, MANAGER_PATH, m, "GetLinkByName", &("nope0",)).await,
            NO_SUCH_LINK,
        ),
        (
            "GetLinkByIndex 0",
            error_of(c, MANAGER_PATH, m, "GetLinkByIndex", &(0i32,)).await,
            INVALID,
        ),
        (
            "GetLinkByIndex -3",
            error_of(c, MANAGER_PATH, m, "GetLinkByIndex", &(-3i32,)).await,
            INVALID,
        ),
        (
            "GetLinkByIndex 99",
            error_of(c, MANAGER_PATH, m, "GetLinkByIndex", &(99i32,)).await,
            NO_SUCH_LINK,
        ),
        (
            "RunHooks ../x",
            error_of(c, MANAGER_PATH, m, "RunHooks", &("../x", 1i32)).await,
            INVALID,
        ),
        (
            "RunHooks index 0",
            error_of(c, MANAGER_PATH, m, "RunHooks", &("routable", 0i32)).await,
            INVALID,
        ),
        (
            "RunHooks no link",
            error_of(c, MANAGER_PATH, m, "RunHooks", &("routable", 99i32)).await,
            NO_SUCH_LINK,
        ),
        (
            "DryRunHooks ../x",
            error_of(c, MANAGER_PATH, m, "DryRunHooks", &("../x", 1i32)).await,
            INVALID,
        ),
        (
            "DryRunHooks -1",
            error_of(c, MANAGER_PATH, m, "DryRunHooks", &("routable", -1i32)).await,
            INVALID,
        ),
        (
            "Reload denied",
            error_of(c, MANAGER_PATH, m, "Reload", &()).await,
            DENIED,
        ),
        (
            "ReconcileRouting denied",
            error_of(c, MANAGER_PATH, m, "ReconcileRouting", &()).await,
            DENIED,
        ),
        (
            "Link.Describe gone",
            error_of(
                c,
                super::path::link_path(1).as_str(),
                LINK_INTERFACE,
                "Describe",
                &(),
            )
            .await,
            NO_SUCH_LINK,
        ),
    ];
    for (what, got, want) in cases {
        assert_eq!(got.as_deref(), Some(want), "{what}");
    }
    Ok(())
}

/// The text of the error a call ends with.
async fn error_text<B>(conn: &Connection, method: &str, body: &B) -> String
where
    B: serde::Serialize + zbus::DynamicType,
{
    match conn
        .call_method(
            None::<&str>,
            MANAGER_PATH,
            Some(MANAGER_INTERFACE),
            method,
            body,
        )
        .await
    {
        Ok(_) => panic!("{method} succeeded"),
        Err(zbus::Error::MethodError(_, text, _)) => text.unwrap_or_default(),
        Err(zbus::Error::FDO(err)) => zbus::DBusError::description(&*err)
            .unwrap_or_default()
            .to_owned(),
        Err(other) => panic!("{method}: unexpected {other}"),
    }
}

/// A 1 MB argument is not sent back in the error reply: what is quoted of an argument is a
/// short prefix, and a reply's text has a fixed bound.
#[tokio::test]
async fn error_replies_quote_only_a_prefix_of_an_argument() -> zbus::Result<()> {
    let served = serve(Snapshot::default()).await?;
    let c = &served.client;
    let huge = "x".repeat(1 << 20);
    for (method, text) in [
        (
            "GetLinkByName",
            error_text(c, "GetLinkByName", &(&huge,)).await,
        ),
        ("RunHooks", error_text(c, "RunHooks", &(&huge, 1i32)).await),
        (
            "DryRunHooks",
            error_text(c, "DryRunHooks", &(&huge, 1i32)).await,
        ),
    ] {
        assert!(
            text.len() <= super::error::MAX_MESSAGE_BYTES,
            "{method}: a reply of {} bytes",
            text.len()
        );
        assert!(
            text.contains("xxxx"),
            "{method}: the prefix is still quoted: {text}"
        );
        assert!(
            text.contains("1048576 bytes"),
            "{method}: says how long: {text}"
        );
    }
    Ok(())
}

/// Methods without arguments refuse a call that brings some, as `Reload` always did.
#[tokio::test]
async fn methods_without_arguments_refuse_extra_ones() -> zbus::Result<()> {
    let served = serve(Snapshot::default()).await?;
    let c = &served.client;
    const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";
    for method in [
        "ListLinks",
        "Describe",
        "ListHooks",
        "Reload",
        "ReconcileRouting",
        "DescribeRouting",
    ] {
        assert_eq!(
            error_of(c, MANAGER_PATH, MANAGER_INTERFACE, method, &("extra",))
                .await
                .as_deref(),
            Some(INVALID_ARGS),
            "{method}(\"extra\")"
        );
    }
    Ok(())
}

/// A snapshot with link 1 (`eth0`, down) and its kernel-computed states.
fn one_link() -> Snapshot {
    use crate::model::{fixtures, LinkView, StateProperty};
    let mut view = LinkView::new(fixtures::link(1, "eth0"));
    view.states = crate::model::States::from([
        (StateProperty::Operational, "off"),
        (StateProperty::Carrier, "off"),
        (StateProperty::Address, "off"),
    ]);
    let mut snapshot = Snapshot::default();
    snapshot.links.insert(1, Arc::new(view));
    snapshot
}

/// `Properties.Set` of any of our properties is `PropertyReadOnly` (the introspection says
/// `read`); a name we do not have stays `UnknownProperty`.
#[tokio::test]
async fn setting_a_property_is_refused_as_read_only() -> zbus::Result<()> {
    let served = serve(one_link()).await?;
    let c = &served.client;
    let link = super::path::link_path(1);
    const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
    let value = zbus::Variant::from("x");
    for (path, iface, property, want) in [
        (
            MANAGER_PATH,
            MANAGER_INTERFACE,
            "OperationalState",
            "org.freedesktop.DBus.Error.PropertyReadOnly",
        ),
        (
            MANAGER_PATH,
            MANAGER_INTERFACE,
            "FailedHooks",
            "org.freedesktop.DBus.Error.PropertyReadOnly",
        ),
        (
            link.as_str(),
            LINK_INTERFACE,
            "Name",
            "org.freedesktop.DBus.Error.PropertyReadOnly",
        ),
        (
            link.as_str(),
            LINK_INTERFACE,
            "NoSuchProperty",
            "org.freedesktop.DBus.Error.UnknownProperty",
        ),
    ] {
        let got = error_of(c, path, PROPERTIES, "Set", &(iface, property, &value)).await;
        assert_eq!(got.as_deref(), Some(want), "Set {iface}.{property}");
    }
    Ok(())
}

/// `GetManagedObjects` lists the link objects, each with its interface, and no node without
/// one (`…/link` itself is not an object).
#[tokio::test]
async fn managed_objects_are_the_link_objects_only() -> zbus::Result<()> {
    let served = serve(one_link()).await?;
    let reply = served
        .client
        .call_method(
            None::<&str>,
            MANAGER_PATH,
            Some("org.freedesktop.DBus.ObjectManager"),
            "GetManagedObjects",
            &(),
        )
        .await?;
    let objects: zbus::fdo::ManagedObjects = reply.body().deserialize()?;
    let paths: Vec<&str> = objects.keys().map(|p| p.as_str()).collect();
    assert_eq!(paths, vec![super::path::link_path(1).as_str()]);
    for interfaces in objects.values() {
        let names: Vec<&str> = interfaces.keys().map(|i| i.as_str()).collect();
        assert_eq!(names, vec![LINK_INTERFACE]);
    }
    Ok(())
}

/// Every argument of every method and signal in the contract has a name (no `arg_0` for a
/// client's generated bindings).
#[test]
fn every_argument_in_the_contract_is_named() {
    let file = std::fs::read_to_string(xml_file()).unwrap_or_default();
    let unnamed: Vec<&str> = file
        .lines()
        .filter(|l| l.trim_start().starts_with("<arg ") && !l.contains(" name=\""))
        .collect();
    assert!(file.contains("<arg "), "the contract has arguments");
    assert!(unnamed.is_empty(), "unnamed arguments: {unnamed:?}");
}

/// Every string property of both interfaces reads a value from its documented set
/// (docs/dbus-api.md), for a link in the snapshot and for one that is already gone.
#[tokio::test]
async fn every_state_property_is_in_its_documented_set() -> zbus::Result<()> {
    use crate::model::StateProperty;
    let served = serve(one_link()).await?;
    let c = &served.client;
    let sets: [(&str, Vec<&str>); 6] = [
        (
            "OperationalState",
            StateProperty::Operational.allowed_values().to_vec(),
        ),
        (
            "CarrierState",
            StateProperty::Carrier.allowed_values().to_vec(),
        ),
        (
            "AddressState",
            StateProperty::Address.allowed_values().to_vec(),
        ),
        ("AdministrativeState", {
            let mut v = StateProperty::Administrative.allowed_values().to_vec();
            v.push("");
            v
        }),
        (
            "OnlineState",
            StateProperty::Online.allowed_values().to_vec(),
        ),
        ("KernelOperationalState", {
            use crate::model::KernelOperState as K;
            [
                K::Up,
                K::Down,
                K::LowerLayerDown,
                K::Dormant,
                K::Testing,
                K::NotPresent,
                K::Unknown,
            ]
            .map(K::as_str)
            .to_vec()
        }),
    ];
    // Link 1 is in the snapshot; link 2's object reads a snapshot without it.
    let gone = super::path::link_path(2);
    served
        .server
        .object_server()
        .at(
            &gone,
            ReadOnly(Link::new(
                2,
                "gone0",
                watch::channel(Arc::new(one_link())).1,
                SharedRecord::default(),
            )),
        )
        .await?;
    for path in [super::path::link_path(1), gone] {
        let all: std::collections::HashMap<String, zbus::OwnedVariant> = c
            .call_method(
                None::<&str>,
                path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "GetAll",
                &(LINK_INTERFACE,),
            )
            .await?
            .body()
            .deserialize()?;
        for (property, set) in &sets {
            let value = all
                .get(*property)
                .and_then(|v| String::try_from(v.clone()).ok())
                .unwrap_or_else(|| panic!("{path}: {property} missing"));
            assert!(
                set.contains(&value.as_str()),
                "{path}: {property} = {value:?}, not in {set:?}"
            );
        }
    }
    Ok(())
}

/// Two tasks sending at once: the signals reach the client numbered 1, 2, 3, … in order, the
/// number last, and `EventsSince` replays the last four (the history's size here) or says it
/// no longer reaches back (docs/dbus-api.md, "The event stream").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_numbers_signals_in_order_and_replays_them() -> zbus::Result<()> {
    use super::stream::StreamEvent;
    use futures_util::StreamExt;

    let served = serve(Snapshot::default()).await?;
    let mut signals = zbus::MessageStream::from(&served.client);
    let senders: Vec<_> = (0..2)
        .map(|task| {
            let (server, stream) = (served.server.clone(), served.stream.clone());
            tokio::spawn(async move {
                let emitter = zbus::object_server::SignalEmitter::new(&server, MANAGER_PATH)?;
                for i in 0..20 {
                    let event = StreamEvent::AddressAdded(task, format!("192.0.2.{i}"), 24);
                    stream.emit(&emitter, event).await?;
                }
                zbus::Result::Ok(())
            })
        })
        .collect();
    for sender in senders {
        sender
            .await
            .map_err(|e| zbus::Error::Failure(e.to_string()))??;
    }
    let mut numbers = Vec::new();
    while numbers.len() < 40 {
        let Some(message) = signals.next().await else {
            break;
        };
        let message = message?;
        if message.header().member().map(|m| m.as_str()) == Some("AddressAdded") {
            let (_, _, _, sequence) = message.body().deserialize::<(i32, String, u8, u64)>()?;
            numbers.push(sequence);
        }
    }
    assert_eq!(numbers, (1..=40).collect::<Vec<u64>>());

    let call = |after: u64| {
        let client = served.client.clone();
        async move {
            client
                .call_method(
                    None::<&str>,
                    MANAGER_PATH,
                    Some(MANAGER_INTERFACE),
                    "EventsSince",
                    &(after,),
                )
                .await?
                .body()
                .deserialize::<(
                    String,
                    bool,
                    Vec<(u64, u64, String, Vec<zbus::OwnedVariant>)>,
                )>()
        }
    };
    let (id, complete, events) = call(36).await?;
    assert_eq!(id, served.stream.id());
    assert!(complete);
    let held: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(held, [37, 38, 39, 40]);
    assert_eq!(events[0].2, "AddressAdded");
    assert_eq!(events[0].3.len(), 3, "the arguments without the sequence");
    let (_, complete, events) = call(35).await?;
    assert!(!complete, "event 36 is no longer held");
    assert_eq!(events.len(), 4);
    Ok(())
}
