//! Everything D-Bus on the service side: claiming `org.freedesktop.NetworkBroker1`, the
//! manager and link objects (thin adapters over the broker's snapshot) and the publisher that
//! keeps them in step.

pub mod authz;
pub mod client;
#[cfg(test)]
mod contract;
pub mod error;
pub mod history;
pub mod hook_record;
pub mod link;
pub mod manager;
pub mod names;
pub mod objects;
pub mod path;
pub mod publish;
pub mod read_only;
pub mod stream;

use std::sync::Arc;

use tokio::sync::watch;
use zbus::connection::Builder;
use zbus::Connection;

use crate::config::Generator;
use crate::model::Snapshot;

use names::{BUS_NAME, MANAGER_PATH};
use read_only::ReadOnly;

/// Why the daemon could not get onto the bus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process owns the name (a second instance, or an impostor).
    #[error("the bus name {BUS_NAME} is already owned by another connection")]
    NameTaken,
    /// The bus could not be reached or refused us.
    #[error("failed to connect to the system bus and claim {BUS_NAME}")]
    Connect(#[source] zbus::Error),
}

/// Connects to the system bus (or `DBUS_SYSTEM_BUS_ADDRESS`) and serves the manager object
/// (its hook results from `hooks`, which the publisher fills),
/// without claiming the name yet (see [`claim_name`]): an activated caller's queued call is
/// delivered the moment the name is owned, so the daemon first fills its view of the links.
/// Fails with [`Error::NameTaken`] when another connection already owns the name, so a second
/// instance stops before it starts anything.
pub async fn serve(
    snapshot: watch::Receiver<Arc<Snapshot>>,
    generator: Generator,
    services: manager::Services,
    hooks: hook_record::SharedRecord,
) -> Result<Connection, Error> {
    let conn = Builder::system()
        .serve_at(
            MANAGER_PATH,
            ReadOnly(manager::Manager::new(
                snapshot.clone(),
                generator.as_str(),
                services,
                hooks,
            )),
        )
        .serve_at(MANAGER_PATH, objects::Objects::new(snapshot))
        .build()
        .await
        .map_err(Error::Connect)?;
    let bus = zbus::fdo::DBusProxy::new(&conn)
        .await
        .map_err(Error::Connect)?;
    let name = zbus::names::BusName::try_from(BUS_NAME).map_err(Error::Connect)?;
    if bus
        .name_has_owner(name)
        .await
        .map_err(|err| Error::Connect(err.into()))?
    {
        return Err(Error::NameTaken);
    }
    Ok(conn)
}

/// Claims the bus name. A second instance must fail rather than steal the name or wait in
/// the queue, so neither replacement nor queueing is allowed.
pub async fn claim_name(conn: &Connection) -> Result<(), Error> {
    use zbus::fdo::{RequestNameFlags, RequestNameReply};
    match conn
        .request_name_with_flags(BUS_NAME, RequestNameFlags::DO_NOT_QUEUE)
        .await
    {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => Ok(()),
        Ok(RequestNameReply::Exists | RequestNameReply::InQueue) | Err(zbus::Error::NameTaken) => {
            Err(Error::NameTaken)
        }
        Err(other) => Err(Error::Connect(other)),
    }
}
