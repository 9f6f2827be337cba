//! Reading the daemon: the Manager's properties (one `GetAll`), the link documents of
//! `Describe()` (docs/json.md, "The link document") and `DescribeRouting()`, gathered before
//! anything is printed, so a command that fails prints its one error line and nothing else.

use std::collections::HashMap;

use serde_json::{Map, Value};
use zbus::{Connection, OwnedObjectPath, OwnedVariant};

use network_broker::dbus::client::{LinkProxy, ManagerProxy};
use network_broker::dbus::names::BUS_NAME;

use crate::failure::Failure;
use crate::value::to_json;

const MANAGER_PATH: &str = "/org/freedesktop/NetworkBroker1";
const MANAGER_IFACE: &str = "org.freedesktop.NetworkBroker1.Manager";

/// One object's properties, as JSON values by property name.
#[derive(Debug, Clone, Default)]
pub struct Props(pub Map<String, Value>);

impl Props {
    pub fn text(&self, key: &str) -> &str {
        self.0.get(key).and_then(Value::as_str).unwrap_or_default()
    }
}

/// The Manager's properties.
pub async fn manager_props(conn: &Connection) -> Result<Props, Failure> {
    get_all(conn, MANAGER_PATH, MANAGER_IFACE)
        .await
        .map_err(|e| Failure::bus("GetAll(Manager)", e))
}

/// Every link's document, in the daemon's order: `Manager.Describe()`'s `Links`, one call
/// for all of them (one moment's picture, however many links).
pub async fn links(manager: &ManagerProxy<'_>) -> Result<Vec<Value>, Failure> {
    let text = manager
        .describe()
        .await
        .map_err(|e| Failure::bus("Describe", e))?;
    let mut all = parse("Describe", &text)?;
    match all.get_mut("Links").map(Value::take) {
        Some(Value::Array(links)) => Ok(links),
        _ => Err(Failure::new(
            1,
            "Describe: the daemon sent no \"Links\" array".to_string(),
        )),
    }
}

/// One link's document (`Link.Describe()`), the link given by name or index.
pub async fn link(
    conn: &Connection,
    manager: &ManagerProxy<'_>,
    link: &str,
) -> Result<Value, Failure> {
    let proxy = link_proxy(conn, manager, link).await?;
    let text = proxy
        .describe()
        .await
        .map_err(|e| Failure::bus("Link.Describe", e))?;
    parse("Link.Describe", &text)
}

/// The JSON text `method` returned, parsed.
fn parse(method: &str, text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text)
        .map_err(|e| Failure::new(1, format!("{method}: the daemon sent invalid JSON: {e}")))
}

/// The proxy of a link given by name or index.
pub async fn link_proxy<'c>(
    conn: &'c Connection,
    manager: &ManagerProxy<'_>,
    link: &str,
) -> Result<LinkProxy<'c>, Failure> {
    let path = link_path(manager, link).await?;
    LinkProxy::builder(conn)
        .path(path)
        .build()
        .await
        .map_err(|e| Failure::bus("Link", e))
}

/// The path of a link given by name or index.
async fn link_path(manager: &ManagerProxy<'_>, link: &str) -> Result<OwnedObjectPath, Failure> {
    match link.parse::<i32>() {
        Ok(index) => manager
            .get_link_by_index(index)
            .await
            .map_err(|e| Failure::bus("GetLinkByIndex", e)),
        Err(_) => manager
            .get_link_by_name(link)
            .await
            .map_err(|e| Failure::bus("GetLinkByName", e)),
    }
}

/// `DescribeRouting()`, parsed.
pub async fn routing(manager: &ManagerProxy<'_>) -> Result<Value, Failure> {
    let text = manager
        .describe_routing()
        .await
        .map_err(|e| Failure::bus("DescribeRouting", e))?;
    parse("DescribeRouting", &text)
}

/// `org.freedesktop.DBus.Properties.GetAll(iface)` of one object of the daemon.
async fn get_all(conn: &Connection, path: &str, iface: &str) -> zbus::Result<Props> {
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            path,
            Some("org.freedesktop.DBus.Properties"),
            "GetAll",
            &(iface,),
        )
        .await?;
    let props: HashMap<String, OwnedVariant> = reply.body().deserialize()?;
    Ok(Props(
        props
            .iter()
            .map(|(name, value)| (name.clone(), to_json(value)))
            .collect(),
    ))
}
