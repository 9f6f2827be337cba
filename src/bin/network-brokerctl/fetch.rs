//! Reading the daemon: the Manager's and each link's properties (one `GetAll` per object) and
//! the `Describe()` JSON, gathered before anything is printed, so a command that fails prints
//! its one error line and nothing else.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde_json::{Map, Value};
use zbus::{Connection, OwnedObjectPath, OwnedVariant};

use network_broker::dbus::client::{LinkProxy, ManagerProxy};
use network_broker::dbus::names::BUS_NAME;

use crate::failure::Failure;
use crate::value::to_json;

const MANAGER_PATH: &str = "/org/freedesktop/NetworkBroker1";
const MANAGER_IFACE: &str = "org.freedesktop.NetworkBroker1.Manager";
const LINK_IFACE: &str = "org.freedesktop.NetworkBroker1.Link";
/// How many `GetAll` calls `links` keeps in flight.
const PARALLEL_CALLS: usize = 32;

/// One object's properties, as JSON values by property name.
#[derive(Debug, Clone, Default)]
pub struct Props(pub Map<String, Value>);

impl Props {
    pub fn text(&self, key: &str) -> &str {
        self.0.get(key).and_then(Value::as_str).unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> Value {
        self.0.get(key).cloned().unwrap_or(Value::Null)
    }
}

/// A link as the bus shows it: its properties and the `Link` object of its `Describe()`
/// (`Null` when the daemon did not describe it).
#[derive(Debug, Clone)]
pub struct LinkData {
    pub index: i32,
    pub name: String,
    pub props: Props,
    pub describe: Value,
}

/// The Manager's properties.
pub async fn manager_props(conn: &Connection) -> Result<Props, Failure> {
    get_all(conn, MANAGER_PATH, MANAGER_IFACE)
        .await
        .map_err(|e| Failure::bus("GetAll(Manager)", e))
}

/// Every link with its properties and description, in the daemon's order. A link that goes
/// away while it is being read is left out, as if it had gone a moment earlier.
pub async fn links(
    conn: &Connection,
    manager: &ManagerProxy<'_>,
) -> Result<Vec<LinkData>, Failure> {
    let list = manager
        .list_links()
        .await
        .map_err(|e| Failure::bus("ListLinks", e))?;
    let described = described_links(manager).await?;
    // Several GetAll calls in flight at once: one round trip after another is slow with
    // thousands of links; the order of the list is kept.
    let replies: Vec<_> = futures_util::stream::iter(list)
        .map(|(index, name, path)| async move {
            let props = get_all(conn, path.as_str(), LINK_IFACE).await;
            (index, name, props)
        })
        .buffered(PARALLEL_CALLS)
        .collect()
        .await;
    let mut links = Vec::with_capacity(replies.len());
    for (index, name, props) in replies {
        let props = match props {
            Ok(props) => props,
            Err(err) if gone(&err) => continue,
            Err(err) => return Err(Failure::bus("GetAll(Link)", err)),
        };
        let describe = described.get(&index).cloned().unwrap_or(Value::Null);
        links.push(LinkData {
            index,
            name,
            props,
            describe,
        });
    }
    Ok(links)
}

/// One link, by name or index, with its own `Describe()`.
pub async fn link(
    conn: &Connection,
    manager: &ManagerProxy<'_>,
    link: &str,
) -> Result<LinkData, Failure> {
    let proxy = link_proxy(conn, manager, link).await?;
    let props = get_all(conn, proxy.inner().path().as_str(), LINK_IFACE)
        .await
        .map_err(|e| Failure::bus("GetAll(Link)", e))?;
    let text = proxy
        .describe()
        .await
        .map_err(|e| Failure::bus("Link.Describe", e))?;
    let describe: Value = serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            1,
            format!("Link.Describe: the daemon sent invalid JSON: {e}"),
        )
    })?;
    let index = props
        .get("Index")
        .as_i64()
        .and_then(|i| i32::try_from(i).ok());
    Ok(LinkData {
        index: index.unwrap_or_default(),
        name: props.text("Name").to_string(),
        describe: describe.get("Link").cloned().unwrap_or(Value::Null),
        props,
    })
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
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            1,
            format!("DescribeRouting: the daemon sent invalid JSON: {e}"),
        )
    })
}

/// The `Link` objects of `Manager.Describe()` by ifindex.
async fn described_links(manager: &ManagerProxy<'_>) -> Result<HashMap<i32, Value>, Failure> {
    let text = manager
        .describe()
        .await
        .map_err(|e| Failure::bus("Describe", e))?;
    let all: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::new(1, format!("Describe: the daemon sent invalid JSON: {e}")))?;
    Ok(all["Links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|link| {
            let index = i32::try_from(link["attrs"]["index"].as_i64()?).ok()?;
            Some((index, link.clone()))
        })
        .collect())
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

/// Whether the error says the object is no longer there.
fn gone(err: &zbus::Error) -> bool {
    let (name, _) = crate::failure::name_and_text(err);
    matches!(
        name.as_deref(),
        Some(
            "org.freedesktop.DBus.Error.UnknownObject"
                | "org.freedesktop.DBus.Error.UnknownInterface"
                | "org.freedesktop.DBus.Error.UnknownMethod"
        )
    )
}
