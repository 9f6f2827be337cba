//! The source's reads from the bus: who owns networkd's name (`GetNameOwner`, or
//! `NameHasOwner` when nobody does) and the states of the manager and every link (`GetAll`,
//! `ListLinks`), each with the position of its reply in the connection's message order, so
//! that the source can tell which buffered changes a snapshot already contains.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::{debug, info, warn};
use zbus::message::Sequence;
use zbus::names::OwnedUniqueName;
use zbus::{Connection, OwnedObjectPath};

use super::wire::{
    self, Object, PathKind, PropertyList, ReadMarks, BUS_NAME, DBUS_NAME, MANAGER_INTERFACE,
    MANAGER_PATH, PROPERTIES_INTERFACE,
};
use crate::model::{IfIndex, States};

/// How long a whole snapshot read may take (D-Bus's usual method timeout). A networkd that
/// hangs must not keep the source waiting forever.
const READ_TIMEOUT: Duration = Duration::from_secs(25);

/// The bus's answer about networkd's name, and where in the connection's message order it came.
pub(super) struct Owner {
    pub(super) owner: Option<OwnedUniqueName>,
    pub(super) position: Sequence,
}

/// The states read from networkd.
pub(super) struct Snapshot {
    pub(super) manager: States,
    pub(super) links: BTreeMap<IfIndex, States>,
    pub(super) marks: ReadMarks<Sequence>,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error(transparent)]
    Bus(#[from] zbus::Error),
    #[error("no answer within {READ_TIMEOUT:?}")]
    TimedOut,
}

/// Asks the bus who owns networkd's name, with the answer's position in the connection's
/// message order (owner signals received before it are already reflected in it).
pub(super) async fn resolve_owner(conn: Connection) -> Result<Owner, zbus::Error> {
    loop {
        let reply = conn
            .call_method(
                Some(DBUS_NAME),
                "/org/freedesktop/DBus",
                Some(DBUS_NAME),
                "GetNameOwner",
                &(BUS_NAME,),
            )
            .await;
        match reply {
            Ok(reply) => {
                let owner: OwnedUniqueName = reply.body().deserialize()?;
                return Ok(Owner {
                    owner: Some(owner),
                    position: reply.recv_position(),
                });
            }
            Err(zbus::Error::FDO(err)) if matches!(*err, zbus::fdo::Error::NameHasNoOwner(_)) => {}
            Err(err) => return Err(err),
        }
        // An error reply carries no position zbus exposes; `NameHasOwner` answers "no" with a
        // normal reply, which does.
        let reply = conn
            .call_method(
                Some(DBUS_NAME),
                "/org/freedesktop/DBus",
                Some(DBUS_NAME),
                "NameHasOwner",
                &(BUS_NAME,),
            )
            .await?;
        if !reply.body().deserialize::<bool>()? {
            return Ok(Owner {
                owner: None,
                position: reply.recv_position(),
            });
        }
        // It appeared between the two calls: ask again.
    }
}

/// Reads the manager's and every link's states from `owner`, within [`READ_TIMEOUT`].
pub(super) async fn read(conn: Connection, owner: OwnedUniqueName) -> Result<Snapshot, ReadError> {
    log_owner_credentials(&conn, &owner).await;
    match tokio::time::timeout(READ_TIMEOUT, read_states(&conn, &owner)).await {
        Ok(result) => result.map_err(ReadError::Bus),
        Err(_) => Err(ReadError::TimedOut),
    }
}

async fn read_states(conn: &Connection, owner: &OwnedUniqueName) -> Result<Snapshot, zbus::Error> {
    let (manager, manager_mark) = get_states(conn, owner, Object::Manager, MANAGER_PATH).await?;
    let reply = conn
        .call_method(
            Some(owner.as_str()),
            MANAGER_PATH,
            Some(MANAGER_INTERFACE),
            "ListLinks",
            &(),
        )
        .await?;
    let listed_mark = reply.recv_position();
    let listed: Vec<(i32, String, OwnedObjectPath)> = reply.body().deserialize()?;

    let mut links = BTreeMap::new();
    let mut link_marks = BTreeMap::new();
    for (ifindex, name, path) in listed {
        // The path networkd gave must be the one its signals use for this ifindex, or its
        // changes would be filed under another link.
        let index = match (
            IfIndex::try_from(ifindex),
            wire::classify_path(path.as_str()),
        ) {
            (Ok(index), PathKind::Followed(Object::Link(from_path))) if index == from_path => index,
            _ => {
                warn!(
                    ifindex,
                    ifname = %wire::shown(&name),
                    path = %wire::shown(path.as_str()),
                    "networkd: skipping listed link {} (index {ifindex}) whose object path {} \
                     disagrees",
                    wire::shown(&name),
                    wire::shown(path.as_str())
                );
                continue;
            }
        };
        match get_states(conn, owner, Object::Link(index), path.as_str()).await {
            Ok((states, mark)) => {
                links.insert(index, states);
                link_marks.insert(index, mark);
            }
            // The link went between ListLinks and GetAll: it is simply not in the snapshot.
            Err(zbus::Error::FDO(err))
                if matches!(
                    *err,
                    zbus::fdo::Error::UnknownObject(_) | zbus::fdo::Error::UnknownInterface(_)
                ) =>
            {
                debug!(
                    ifindex = index,
                    "networkd: link went while its states were read"
                );
            }
            Err(err) => return Err(err),
        }
    }
    Ok(Snapshot {
        manager,
        links,
        marks: ReadMarks {
            manager: manager_mark,
            listed: listed_mark,
            links: link_marks,
        },
    })
}

/// `GetAll` on one object: its valid states, and when the reply arrived. Properties a
/// networkd version does not have are simply absent.
async fn get_states(
    conn: &Connection,
    owner: &OwnedUniqueName,
    object: Object,
    path: &str,
) -> Result<(States, Sequence), zbus::Error> {
    let reply = conn
        .call_method(
            Some(owner.as_str()),
            path,
            Some(PROPERTIES_INTERFACE),
            "GetAll",
            &(object.interface(),),
        )
        .await?;
    let all: PropertyList = reply.body().deserialize()?;
    Ok((wire::states_map(object, all), reply.recv_position()))
}

/// Logs which user runs the new owner: on a system bus only networkd's user may own the name,
/// so anything else points at a broken bus policy (the Nimbuspwn precondition). Best effort.
async fn log_owner_credentials(conn: &Connection, owner: &OwnedUniqueName) {
    let uid = conn
        .call_method(
            Some(DBUS_NAME),
            "/org/freedesktop/DBus",
            Some(DBUS_NAME),
            "GetConnectionUnixUser",
            &(owner.as_str(),),
        )
        .await
        .and_then(|reply| reply.body().deserialize::<u32>());
    match uid {
        Ok(uid) => info!(%owner, uid, "networkd: reading the states of {BUS_NAME}"),
        Err(err) => debug!(%owner, error = %err, "networkd: cannot ask for the owner's user"),
    }
}
