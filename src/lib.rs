//! network-broker: a Linux daemon that watches the network (systemd-networkd, dhclient leases,
//! the kernel's rtnetlink events), runs the administrator's hook scripts, keeps per-link policy
//! routing and publishes link state on the bus name `org.freedesktop.NetworkBroker1`.
//!
//! The crate is a library plus two thin binaries so that the integration tests and the
//! client can reach the same types. Dependencies point one way, down the floors drawn in
//! `docs/architecture.md`: `daemon` wires everything; `dbus` (our service) imports `broker`;
//! `broker` imports the effect handles (`hooks`, `routing`, `push`); the sources and effects
//! import `netlink`, `event` and the ground floor (`model`, `link_json`, `config`, `lease`,
//! `error_chain`, `time`, `ifindex_path`), and never each other.

pub mod broker;
pub mod config;
pub mod daemon;
pub mod dbus;
pub mod debounce;
pub mod error_chain;
pub mod event;
pub mod heap_trim;
pub mod hooks;
pub mod ifindex_path;
pub mod lease;
pub mod link_json;
pub mod logging;
pub mod messages;
pub mod model;
pub mod netlink;
pub mod push;
pub mod routing;
pub mod settings;
pub mod source;
pub mod time;
