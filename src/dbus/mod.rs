//! Everything D-Bus on the service side: claiming `org.freedesktop.NetworkBroker1`, the
//! manager and link objects (thin adapters over the broker's snapshot) and the publisher that
//! keeps them in step.

pub mod authz;
pub mod client;
#[cfg(test)]
mod contract;
pub mod error;
pub mod link;
pub mod manager;
pub mod names;
pub mod path;
pub mod proxy;
pub mod publish;

use std::sync::Arc;

use tokio::sync::watch;
use zbus::connection::Builder;
use zbus::Connection;

use crate::config::Generator;
use crate::model::Snapshot;

use names::{BUS_NAME, MANAGER_PATH};

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

/// Connects to the system bus (or `DBUS_SYSTEM_BUS_ADDRESS`), serves the manager object and
/// claims the bus name. The objects are registered before the name is requested, so an
/// activated caller never reaches an empty object tree.
pub async fn serve(
    snapshot: watch::Receiver<Arc<Snapshot>>,
    generator: Generator,
    services: manager::Services,
) -> Result<Connection, Error> {
    Builder::system()
        .serve_at(
            MANAGER_PATH,
            manager::Manager::new(snapshot, generator.as_str(), services),
        )
        .serve_at(MANAGER_PATH, zbus::fdo::ObjectManager)
        .name(BUS_NAME)
        // A second instance must fail rather than steal the name or wait in the queue.
        .allow_name_replacements(false)
        .replace_existing_names(false)
        .build()
        .await
        .map_err(|err| match err {
            zbus::Error::NameTaken => Error::NameTaken,
            other => Error::Connect(other),
        })
}
