//! Domain types for what the broker knows about the network: links, addresses and routes as
//! plain data. Nothing here knows about netlink, D-Bus or files; sources translate into these
//! types and effects read them.

pub mod address;
pub mod kernel;
pub mod lease;
pub mod link;
pub mod link_name;
pub mod links;
pub mod networkd;
pub mod route;
pub mod route_set;
pub mod rule;
pub mod states;
pub mod view;

#[cfg(test)]
pub mod fixtures;

pub use address::Address;
pub use lease::Lease;
pub use link::{KernelOperState, LinkAttrs};
pub use links::Links;
pub use networkd::StateProperty;
pub use route::{Route, RouteSlot};
pub use route_set::RouteSet;
pub use rule::Rule;
pub use states::States;
pub use view::{LinkView, Snapshot};

/// A kernel interface index. The kernel uses a positive `int`; D-Bus carries it as `i`.
pub type IfIndex = u32;
